#!/usr/bin/env bash
# Load benchmark over HTTP, on this machine only (127.0.0.1).
#
#   bench/http.sh            throughput rounds + login storm (about 6 minutes)
#   bench/http.sh soak [MIN] mixed traffic for MIN minutes (default 10), sampled every 10 s
#   bench/http.sh stores     /users/me with sessions in Redis (one server, and a
#                            3-primary Cluster it starts) and users in PostgreSQL vs
#                            in memory, at several concurrencies (about 5 minutes)
#
# It builds the service, a bare Gin handler (bench/baregin) and the load
# driver (bench/load), starts them on free local ports, runs wrk in
# interleaved rounds (so drift on the machine hits every target alike),
# prints each median and the ratios to the bare handler, then runs a login
# storm. Everything it started is stopped on exit. Settings: ROUNDS (15),
# SECONDS_PER_RUN (2), THREADS (2), CONNECTIONS (16).
#
# A ratio is the median over the rounds of each round's ratio to the bare
# handler measured just before and just after the target: the speed of a
# shared machine drifts, and a ratio of overall medians would take each
# side from a different moment. On a virtual machine single runs can
# differ by a tenth from one second to the next, so many short rounds
# pin the median down better than a few long ones; the middle half of
# the rounds' ratios is printed beside it to show how far they spread.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-rounds}
ROUNDS=${ROUNDS:-15}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-2}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "bench/http.sh needs wrk (Debian: apt-get install wrk)" >&2; exit 1
  fi
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "== building"
go build -o "$tmp/simpleapi" .
go build -o "$tmp/baregin" ./bench/baregin
go build -o "$tmp/load" ./bench/load
port() { "$tmp/load" freeport; }

ADMIN_EMAIL=bench@example.com
ADMIN_PASSWORD=bench-password-1
secret=$(head -c 48 /dev/urandom | base64 -w0)

# start NAME PORT [VAR=VALUE...]: runs the service with its own DATA_DIR;
# its log goes to $tmp/NAME.log.
start() {
  local name=$1 p=$2; shift 2
  env API_HOST=127.0.0.1 API_PORT="$p" DATA_DIR="$tmp/$name" SESSION_SECRET="$secret" \
    ADMIN_EMAIL=$ADMIN_EMAIL ADMIN_PASSWORD=$ADMIN_PASSWORD LOG_LEVEL=warn "$@" \
    "$tmp/simpleapi" serve >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_$name=$!"
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$p/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "$name did not start:"; cat "$tmp/$name.log"; exit 1
}

# rps PID URL [HEADER]: "requests/s cpu" of one wrk run, where cpu is the
# CPU time (user and system) the server PID spent per request, in µs.
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rps() {
  local pid=$1 url=$2; shift 2
  local args=(-t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s")
  [ $# -gt 0 ] && args+=(-H "$1")
  local t0 out t1
  t0=$(cpu_ticks "$pid")
  out=$(wrk "${args[@]}" "$url")
  t1=$(cpu_ticks "$pid")
  echo "$out" | awk -v ticks=$((t1 - t0)) -v hz="$clk_tck" '
    / requests in / {n = $1} /^Requests\/sec:/ {r = $2}
    END {printf "%s %.2f\n", r, n ? ticks * 1e6 / hz / n : 0}'
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# quartiles: the first and third quartile of the numbers read, "Q1–Q3".
quartiles() {
  tr ' ' '\n' | grep . | sort -g |
    awk '{a[NR]=$1} END {printf "%.3f–%.3f", a[int((NR+3)/4)], a[NR+1-int((NR+3)/4)]}'
}

if [ "$mode" = stores ]; then
  # Throughput is what a configuration serves when enough requests are in
  # flight to keep it busy: each runs at every concurrency in
  # STORES_CONNECTIONS, and its best median counts. The requests go round
  # 64 sessions of 64 users (bench/cookies.lua).
  CONNS_LIST=${STORES_CONNECTIONS:-16 64 256}
  db_url=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
  redis_url=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/0}
  command -v psql >/dev/null && command -v redis-cli >/dev/null ||
    { echo "bench/http.sh stores needs psql and redis-cli" >&2; exit 1; }
  schema="bench_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  prefix="$schema:"
  psql -q "$db_url" -c "CREATE SCHEMA $schema" >/dev/null
  cleanup_stores() {
    psql -q "$db_url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    redis-cli -u "$redis_url" --scan --pattern "$prefix*" | xargs -r redis-cli -u "$redis_url" unlink >/dev/null || true
    cleanup
  }
  trap cleanup_stores EXIT
  sep='?'; case $db_url in *\?*) sep='&';; esac
  p_memory=$(port); p_shared=$(port)
  start memory "$p_memory" AUTH_TYPE=session_db_auth SESSION_STORE=memory LOGIN_IP_BURST=1000 LOGIN_IP_PER_MINUTE=100000
  start shared "$p_shared" AUTH_TYPE=session_db_auth USER_STORE=postgres \
    DATABASE_URL="$db_url${sep}search_path=$schema" SESSION_STORE=redis \
    REDIS_URL="$redis_url?key_prefix=$prefix" LOGIN_IP_BURST=1000 LOGIN_IP_PER_MINUTE=100000
  # A Cluster of three primaries and three replicas of its own, on ports
  # below 55536 (each node also takes its port + 10000), empty at the end.
  cluster_addrs=""
  for i in 1 2 3 4 5 6; do
    cp=$(port); while [ "$cp" -ge 55536 ]; do cp=$(port); done
    mkdir -p "$tmp/cluster-$cp"
    redis-server --port "$cp" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp/cluster-$cp" \
      --cluster-enabled yes --cluster-config-file nodes.conf >"$tmp/cluster-$cp.log" 2>&1 &
    pids+=($!)
    cluster_addrs+="${cluster_addrs:+,}127.0.0.1:$cp"
  done
  for a in ${cluster_addrs//,/ }; do
    for _ in $(seq 100); do redis-cli -h 127.0.0.1 -p "${a#*:}" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  redis-cli --cluster create ${cluster_addrs//,/ } --cluster-replicas 1 --cluster-yes >"$tmp/cluster-create.log"
  for _ in $(seq 100); do
    redis-cli -h 127.0.0.1 -p "${cluster_addrs##*:}" cluster info | grep -q cluster_state:ok && break; sleep 0.1
  done
  p_cluster=$(port)
  start cluster "$p_cluster" AUTH_TYPE=session_db_auth USER_STORE=postgres \
    DATABASE_URL="$db_url${sep}search_path=$schema" SESSION_STORE=redis \
    REDIS_CLUSTER_ADDRS="$cluster_addrs" REDIS_KEY_PREFIX="$prefix" LOGIN_IP_BURST=1000 LOGIN_IP_PER_MINUTE=100000
  echo "== signing in 64 users on each"
  for t in memory shared cluster; do
    eval "p=\$p_$t"
    "$tmp/load" cookies -url "http://127.0.0.1:$p" -email $ADMIN_EMAIL -password $ADMIN_PASSWORD -n 64 >"$tmp/$t.cookies"
  done
  declare -A runs
  echo "== $ROUNDS interleaved rounds, wrk -t$THREADS -d${SECONDS_PER_RUN}s at -c ${CONNS_LIST// /, }"
  for r in $(seq "$ROUNDS"); do
    line="round $r:"
    for c in $CONNS_LIST; do
      for t in memory shared cluster; do
        eval "p=\$p_$t"
        v=$(COOKIES="$tmp/$t.cookies" wrk -t"$THREADS" -c"$c" -d"${SECONDS_PER_RUN}s" -s bench/cookies.lua \
          "http://127.0.0.1:$p/api/v1/users/me" | awk '/^Non-2xx/ {bad=1} /^Requests\/sec:/ {r=$2} END {print bad ? "FAILED" : r}')
        [ "$v" = FAILED ] && { echo "$t at -c$c answered other than 200"; exit 1; }
        runs[$t.$c]+=" $v"
        line+=" $t/c$c=$v"
      done
    done
    echo "$line"
  done
  echo "== medians (requests/s) of GET /users/me"
  printf '%-12s %-16s %-16s %-16s %-10s %s\n' connections "memory" "redis+postgres" "cluster+postgres" ratio "cluster/redis"
  best_mem=0; best_shared=0; best_cluster=0
  for c in $CONNS_LIST; do
    m=$(echo "${runs[memory.$c]}" | median); s=$(echo "${runs[shared.$c]}" | median)
    k=$(echo "${runs[cluster.$c]}" | median)
    printf '%-12s %-16.0f %-16.0f %-16.0f %-10.2f %.2f\n' "$c" "$m" "$s" "$k" "$(awk -v a="$s" -v b="$m" 'BEGIN {print a/b}')" \
      "$(awk -v a="$k" -v b="$s" 'BEGIN {print a/b}')"
    best_mem=$(awk -v a="$m" -v b="$best_mem" 'BEGIN {print (a > b) ? a : b}')
    best_shared=$(awk -v a="$s" -v b="$best_shared" 'BEGIN {print (a > b) ? a : b}')
    best_cluster=$(awk -v a="$k" -v b="$best_cluster" 'BEGIN {print (a > b) ? a : b}')
  done
  printf 'sessions on the Cluster (best median): %.0f req/s, %.2f of one Redis server\n' \
    "$best_cluster" "$(awk -v a="$best_cluster" -v b="$best_shared" 'BEGIN {print a/b}')"
  r=$(awk -v a="$best_shared" -v b="$best_mem" 'BEGIN {printf "%.2f", a/b}')
  verdict=ok; awk -v r="$r" 'BEGIN {exit !(r < 0.5)}' && verdict="BELOW TARGET"
  printf 'throughput (best median): memory %.0f, redis+postgres %.0f req/s, ratio %s (target >= 0.50) %s\n' \
    "$best_mem" "$best_shared" "$r" "$verdict"
  [ "$verdict" = ok ]
  exit $?
fi

if [ "$mode" = soak ]; then
  minutes=${2:-10}
  p=$(port); pm=$(port)
  # All traffic comes from one address: its login limit would refuse most logins.
  start soak "$p" SESSION_IDLE_TIMEOUT=20 METRICS_ADDR="127.0.0.1:$pm" LOGIN_IP_PER_MINUTE=100000 LOGIN_IP_BURST=1000
  echo "== soak: $minutes minutes of mixed traffic at about half of capacity"
  "$tmp/load" soak -url "http://127.0.0.1:$p" -metrics "http://127.0.0.1:$pm/metrics" \
    -email $ADMIN_EMAIL -password $ADMIN_PASSWORD -data-dir "$tmp/soak" -pid "$pid_soak" \
    -duration "${minutes}m"
  exit $?
fi

p_bare=$(port); p_sess=$(port); p_basic=$(port); p_logged=$(port); p_wire=$(port)
"$tmp/baregin" -addr "127.0.0.1:$p_bare" & pids+=($!); pid_bare=$!
start session "$p_sess" TRUSTED_PROXIES=127.0.0.1
start basic "$p_basic" AUTH_TYPE=basic_auth
start logged "$p_logged" LOG_LEVEL=info
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$p_bare/api/v1/status" >/dev/null && break; sleep 0.1; done

cookie=$("$tmp/load" cookie -url "http://127.0.0.1:$p_sess" -email $ADMIN_EMAIL -password $ADMIN_PASSWORD)
cookie_logged=$("$tmp/load" cookie -url "http://127.0.0.1:$p_logged" -email $ADMIN_EMAIL -password $ADMIN_PASSWORD)
basic="Authorization: Basic $(printf '%s:%s' $ADMIN_EMAIL $ADMIN_PASSWORD | base64 -w0)"

# The replay yardstick: a bare Gin handler answering with the bytes of one
# /status and one /users/me answer of the service (same headers, same
# body), sent the same requests. Against it a target shows what the
# service's own work costs; the replay against the bare handler shows what
# the bytes that the answer and the request carry cost.
"$tmp/baregin" -addr "127.0.0.1:$p_wire" -replay "http://127.0.0.1:$p_sess/api/v1/status" \
  -replay "http://127.0.0.1:$p_sess/api/v1/users/me" -header "Cookie: $cookie" & pids+=($!); pid_wire=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$p_wire/api/v1/users/me" >/dev/null && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$p_wire/api/v1/users/me" >/dev/null || { echo "the replay did not start"; exit 1; }

# One round: the bare handler, then each target followed by the bare handler
# again. A target's ratio in the round is to the mean of the two bare runs
# around it, so a machine that speeds up or slows down during the round
# moves both sides alike. Each run also records the server's CPU time per
# request, which moves far less than the rate between runs.
declare -A runs cpus ratios
targets=(status replay_status me_session replay_me me_basic me_session_logged)
measure() {
  case $1 in
  bare) rps "$pid_bare" "http://127.0.0.1:$p_bare/api/v1/status" ;;
  status) rps "$pid_session" "http://127.0.0.1:$p_sess/api/v1/status" ;;
  me_session) rps "$pid_session" "http://127.0.0.1:$p_sess/api/v1/users/me" "Cookie: $cookie" ;;
  replay_status) rps "$pid_wire" "http://127.0.0.1:$p_wire/api/v1/status" ;;
  replay_me) rps "$pid_wire" "http://127.0.0.1:$p_wire/api/v1/users/me" "Cookie: $cookie" ;;
  me_basic) rps "$pid_basic" "http://127.0.0.1:$p_basic/api/v1/users/me" "$basic" ;;
  me_session_logged) rps "$pid_logged" "http://127.0.0.1:$p_logged/api/v1/users/me" "Cookie: $cookie_logged" ;;
  esac
}
echo "== $ROUNDS interleaved rounds, wrk -t$THREADS -c$CONNECTIONS -d${SECONDS_PER_RUN}s each (requests/s)"
for r in $(seq "$ROUNDS"); do
  read -r before cpu < <(measure bare)
  runs[bare]+=" $before"; cpus[bare]+=" $cpu"
  line="round $r: bare=$before"
  for t in "${targets[@]}"; do
    read -r v cpu < <(measure "$t")
    runs[$t]+=" $v"; cpus[$t]+=" $cpu"
    read -r after cpu < <(measure bare)
    runs[bare]+=" $after"; cpus[bare]+=" $cpu"
    ratios[$t]+=" $(awk -v v="$v" -v a="$before" -v b="$after" 'BEGIN {printf "%.4f", 2 * v / (a + b)}')"
    line+=" $t=$v bare=$after"
    before=$after
  done
  echo "$line"
done
# over TARGET REPLAY: each round's ratio of TARGET over that of REPLAY.
over() {
  paste -d' ' <(echo "${ratios[$1]}" | tr ' ' '\n' | grep .) <(echo "${ratios[$2]}" | tr ' ' '\n' | grep .) |
    awk '{printf " %.4f", $1 / $2}'
}
ratios[status_over_replay]=$(over status replay_status)
ratios[me_over_replay]=$(over me_session replay_me)

declare -A med
for t in bare "${targets[@]}"; do med[$t]=$(echo "${runs[$t]}" | median); done
echo "== medians: requests/s, the server's CPU time per request, and the median over the rounds of each ratio"
failed=0
# ratio NAME TARGET LABEL: a ratio's median, its middle half and, unless
# TARGET is "-", the verdict.
ratio() {
  local r; r=$(echo "${ratios[$1]}" | median)
  r=$(awk -v r="$r" 'BEGIN {printf "%.3f", r}') # compared as printed, not rounded up to the target
  local verdict=""
  if [ "$2" != - ]; then
    verdict="; target >= $2) ok"
    awk -v r="$r" -v t="$2" 'BEGIN {exit !(r < t)}' && { verdict="; target >= $2) BELOW TARGET"; failed=1; }
  fi
  printf '%s ratio %s  (middle half %s%s\n' "$3" "$r" "$(echo "${ratios[$1]}" | quartiles)" "${verdict:-)}"
}
# rate NAME LABEL: the median rate and CPU time of NAME's runs.
rate() {
  printf '%-40s %7.0f req/s %6.1f µs' "$2" "${med[$1]}" "$(echo "${cpus[$1]}" | median)"
}
rate bare "bare Gin handler"; echo
ratio status 0.90 "$(rate status "GET /api/v1/status (LOG_LEVEL=warn)")"
ratio replay_status - "$(rate replay_status "  its answer, replayed by a bare handler")"
ratio status_over_replay - "$(printf '%-64s' "  /status over its replay")"
# 0.70 since the service went back to encoding/json, slog's handlers and
# client_golang's vectors (docs/performance.md): simpler code for a few
# hundredths of loopback throughput.
ratio me_session 0.70 "$(rate me_session "GET /users/me by session (warn)")"
ratio replay_me - "$(rate replay_me "  its answer, replayed by a bare handler")"
ratio me_over_replay - "$(printf '%-64s' "  /users/me by session over its replay")"
ratio me_basic - "$(rate me_basic "GET /users/me by Basic (warn)")"
ratio me_session_logged 0.75 "$(rate me_session_logged "GET /users/me by session (access log)")"

echo "== login storm: 500 concurrent logins from 500 addresses"
"$tmp/load" storm -url "http://127.0.0.1:$p_sess" -email $ADMIN_EMAIL -password $ADMIN_PASSWORD \
  -pid "$pid_session" || failed=1
exit $failed
