#!/bin/sh
# The main job, from a fresh clone: install what is needed, build, start the
# gateway on its embedded defaults (data in ./motcua-data, listening on
# 127.0.0.1:8080), and take a demo dossier through it end to end: a clerk's
# token, a dossier with its code, a document stored and routed. The gateway
# then keeps running until Ctrl-C.
#   packaging/run-demo.sh [--exit]      (--exit: stop after the demo)
# MOTCUA_LISTEN=127.0.0.1:9090 picks another address.
set -eu
exit_after=${MOTCUA_DEMO_EXIT:-0}
[ "${1:-}" = "--exit" ] && exit_after=1
cd "$(dirname "$0")/.."
top=$(pwd)
packaging/install-deps.sh run
[ -f build/build.ninja ] || meson setup build >/dev/null
meson compile -C build >/dev/null

listen=${MOTCUA_LISTEN:-127.0.0.1:8080}
data=$top/motcua-data
outbox=$data/outbox
mkdir -p "$outbox"
gw=build/gateway/motcua-gateway
cli=build/gateway/motcua
# Embedded defaults, plus the in-tree plugins and the example adapter, which
# drops finished documents into an "agency" folder.
set -- -o "http.listen=$listen" -o "gateway.plugin_dir=$top/build/plugins" \
	-o adapter-example.enabled=true -o "adapter-example.drop_dir=$outbox"

"$gw" "$@" 2>>"$data/gateway.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
trap 'exit 130' INT TERM
i=0
until curl -fsS "http://$listen/api/v1/health" >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $pid 2>/dev/null; then
		echo "motcua: the gateway did not start; see $data/gateway.log:" >&2
		tail -5 "$data/gateway.log" >&2
		exit 1
	fi
	sleep 0.1
done

MOTCUA_TOKEN=$("$cli" "$@" token create --role clerk --name "Cán bộ một cửa (demo)" 2>/dev/null)
export MOTCUA_TOKEN
dossier=$("$cli" "$@" dossier create --procedure 1.001193 \
	--procedure-name "Đăng ký khai sinh" --name "Nguyễn Thị Mai" \
	--id-number 001190012345 --phone 0912345678 --channel 1)
code=$(printf '%s' "$dossier" | sed -n 's/.*"code":"\([^"]*\)".*/\1/p')
doc=$("$cli" "$@" document add "$code" tests/data/demo-to-khai.pdf --name "Tờ khai đăng ký khai sinh.pdf" --wait)
id=$(printf '%s' "$doc" | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
state=$(printf '%s' "$doc" | sed -n 's/.*"name":"[^"]*","state":"\([a-z]*\)".*/\1/p')
sha=$(printf '%s' "$doc" | sed -n 's/.*"current_sha256":"\([0-9a-f]*\)".*/\1/p')
steps=$(printf '%s' "$doc" | grep -o '"step":"[a-z]*","state":"[a-z]*"' | sed 's/"step":"\([a-z]*\)","state":"\([a-z]*\)"/\1=\2/' | tr '\n' ' ')

cat <<MSG

motcua demo: gateway running at http://$listen/ (pid $pid)
  dossier code   $code   (Mã hồ sơ)
  document       $id   state: $state
  steps          $steps
  stored as      $data/blobs/$(printf '%s' "$sha" | cut -c1-2)/$sha
  delivered to   $outbox/$code/
  state store    $data/motcua.db   log: $data/gateway.log

Look around (the clerk's token is in MOTCUA_TOKEN below):
  export MOTCUA_TOKEN=$MOTCUA_TOKEN
  curl -s -H "Authorization: Bearer \$MOTCUA_TOKEN" http://$listen/api/v1/dossiers/$code
  curl -s -N -H "Authorization: Bearer \$MOTCUA_TOKEN" http://$listen/api/v1/events?since=0
MSG
[ "$state" = done ] || { echo "motcua: the demo document did not finish" >&2; exit 1; }
[ "$exit_after" = 1 ] && exit 0
echo "Ctrl-C stops the gateway."
wait $pid
