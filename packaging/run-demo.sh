#!/bin/sh
# The main job, from a fresh clone: install what is needed, build, start the
# gateway on its embedded defaults (data in ./motcua-data, listening on
# 127.0.0.1:8080) with the capture, OCR and example adapter plugins, and take a
# demo dossier through it end to end: a clerk's token, a dossier with its code,
# a batch scanned from SANE's `test` device (its virtual document feeder) and
# OCR-ed into a searchable PDF, and a Vietnamese form recognized into text and
# fields; every document is signed (PAdES, with a throwaway demo CA), archived,
# and routed; the archive finds the form by words typed without diacritics and
# lends it to the citizen's next dossier (reuse); the signature and the archive
# are verified and the dossier exported as BagIt. Every dossier change is
# delivered through the outbox to a local stand-in of the agency's API
# (adapter-http-json), synced to a local stand-in of the national portal
# (adapter-dvcqg) and dropped into the agency's shared folder (adapter-folder).
# At the end it prints where the counter's pages are: the clerk's console
# with a signed-in official, the waiting-room display, the ticket and rating
# kiosks, the citizen's lookup. The gateway then keeps running until Ctrl-C.
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
gw=build/gateway/daemon/motcua-gateway
# The receivers, on 127.0.0.1 (stand-ins: the real ones are the agency's and
# the portal's servers): an agency's REST/JSON API and the national portal.
peers=$data/peers
mkdir -p "$peers"
rm -f "$peers/agency.port" "$peers/portal.port"
/usr/bin/python3 plugins/adapter-http-json/tests/peer.py --port-file "$peers/agency.port" \
	--log "$peers/agency.jsonl" 2>"$peers/agency.log" &
agency_pid=$!
/usr/bin/python3 plugins/adapter-dvcqg/tests/portal.py --port-file "$peers/portal.port" \
	--log "$peers/portal.jsonl" --user motcua --password mat-khau-demo 2>"$peers/portal.log" &
portal_pid=$!
for _ in $(seq 100); do
	[ -s "$peers/agency.port" ] && [ -s "$peers/portal.port" ] && break
	sleep 0.05
done
(umask 077 && echo "demo-agency-token" >"$peers/agency.token" && echo "mat-khau-demo" >"$peers/portal.password")
cli=build/gateway/cli/motcua
# SANE sees only its own virtual devices here (no scanner needed): a private
# configuration with the `test` backend, whose feeder holds 10 sheets.
mkdir -p "$data/sane.d"
echo test >"$data/sane.d/dll.conf"
[ -f /etc/sane.d/test.conf ] && cp /etc/sane.d/test.conf "$data/sane.d/"
export SANE_CONFIG_DIR="$data/sane.d"
# The office's signing key: a throwaway demo CA and an RSA-2048 signer (a real
# office signs with its token: [sign-openssl] key = pkcs11:...).
pki=$data/demo-pki
[ -f "$pki/rsa.key" ] || sh plugins/sign-openssl/tests/make-ca.sh "$pki" >/dev/null
# Embedded defaults, plus the in-tree plugins: scan-sane on the test device's
# feeder (3 gray sheets of its grid pattern), Vietnamese OCR, signing with a
# visible stamp, the e-archive, and the example adapter, which drops finished
# documents into an "agency" folder.
set -- -o "http.listen=$listen" -o "gateway.plugin_dir=$top/build/plugins" \
	-o "office.procedures=$top/conf/procedures.txt" -o "station.receipt_place=Tân Hiệp" \
	-o scan-sane.enabled=true -o scan-sane.device=test -o scan-sane.source=adf \
	-o scan-sane.mode=gray -o scan-sane.max_pages=3 -o "scan-sane.device_options=test-picture=Grid" \
	-o ocr-tesseract.enabled=true \
	-o sign-openssl.enabled=true -o "sign-openssl.key=$pki/rsa.key" -o "sign-openssl.cert=$pki/rsa.pem" \
	-o "sign-openssl.trust=$pki/ca.pem" -o sign-openssl.stamp=true \
	-o "sign-openssl.organisation=Bộ phận Một cửa (demo)" \
	-o archive-sqlite.enabled=true \
	-o adapter-http-json.enabled=true -o "adapter-http-json.url=http://127.0.0.1:$(cat "$peers/agency.port")/ok" \
	-o adapter-http-json.auth=bearer -o "adapter-http-json.token_file=$peers/agency.token" \
	-o adapter-dvcqg.enabled=true -o "adapter-dvcqg.url=http://127.0.0.1:$(cat "$peers/portal.port")" \
	-o adapter-dvcqg.username=motcua -o "adapter-dvcqg.password_file=$peers/portal.password" \
	-o adapter-folder.enabled=true -o "adapter-folder.path=$outbox" \
	-o eval-stream.enabled=true

"$gw" "$@" 2>>"$data/gateway.log" &
pid=$!
trap 'rc=$?; kill $pid $agency_pid $portal_pid 2>/dev/null; wait 2>/dev/null || true; exit $rc' EXIT
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
# The form's applicant ("Số định danh cá nhân" on tests/data/demo-to-khai.png).
citizen=048076039317
# 0. The citizen takes a queue ticket; the clerk calls it at counter 1.
ticket=$(curl -fsS -H "Authorization: Bearer $MOTCUA_TOKEN" -H 'Content-Type: application/json' \
	-d '{"service":"Hộ tịch"}' "http://$listen/api/v1/tickets")
ticket_id=$(printf '%s' "$ticket" | sed -n 's/^{"id":\([0-9]*\).*/\1/p')
ticket_no=$(printf '%s' "$ticket" | sed -n 's/.*"number":\([0-9]*\).*/\1/p')
curl -fsS -H "Authorization: Bearer $MOTCUA_TOKEN" -H 'Content-Type: application/json' \
	-d '{"counter":"Quầy 1"}' "http://$listen/api/v1/tickets/next" >/dev/null
dossier=$("$cli" "$@" dossier create --procedure 1.001193 \
	--procedure-name "Đăng ký khai sinh" --name "Hồ Công Hùng" \
	--id-number $citizen --phone 0912345678 --channel 1 --ticket "$ticket_id" \
	--processing-days 5 --unit "Phòng Tư pháp")
code=$(printf '%s' "$dossier" | sed -n 's/.*"code":"\([^"]*\)".*/\1/p')
field() { printf '%s' "$1" | sed -n "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/p"; }
steps_of() {
	printf '%s' "$1" | grep -o '"step":"[a-z]*","state":"[a-z]*"' |
		sed 's/"step":"\([a-z]*\)","state":"\([a-z]*\)"/\1=\2/' | tr '\n' ' '
}
# 1. The clerk presses scan: the feeder's sheets become one searchable PDF.
# It waits after recognition for the clerk's review ([station] review, the
# default); the clerk looks at the pages and confirms: it is signed next.
review() { # the document's JSON, then the gateway's options
	d=$1
	shift
	case "$d" in
	*'"state":"review"'*)
		"$cli" "$@" document confirm "$code" "$(printf '%s' "$d" | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')" \
			--wait || true ;;
	*) printf '%s' "$d" ;;
	esac
}
scan=$("$cli" "$@" document scan "$code" --name "Giấy tờ quét" --wait) || true
scan=$(review "$scan" "$@")
scan_id=$(printf '%s' "$scan" | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
scan_state=$(printf '%s' "$scan" | sed -n 's/.*"name":"[^"]*","state":"\([a-z]*\)".*/\1/p')
scan_pages=$(printf '%s' "$scan" | grep -o '"page":[0-9]*' | wc -l)
scan_sha=$(field "$scan" current_sha256)
# 2. A citizen's form (an image) is recognized: Vietnamese text and fields.
doc=$("$cli" "$@" document add "$code" tests/data/demo-to-khai.png --name "Tờ khai đăng ký khai sinh.png" --wait) || true
doc=$(review "$doc" "$@")
id=$(printf '%s' "$doc" | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
state=$(printf '%s' "$doc" | sed -n 's/.*"name":"[^"]*","state":"\([a-z]*\)".*/\1/p')
sha=$(field "$doc" current_sha256)
ids=$(printf '%s' "$doc" | sed -n 's/.*"id_numbers":\[\([^]]*\)\].*/\1/p')
dates=$(printf '%s' "$doc" | sed -n 's/.*"dates":\[\([^]]*\)\].*/\1/p')
title=$(printf '%s' "$doc" | grep -o 'TỜ KHAI[^\\]*' | head -1)
blob() { printf '%s/blobs/%s/%s' "$data" "$(printf '%s' "$1" | cut -c1-2)" "$1"; }
api() { curl -fsS -H "Authorization: Bearer $MOTCUA_TOKEN" "$@"; }
# The papers they are of the procedure ([office] procedures), and the
# receipt (form 01) for the citizen: A4 and the 80 mm roll.
for pair in "$id:to-khai" "$scan_id:giay-to-tuy-than"; do
	[ -n "${pair%%:*}" ] && api -X POST -H 'Content-Type: application/json' \
		-d "{\"paper\":\"${pair#*:}\"}" \
		"http://$listen/api/v1/dossiers/$code/documents/${pair%%:*}/paper" >/dev/null || true
done
api "http://$listen/api/v1/dossiers/$code/receipt.pdf" >"$data/receipt.pdf" || true
api "http://$listen/api/v1/dossiers/$code/receipt.png?width=576" >"$data/receipt.png" || true
signer=$(field "$doc" signer)
level=$(field "$doc" level)
item=$(printf '%s' "$doc" | sed -n 's/.*"archive":{[^}]*"id":"\([^"]*\)".*/\1/p')
# 3. The signature, checked as an auditor would, years later.
if "$cli" "$@" verify "$(blob "$sha")" >"$data/verify.txt" 2>&1; then verified=yes; else verified=NO; fi
# 4. The archive finds the form by words typed without diacritics.
found=$(api "http://$listen/api/v1/archive/search?q=da+nang+hai+chau&id_number=$citizen" |
	sed -n 's/.*"total":\([0-9]*\).*/\1/p')
# 5. The citizen comes back for another procedure: the archived form is reused.
dossier2=$("$cli" "$@" dossier create --procedure 1.000656 \
	--procedure-name "Đăng ký thường trú" --name "Hồ Công Hùng" --id-number $citizen --channel 1)
code2=$(printf '%s' "$dossier2" | sed -n 's/.*"code":"\([^"]*\)".*/\1/p')
reuse=$(api -X POST -H 'Content-Type: application/json' -d "{\"reuse\":\"$item\"}" \
	"http://$listen/api/v1/dossiers/$code2/documents" || true)
reuse_id=$(field "$reuse" id)
i=0
while [ -n "$reuse_id" ] && [ $i -lt 100 ]; do
	reuse_state=$(api "http://$listen/api/v1/dossiers/$code2/documents/$reuse_id" |
		sed -n 's/.*"name":"[^"]*","state":"\([a-z]*\)".*/\1/p')
	[ "$reuse_state" = done ] || [ "$reuse_state" = failed ] && break
	i=$((i + 1))
	sleep 0.1
done
# 6. The archive proves itself intact and exports the dossier as BagIt.
if "$cli" "$@" archive verify >"$data/archive-verify.txt" 2>&1; then intact=yes; else intact=NO; fi
mkdir -p "$data/export"
rm -rf "${data:?}/export/$code"
"$cli" "$@" archive export "$code" "$data/export" >/dev/null 2>&1 || true
# 7. The visit ends: the ticket is done and the citizen rates the service at
# the kiosk (a token that can do nothing else).
curl -fsS -X POST -H "Authorization: Bearer $MOTCUA_TOKEN" "http://$listen/api/v1/tickets/$ticket_id/done" >/dev/null
kiosk=$("$cli" "$@" token create --role kiosk --name "Máy đánh giá (demo)" 2>/dev/null)
rating=$(curl -fsS -H "Authorization: Bearer $kiosk" -H 'Content-Type: application/json' \
	-d "{\"dossier_code\":\"$code\",\"level\":1,\"comment\":\"Cán bộ nhiệt tình\"}" \
	"http://$listen/api/v1/ratings" | sed -n 's/.*"level_name":"\([^"]*\)".*/\1/p')
due=$(printf '%s' "$dossier" | sed -n 's/.*"due_at":"\([^"]*\)".*/\1/p')
# 8. The outbox delivers every change, in order, to the three receivers.
# (the outbox is the supervisor's view)
supervisor=$("$cli" "$@" token create --role supervisor --name "Giám sát (demo)" 2>/dev/null)
outbox_count() {
	curl -fsS -H "Authorization: Bearer $supervisor" "http://$listen/api/v1/outbox?state=$1&limit=1" |
		sed -n 's/.*"total":\([0-9]*\).*/\1/p'
}
i=0
while [ $i -lt 150 ] && [ "$(outbox_count pending)" != 0 ]; do
	i=$((i + 1))
	sleep 0.1
done
delivered=$(outbox_count delivered)
undelivered=$(outbox_count pending)
dead=$(outbox_count dead)
portal_calls=$(grep -c '"service"' "$peers/portal.jsonl" 2>/dev/null || echo 0)
agency_posts=$(grep -c '"method": *"POST"' "$peers/agency.jsonl" 2>/dev/null || echo 0)
if "$cli" "$@" sync report >"$data/sync-report.txt" 2>&1; then synced=yes; else synced=NO; fi
# 9. The indicators of today (Decision 766), and the report for the plan.
vn_today=$(TZ=Asia/Ho_Chi_Minh date +%F 2>/dev/null || date -u -d '+7 hours' +%F)
indicators=$(curl -fsS -H "Authorization: Bearer $supervisor" \
	"http://$listen/api/v1/indicators?from=$vn_today&to=$vn_today&by=office" || true)
ind() {
	printf '%s' "$indicators" | /usr/bin/python3 -c 'import json, sys
g = (json.load(sys.stdin).get("groups") or [{}])[0].get(sys.argv[1])
print("-" if g is None else round(g, 1))' "$1" 2>/dev/null || echo "-"
}
mkdir -p "$data/reports"
report=$("$cli" "$@" report --from "$vn_today" --to "$vn_today" --out "$data/reports" 2>&1 | tail -1 || true)
# 10. The counter's pages (station/www/): the clerk's console with a signed-in
# official, the waiting-room display, the ticket kiosk and the rating kiosk of
# counter 1 (a kiosk token in their address's fragment, which no server log
# sees), and the citizen's lookup of this dossier (the receipt's QR).
station_kiosk=$("$cli" "$@" token create --role kiosk --name "Màn hình và máy lấy số (demo)" 2>/dev/null)
lookup_key=$(field "$dossier" lookup_key)
clerk_user=canbo.demo
clerk_pw_file=$data/demo-clerk.password
clerk_session=
if "$cli" "$@" user list >/dev/null 2>&1; then
	# the demo's official, once, with a password of its own kept beside its data
	[ -s "$clerk_pw_file" ] || (umask 077 && head -c 12 /dev/urandom | base64 | tr -d '/+=' >"$clerk_pw_file")
	if ! "$cli" "$@" user list 2>/dev/null | grep -q "^$clerk_user "; then
		"$cli" "$@" user add --username "$clerk_user" --name "Nguyễn Thị Mai (demo)" --role clerk \
			--unit "Phòng Tư pháp" --counter 1 --password-stdin <"$clerk_pw_file" >/dev/null 2>&1 || true
	else
		"$cli" "$@" user passwd "$clerk_user" --password-stdin <"$clerk_pw_file" >/dev/null 2>&1 || true
	fi
	clerk_session=$(curl -fsS -H 'Content-Type: application/json' \
		-d "{\"username\":\"$clerk_user\",\"password\":\"$(cat "$clerk_pw_file")\",\"counter\":\"1\"}" \
		"http://$listen/api/v1/session" 2>/dev/null | sed -n 's/.*"token":"\([^"]*\)".*/\1/p') || true
fi
if [ -n "$clerk_session" ]; then
	console_url="http://$listen/station/console#token=$clerk_session"
	console_who="signed in as $clerk_user (Nguyễn Thị Mai, counter 1); or sign in there: $clerk_user / password in $clerk_pw_file"
else
	# (a build without officials' accounts: the console takes the clerk's machine token)
	console_url="http://$listen/station/console?counter=1#token=$MOTCUA_TOKEN"
	console_who="with the demo clerk's machine token (no officials' accounts on this build: motcua user add)"
fi

cat <<MSG

motcua demo: gateway running at http://$listen/ (pid $pid)
  queue ticket   số $ticket_no, called at Quầy 1, done; rating at the kiosk: ${rating:-none}
  dossier code   $code   (Mã hồ sơ), hẹn trả (promised) ${due:-?}
  receipt        $data/receipt.pdf (A4), $data/receipt.png (80 mm roll)
  scanned        document $scan_id: $scan_pages page(s) from SANE test device, state: $scan_state
                 steps: $(steps_of "$scan")
                 searchable PDF: $(blob "$scan_sha")
  recognized     document $id: state $state, text begins "$title"
                 fields: id_numbers [$ids] dates [$dates]
                 steps: $(steps_of "$doc")
                 signed PDF (PAdES $level, "$signer", stamp top right of page 1):
                   $(blob "$sha")
                 motcua verify: intact and trusted = $verified   ($data/verify.txt)
  archived       item $item; search "da nang hai chau" (no diacritics): $found found
                 reused in dossier $code2 as document $reuse_id: ${reuse_state:-not done}
                 motcua archive verify: intact = $intact; BagIt export: $data/export/$code/
  delivered      outbox: $delivered delivered, $undelivered pending, $dead dead letters
                 agency API (stand-in): $agency_posts POSTs; portal (stand-in): $portal_calls sync calls
                 motcua sync report: all acknowledged = $synced   ($data/sync-report.txt)
                 agency's folder: $outbox/$code/
  indicators     today: dossiers $(ind dossiers), wait avg $(ind waiting_avg_min) min, digitization $(ind digitization_rate)%,
                 reuse $(ind reuse_rate)%, portal sync $(ind sync_rate)%, satisfaction $(ind satisfaction)%
                 report: $report
  state store    $data/motcua.db   log: $data/gateway.log

Look around (the clerk's token is in MOTCUA_TOKEN below):
  export MOTCUA_TOKEN=$MOTCUA_TOKEN
  curl -s -H "Authorization: Bearer \$MOTCUA_TOKEN" http://$listen/api/v1/dossiers/$code/documents/$id
  curl -s -H "Authorization: Bearer \$MOTCUA_TOKEN" http://$listen/api/v1/dossiers/$code/documents/$id/content > to-khai.pdf
  curl -s -N -H "Authorization: Bearer \$MOTCUA_TOKEN" http://$listen/api/v1/events?since=0
  curl -s -H "Authorization: Bearer $supervisor" http://$listen/api/v1/outbox     (a supervisor's token)
Dashboard (live, Vietnamese first), open in a browser:
  http://$listen/dashboard#token=$supervisor
The counter's pages (Vietnamese first, English at the top right):
  console (clerk)     $console_url
                      $console_who
  waiting-room screen http://$listen/station/display#token=$station_kiosk
  ticket kiosk        http://$listen/station/tickets#token=$station_kiosk
  rating kiosk        http://$listen/station/rating?counter=1#token=$station_kiosk
  citizen's lookup    http://$listen/lookup?code=$code&key=$lookup_key
MSG
if [ "$state" != done ] || [ "$scan_state" != done ] || [ "$verified" != yes ] ||
	[ "${reuse_state:-}" != done ] || [ "$intact" != yes ] || [ "${found:-0}" -lt 1 ] ||
	[ "$synced" != yes ] || [ "${dead:-1}" != 0 ]; then
	echo "motcua: a demo document did not finish; see $data/gateway.log" >&2
	exit 1
fi
[ "$exit_after" = 1 ] && exit 0
# on a desktop, the console opens in the browser
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && command -v xdg-open >/dev/null 2>&1; then
	xdg-open "$console_url" >/dev/null 2>&1 &
fi
echo "Ctrl-C stops the gateway."
wait $pid
