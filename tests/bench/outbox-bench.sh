#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Outbox benchmark: a backlog of N dossiers queued while the agency's server
# is down, then drained when it comes back; deliveries/s, drain time and the
# gateway's peak RSS, side by side with the peer's own capacity (wrk POSTing
# the same body at the same concurrency, no gateway) in one run.
#
#   outbox-bench.sh GATEWAY_BIN PEER_BIN PLUGIN_DIRS
#
# meson passes them:  meson test -C build --benchmark --verbose outbox
# PEER_BIN is hello-evhttp (a bare evhttp server answering 200); the gateway
# delivers with the test-adapter plugin (one HTTP/1.0 connection per
# delivery) and, when built, adapter-http-json (libcurl, keep-alive).
#
# Environment:
#   OUTBOX_BENCH_N        backlog size (default 10000)
#   OUTBOX_BENCH_WORKERS  [outbox] workers (default 2)
#   OUTBOX_BENCH_KEEP=1   keep the temp directory
set -euo pipefail

if [[ $# -ne 3 ]]; then
	echo "usage: $0 GATEWAY_BIN PEER_BIN PLUGIN_DIRS" >&2
	exit 2
fi
GATEWAY=$1
PEER=$2
PLUGINS=$3
N=${OUTBOX_BENCH_N:-10000}
WORKERS=${OUTBOX_BENCH_WORKERS:-2}
PY=/usr/bin/python3
for v in N WORKERS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "outbox-bench: $v must be a positive integer" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "outbox-bench: wrk not found (apt-get install wrk); SKIP" >&2; exit 77; }
command -v sqlite3 >/dev/null || { echo "outbox-bench: sqlite3 not found; SKIP" >&2; exit 77; }

TMP=$(mktemp -d /tmp/motcua-outbox-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [[ ${OUTBOX_BENCH_KEEP:-0} = 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

# A body like a delivery of one dossier with one document (about 1.5 KB).
BODY=$TMP/body.json
$PY - "$BODY" <<'PY'
import json, sys
d = {"key": "0" * 32, "destination": "adapter-http-json", "code": "000.00.12.H50-261128-0001",
     "type": "dossier.created", "attempt": 1,
     "event": {"code": "000.00.12.H50-261128-0001", "procedure_code": "1.001193", "channel": 1, "status": 1,
               "type": "dossier.created", "at": "2026-11-28T09:00:00+07:00"},
     "dossier": {"code": "000.00.12.H50-261128-0001", "procedure_code": "1.001193",
                 "procedure_name": "Đăng ký khai sinh", "status": 1, "channel": 1,
                 "applicant": {"name": "Nguyễn Thị Hồng Nhung", "id_number": "001203004567", "phone": None},
                 "received_at": "2026-11-28T09:00:00+07:00", "updated_at": "2026-11-28T09:00:00+07:00",
                 "due_at": None,
                 "documents": [{"id": "a" * 24, "name": "to-khai.pdf", "type": "to-khai",
                                "media_type": "application/pdf", "state": "done", "sha256": "b" * 64,
                                "signature": {"format": "PAdES", "level": "B-T"}, "path": "/var/lib/motcua/blobs/bb/" + "b" * 64}]}}
open(sys.argv[1], "w").write(json.dumps(d, ensure_ascii=False))
PY

# ---- baseline: the peer's capacity, wrk at the same concurrency ----
PPORT=$(free_port)
"$PEER" "$PPORT" & pids+=($!)
sleep 0.3
cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Idempotency-Key"] = "0123456789abcdef0123456789abcdef"
local f = io.open("$BODY", "rb"); wrk.body = f:read("*a"); f:close()
LUA
wrk -t1 -c"$WORKERS" -d5s -s "$TMP/post.lua" "http://127.0.0.1:$PPORT/deliver" >"$TMP/wrk.txt"
BASE_RPS=$(awk '/Requests\/sec/ {print $2}' "$TMP/wrk.txt")
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'

# ---- the gateway: backlog while the peer is down, then the drain ----
# run_one NAME SECTION: prints "created_s drain_s rps rss_mib"
run_one() {
	local name=$1 section=$2 dir=$TMP/$1 port gport
	mkdir -p "$dir"
	port=$(free_port)
	gport=$(free_port)
	# shellcheck disable=SC2059
	printf "[gateway]\ndata_dir = %s/data\nplugin_dir = %s\nworkers = 2\n[http]\nlisten = 127.0.0.1:%s\n[office]\nagency_code = 000.00.12.H50\n[outbox]\nworkers = %s\nbackoff_base_s = 1\nbackoff_max_s = 2\nmax_attempts = 1000\n$section\n" \
		"$dir" "$PLUGINS" "$gport" "$WORKERS" "$port" >"$dir/motcua.conf"
	"$GATEWAY" --config "$dir/motcua.conf" 2>"$dir/gateway.log" &
	local gpid=$!
	pids+=("$gpid")
	for _ in $(seq 100); do
		curl -fsS "http://127.0.0.1:$gport/api/v1/health" >/dev/null 2>&1 && break
		sleep 0.1
	done
	local token
	token=$("$(dirname "$GATEWAY")/cli/motcua" --config "$dir/motcua.conf" token create --role clerk 2>/dev/null)
	local t0 t1 t2
	t0=$(now)
	$PY - "$gport" "$token" "$N" <<'PY'
import http.client, json, sys, threading
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
body = json.dumps({"procedure_code": "1.001193", "procedure_name": "Đăng ký khai sinh",
                   "applicant": {"name": "Nguyễn Thị Hồng Nhung", "id_number": "001203004567"}, "channel": 1})
def run(k):
    c = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(k):
        c.request("POST", "/api/v1/dossiers", body, {"Authorization": "Bearer " + token,
                                                      "Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        assert r.status == 201, r.status
ts = [threading.Thread(target=run, args=(n // 4 + (1 if i < n % 4 else 0),)) for i in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
PY
	t1=$(now)
	local db=$dir/data/motcua.db
	until [[ $(sqlite3 "$db" "SELECT COUNT(*) FROM outbox" 2>/dev/null) = "$N" ]]; do sleep 0.1; done
	"$PEER" "$port" & pids+=($!)
	t1=$(now)
	# the paused destination's next probe finds the peer back
	until [[ $(sqlite3 "$db" "SELECT COUNT(*) FROM outbox WHERE state = 'delivered'" 2>/dev/null) != 0 ]]; do
		sleep 0.02
	done
	local tf
	tf=$(now)
	until [[ $(sqlite3 "$db" "SELECT COUNT(*) FROM outbox WHERE state = 'delivered'" 2>/dev/null) = "$N" ]]; do
		sleep 0.05
	done
	t2=$(now)
	local rss
	rss=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$gpid/status")
	kill "$gpid"; wait "$gpid" 2>/dev/null || true
	kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
	awk -v a="$t0" -v b="$t1" -v f="$tf" -v c="$t2" -v n="$N" -v r="$rss" \
		'BEGIN { printf "%.1f %.2f %.0f %s %.2f\n", b - a, c - b, n / (c - f), r, f - b }'
}

echo "== outbox: $N dossiers queued while the peer is down, then drained ($WORKERS workers)"
TA=$(run_one test-adapter "[test-adapter]\nenabled = true\nport = %s\ntimeout_ms = 5000\n")
read -r TA_CREATE TA_DRAIN TA_RPS TA_RSS TA_PROBE <<<"$TA"
HJ_DRAIN=- HJ_RPS=- HJ_RSS=- HJ_PROBE=-
if [[ -e ${PLUGINS%%:*}/adapter-http-json/adapter-http-json.so ]]; then
	HJ=$(run_one http-json "[adapter-http-json]\nenabled = true\nurl = http://127.0.0.1:%s/deliver\nauth = none\ntimeout_s = 5\nprocedures = *\n")
	read -r _ HJ_DRAIN HJ_RPS HJ_RSS HJ_PROBE <<<"$HJ"
fi
printf '\n| measure | gateway, test-adapter (HTTP/1.0) | gateway, adapter-http-json (keep-alive) | wrk, same body and concurrency (the peer alone) |\n'
printf '|---|---|---|---|\n'
printf '| deliveries/s (first to last) | %s | %s | %s |\n' "$TA_RPS" "$HJ_RPS" "$BASE_RPS"
printf '| drain of %s queued, from the peer back to the last (s) | %s | %s | - |\n' "$N" "$TA_DRAIN" "$HJ_DRAIN"
printf '| of which waiting for the paused destination'"'"'s next probe (s) | %s | %s | - |\n' "$TA_PROBE" "$HJ_PROBE"
printf '| peak RSS of the gateway (MiB) | %s | %s | - |\n' "$TA_RSS" "$HJ_RSS"
printf '\n(%s dossiers created through the API in %s s while the peer was down.)\n' "$N" "$TA_CREATE"
echo "reproduce: meson test -C build --benchmark --verbose outbox   (OUTBOX_BENCH_N, OUTBOX_BENCH_WORKERS)"
