#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Signing benchmark: the gateway's signer (sign-openssl's core library,
# in-process, as the sign step runs it) against `openssl cms -sign` on the
# same ~1 MB scanned PDF and the same keys, side by side in one run.
#
#   sign-bench.sh SIGN_TOOL
#
# meson passes the path:  meson test -C build --benchmark --verbose sign
#
# Per-document time, median of N runs each (wall clock):
#   gateway PAdES     sign_pdf(): qpdf normalisation, incremental update,
#                     CMS (B-B), written to disk (tmp + fsync + rename)
#   gateway CAdES     sign_cades(): detached .p7s of the same file
#   openssl cms -sign one `openssl cms -sign -binary -outform DER` process
#                     per document (detached, same key and padding): what a
#                     script around the CLI would do
#
# Environment: SIGN_BENCH_N (default 30), SIGN_BENCH_KB (PDF size, default
# 1024), SIGN_BENCH_KEEP=1 keeps the temp folder.
set -euo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 SIGN_TOOL" >&2
	exit 2
fi
TOOL=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_ROOT=$(cd "$HERE/../.." && pwd)
SIGN_TESTS=$SRC_ROOT/plugins/sign-openssl/tests
N=${SIGN_BENCH_N:-30}
KB=${SIGN_BENCH_KB:-1024}
PY=/usr/bin/python3

for t in openssl "$PY"; do
	command -v "$t" >/dev/null || { echo "sign-bench: $t not found" >&2; exit 77; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/sign-bench-XXXXXX")
cleanup() { [[ ${SIGN_BENCH_KEEP:-0} == 1 ]] && echo "kept $W" >&2 || rm -rf "$W"; }
trap cleanup EXIT

"$SIGN_TESTS/make-ca.sh" "$W" >/dev/null
"$PY" "$SIGN_TESTS/make-pdf.py" "$SRC_ROOT/tests/data/demo-to-khai.png" "$KB" "$W/doc.pdf" >&2
SIZE=$(stat -c %s "$W/doc.pdf")

median_of() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# one openssl process per document, timed from outside like the tool's own loop
openssl_cms() { # key cert keyopt...
	local key=$1 cert=$2
	shift 2
	for ((i = 0; i < N; i++)); do
		local a b
		a=$(date +%s%N)
		openssl cms -sign -binary -in "$W/doc.pdf" -signer "$cert" -inkey "$key" -md sha256 \
			-outform DER -out "$W/cli.p7s" "$@"
		b=$(date +%s%N)
		echo "scale=6; ($b - $a) / 1000000000" | bc
	done | median_of
}

gateway() { # pdf|cades key cert extra...
	local what=$1 key=$2 cert=$3 out
	shift 3
	out=$W/gw.$what
	"$TOOL" "$what" "$W/doc.pdf" "$out" -n "$N" -q --key "$key" --cert "$cert" "$@" | awk '/^median/ {print $2}'
}

ms() { awk -v s="$1" 'BEGIN {printf "%8.1f", s * 1000}'; }

command -v bc >/dev/null || { echo "sign-bench: bc not found" >&2; exit 77; }

echo
echo "Signing benchmark: $N documents each, file $(basename "$W/doc.pdf") ($SIZE bytes, scanned pages), $(nproc) CPUs"
echo "  reproduce: meson test -C build --benchmark --verbose sign   (SIGN_BENCH_N=$N)"
echo
printf "%-20s %14s %14s %18s %10s\n" "key" "gateway PAdES" "gateway CAdES" "openssl cms -sign" "PAdES/CLI"
printf "%-20s %14s %14s %18s %10s\n" "" "ms/doc" "ms/doc" "ms/doc" ""
for kind in rsa-pss rsa-pkcs1 ecdsa-p256; do
	case $kind in
	rsa-pss) key=$W/rsa.key cert=$W/rsa.pem extra=() cli=(-keyopt rsa_padding_mode:pss -keyopt rsa_pss_saltlen:32) ;;
	rsa-pkcs1) key=$W/rsa.key cert=$W/rsa.pem extra=(--pkcs1) cli=() ;;
	ecdsa-p256) key=$W/ec.key cert=$W/ec.pem extra=() cli=() ;;
	esac
	p=$(gateway pdf "$key" "$cert" "${extra[@]}")
	c=$(gateway cades "$key" "$cert" "${extra[@]}")
	o=$(openssl_cms "$key" "$cert" "${cli[@]}")
	ratio=$(awk -v a="$p" -v b="$o" 'BEGIN {printf "%.2fx", a / b}')
	printf "%-20s %14s %14s %18s %10s\n" "$kind" "$(ms "$p")" "$(ms "$c")" "$(ms "$o")" "$ratio"
done
# the outputs are real signatures
openssl cms -verify -binary -content "$W/doc.pdf" -inform DER -in "$W/gw.cades" -CAfile "$W/ca.pem" \
	-purpose any -out /dev/null 2>/dev/null || { echo "sign-bench: the gateway's .p7s does not verify" >&2; exit 1; }
openssl cms -verify -binary -content "$W/doc.pdf" -inform DER -in "$W/cli.p7s" -CAfile "$W/ca.pem" \
	-purpose any -out /dev/null 2>/dev/null || { echo "sign-bench: the CLI's .p7s does not verify" >&2; exit 1; }
if command -v pdfsig >/dev/null; then
	pdfsig "$W/gw.pdf" | grep -q "Signature is Valid." || { echo "sign-bench: the signed PDF does not verify" >&2; exit 1; }
fi
echo
echo "gateway = in-process (sign-tool -n $N: one key load, then N signatures); openssl = one process per document."
