// The account page: a client of the JSON API under /api/v1. It calls the
// API with fetch and the session cookie (same origin), shows every API
// error message exactly as the API wrote it, and inserts user data only as
// text (textContent), never parsed as markup.
"use strict";

const API = "/api/v1";

// ApiError carries the API's own error message and the HTTP status.
class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// api sends one request and returns the decoded JSON body, or throws an
// ApiError with the API's message.
async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body instanceof URLSearchParams) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(API + path, init);
  } catch (e) {
    throw new ApiError(0, "The service cannot be reached");
  }
  let data = null;
  try {
    data = await res.json();
  } catch (e) {
    data = null;
  }
  if (!res.ok) {
    const msg = data && typeof data.error === "string" ? data.error : "HTTP " + res.status;
    throw new ApiError(res.status, msg);
  }
  return data;
}

const $ = (sel) => document.querySelector(sel);

function show(el, on) {
  el.hidden = !on;
}

function say(text, ok) {
  const m = $("#message");
  m.textContent = text;
  m.classList.toggle("ok", !!ok);
  show(m, text !== "");
}

function cell(text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  td.textContent = text === null || text === undefined ? "" : String(text);
  return td;
}

// when shows an API time (UTC "YYYY-MM-DDTHH:MM:SS") with a space, so a
// narrow column can wrap it between date and time.
function when(t) {
  return t ? t.replace("T", " ") + " UTC" : t;
}

function button(label, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

let me = null; // the signed-in user

// LEVELS names a session's assurance level for people.
const LEVELS = { aal1: "password", aal2: "password and second factor", pending: "password, second factor due" };

// fail shows an API error as the API wrote it. A 401 or 403 may mean the
// session has ended (or merely that the caller may not do that): when the
// session no longer works, the visitor goes back to the sign-in form.
async function fail(err) {
  say(err.message);
  if (!(err instanceof ApiError) || (err.status !== 401 && err.status !== 403) || me === null) return;
  try {
    await api("GET", "/users/me");
  } catch (again) {
    if (again instanceof ApiError && (again.status === 401 || again.status === 403)) signedOut();
  }
}

function signedOut() {
  me = null;
  show($("#account-view"), false);
  show($("#reauth-view"), false);
  show($("#second-factor-form"), false);
  show($("#signin-form"), true);
  show($("#signin-view"), true);
  show($("#signout"), false);
  show($("#whoami"), false);
}

async function load() {
  try {
    me = await api("GET", "/users/me");
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      signedOut();
      return;
    }
    say(err.message);
    return;
  }
  await refresh();
}

// MFA_REQUIRED is the API's answer to an account that must enrol a
// second factor before anything else.
const MFA_REQUIRED = "second factor required";

// refresh loads everything the account view shows, in parallel. An
// account that must enrol a second factor first sees only that.
async function refresh() {
  try {
    const admin = me.role === "admin";
    const [user, factors] = await Promise.all([api("GET", "/users/me"), api("GET", "/users/me/second_factors")]);
    me = user;
    let sessions = [];
    let users = null;
    let mustEnrol = false;
    try {
      [sessions, users] = await Promise.all([
        api("GET", "/auth_session/sessions"),
        admin ? api("GET", "/users") : Promise.resolve(null),
      ]);
    } catch (err) {
      if (!(err instanceof ApiError) || err.message !== MFA_REQUIRED) throw err;
      mustEnrol = true;
    }
    renderAccount(sessions, users, factors, mustEnrol);
  } catch (err) {
    await fail(err);
  }
}

// renderFactors shows the state of the second factors and the buttons
// that change it.
function renderFactors(factors, mustEnrol) {
  const enabled = factors.totp === "enabled";
  let status = enabled
    ? "On: signing in takes a code from your authenticator app. Recovery codes left: " + factors.recovery_codes_left + "."
    : "Off: signing in takes only your password.";
  if (mustEnrol) status += " Your role requires it: set it up to use the rest of your account.";
  $("#mfa-status").textContent = status;
  show($("#totp-start"), !enabled && $("#totp-setup").hidden);
  show($("#totp-remove"), enabled);
  show($("#recovery-new"), enabled);
  for (const id of ["#sessions-section", "#password-section"]) show($(id), !mustEnrol);
}

function renderAccount(sessions, users, factors, mustEnrol) {
  show($("#signin-view"), false);
  show($("#account-view"), true);
  show($("#signout"), true);
  const who = $("#whoami");
  who.textContent = me.email;
  show(who, true);

  $("#profile-email").textContent = me.email;
  $("#profile-role").textContent = me.role;
  const pf = $("#profile-form");
  pf.elements.first_name.value = me.first_name || "";
  pf.elements.last_name.value = me.last_name || "";
  $("#password-form").elements.username.value = me.email;
  $("#reauth-form").elements.username.value = me.email;
  renderFactors(factors, mustEnrol);

  const tbody = $("#sessions tbody");
  tbody.replaceChildren();
  for (const s of sessions) {
    const tr = document.createElement("tr");
    if (s.current) tr.className = "current";
    const mark = cell("");
    if (s.current) {
      const b = document.createElement("span");
      b.className = "badge";
      b.textContent = "this device";
      mark.append(b);
    }
    tr.append(mark, cell(s.user_agent), cell(s.ip), cell(when(s.created_at), "time"),
      cell(when(s.last_seen_at), "time"), cell(s.expires_at ? when(s.expires_at) : "never", "time"),
      cell(when(s.rotated_at), "time"), cell(LEVELS[s.aal] || s.aal));
    const actions = document.createElement("td");
    actions.className = "actions";
    actions.append(button("Sign out this session", "secondary", () => endSession(s)));
    tr.append(actions);
    tbody.append(tr);
  }

  show($("#admin-view"), users !== null);
  if (users !== null) renderUsers(users);
}

function renderUsers(users) {
  const tbody = $("#users tbody");
  tbody.replaceChildren();
  for (const u of users) {
    const tr = document.createElement("tr");
    tr.dataset.id = u.id;
    const roleCell = document.createElement("td");
    const sel = document.createElement("select");
    for (const r of ["user", "admin"]) {
      const o = document.createElement("option");
      o.value = r;
      o.textContent = r;
      o.selected = u.role === r;
      sel.append(o);
    }
    roleCell.append(sel);
    const actions = document.createElement("td");
    actions.className = "actions";
    actions.append(
      button("Change role", "secondary", () => userAction("PUT", "/users/" + u.id, { role: sel.value },
        "Role of " + u.email + " is now " + sel.value)),
      button("End sessions", "secondary", () => userAction("DELETE", "/users/" + u.id + "/sessions", undefined,
        "Sessions of " + u.email + " ended")),
      button("Delete", "danger", () => userAction("DELETE", "/users/" + u.id, undefined, u.email + " deleted")),
      button("Remove second factors", "secondary", () => userAction("DELETE", "/users/" + u.id + "/second_factors",
        undefined, "Second factors of " + u.email + " removed; their sessions ended")),
    );
    tr.append(cell(u.email), cell(u.first_name), cell(u.last_name), roleCell, cell(when(u.created_at), "time"), actions);
    tbody.append(tr);
  }
}

async function userAction(method, path, body, done) {
  await sensitive(async () => {
    await api(method, path, body);
    say(done, true);
    await refresh();
  });
}

// sensitive runs action, a change that may need a recent sign-in: when
// the API answers "reauthentication required", the visitor confirms with
// their password (and a code), and the action runs again.
let afterReauth = null;

async function sensitive(action) {
  try {
    await action();
  } catch (err) {
    if (err instanceof ApiError && err.status === 403 && err.message === "reauthentication required") {
      afterReauth = action;
      const factors = await api("GET", "/users/me/second_factors").catch(() => ({ totp: "none" }));
      for (const el of document.querySelectorAll(".needs-code")) show(el, factors.totp === "enabled");
      say("");
      show($("#reauth-view"), true);
      $("#reauth-form").elements.password.focus();
      return;
    }
    await fail(err);
  }
}

// showRecoveryCodes lists new recovery codes, shown only this once.
function showRecoveryCodes(codes) {
  const list = $("#recovery-codes");
  list.replaceChildren();
  for (const c of codes) {
    const li = document.createElement("li");
    li.textContent = c;
    list.append(li);
  }
  show($("#recovery-view"), true);
}

async function endSession(s) {
  try {
    await api("DELETE", "/auth_session/sessions/" + s.id);
  } catch (err) {
    await fail(err);
    return;
  }
  if (s.current) {
    signedOut();
    say("Signed out", true);
    return;
  }
  say("Session ended", true);
  await refresh();
}

function formJSON(form, names) {
  const out = {};
  for (const n of names) out[n] = form.elements[n].value;
  return out;
}

function wire() {
  $("#signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    let answer;
    try {
      answer = await api("POST", "/auth_session/login", new URLSearchParams(new FormData(form)));
    } catch (err) {
      say(err.message);
      return;
    }
    form.reset();
    say("");
    if (answer.second_factor_required) {
      show(form, false);
      show($("#second-factor-form"), true);
      $("#second-factor-form").elements.code.focus();
      return;
    }
    me = answer;
    await refresh();
  });

  $("#second-factor-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const body = {};
    for (const n of ["code", "recovery_code"]) {
      if (form.elements[n].value.trim() !== "") body[n] = form.elements[n].value.trim();
    }
    try {
      me = await api("POST", "/auth_session/second_factor", body);
    } catch (err) {
      say(err.message);
      if (err.status === 401 && err.message === "Unauthorized" || err.status === 403) signedOut(); // pending sign-in over
      return;
    }
    form.reset();
    say("");
    await refresh();
  });

  $("#reauth-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const body = { password: form.elements.password.value };
    if (form.elements.code.value.trim() !== "") body.code = form.elements.code.value.trim();
    try {
      await api("POST", "/auth_session/reauth", body);
    } catch (err) {
      await fail(err);
      return;
    }
    form.reset();
    show($("#reauth-view"), false);
    const action = afterReauth;
    afterReauth = null;
    if (action) await sensitive(action);
  });

  $("#reauth-cancel").addEventListener("click", () => {
    afterReauth = null;
    $("#reauth-form").reset();
    show($("#reauth-view"), false);
  });

  $("#totp-start").addEventListener("click", () => sensitive(async () => {
    const e = await api("POST", "/users/me/totp");
    $("#totp-secret").textContent = e.secret;
    QR.draw($("#totp-qr"), e.otpauth_uri, 4);
    show($("#recovery-view"), false);
    show($("#totp-setup"), true);
    show($("#totp-start"), false);
    $("#totp-confirm-form").elements.code.focus();
  }));

  $("#totp-confirm-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const form = ev.target;
    return sensitive(async () => {
      const r = await api("PUT", "/users/me/totp", { code: form.elements.code.value.trim() });
      form.reset();
      show($("#totp-setup"), false);
      $("#totp-secret").textContent = "";
      say("Two-factor authentication is on", true);
      showRecoveryCodes(r.recovery_codes);
      await refresh();
    });
  });

  $("#recovery-new").addEventListener("click", () => sensitive(async () => {
    const r = await api("POST", "/users/me/recovery_codes");
    say("New recovery codes; the old ones no longer work", true);
    showRecoveryCodes(r.recovery_codes);
    await refresh();
  }));

  $("#totp-remove").addEventListener("click", () => sensitive(async () => {
    await api("DELETE", "/users/me/totp");
    show($("#recovery-view"), false);
    say("Two-factor authentication is off", true);
    await refresh();
  }));

  $("#signout").addEventListener("click", async () => {
    try {
      await api("DELETE", "/auth_session/logout");
    } catch (err) {
      await fail(err);
      return;
    }
    signedOut();
    say("Signed out", true);
  });

  $("#signout-others").addEventListener("click", async () => {
    try {
      const r = await api("DELETE", "/auth_session/sessions");
      say("Signed out of " + r.revoked + " other session(s)", true);
    } catch (err) {
      await fail(err);
      return;
    }
    await refresh();
  });

  $("#profile-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      me = await api("PUT", "/users/me", formJSON(ev.target, ["first_name", "last_name"]));
      say("Profile saved", true);
    } catch (err) {
      await fail(err);
      return;
    }
    await refresh();
  });

  $("#password-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const form = ev.target;
    return sensitive(async () => {
      await api("PUT", "/users/me/password", formJSON(form, ["current_password", "new_password"]));
      form.reset();
      say("Password changed; your other sessions were signed out", true);
      await refresh();
    });
  });

  $("#create-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const body = formJSON(form, ["email", "password", "role"]);
    for (const n of ["first_name", "last_name"]) {
      if (form.elements[n].value !== "") body[n] = form.elements[n].value;
    }
    try {
      const u = await api("POST", "/users", body);
      form.reset();
      say(u.email + " created", true);
    } catch (err) {
      await fail(err);
      return;
    }
    await refresh();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("#signin-form") === null) return; // basic_auth: sessions are off
  wire();
  load();
});
