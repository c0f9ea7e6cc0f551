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
let myFactors = { methods: [], recovery_codes_left: 0, totp: "none" }; // their second factors, as last read

// ---- passkeys (WebAuthn) ----
// The API writes the binary members of the options and of the browser's
// answer in base64url; the browser wants and gives ArrayBuffers.

function fromB64url(s) {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

function toB64url(buf) {
  let bin = "";
  for (const b of new Uint8Array(buf)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function withIDs(list) {
  return (list || []).map((c) => ({ ...c, id: fromB64url(c.id) }));
}

function creationOptions(options) {
  const pk = options.publicKey;
  return {
    publicKey: {
      ...pk,
      challenge: fromB64url(pk.challenge),
      user: { ...pk.user, id: fromB64url(pk.user.id) },
      excludeCredentials: withIDs(pk.excludeCredentials),
    },
  };
}

function requestOptions(options) {
  const pk = options.publicKey;
  const out = { ...pk, challenge: fromB64url(pk.challenge) };
  if (pk.allowCredentials) out.allowCredentials = withIDs(pk.allowCredentials);
  return { publicKey: out };
}

// credentialJSON is the browser's PublicKeyCredential as the API reads it.
function credentialJSON(cred) {
  const r = cred.response;
  const response = { clientDataJSON: toB64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toB64url(r.attestationObject);
    response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
  } else {
    response.authenticatorData = toB64url(r.authenticatorData);
    response.signature = toB64url(r.signature);
    if (r.userHandle) response.userHandle = toB64url(r.userHandle);
  }
  return {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment || null,
    clientExtensionResults: cred.getClientExtensionResults(),
    response,
  };
}

// passkeyError says what went wrong in the browser (the API was not
// asked), in the page's words.
function passkeyError(e) {
  if (e && e.name === "NotAllowedError") return new ApiError(0, "The passkey request was cancelled or timed out");
  if (e && e.name === "InvalidStateError") return new ApiError(0, "This device already has a passkey for this account");
  return new ApiError(0, "This browser cannot use passkeys here");
}

const passkeysSupported = () => typeof window.PublicKeyCredential === "function";

// usePasskey runs a check of a passkey: the options from path + "/begin",
// the browser's answer to path + "/finish", whose answer it returns.
async function usePasskey(path) {
  const options = await api("POST", path + "/begin");
  let cred;
  try {
    cred = await navigator.credentials.get(requestOptions(options));
  } catch (e) {
    throw passkeyError(e);
  }
  return api("POST", path + "/finish", { credential: credentialJSON(cred) });
}

// LEVELS names a session's assurance level for people. A passkey alone
// signs in at aal2 too: it is something the person has, unlocked by
// something they know or are.
const LEVELS = {
  aal1: "password",
  aal2: "password and second factor, or a passkey",
  pending: "password, second factor due",
};

// NO_FACTORS is the second-factor status of an account without any.
const NO_FACTORS = { methods: [], recovery_codes_left: 0, totp: "none" };

// showMethods shows, within root, the parts of a second-factor step
// ([data-method]) for the methods the API listed, a passkey only where the
// browser can use one. It reports whether a code (an authenticator app's or
// a recovery code) can be typed.
function showMethods(root, methods) {
  for (const el of root.querySelectorAll("[data-method]")) {
    const m = el.dataset.method;
    show(el, methods.includes(m) && (m !== "passkey" || passkeysSupported()));
  }
  for (const el of root.querySelectorAll(".recovery-label")) {
    el.textContent = methods.includes("totp") ? "Or a recovery code" : "Recovery code";
  }
  return methods.includes("totp") || methods.includes("recovery_code");
}

// withCodes adds to body the code and the recovery code typed in form,
// as the API reads them.
function withCodes(form, body) {
  for (const n of ["code", "recovery_code"]) {
    const v = form.elements[n].value.trim();
    if (v !== "") body[n] = v;
  }
  return body;
}

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
  myFactors = NO_FACTORS;
  endReauth();
  $("#token-secret").textContent = ""; // a new token is shown to its creator only
  show($("#token-new"), false);
  show($("#account-view"), false);
  show($("#second-factor-view"), false);
  show($("#passkey-signin-box"), passkeysSupported());
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
    const [user, factors, passkeys] = await Promise.all([
      api("GET", "/users/me"),
      api("GET", "/users/me/second_factors"),
      api("GET", "/users/me/passkeys"),
    ]);
    me = user;
    myFactors = factors;
    let sessions = [];
    let users = null;
    let mustEnrol = false;
    let tokens = [];
    try {
      [sessions, users, tokens] = await Promise.all([
        api("GET", "/auth_session/sessions"),
        admin ? api("GET", "/users") : Promise.resolve(null),
        api("GET", "/users/me/tokens"),
      ]);
    } catch (err) {
      if (!(err instanceof ApiError) || err.message !== MFA_REQUIRED) throw err;
      mustEnrol = true;
    }
    renderAccount(sessions, users, factors, mustEnrol);
    renderPasskeys(passkeys);
    renderTokens(tokens, mustEnrol);
  } catch (err) {
    await fail(err);
  }
}

// renderFactors shows the state of the second factors and the buttons
// that change it.
function renderFactors(factors, mustEnrol) {
  const enabled = factors.totp === "enabled";
  const passkey = factors.methods.includes("passkey");
  const left = " Recovery codes left: " + factors.recovery_codes_left + ".";
  let status = "Off: signing in takes only your password.";
  if (enabled) {
    status = "On: signing in takes a code from your authenticator app" + (passkey ? " or a passkey" : "") + "." + left;
  } else if (passkey) {
    status = "On: after your password, signing in takes one of your passkeys. No authenticator app is set up." +
      (factors.recovery_codes_left > 0 ? left : "");
  }
  if (mustEnrol) status += " Your role requires it: set up an authenticator app or add a passkey to use the rest of your account.";
  $("#mfa-status").textContent = status;
  show($("#totp-start"), !enabled && $("#totp-setup").hidden);
  show($("#totp-remove"), enabled);
  show($("#recovery-new"), enabled || passkey);
  for (const id of ["#sessions-section", "#password-section"]) show($(id), !mustEnrol);
}

function renderAccount(sessions, users, factors, mustEnrol) {
  show($("#signin-view"), false);
  show($("#second-factor-view"), false);
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

function renderPasskeys(passkeys) {
  const tbody = $("#passkeys tbody");
  tbody.replaceChildren();
  for (const k of passkeys) {
    const tr = document.createElement("tr");
    tr.dataset.id = k.id;
    const actions = document.createElement("td");
    actions.className = "actions";
    actions.append(button("Remove", "danger", () => removePasskey(k)));
    tr.append(cell(k.name), cell(when(k.created_at), "time"), cell(k.last_used_at ? when(k.last_used_at) : "never", "time"),
      actions);
    tbody.append(tr);
  }
  show($("#passkeys"), passkeys.length > 0);
  show($("#passkeys-none"), passkeys.length === 0);
  show($("#passkey-form"), passkeysSupported());
}

// addPasskey registers a passkey of this device under the name typed in
// form (a change that needs a recent sign-in).
function addPasskey(form) {
  const name = form.elements.name.value;
  return sensitive(async () => {
    const options = await api("POST", "/users/me/passkeys/register/begin");
    let cred;
    try {
      cred = await navigator.credentials.create(creationOptions(options));
    } catch (e) {
      throw passkeyError(e);
    }
    const k = await api("POST", "/users/me/passkeys/register/finish", { name, credential: credentialJSON(cred) });
    form.reset();
    say("Passkey " + k.name + " added", true);
    await refresh();
  });
}

function removePasskey(k) {
  return sensitive(async () => {
    await api("DELETE", "/users/me/passkeys/" + encodeURIComponent(k.id));
    say("Passkey " + k.name + " removed", true);
    await refresh();
  });
}

// ---- personal access tokens ----

const SCOPES = { read: "read only", write: "read and write" };

function renderTokens(tokens, mustEnrol) {
  const tbody = $("#tokens tbody");
  tbody.replaceChildren();
  for (const t of tokens) {
    const tr = document.createElement("tr");
    tr.dataset.id = t.id;
    const actions = document.createElement("td");
    actions.className = "actions";
    actions.append(button("Revoke", "danger", () => revokeToken(t)));
    const last = t.last_used_at ? when(t.last_used_at) + " from " + t.last_used_ip : "never";
    tr.append(cell(t.name), cell(SCOPES[t.scope] || t.scope), cell(when(t.created_at), "time"),
      cell(t.expired ? "expired" : when(t.expires_at), "time"), cell(last, "time"), actions);
    tbody.append(tr);
  }
  show($("#tokens-section"), !mustEnrol);
  show($("#tokens"), tokens.length > 0);
  show($("#tokens-none"), tokens.length === 0);
}

// createToken creates a token from form (a change that needs a recent
// sign-in) and shows its secret this once.
function createToken(form) {
  const body = {
    name: form.elements.name.value,
    scope: form.elements.scope.value,
    expires_in_days: Number(form.elements.expires_in_days.value),
  };
  return sensitive(async () => {
    const t = await api("POST", "/users/me/tokens", body);
    form.reset();
    $("#token-new-name").textContent = t.name;
    $("#token-secret").textContent = t.token;
    show($("#token-new"), true);
    say("Token " + t.name + " created: copy it now", true);
    await refresh();
  });
}

// copyToken puts the new token on the clipboard; where the browser does
// not allow that, it selects the token for the visitor to copy.
async function copyToken() {
  const secret = $("#token-secret").textContent;
  try {
    await navigator.clipboard.writeText(secret);
    say("Token copied", true);
  } catch (e) {
    const range = document.createRange();
    range.selectNodeContents($("#token-secret"));
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    say("Select the token and copy it (the browser did not allow the page to)");
  }
}

async function revokeToken(t) {
  try {
    await api("DELETE", "/users/me/tokens/" + encodeURIComponent(t.id));
  } catch (err) {
    await fail(err);
    return;
  }
  say("Token " + t.name + " revoked", true);
  await refresh();
}

// signInWith runs one step of a sign-in and goes on from its answer; a
// refusal is shown as the API wrote it, and form (when given) keeps what
// was typed until the step succeeds. A second-factor step (pending) whose
// pending sign-in is over goes back to the sign-in form.
async function signInWith(step, form, pending) {
  say("");
  let answer;
  try {
    answer = await step();
  } catch (err) {
    say(err.message);
    if (pending && err instanceof ApiError && (err.status === 401 && err.message === "Unauthorized" || err.status === 403)) {
      signedOut();
    }
    return;
  }
  if (form) form.reset();
  await signedIn(answer);
}

// signedIn goes on from an answer of a sign-in route: the user, or a
// second factor to ask for.
async function signedIn(answer) {
  if (answer && answer.second_factor_required === true) {
    askSecondFactor(answer.methods);
    return;
  }
  me = answer;
  say("");
  await refresh();
}

// askSecondFactor shows the second step of a sign-in with the methods the
// API listed: a passkey, a code from the authenticator app, a recovery
// code.
function askSecondFactor(methods) {
  say("");
  const view = $("#second-factor-view");
  const form = $("#second-factor-form");
  form.reset();
  show($("#signin-view"), false);
  const codes = showMethods(view, methods);
  show(form, codes);
  show(view, true);
  if (!codes && $("#second-factor-passkey").hidden) say(passkeyError(null).message); // passkeys only, none here
  const first = view.querySelector("button[data-method]:not([hidden]), label:not([hidden]) input");
  if (first !== null) first.focus();
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

// ---- re-authentication ----
// sensitive runs action, a change that may need a recent sign-in: when
// the API answers "reauthentication required", the visitor confirms it is
// them (a passkey, or the password and a code when the account has a
// second factor), and the action runs again.
let afterReauth = null;

async function sensitive(action) {
  try {
    await action();
  } catch (err) {
    if (err instanceof ApiError && err.status === 403 && err.message === "reauthentication required") {
      await askReauth(action);
      return;
    }
    await fail(err);
  }
}

// askReauth shows the confirmation prompt with the ways this account can
// confirm, and keeps action to run once it is confirmed.
async function askReauth(action) {
  afterReauth = action;
  const factors = await api("GET", "/users/me/second_factors").catch(() => myFactors);
  const methods = factors.methods || [];
  const view = $("#reauth-view");
  const form = $("#reauth-form");
  const passkey = passkeysSupported() && methods.includes("passkey");
  const codes = showMethods(view, methods);
  // With passkeys alone the password is not enough, and there is no code
  // to send with it.
  const password = codes || !passkey;
  let code = "";
  if (methods.includes("totp")) {
    code = " and a code from your authenticator app" + (methods.includes("recovery_code") ? " (or a recovery code)" : "");
  } else if (codes) {
    code = " and a recovery code";
  }
  let hint = "This change needs a recent sign-in. ";
  if (passkey && password) hint += "Confirm with a passkey, or with your password" + code + ".";
  else if (passkey) hint += "Confirm with a passkey.";
  else hint += "Enter your password" + code + ".";
  $("#reauth-hint").textContent = hint;
  form.reset();
  form.elements.username.value = me ? me.email : "";
  show(form, password);
  say("");
  show(view, true);
  view.scrollIntoView();
  (password ? form.elements.password : $("#reauth-passkey")).focus();
}

// endReauth closes the prompt; a change it was for is dropped.
function endReauth() {
  afterReauth = null;
  $("#reauth-form").reset();
  show($("#reauth-view"), false);
}

// reauthenticated closes the prompt and runs the change it was for again.
async function reauthenticated() {
  const action = afterReauth;
  endReauth();
  if (action) await sensitive(action);
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
  $("#signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const form = ev.target;
    signInWith(() => api("POST", "/auth_session/login", new URLSearchParams(new FormData(form))), form);
  });

  $("#passkey-signin").addEventListener("click", () =>
    signInWith(() => usePasskey("/auth_session/login/passkey"), $("#signin-form")));

  $("#second-factor-passkey").addEventListener("click", () =>
    signInWith(() => usePasskey("/auth_session/second_factor/passkey"), undefined, true));

  $("#second-factor-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const form = ev.target;
    signInWith(() => api("POST", "/auth_session/second_factor", withCodes(form, {})), form, true);
  });

  $("#second-factor-cancel").addEventListener("click", () => {
    say("");
    signedOut();
  });

  $("#reauth-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    try {
      await api("POST", "/auth_session/reauth", withCodes(form, { password: form.elements.password.value }));
    } catch (err) {
      await fail(err);
      return;
    }
    await reauthenticated();
  });

  $("#reauth-passkey").addEventListener("click", async () => {
    try {
      await usePasskey("/auth_session/reauth/passkey");
    } catch (err) {
      await fail(err);
      return;
    }
    await reauthenticated();
  });

  $("#reauth-cancel").addEventListener("click", () => endReauth());

  $("#token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    createToken(ev.target);
  });

  $("#token-copy").addEventListener("click", () => copyToken());

  $("#passkey-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    return addPasskey(ev.target);
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
