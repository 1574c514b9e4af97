#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# HTTP benchmark: motcua-gateway against a bare libevent evhttp server
# (hello-evhttp), measured side by side in one run with wrk.
#
#   http-bench.sh GATEWAY_BIN CLI_BIN HELLO_BIN
#
# meson passes the three paths:  meson test -C build --benchmark --verbose http
#
# Environment:
#   BENCH_SECONDS      duration of each wrk run (default 10)
#   BENCH_THREADS      wrk threads (default 2)
#   BENCH_CONNECTIONS  wrk connections (default 32)
#   WRK                wrk binary (default: wrk from PATH; Debian package "wrk")
#   BENCH_KEEP=1       keep the temp directory (config, DB, logs, wrk output)
#
# The gateway stores dossiers in SQLite with synchronous=FULL, so dossier
# creation is bound by fsync on the disk holding the temp directory (TMPDIR):
# that is expected, and what the POST figures show.
set -euo pipefail

if [[ $# -ne 3 ]]; then
	echo "usage: $0 GATEWAY_BIN CLI_BIN HELLO_BIN" >&2
	exit 2
fi
GATEWAY=$1
CLI=$2
HELLO=$3
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-32}
WRK=${WRK:-wrk}

for v in SECONDS_PER_RUN THREADS CONNS; do
	if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
		echo "http-bench: $v must be a positive integer, not '${!v}'" >&2
		exit 2
	fi
done
for b in "$GATEWAY" "$CLI" "$HELLO"; do
	[[ -x $b ]] || { echo "http-bench: $b is not an executable" >&2; exit 2; }
done
if ! command -v "$WRK" >/dev/null; then
	echo "http-bench: wrk not found (apt-get install wrk); SKIP" >&2
	exit 77
fi
command -v curl >/dev/null || { echo "http-bench: curl not found; SKIP" >&2; exit 77; }
HAVE_SQLITE3=0
command -v sqlite3 >/dev/null && HAVE_SQLITE3=1

TMP=$(mktemp -d "${TMPDIR:-/tmp}/motcua-bench.XXXXXX")
GW_PID=
HELLO_PID=

stop_pid() { # pid: TERM, wait up to 5 s, then KILL
	local pid=$1 i
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	stop_pid "$GW_PID"
	stop_pid "$HELLO_PID"
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then
		echo "http-bench: files kept in $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
	echo "http-bench: $*" >&2
	if [[ -f $TMP/gateway.log ]]; then
		echo "--- gateway log (last 20 lines) ---" >&2
		tail -n 20 "$TMP/gateway.log" >&2
	fi
	exit 1
}

port_free() { # port: nothing listens on it (TCP, any address)
	if command -v ss >/dev/null; then
		[[ -z $(ss -Htln "sport = :$1" 2>/dev/null) ]]
	else
		! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}
free_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + RANDOM % 40000))
		port_free "$p" && { echo "$p"; return 0; }
	done
	return 1
}

wait_http() { # url pid name: up to 10 s for any HTTP answer
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$2" 2>/dev/null || die "$3 exited at start"
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		sleep 0.1
	done
	die "$3 does not answer on $1"
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# ---- set up ----

GW_PORT=$(free_port) || die "no free port"
HELLO_PORT=$(free_port) || die "no free port"
[[ $GW_PORT != "$HELLO_PORT" ]] || HELLO_PORT=$(free_port) || die "no free port"
mkdir -p "$TMP/data" "$TMP/plugins"
cat >"$TMP/motcua.conf" <<EOF
[gateway]
data_dir = $TMP/data
# empty: no plugins
plugin_dir = $TMP/plugins
workers = 2
log_level = info

[http]
listen = 127.0.0.1:$GW_PORT

[office]
agency_code = 000.00.12.H50
name = Benchmark
EOF

"$GATEWAY" --config "$TMP/motcua.conf" --check >"$TMP/check.log" 2>&1 ||
	{ cat "$TMP/check.log" >&2; die "the gateway refuses the benchmark configuration"; }
TOKEN=$("$CLI" --config "$TMP/motcua.conf" token create --role clerk --name bench 2>"$TMP/token.log") ||
	{ cat "$TMP/token.log" >&2; die "motcua token create failed"; }
[[ -n $TOKEN ]] || die "motcua token create printed no token"

"$GATEWAY" --config "$TMP/motcua.conf" >"$TMP/gateway.log" 2>&1 &
GW_PID=$!
"$HELLO" "$HELLO_PORT" >"$TMP/hello.log" 2>&1 &
HELLO_PID=$!

GW=http://127.0.0.1:$GW_PORT
HE=http://127.0.0.1:$HELLO_PORT
wait_http "$GW/api/v1/health" "$GW_PID" motcua-gateway
wait_http "$HE/" "$HELLO_PID" hello-evhttp

# Sanity: the routes answer what we are about to measure.
code=$(curl -s -o "$TMP/health.json" -w '%{http_code}' "$GW/api/v1/health")
[[ $code == 200 ]] || die "GET /api/v1/health answered $code: $(cat "$TMP/health.json")"
code=$(curl -s -o /dev/null -w '%{http_code}' "$HE/")
[[ $code == 200 ]] || die "hello-evhttp answered $code"

DOSSIER='{"procedure_code":"1.001234","applicant":{"name":"Nguyễn Văn A","id_number":"001203004567"},"channel":1}'
code=$(curl -s -o "$TMP/noauth.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	--data-binary "$DOSSIER" "$GW/api/v1/dossiers")
[[ $code == 401 ]] || echo "http-bench: WARNING: POST /api/v1/dossiers without a token answered $code, not 401" >&2

sleep 0.5
GW_RSS_IDLE=$(rss_kib "$GW_PID")
HELLO_RSS_IDLE=$(rss_kib "$HELLO_PID")

# wrk scripts: POST the dossier; count the statuses on the client side.
cat >"$TMP/count.lua" <<'EOF'
-- Counts responses by status across wrk threads; prints "STATUS <code> <n>".
local threads = {}
function setup(thread)
	table.insert(threads, thread)
end
function init(args)
	statuses = {}
end
function response(status, headers, body)
	statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
	local total = {}
	for _, t in ipairs(threads) do
		local s = t:get("statuses")
		for code, n in pairs(s) do
			total[code] = (total[code] or 0) + n
		end
	end
	for code, n in pairs(total) do
		io.write(string.format("STATUS %d %d\n", code, n))
	end
end
EOF
{
	echo 'wrk.method = "POST"'
	# [==[ ]==] : a Lua long string, the JSON verbatim.
	printf 'wrk.body = [==[%s]==]\n' "$DOSSIER"
	echo 'wrk.headers["Content-Type"] = "application/json"'
	printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$TOKEN"
	cat "$TMP/count.lua"
} >"$TMP/post.lua"

# ---- measure ----

run_wrk() { # name url script
	local out=$TMP/wrk-$1.txt
	echo "== wrk -t$THREADS -c$CONNS -d${SECONDS_PER_RUN}s --latency $2 ($1)" >&2
	"$WRK" -t"$THREADS" -c"$CONNS" -d"${SECONDS_PER_RUN}s" --timeout 10s --latency -s "$3" "$2" >"$out" 2>&1 ||
		{ cat "$out" >&2; die "wrk failed ($1)"; }
	cat "$out" >&2
}

# field name file
rps() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
reqs() { awk '/ requests in / { print $1 }' "$1"; }
non2xx() { awk '/Non-2xx or 3xx responses:/ { n = $NF } END { print n + 0 }' "$1"; }
sockerr() { # connect/read/write/timeout summed
	awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10; f = 1 } END { if (!f) print 0 }' "$1"
}
status_n() { awk -v c="$2" '$1 == "STATUS" && $2 == c { n = $3 } END { print n + 0 }' "$1"; }
# latency percentile (50%, 99%) in ms
lat_ms() {
	awk -v p="$2" '
		/Latency Distribution/ { d = 1; next }
		d && $1 == p {
			v = $2
			if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
			else if (v ~ /ms$/) { sub(/ms$/, "", v) }
			else if (v ~ /m$/) { sub(/m$/, "", v); v *= 60000 }
			else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
			printf "%.3f\n", v; exit
		}' "$1"
}

run_wrk gw-get "$GW/api/v1/health" "$TMP/count.lua"
run_wrk hello-get "$HE/" "$TMP/count.lua"
GW_RSS_GET=$(rss_kib "$GW_PID")
run_wrk gw-post "$GW/api/v1/dossiers" "$TMP/post.lua"
run_wrk hello-post "$HE/" "$TMP/post.lua"
sleep 0.5 # let the gateway finish requests that were in flight when wrk stopped
kill -0 "$GW_PID" 2>/dev/null || die "the gateway died during the benchmark"
kill -0 "$HELLO_PID" 2>/dev/null || die "hello-evhttp died during the benchmark"
GW_RSS_LOAD=$(rss_kib "$GW_PID")
GW_HWM=$(hwm_kib "$GW_PID")
HELLO_RSS_LOAD=$(rss_kib "$HELLO_PID")
HELLO_HWM=$(hwm_kib "$HELLO_PID")

# ---- check: dossiers stored vs 201 answered ----

W=$TMP/wrk-gw-post.txt
POST_REQS=$(reqs "$W")
POST_NON2XX=$(non2xx "$W")
POST_201=$(status_n "$W" 201)
POST_SOCKERR=$(sockerr "$W")
LOG_201=$(grep -c 'dossier .* created by bench' "$TMP/gateway.log" || true)
if ((HAVE_SQLITE3)); then
	DB_COUNT=$(sqlite3 "$TMP/data/motcua.db" 'PRAGMA busy_timeout=5000; SELECT count(*) FROM dossiers;' | tail -n 1)
	DB_HOW="sqlite3"
else
	ADMIN=$("$CLI" --config "$TMP/motcua.conf" token create --role admin --name bench-admin 2>/dev/null)
	DB_COUNT=$(curl -s -H "Authorization: Bearer $ADMIN" "$GW/metrics" | awk '$1 == "motcua_dossiers_total" { print $2 }')
	DB_HOW="GET /metrics"
fi
MAX_SEQ=""
((HAVE_SQLITE3)) && MAX_SEQ=$(sqlite3 "$TMP/data/motcua.db" 'PRAGMA busy_timeout=5000; SELECT max(last) FROM day_seq;' | tail -n 1)

# Other statuses seen by wrk for the gateway POST
OTHER_STATUSES=$(awk '$1 == "STATUS" && $2 != 201 { printf "%s%s x%s", s, $2, $3; s = ", " }' "$W")
GW_ERRORS=$(grep -cE '\b(error|warning)\b' "$TMP/gateway.log" || true)

# ---- report ----

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB\n", k / 1024 }'; }
row() { printf '| %-34s | %16s | %16s | %7s |\n' "$1" "$2" "$3" "$4"; }
num_row() { # label gw hello unit
	row "$1" "$2${4:+ $4}" "$3${4:+ $4}" "$(ratio "$2" "$3")"
}

G=$TMP/wrk-gw-get.txt H=$TMP/wrk-hello-get.txt HP=$TMP/wrk-hello-post.txt
echo
echo "motcua HTTP benchmark: wrk -t$THREADS -c$CONNS -d${SECONDS_PER_RUN}s on 127.0.0.1, $(nproc) CPUs," \
	"data in $TMP (fs: $(df --output=fstype "$TMP" 2>/dev/null | tail -n 1 || stat -f -c %T "$TMP"))"
echo "GET: gateway /api/v1/health vs hello /.  POST: gateway /api/v1/dossiers (clerk token, JSON) vs the same POST to hello."
echo "ratio = gateway / bare evhttp.  Dossier creation is fsync-bound (SQLite WAL, synchronous=FULL)."
echo
row measure motcua-gateway "bare evhttp" ratio
row "----------------------------------" "----------------" "----------------" "-------"
num_row "GET requests/s" "$(rps "$G")" "$(rps "$H")"
num_row "GET latency p50 (ms)" "$(lat_ms "$G" 50%)" "$(lat_ms "$H" 50%)"
num_row "GET latency p99 (ms)" "$(lat_ms "$G" 99%)" "$(lat_ms "$H" 99%)"
row "GET non-2xx / socket errors" "$(non2xx "$G") / $(sockerr "$G")" "$(non2xx "$H") / $(sockerr "$H")" ""
num_row "POST requests/s" "$(rps "$W")" "$(rps "$HP")"
num_row "POST latency p50 (ms)" "$(lat_ms "$W" 50%)" "$(lat_ms "$HP" 50%)"
num_row "POST latency p99 (ms)" "$(lat_ms "$W" 99%)" "$(lat_ms "$HP" 99%)"
row "POST non-2xx / socket errors" "$POST_NON2XX / $POST_SOCKERR" "$(non2xx "$HP") / $(sockerr "$HP")" ""
row "RSS idle (before load)" "$(mib "$GW_RSS_IDLE")" "$(mib "$HELLO_RSS_IDLE")" "$(ratio "$GW_RSS_IDLE" "$HELLO_RSS_IDLE")"
row "RSS after GET load" "$(mib "$GW_RSS_GET")" "-" ""
row "RSS after load" "$(mib "$GW_RSS_LOAD")" "$(mib "$HELLO_RSS_LOAD")" "$(ratio "$GW_RSS_LOAD" "$HELLO_RSS_LOAD")"
row "RSS peak (VmHWM)" "$(mib "$GW_HWM")" "$(mib "$HELLO_HWM")" "$(ratio "$GW_HWM" "$HELLO_HWM")"
echo
echo "Dossier check:"
echo "  wrk: $POST_REQS responses, $POST_201 x 201, $POST_NON2XX non-2xx${OTHER_STATUSES:+ ($OTHER_STATUSES)}, $POST_SOCKERR socket errors"
echo "  gateway log: $LOG_201 'dossier ... created' lines;  dossiers in the DB ($DB_HOW): $DB_COUNT${MAX_SEQ:+;  day_seq.last: $MAX_SEQ}"
echo "  gateway log: $GW_ERRORS error/warning lines"
RC=0
# Every stored dossier was answered 201 by the gateway (log), and wrk saw all
# of them but the requests in flight when it stopped (at most one per connection).
if [[ $DB_COUNT != "$LOG_201" ]]; then
	echo "  MISMATCH: $DB_COUNT dossiers stored but the gateway logged $LOG_201 created"
	RC=1
fi
INFLIGHT=$((DB_COUNT - POST_201))
if ((INFLIGHT < 0 || INFLIGHT > CONNS)); then
	echo "  MISMATCH: $DB_COUNT dossiers stored vs $POST_201 answered 201 to wrk (difference $INFLIGHT, at most $CONNS expected)"
	RC=1
elif ((INFLIGHT == 0)); then
	echo "  OK: dossiers stored = 201 responses = $DB_COUNT"
else
	echo "  OK: dossiers stored = 201 logged = $DB_COUNT; wrk received $POST_201 of them (the other $INFLIGHT were in flight when wrk stopped)"
fi
if ((POST_NON2XX > 0)); then
	echo "  WARNING: the gateway answered $POST_NON2XX dossier creations with non-2xx"
	RC=1
fi
if [[ -n $MAX_SEQ ]] && ((MAX_SEQ > 9999)); then
	echo "  NOTE: the day's sequence reached $MAX_SEQ: dossier codes have more than the 4 digits of <agency>-YYMMDD-NNNN"
fi
exit $RC
