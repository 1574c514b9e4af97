#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# adapter-http-json benchmark: deliveries/s of the plugin's deliver() to a
# local peer, side by side with curl and wrk POSTing the same body to the
# same peer, in one run.
#
#   adapter-bench.sh ADAPTER_BENCH PLUGIN
#
# meson passes the paths:  meson test -C build --benchmark --verbose adapter
#
# The peer is plugins/adapter-http-json/tests/peer.py (Python
# ThreadingHTTPServer, HTTP/1.1 keep-alive, dedupe by Idempotency-Key, no
# request log), over HTTP and over HTTPS (a test CA made here).
#   deliver()  ADAPTER_BENCH_N deliveries shared by 1, 2, 4 threads, each a
#              POST with its own Idempotency-Key (JSON built from the dossier)
#   curl       one curl process, N transfers of the same body chained with
#              --next (keep-alive: what a shell loop at its best does)
#   wrk        -c 1/2/4 connections for ADAPTER_BENCH_WRK_S seconds, a Lua
#              script POSTing the same body with a new key each time
# Environment: ADAPTER_BENCH_N (default 2000), ADAPTER_BENCH_WRK_S (default 5).
set -euo pipefail

if [[ $# -ne 2 ]]; then
	echo "usage: $0 ADAPTER_BENCH PLUGIN" >&2
	exit 2
fi
BENCH=$1
PLUGIN=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TESTS=$(cd "$HERE/../../plugins/adapter-http-json/tests" && pwd)
N=${ADAPTER_BENCH_N:-2000}
WRK_S=${ADAPTER_BENCH_WRK_S:-5}
PY=/usr/bin/python3

for t in curl openssl "$PY"; do
	command -v "$t" >/dev/null || { echo "adapter-bench: $t not found" >&2; exit 77; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/adapter-bench-XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT

"$TESTS/make-pki.sh" "$W"
start_peer() { # name [args]; the port ends up in $W/<name>.port
	local name=$1; shift
	"$PY" "$TESTS/peer.py" --port-file "$W/$name.port" "$@" >/dev/null 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do [[ -s $W/$name.port ]] && return 0; sleep 0.1; done
	echo "adapter-bench: the peer $name did not start" >&2
	exit 1
}
start_peer http
start_peer https --cert "$W/server.pem" --key "$W/server.key"
HTTP_PORT=$(cat "$W/http.port")
HTTPS_PORT=$(cat "$W/https.port")
HTTP_URL=http://127.0.0.1:$HTTP_PORT/ok
HTTPS_URL=https://127.0.0.1:$HTTPS_PORT/ok

echo "adapter-http-json benchmark: N=$N, $(nproc) CPU(s), peer = peer.py (ThreadingHTTPServer)"
echo
echo "== deliver() (plugin, in-process, keep-alive handle per worker)"
for t in 1 2 4; do
	printf 'http   '; "$BENCH" "$PLUGIN" "$HTTP_URL" "$N" "$t"
done
for t in 1 4; do
	printf 'https  '; "$BENCH" "$PLUGIN" "$HTTPS_URL" "$N" "$t" "$W/ca.pem"
done

# The same body deliver() sends (as the peer would receive it).
"$PY" - "$W/body.json" <<'PYEOF'
import json, sys
body = {"code": "000.00.12.H50-261128-0007", "procedure_code": "1.001234",
        "procedure_name": "Chứng thực bản sao từ bản chính giấy tờ, văn bản",
        "applicant": {"name": "Nguyễn Văn Ánh", "id_number": "079123456789", "phone": "0901234567"},
        "channel": "counter", "status": 2, "received_at": "2026-11-28T09:00:00+07:00",
        "updated_at": "2026-11-28T09:05:00+07:00", "due_at": "2026-11-30T17:00:00+07:00",
        "documents": [{"id": "d1", "name": "Tờ khai", "type": "to-khai", "media_type": "application/pdf",
                       "state": "done", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                       "size": 183422, "signature": {"format": "PAdES", "level": "B-T"}},
                      {"id": "d2", "name": "Căn cước", "type": "cccd", "media_type": "image/jpeg",
                       "state": "done", "sha256": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
                       "size": 95211, "signature": None}],
        "event": {"at": "2026-11-28T09:05:00+07:00", "status": 2, "type": "dossier.status"},
        "idempotency_key": "bench-curl", "attempt": 1}
open(sys.argv[1], "w").write(json.dumps(body, ensure_ascii=False, separators=(",", ":")))
PYEOF

curl_run() { # url [one more config line, e.g. cacert = "..."]
	local url=$1 extra=${2:-}
	: > "$W/curl.cfg"
	for i in $(seq "$N"); do
		{
			[[ $i -gt 1 ]] && echo "next"
			echo "url = \"$url\""
			echo "data-binary = \"@$W/body.json\""
			echo "header = \"Content-Type: application/json\""
			echo "header = \"Idempotency-Key: curl-$$-$i\""
			echo "output = \"/dev/null\""
			echo "write-out = \"%{http_code}\\n\""
			echo "silent"
			[[ -n $extra ]] && echo "$extra"
		} >> "$W/curl.cfg"
	done
	local t0 t1
	t0=$(date +%s.%N)
	curl -K "$W/curl.cfg" > "$W/curl.codes" || true
	t1=$(date +%s.%N)
	"$PY" -c "import sys; dt=float(sys.argv[2])-float(sys.argv[1]); n=int(sys.argv[3]); ok=open(sys.argv[4]).read().split().count('200'); print('%.2f s, %.0f requests/s, failures %d' % (dt, n/dt, n-ok))" "$t0" "$t1" "$N" "$W/curl.codes"
}
echo
echo "== baseline: curl, one process, $N POSTs chained with --next (keep-alive)"
printf 'http   threads=1 N=%s: ' "$N"; curl_run "$HTTP_URL"
printf 'https  threads=1 N=%s: ' "$N"; curl_run "$HTTPS_URL" "cacert = \"$W/ca.pem\""

if command -v wrk >/dev/null; then
	cat > "$W/post.lua" <<LUAEOF
local f = io.open("$W/body.json", "rb")
local body = f:read("*a")
f:close()
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "wrk-" .. tostring(math.random(1, 1e9)) .. "-" .. n}, body)
end
LUAEOF
	echo
	echo "== baseline: wrk, ${WRK_S} s, same body, a new key per request"
	for c in 1 2 4; do
		printf 'http   connections=%s: ' "$c"
		wrk -t1 -c"$c" -d"${WRK_S}s" -s "$W/post.lua" "$HTTP_URL" | awk '/Requests\/sec/ {printf "%.0f requests/s", $2} /Non-2xx/ {printf " (non-2xx %s)", $5}'
		echo
	done
else
	echo "(wrk not installed: no wrk baseline)"
fi
echo
echo "peak RSS is the benchmark process's (libcurl, OpenSSL, jansson and the plugin loaded)"
