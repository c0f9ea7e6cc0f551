#!/usr/bin/env bash
# Runs the Postman collection (postman/) with newman against a freshly started
# server built from this tree:
#
#   bash .ci/newman.sh path/to/simpleapi
#
# It installs newman (pinned, cached), starts the binary on a free port of
# 127.0.0.1 with a temporary DATA_DIR and a first admin, waits for /healthz,
# checks `simpleapi healthcheck`, runs the collection twice (the second run
# proves it can be repeated against a used server), stops the server with
# SIGTERM and checks that `simpleapi healthcheck` then fails.
# Needs node and npm (newman is fetched from the npm registry on first use).
set -euo pipefail

NEWMAN_VERSION=6.2.2
root=$(cd "$(dirname "$0")/.." && pwd)
collection=$root/postman/simpleapi.postman_collection.json
environment=$root/postman/local.postman_environment.json

section() { printf '\n== [newman] %s\n' "$*"; }
die() { echo "newman.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || { echo "usage: bash .ci/newman.sh path/to/simpleapi" >&2; exit 2; }
bin=$1
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
[ -f "$bin" ] && [ -x "$bin" ] || die "not an executable file: $bin"
[ -f "$collection" ] || die "missing $collection"
[ -f "$environment" ] || die "missing $environment"
command -v node >/dev/null 2>&1 || die "node is needed (newman runs on Node.js)"
command -v npm >/dev/null 2>&1 || die "npm is needed to install newman"

work=$(mktemp -d "${TMPDIR:-/tmp}/simpleapi-newman.XXXXXX")
server_pid=
server_log=$work/server.log

# On any exit: stop the server if it still runs (SIGTERM, then SIGKILL after
# 20 s), show its log when something failed, remove the temporary files.
cleanup() {
  local rc=$? i
  trap - EXIT
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for i in $(seq 1 200); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] && [ -s "$server_log" ]; then
    echo "-- server log (last 50 lines)"
    tail -n 50 "$server_log"
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Small helpers on node, which newman needs anyway (no curl or python needed).
free_port() {
  node -e 'const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}
# http_get URL: prints "<status> <body>" ("000 <error>" when there is no answer).
http_get() {
  node -e 'const req = require("http").get(process.argv[1], { timeout: 2000 }, (res) => {
  let body = ""; res.setEncoding("utf8");
  res.on("data", (c) => { body += c; });
  res.on("end", () => console.log(res.statusCode + " " + body));
});
req.on("timeout", () => req.destroy(new Error("timeout")));
req.on("error", (e) => console.log("000 " + e.message));' "$1"
}

section "install newman $NEWMAN_VERSION"
node --version
cache_root=${NEWMAN_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/simpleapi-ci}
if ! mkdir -p "$cache_root" 2>/dev/null || [ ! -w "$cache_root" ]; then
  cache_root=$work # no writable cache: install for this run only
fi
newman_dir=$cache_root/newman-$NEWMAN_VERSION
newman=$newman_dir/node_modules/.bin/newman
if [ "$("$newman" --version 2>/dev/null || true)" = "$NEWMAN_VERSION" ]; then
  echo "cached in $newman_dir"
else
  # Install next to the cache entry and move it into place, so that a broken
  # or concurrent install never leaves a half-written cache entry.
  staging=$(mktemp -d "$cache_root/.newman-install.XXXXXX")
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$staging" "newman@$NEWMAN_VERSION"
  rm -rf "$newman_dir"
  if ! mv -T "$staging" "$newman_dir" 2>/dev/null; then
    newman_dir=$staging # another job won the race: use ours
    newman=$newman_dir/node_modules/.bin/newman
  fi
fi
[ "$("$newman" --version)" = "$NEWMAN_VERSION" ] || die "newman $NEWMAN_VERSION did not install"
echo "newman $("$newman" --version)"

section "start the server"
admin_email=newman-admin@example.com
admin_password="ci-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
port=
# server_env: `env` with exactly the server's settings and nothing inherited
# from the caller's environment that could change them (AUTH_TYPE, ...).
# Used as "${server_env[@]}" CMD: a simple command, so that `env` and then
# the server replace the forked shell and $! is the server's own pid.
set_server_env() {
  server_env=(env -i "PATH=$PATH" "HOME=$work" "TMPDIR=${TMPDIR:-/tmp}"
    API_HOST=127.0.0.1 "API_PORT=$port" "DATA_DIR=$work/data"
    "ADMIN_EMAIL=$admin_email" "ADMIN_PASSWORD=$admin_password"
    LOGIN_IP_BURST=100 LOGIN_IP_PER_MINUTE=600)
}
# The port is free when picked but could be taken before the server binds it:
# then the server exits at once and another port is tried.
ready=
answer=
for attempt in 1 2 3 4 5; do
  port=$(free_port)
  [ -n "$port" ] || die "could not pick a free port"
  echo "API_HOST=127.0.0.1 API_PORT=$port DATA_DIR=$work/data ADMIN_EMAIL=$admin_email LOGIN_IP_BURST=100 LOGIN_IP_PER_MINUTE=600 $bin"
  set_server_env
  "${server_env[@]}" "$bin" >"$server_log" 2>&1 &
  server_pid=$!
  for i in $(seq 1 300); do # up to 30 s
    kill -0 "$server_pid" 2>/dev/null || break
    answer=$(http_get "http://127.0.0.1:$port/healthz")
    if [ "${answer%% *}" = 200 ]; then
      ready=1
      break
    fi
    sleep 0.1
  done
  [ -n "$ready" ] && break
  if kill -0 "$server_pid" 2>/dev/null; then
    die "the server did not answer /healthz within 30 s (last answer: $answer)"
  fi
  rc=0
  wait "$server_pid" || rc=$?
  server_pid=
  echo "the server exited with status $rc before answering (attempt $attempt):"
  tail -n 5 "$server_log"
  grep -qi "address already in use" "$server_log" || die "the server did not start"
done
[ -n "$ready" ] || die "the server did not start after 5 attempts"
echo "GET /healthz -> $answer (pid $server_pid)"
[ "$answer" = '200 {"status":"OK"}' ] || die "unexpected /healthz answer: $answer"
base_url=http://127.0.0.1:$port

section "simpleapi healthcheck (server running: must exit 0)"
rc=0
"${server_env[@]}" "$bin" healthcheck || rc=$?
[ "$rc" -eq 0 ] || die "simpleapi healthcheck exited $rc while the server runs"
echo "exit status 0"

failed=
for run in 1 2; do
  section "newman run $run of 2: $(basename "$collection")"
  rc=0
  "$newman" run "$collection" \
    --environment "$environment" \
    --env-var "baseUrl=$base_url" \
    --env-var "adminEmail=$admin_email" \
    --env-var "adminPassword=$admin_password" \
    --reporters cli,json --reporter-json-export "$work/newman-$run.json" \
    --timeout-request 10000 --timeout 300000 || rc=$?
  summary=$(node -e 'const r = require(process.argv[1]).run;
const s = r.stats;
console.log(s.requests.total + " requests, " + s.assertions.total + " assertions, " +
  s.assertions.failed + " failed assertions, " + r.failures.length + " failures");' "$work/newman-$run.json" 2>/dev/null ||
    echo "no summary")
  if [ "$rc" -eq 0 ]; then
    echo "newman run $run passed: $summary"
  else
    echo "newman run $run FAILED (exit status $rc): $summary"
    failed=1
  fi
  # The server must have survived the run.
  kill -0 "$server_pid" 2>/dev/null || die "the server died during newman run $run"
done

section "stop the server (SIGTERM)"
kill -TERM "$server_pid"
for i in $(seq 1 300); do # up to 30 s (SHUTDOWN_TIMEOUT is 15 s)
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$server_pid" 2>/dev/null && die "the server did not stop within 30 s of SIGTERM"
rc=0
wait "$server_pid" || rc=$?
server_pid=
echo "the server exited with status $rc"
tail -n 2 "$server_log"

section "simpleapi healthcheck (server stopped: must exit non-zero)"
rc=0
"${server_env[@]}" "$bin" healthcheck || rc=$?
[ "$rc" -ne 0 ] || die "simpleapi healthcheck exited 0 with the server stopped"
echo "exit status $rc"

if [ -n "$failed" ]; then
  die "newman reported failures (see above)"
fi
section "passed"
