#!/bin/sh
# Installs the Debian packages motcua needs, idempotently and without asking.
#   packaging/install-deps.sh [build|test|all]     (default: all)
# Works on Debian 12 and Raspberry Pi OS (bookworm). Runs apt-get only for
# packages that are missing, so a second run does nothing.
set -eu

what=${1:-all}

# Build: compiler, meson, and the libraries the gateway links.
build_pkgs="gcc libc6-dev pkg-config meson ninja-build
libevent-dev libsqlite3-dev libjansson-dev libinih-dev libssl-dev
libsane-dev libleptonica-dev libpng-dev libtesseract-dev libqpdf-dev
libp11-dev libcurl4-openssl-dev libmosquitto-dev
libsodium-dev libcairo2-dev libpango1.0-dev libqrencode-dev libzbar-dev
libespeak-ng-dev libglib2.0-dev
libgpiod-dev libevdev-dev"
# (core: Leptonica turns page images and makes their thumbnails for the
# clerk's review.)
# (station: libsodium hashes officials' passwords (Argon2id); cairo and pango
# draw the receipt (PDF and the thermal printer's raster), libqrencode its
# QR; libzbar reads the QR of a citizen ID card (Leptonica decodes its
# image, GLib puts its text in NFC); libespeak-ng says the number called in
# the waiting room.)
# (hw: libgpiod (1.6, its v1 API) reads the station's buttons and lights its
# LEDs; libevdev reads and grabs the rating keypad.)
# (eval-stream: libmosquitto streams events and indicator snapshots upstream
# over MQTT.)
# (sign-openssl: libp11 loads keys from PKCS#11 tokens as OpenSSL keys -
# bookworm has no pkcs11-provider; libcurl posts RFC 3161 timestamp queries;
# adapter-dvcqg posts to the national portal with libcurl and jansson.)
# Run: the Vietnamese (and English) OCR models and orientation detection,
# SANE's backends (with its test and pnm virtual devices), and the sRGB
# profile that makes the searchable PDFs PDF/A (icc-profiles-free).
run_extra="tesseract-ocr-vie tesseract-ocr-eng tesseract-ocr-osd libsane1 icc-profiles-free
espeak-ng-data fonts-dejavu-core"
# (espeak-ng-data: the Vietnamese voice; DejaVu: the receipt's font, whose
# glyphs cover Vietnamese.)
# Run: the demo talks to the gateway with curl and makes its throwaway signing
# CA with openssl; its stand-ins of the agency and the portal are Python (stdlib).
run_pkgs="curl ca-certificates openssl python3"
# Tests: the harness is Python (stdlib only; archive-sqlite's BagIt validator
# too, as Debian 12 packages none); make and binutils build and
# inspect the out-of-tree plugin; g++ compiles the SDK header as C++;
# sqlite3 and wrk for the HTTP benchmark (sqlite3 also recomputes the
# archive's audit chain in its tests); PIL and DejaVu fonts generate
# Vietnamese pages; poppler-utils and qpdf check PDFs; the tesseract CLI is
# the OCR benchmark's baseline; Chromium and its WebDriver run the dashboard
# in a real (headless) browser.
test_pkgs="python3 make binutils g++ sqlite3 wrk python3-pil fonts-dejavu-core
poppler-utils qpdf tesseract-ocr
softhsm2 opensc libnss3-tools bc
chromium chromium-driver python3-selenium zbar-tools qrencode espeak-ng
mosquitto mosquitto-clients
valgrind clang-format"
# (python3-selenium drives Chromium in the station's browser tests; zbarimg
# reads back the QR printed on a receipt; qrencode, libqrencode's CLI, makes
# the QR of the citizen ID cards the CCCD tests draw; the espeak-ng command
# line is the station benchmark's reference for the announcement.)
# (valgrind runs the suite under memcheck with meson test --setup valgrind;
# clang-format checks the tree's formatting against .clang-format.)
# (eval-stream tests and benchmark start their own mosquitto broker on
# 127.0.0.1 and make its password file with mosquitto_passwd; the benchmark's
# baseline is mosquitto_pub.)
# (sign-openssl tests: SoftHSM2 is the PKCS#11 token, opensc's pkcs11-tool
# writes a certificate onto it, libnss3-tools' certutil makes the NSS database
# in which pdfsig trusts the test CA; bc does the benchmark's arithmetic.)

case $what in
build) pkgs="$build_pkgs" ;;
run) pkgs="$build_pkgs $run_pkgs $run_extra" ;;
test | all) pkgs="$build_pkgs $run_pkgs $run_extra $test_pkgs" ;;
*) echo "usage: $0 [build|run|test|all]" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "motcua: need root (or sudo) to install:$missing" >&2
		exit 1
	fi
else
	SUDO=
fi
echo "motcua: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
