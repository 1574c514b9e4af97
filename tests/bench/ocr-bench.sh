#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# OCR benchmark: motcua-gateway with the ocr-tesseract plugin (uploads, and
# scans through SANE's pnm backend with scan-sane) against the tesseract CLI,
# on the same generated Vietnamese form pages, measured side by side in one run.
#
#   ocr-bench.sh GATEWAY_BIN CLI_BIN PLUGIN_DIR
#
# meson passes the three paths:  meson test -C build --benchmark --verbose ocr
#
# What is measured (pages/min = pages / wall time):
#   CLI OMP=1 x nproc  "practical limit": tesseract CLI, OMP_THREAD_LIMIT=1, one
#                      process per core (xargs -P $(nproc)), -l vie, pdf + txt
#   CLI stock          the same, one process at a time, OpenMP left alone
#                      (what a naive integration does)
#   gateway upload     [gateway] workers = nproc, [ocr-tesseract] (its defaults);
#                      one dossier, every page POSTed as its own image/png
#                      document as fast as possible; first upload -> last done
#   gateway scan       the same plus [scan-sane] on pnm:0: one scan per page
#                      (POST .../scan {}), the pnm backend's file a symlink
#                      re-pointed between scans, the next scan once the capture
#                      step of the previous one is done (OCR goes on meanwhile);
#                      first scan -> last document done
# and the character error rate (plugins/ocr-tesseract/tests/cer.py) per page
# class, the peak RSS (gateway: VmHWM; CLI: max RSS of one process).
#
# Environment:
#   OCR_BENCH_PAGES    pages (default 12): half clean, half noisy and skewed
#   OCR_BENCH_ROUNDS   rounds (default 3) of CLI OMP=1, gateway upload and gateway
#                      scan, interleaved (the order turns each round); the table
#                      gives medians and each round's ratios. The machine's speed
#                      drifts by ~10% over minutes here (the same CLI run took
#                      0.95 to 1.08 CPU s a page), more than the margin measured:
#                      phases run one after the other once each compare drift.
#   OCR_BENCH_NOISE    salt-and-pepper fraction of the noisy half (default 0.003)
#   OCR_BENCH_SKEW     "MIN MAX" skew in degrees of the noisy half (default "1 3")
#   OCR_BENCH_TIMEOUT  seconds each phase may take before the run fails (default 300)
#   OCR_BENCH_PYTHON   Python with PIL (default /usr/bin/python3, Debian's)
#   TESSERACT          tesseract binary (default: tesseract from PATH; Debian tesseract-ocr)
#   OCR_BENCH_PREPROCESS  ocr-tesseract's preprocess key for the gateway runs
#                      (default: unset, the plugin's default), to see what it costs
#   OCR_BENCH_KEEP=1   keep the temp directory (pages, outputs, configs, logs)
set -euo pipefail

if [[ $# -ne 3 ]]; then
	echo "usage: $0 GATEWAY_BIN CLI_BIN PLUGIN_DIR" >&2
	exit 2
fi
GATEWAY=$1
CLI=$2
PLUGIN_DIR=$3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_ROOT=$(cd "$HERE/../.." && pwd)
OCR_TESTS=${OCR_BENCH_TOOLS:-$SRC_ROOT/plugins/ocr-tesseract/tests}
HELPER=$HERE/ocr_bench.py
PAGES=${OCR_BENCH_PAGES:-12}
ROUNDS=${OCR_BENCH_ROUNDS:-3}
NOISE=${OCR_BENCH_NOISE:-0.003}
SKEW=${OCR_BENCH_SKEW:-1 3}
PHASE_TIMEOUT=${OCR_BENCH_TIMEOUT:-300}
PY=${OCR_BENCH_PYTHON:-/usr/bin/python3}
TESSERACT=${TESSERACT:-tesseract}
NPROC=$(nproc)
REPRO="meson test -C build --benchmark --verbose ocr"

for v in PAGES ROUNDS PHASE_TIMEOUT; do
	if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
		echo "ocr-bench: $v must be a positive integer, not '${!v}'" >&2
		exit 2
	fi
done
((PAGES >= 2)) || { echo "ocr-bench: OCR_BENCH_PAGES must be at least 2 (one clean, one noisy)" >&2; exit 2; }
read -r SKEW_MIN SKEW_MAX <<<"$SKEW"
for b in "$GATEWAY" "$CLI"; do
	[[ -x $b ]] || { echo "ocr-bench: $b is not an executable" >&2; exit 2; }
done
[[ -d $PLUGIN_DIR ]] || { echo "ocr-bench: $PLUGIN_DIR is not a folder" >&2; exit 2; }
for f in make_pages.py cer.py; do
	[[ -f $OCR_TESTS/$f ]] || { echo "ocr-bench: $OCR_TESTS/$f not found" >&2; exit 2; }
done

skip() { echo "ocr-bench: $*; SKIP" >&2; exit 77; }
command -v "$TESSERACT" >/dev/null || skip "the tesseract CLI is not installed (apt-get install tesseract-ocr tesseract-ocr-vie)"
"$TESSERACT" --list-langs 2>/dev/null | grep -qx vie || skip "tesseract has no 'vie' language (apt-get install tesseract-ocr-vie)"
[[ -x $PY ]] || command -v "$PY" >/dev/null || skip "no $PY"
"$PY" -c 'import PIL' 2>/dev/null || skip "$PY has no PIL (apt-get install python3-pil)"
[[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || skip "DejaVu fonts missing (apt-get install fonts-dejavu-core)"
command -v curl >/dev/null || skip "curl not found"
# The plugins as the gateway looks them up: <dir>/<name>.so or <dir>/<name>/<name>.so
plugin_so() { local d; for d in "$PLUGIN_DIR/$1.so" "$PLUGIN_DIR/$1/$1.so"; do [[ -f $d ]] && { echo "$d"; return 0; }; done; return 1; }
OCR_SO=$(plugin_so ocr-tesseract) || skip "no ocr-tesseract plugin in $PLUGIN_DIR (the build found no Tesseract/qpdf/Leptonica)"
SCAN_SO=$(plugin_so scan-sane) || SCAN_SO=
if [[ -x /usr/bin/time && $(/usr/bin/time -v true 2>&1) == *"Maximum resident"* ]]; then
	TIMEV=(/usr/bin/time -v -o)
	RSS_HOW="/usr/bin/time -v"
else
	TIMEV=("$PY" "$HELPER" rusage)
	RSS_HOW="getrusage(RUSAGE_CHILDREN)"
fi
export OCR_BENCH_CER_DIR=$OCR_TESTS

TMP=$(mktemp -d "${TMPDIR:-/tmp}/motcua-ocr-bench.XXXXXX")
GW_PID=
CLI_PID=
DRV_PID=

stop_pid() { # pid: TERM, wait up to 30 s (running OCR steps finish), then KILL; sets STOP_RC
	local pid=$1 i
	STOP_RC=
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		STOP_RC=killed
	fi
	wait "$pid" 2>/dev/null && STOP_RC=${STOP_RC:-0} || STOP_RC=${STOP_RC:-$?}
}
cleanup() {
	# the CLI phase: its own process group (setsid), so its tesseracts go too
	if [[ -n $CLI_PID ]] && kill -0 "$CLI_PID" 2>/dev/null; then
		kill -TERM -- "-$CLI_PID" 2>/dev/null || true
		wait "$CLI_PID" 2>/dev/null || true
	fi
	if [[ -n $DRV_PID ]]; then
		kill -TERM "$DRV_PID" 2>/dev/null || true
		wait "$DRV_PID" 2>/dev/null || true
	fi
	stop_pid "$GW_PID"
	if [[ ${OCR_BENCH_KEEP:-0} == 1 ]]; then
		echo "ocr-bench: files kept in $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

GW_LOG=
die() {
	echo "ocr-bench: $*" >&2
	local rc
	if [[ -n $GW_PID ]] && ! kill -0 "$GW_PID" 2>/dev/null; then
		wait "$GW_PID" 2>/dev/null && rc=0 || rc=$?
		((rc > 128)) && echo "ocr-bench: the gateway was killed by signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null))" >&2 ||
			echo "ocr-bench: the gateway exited with status $rc" >&2
		GW_PID=
	fi
	if [[ -n $GW_LOG && -f $GW_LOG ]]; then
		echo "--- gateway log $GW_LOG (last 30 lines) ---" >&2
		tail -n 30 "$GW_LOG" >&2
	fi
	exit 1
}
note() { echo "== $*" >&2; }

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_http() { # url pid: up to 20 s for the health route
	local i
	for ((i = 0; i < 200; i++)); do
		kill -0 "$2" 2>/dev/null || die "the gateway exited at start"
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		sleep 0.1
	done
	die "the gateway does not answer on $1"
}
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
now() { date +%s.%N; }
CLK_TCK=$(getconf CLK_TCK)
# CPU seconds: the whole machine's busy time, and one process's user + system time
busy_s() { awk -v hz="$CLK_TCK" '/^cpu / { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat; }
# user + system time of a process and of the children it has waited for
# (the gateway's SANE driver processes count as the gateway's)
pid_cpu_s() { awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13 + $14 + $15) / hz }' "/proc/$1/stat"; }
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
# other processes' share of the machine during a phase, in %: busy, own CPU, wall
others_pct() { awk -v b="$1" -v o="$2" -v w="$3" -v n="$NPROC" 'BEGIN { v = (b - o) / (w * n) * 100; if (v < 0) v = 0; printf "%.0f", v }'; }

# ---- pages ----

note "generating $PAGES pages (A4, 300 dpi): $((PAGES - PAGES / 2)) clean, $((PAGES / 2)) with noise $NOISE and skew $SKEW_MIN-$SKEW_MAX deg"
"$PY" "$HELPER" pages --make-pages "$OCR_TESTS/make_pages.py" --out "$TMP/pages" --count "$PAGES" \
	--noise "$NOISE" --skew "$SKEW_MIN" "$SKEW_MAX" >"$TMP/pages.log" 2>&1 ||
	{ cat "$TMP/pages.log" >&2; die "page generation failed"; }
MANIFEST=$TMP/pages/pages.tsv
[[ $(wc -l <"$MANIFEST") -eq $PAGES ]] || die "expected $PAGES pages in $MANIFEST"
cut -f3 "$MANIFEST" >"$TMP/pages.list"

# Warm the page cache with the language data, so that neither side pays for
# reading it from disk.
TESSDATA=$("$TESSERACT" --list-langs 2>&1 | sed -n 's/.*"\(.*\)".*/\1/p' | head -n 1)
[[ -n $TESSDATA ]] && cat "$TESSDATA"/vie.traineddata "$TESSDATA"/osd.traineddata >/dev/null 2>&1 || true

jget() { "$PY" -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(("%.2f" % v) if isinstance(v, float) else v)' "$1" "$2"; }

# ---- CLI baselines ----

cat >"$TMP/run-tess.sh" <<EOF
#!/usr/bin/env bash
# run-tess.sh OUTDIR PAGE.png: one tesseract process, its max RSS in OUTDIR/NAME.time
name=\$(basename "\$2" .png)
exec $(printf '%q ' "${TIMEV[@]}") "\$1/\$name.time" $(printf '%q' "$TESSERACT") "\$2" "\$1/\$name" -l vie pdf txt 2>"\$1/\$name.log"
EOF
chmod +x "$TMP/run-tess.sh"

# cli_run NAME PARALLEL OMP(1|stock): sets CLI_WALL CLI_CPU CLI_OTHERS
cli_run() {
	local name=$1 par=$2 omp=$3 out=$TMP/$1 t0 t1 rc envset b0 b1
	mkdir -p "$out"
	if [[ $omp == 1 ]]; then envset=(env OMP_THREAD_LIMIT=1); else envset=(env -u OMP_THREAD_LIMIT); fi
	note "tesseract CLI ($name): $PAGES pages, $par at a time, OMP_THREAD_LIMIT=${omp/stock/unset}"
	b0=$(busy_s)
	t0=$(now)
	setsid "${envset[@]}" timeout --kill-after=5 "$PHASE_TIMEOUT" \
		xargs -P "$par" -n 1 "$TMP/run-tess.sh" "$out" <"$TMP/pages.list" &
	CLI_PID=$!
	rc=0
	wait "$CLI_PID" || rc=$?
	CLI_PID=
	t1=$(now)
	b1=$(busy_s)
	((rc != 124 && rc != 137)) || die "tesseract CLI ($name) took more than $PHASE_TIMEOUT s"
	((rc == 0)) || { cat "$out"/*.log >&2 2>/dev/null; die "tesseract CLI ($name) failed (xargs exit $rc)"; }
	local n_txt n_pdf
	n_txt=$(find "$out" -name 'page-*.txt' | wc -l)
	n_pdf=$(find "$out" -name 'page-*.pdf' | wc -l)
	((n_txt == PAGES && n_pdf == PAGES)) || die "tesseract CLI ($name) wrote $n_txt texts and $n_pdf PDFs for $PAGES pages"
	CLI_WALL=$(calc "$t1 - $t0")
	CLI_CPU=$(awk -F: '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$out"/*.time)
	CLI_OTHERS=$(others_pct "$(calc "$b1 - $b0")" "$CLI_CPU" "$CLI_WALL")
}
max_rss_kib() { # dir: max "Maximum resident set size" of its *.time
	awk -F: '/Maximum resident set size/ { v = $2 + 0; if (v > m) m = v } END { print m + 0 }' "$1"/*.time
}


# ---- the gateway ----

SANE_DIR=$TMP/sane.d
mkdir -p "$SANE_DIR"
printf 'pnm\ntest\n' >"$SANE_DIR/dll.conf"
for b in pnm test; do
	if [[ -f /etc/sane.d/$b.conf ]]; then cp "/etc/sane.d/$b.conf" "$SANE_DIR/"; fi
done

# gw_start NAME EXTRA_CONFIG: a gateway of its own (data, config, log in $TMP/NAME);
# sets GW_PID GW_URL GW_TOKEN GW_LOG
gw_start() {
	local name=$1 extra=$2 dir=$TMP/$1 port
	mkdir -p "$dir/data"
	port=$(free_port) || die "no free port"
	cat >"$dir/motcua.conf" <<EOF
[gateway]
data_dir = $dir/data
plugin_dir = $PLUGIN_DIR
workers = $NPROC
log_level = info

[http]
listen = 127.0.0.1:$port

[office]
agency_code = 000.00.12.H50
name = Benchmark

# The benchmark times the machine, not the clerk: documents go on to done
# without waiting for the review.
[station]
review = false

[ocr-tesseract]
enabled = true
languages = vie
${OCR_BENCH_PREPROCESS:+preprocess = $OCR_BENCH_PREPROCESS}

$extra
EOF
	GW_LOG=$dir/gateway.log
	"$GATEWAY" --config "$dir/motcua.conf" --check >"$dir/check.log" 2>&1 ||
		{ cat "$dir/check.log" >&2; die "the gateway refuses the benchmark configuration ($name)"; }
	GW_TOKEN=$("$CLI" --config "$dir/motcua.conf" token create --role clerk --name bench 2>"$dir/token.log") ||
		{ cat "$dir/token.log" >&2; die "motcua token create failed"; }
	[[ -n $GW_TOKEN ]] || die "motcua token create printed no token"
	# OMP_THREAD_LIMIT unset: the gateway sets it to 1 itself before loading plugins
	env -u OMP_THREAD_LIMIT SANE_CONFIG_DIR="$SANE_DIR" "$GATEWAY" --config "$dir/motcua.conf" >"$GW_LOG" 2>&1 &
	GW_PID=$!
	GW_URL=http://127.0.0.1:$port
	wait_http "$GW_URL/api/v1/health" "$GW_PID"
	curl -s --max-time 10 -H "Authorization: Bearer $GW_TOKEN" "$GW_URL/api/v1/plugins" >"$dir/plugins.json" ||
		die "GET /api/v1/plugins failed"
	local p st
	for p in ocr-tesseract ${3:-}; do
		st=$("$PY" -c 'import json, sys
for p in json.load(open(sys.argv[1]))["plugins"]:
    if p["name"] == sys.argv[2]:
        print(p["state"] + ("" if not p.get("error") else ": " + p["error"]))' "$dir/plugins.json" "$p")
		[[ $st == loaded ]] || die "plugin $p is '${st:-absent}' in the gateway ($name), not loaded"
	done
}
# gw_stop NAME: VmHWM, then SIGTERM; sets GW_HWM GW_RC GW_CLEAN GW_ERRS
gw_stop() {
	local name=$1
	kill -0 "$GW_PID" 2>/dev/null || die "the gateway ($name) died during the benchmark"
	GW_HWM=$(hwm_kib "$GW_PID")
	stop_pid "$GW_PID"
	GW_PID=
	GW_RC=$STOP_RC
	GW_CLEAN=no
	grep -q 'stopped cleanly' "$GW_LOG" && GW_CLEAN=yes
	GW_ERRS=$(grep -cE '\b(error|warning|ERROR|WARNING)\b' "$GW_LOG" || true)
}

# gw_drive upload|scan DIR [ARGS]: the HTTP client; sets GW_CPU (the gateway's CPU
# seconds during the run) and GW_OTHERS (other processes' share of the machine, %)
gw_drive() {
	local mode=$1 dir=$2 b0 b1 c0 c1 t0 t1 drv
	shift 2
	b0=$(busy_s) c0=$(pid_cpu_s "$GW_PID") t0=$(now)
	# in the background, so that a signal to this script is handled at once
	"$PY" "$HELPER" "$mode" --url "$GW_URL" --token "$GW_TOKEN" --manifest "$MANIFEST" "$@" \
		--text-dir "$dir/text" --out "$dir/result.json" --timeout "$PHASE_TIMEOUT" &
	DRV_PID=$!
	local rc=0
	wait "$DRV_PID" || rc=$?
	DRV_PID=
	((rc == 0)) || die "gateway $mode run failed"
	kill -0 "$GW_PID" 2>/dev/null || die "the gateway ($mode) died during the benchmark"
	c1=$(pid_cpu_s "$GW_PID") b1=$(busy_s) t1=$(now)
	GW_CPU=$(calc "$c1 - $c0")
	drv=$(jget "$dir/result.json" driver_cpu_s)
	GW_OTHERS=$(others_pct "$(calc "$b1 - $b0")" "$(calc "$GW_CPU + $drv")" "$(calc "$t1 - $t0")")
}

PREP_NOTE="preprocess ${OCR_BENCH_PREPROCESS:-default}"
HAVE_SCAN=0
[[ -n $SCAN_SO ]] && HAVE_SCAN=1 || echo "ocr-bench: no scan-sane plugin in $PLUGIN_DIR: the scan path is not measured" >&2

# Per round R (1-based), each phase leaves its figures in arrays indexed by R:
# *_WALL *_CPU *_OTHERS (A = CLI OMP=1, U = gateway upload, S = gateway scan).
declare -a A_WALL A_CPU A_OTHERS U_WALL U_CPU U_OTHERS U_HWM U_RC U_CLEAN U_ERRS
declare -a S_WALL S_CPU S_OTHERS S_HWM S_RC S_CLEAN S_ERRS
phase_cli() {
	local r=$1
	cli_run "cli-omp1-r$r" "$NPROC" 1
	A_WALL[r]=$CLI_WALL A_CPU[r]=$CLI_CPU A_OTHERS[r]=$CLI_OTHERS
}
phase_upload() {
	local r=$1 name=gw-upload-r$1
	note "gateway (upload, round $r): workers = $NPROC, ocr-tesseract $PREP_NOTE, $PAGES uploads as fast as possible"
	gw_start "$name" ""
	gw_drive upload "$TMP/$name"
	gw_stop "$name"
	U_HWM[r]=$GW_HWM U_RC[r]=$GW_RC U_CLEAN[r]=$GW_CLEAN U_ERRS[r]=$GW_ERRS U_CPU[r]=$GW_CPU U_OTHERS[r]=$GW_OTHERS
	U_WALL[r]=$(jget "$TMP/$name/result.json" wall_s)
}
phase_scan() {
	local r=$1 name=gw-scan-r$1
	((HAVE_SCAN)) || return 0
	note "gateway (scan, round $r): scan-sane on pnm:0, one scan per page, OCR overlapping the next scan"
	local link=$TMP/$name/scanner-glass.pgm
	mkdir -p "$TMP/$name"
	ln -sfn "$(sed -n '1p' "$MANIFEST" | cut -f5)" "$link"
	gw_start "$name" "[scan-sane]
enabled = true
device = pnm:0
source = flatbed
mode = gray
resolution = 300
device_options = filename=$link" scan-sane
	gw_drive scan "$TMP/$name" --link "$link"
	gw_stop "$name"
	S_HWM[r]=$GW_HWM S_RC[r]=$GW_RC S_CLEAN[r]=$GW_CLEAN S_ERRS[r]=$GW_ERRS S_CPU[r]=$GW_CPU S_OTHERS[r]=$GW_OTHERS
	S_WALL[r]=$(jget "$TMP/$name/result.json" wall_s)
}

# The rounds: the three phases in turn, starting one further each round, so
# that none always runs first (the machine's speed drifts).
PHASES=(phase_cli phase_upload phase_scan)
for ((r = 1; r <= ROUNDS; r++)); do
	for ((i = 0; i < 3; i++)); do
		"${PHASES[(i + r - 1) % 3]}" "$r"
	done
done
A_RSS=$(for ((r = 1; r <= ROUNDS; r++)); do max_rss_kib "$TMP/cli-omp1-r$r"; done | sort -n | tail -n 1)
# The stock CLI once: it is ~8x slower and only shows what OpenMP costs.
cli_run cli-stock 1 stock
B_WALL=$CLI_WALL B_CPU=$CLI_CPU B_OTHERS=$CLI_OTHERS
B_RSS=$(max_rss_kib "$TMP/cli-stock")
GW_LOG=

# ---- results ----

cer_of() { "$PY" "$HELPER" cer --manifest "$MANIFEST" --hyp-dir "$1"; }
# median of the arguments ("-" when none); max; sum
median() {
	awk 'BEGIN {
		for (i = 1; i < ARGC; i++)
			if (ARGV[i] != "-" && ARGV[i] != "") {
				x = ARGV[i] + 0
				for (j = n++; j > 0 && v[j] > x; j--) v[j + 1] = v[j]
				v[j + 1] = x
			}
		if (!n) print "-"
		else if (n % 2) printf "%.2f\n", v[(n + 1) / 2]
		else printf "%.2f\n", (v[n / 2] + v[n / 2 + 1]) / 2
	}' "$@"
}
maxof() { printf '%s\n' "$@" | sort -g | tail -n 1; }
sumof() { printf '%s\n' "$@" | awk '{ s += $1 } END { print s + 0 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
# worst CER over the rounds (OCR is deterministic: they should all agree)
cer_rounds() { # prefix dir-pattern(with %R): sets ${prefix}_CER_C _CER_N _MISS
	local p=$1 pat=$2 r c n m cs=() ns=() ms=()
	for ((r = 1; r <= ROUNDS; r++)); do
		read -r c n m < <(cer_of "${pat//%R/$r}")
		cs+=("$c") ns+=("$n") ms+=("$m")
	done
	printf -v "${p}_CER_C" %s "$(maxof "${cs[@]}")"
	printf -v "${p}_CER_N" %s "$(maxof "${ns[@]}")"
	printf -v "${p}_MISS" %s "$(maxof "${ms[@]}")"
}
json_rounds() { # name key: the key of every round's result.json, one per line
	local r
	for ((r = 1; r <= ROUNDS; r++)); do jget "$TMP/$1-r$r/result.json" "$2"; done
}
# per-round ratios: CLI's wall (or CPU) over the gateway's, round by round
round_ratios() { # A-array-name X-array-name
	local -n a=$1 x=$2
	local r
	for ((r = 1; r <= ROUNDS; r++)); do ratio "${a[r]:--}" "${x[r]:--}"; echo; done
}
all_ok() { # rc-array clean-array: "0" / "yes" when every round stopped cleanly
	local -n rc=$1 cl=$2
	local r bad=
	for ((r = 1; r <= ROUNDS; r++)); do
		[[ ${rc[r]} == 0 && ${cl[r]} == yes ]] || bad+="${bad:+ }round $r: exit ${rc[r]}, clean stop ${cl[r]}"
	done
	echo "${bad:-ok}"
}

cer_rounds A "$TMP/cli-omp1-r%R"
read -r B_CER_C B_CER_N B_MISS < <(cer_of "$TMP/cli-stock")
cer_rounds U "$TMP/gw-upload-r%R/text"
U_FAILED=$(sumof $(json_rounds gw-upload failed))
U_NOTNFC=$(sumof $(json_rounds gw-upload not_nfc))
U_UPLOAD=$(jget "$TMP/gw-upload-r$ROUNDS/result.json" upload_s)
U_STOP=$(all_ok U_RC U_CLEAN)
U_ERRS_ALL=$(sumof "${U_ERRS[@]}")
mapfile -t U_RATIOS < <(round_ratios A_WALL U_WALL)
mapfile -t U_CRATIOS < <(round_ratios A_CPU U_CPU)
S_CER_C=- S_CER_N=- S_MISS=- S_FAILED=- S_NOTNFC=0
S_RATIOS=() S_CRATIOS=()
if ((HAVE_SCAN)); then
	cer_rounds S "$TMP/gw-scan-r%R/text"
	S_FAILED=$(sumof $(json_rounds gw-scan failed))
	S_NOTNFC=$(sumof $(json_rounds gw-scan not_nfc))
	S_SCAN=$(jget "$TMP/gw-scan-r$ROUNDS/result.json" scan_s)
	S_CAPM=$(median $(json_rounds gw-scan capture_s_mean))
	S_STOP=$(all_ok S_RC S_CLEAN)
	S_ERRS_ALL=$(sumof "${S_ERRS[@]}")
	mapfile -t S_RATIOS < <(round_ratios A_WALL S_WALL)
	mapfile -t S_CRATIOS < <(round_ratios A_CPU S_CPU)
fi

ppm() { awk -v n="$PAGES" -v s="$1" 'BEGIN { if (s + 0 > 0) printf "%.1f", n * 60 / s; else print "-" }'; }
mib() { awk -v k="$1" 'BEGIN { if (k + 0 > 0) printf "%.0f MiB", k / 1024; else print "-" }'; }
row() { printf '| %-30s | %15s | %15s | %17s | %15s |\n' "$1" "$2" "$3" "$4" "$5"; }

# The table's figures: medians over the rounds (peak RSS and other load: the most)
AM_WALL=$(median "${A_WALL[@]}") AM_CPU=$(median "${A_CPU[@]}") AM_OTHERS=$(maxof "${A_OTHERS[@]}")
UM_WALL=$(median "${U_WALL[@]}") UM_CPU=$(median "${U_CPU[@]}") UM_OTHERS=$(maxof "${U_OTHERS[@]}") UM_HWM=$(maxof "${U_HWM[@]}")
SM_WALL=- SM_CPU=- SM_OTHERS=- SM_HWM=0
if ((HAVE_SCAN)); then
	SM_WALL=$(median "${S_WALL[@]}") SM_CPU=$(median "${S_CPU[@]}") SM_OTHERS=$(maxof "${S_OTHERS[@]}") SM_HWM=$(maxof "${S_HWM[@]}")
fi
A_PPM=$(ppm "$AM_WALL") B_PPM=$(ppm "$B_WALL") U_PPM=$(ppm "$UM_WALL") S_PPM=-
((HAVE_SCAN)) && S_PPM=$(ppm "$SM_WALL")

echo
echo "motcua OCR benchmark: $PAGES pages A4 300 dpi ($((PAGES - PAGES / 2)) clean, $((PAGES / 2)) noise $NOISE + skew $SKEW_MIN-$SKEW_MAX deg)," \
	"$NPROC CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $("$TESSERACT" --version 2>&1 | head -n 1), -l vie"
echo "gateway: workers = $NPROC, ocr-tesseract $PREP_NOTE (searchable PDF per document);" \
	"CLI: tesseract PAGE OUT -l vie pdf txt"
echo "$ROUNDS rounds of CLI OMP=1 / gateway upload / gateway scan, interleaved; figures are medians over the rounds (CLI stock: once)."
echo "ratio = the gateway's pages/min / CLI OMP=1 x$NPROC's (the practical limit) in the same round, median over the rounds; goal >= 0.90."
echo "CER = edits / reference characters (cer.py, NFC, whitespace collapsed), the worst round."
echo
row measure "gateway upload" "gateway scan" "CLI OMP=1 x$NPROC" "CLI stock x1"
row "------------------------------" "---------------" "---------------" "-----------------" "---------------"
row "wall time (s)" "$UM_WALL" "$SM_WALL" "$AM_WALL" "$B_WALL"
row "pages/min" "$U_PPM" "$S_PPM" "$A_PPM" "$B_PPM"
row "ratio to practical limit" "$(median "${U_RATIOS[@]}")" "$(median "${S_RATIOS[@]}")" "1.00" "$(ratio "$AM_WALL" "$B_WALL")"
row "CER clean (%)" "$U_CER_C" "$S_CER_C" "$A_CER_C" "$B_CER_C"
row "CER noisy + skewed (%)" "$U_CER_N" "$S_CER_N" "$A_CER_N" "$B_CER_N"
row "documents failed / no text" "$U_FAILED / $U_MISS" "$S_FAILED / $S_MISS" "0 / $A_MISS" "0 / $B_MISS"
row "peak RSS" "$(mib "$UM_HWM")" "$(mib "$SM_HWM")" "$(mib "$A_RSS") x$NPROC" "$(mib "$B_RSS")"
per_page() { [[ $1 == - ]] && echo - || calc "$1 / $PAGES"; }
util() { [[ $1 == - ]] && echo - || awk -v c="$1" -v w="$2" -v n="$NPROC" 'BEGIN { printf "%.0f%%", c / (w * n) * 100 }'; }
row "CPU s per page" "$(per_page "$UM_CPU")" "$(per_page "$SM_CPU")" "$(per_page "$AM_CPU")" "$(per_page "$B_CPU")"
row "ratio by CPU s per page" "$(median "${U_CRATIOS[@]}")" "$(median "${S_CRATIOS[@]}")" "1.00" "$(ratio "$AM_CPU" "$B_CPU")"
row "CPU use (% of $NPROC cores)" "$(util "$UM_CPU" "$UM_WALL")" "$(util "$SM_CPU" "$SM_WALL")" "$(util "$AM_CPU" "$AM_WALL")" "$(util "$B_CPU" "$B_WALL")"
row "other processes' load (%)" "$UM_OTHERS" "$SM_OTHERS" "$AM_OTHERS" "$B_OTHERS"
echo
echo "each round (phase order turns): ratio to the practical limit by wall time / by CPU s per page"
for ((r = 1; r <= ROUNDS; r++)); do
	order=
	for ((i = 0; i < 3; i++)); do order+="${order:+, }${PHASES[(i + r - 1) % 3]#phase_}"; done
	line="  round $r ($order): CLI OMP=1 ${A_WALL[r]} s, upload ${U_RATIOS[r - 1]} / ${U_CRATIOS[r - 1]}"
	((HAVE_SCAN)) && line+=", scan ${S_RATIOS[r - 1]} / ${S_CRATIOS[r - 1]}"
	echo "$line"
done
echo "peak RSS: gateway = VmHWM of the whole daemon ($NPROC OCR workers), the largest over the rounds; CLI = largest max RSS of one tesseract process ($RSS_HOW)."
echo "CPU: user + system seconds of the gateway and its SANE driver processes (during the run) or of the tesseract processes; other processes' load = the machine's"
echo "  busy time during the phase minus ours, in % of $NPROC cores (the most over the rounds): above ~10% the figures of that column are disturbed."
echo "  ratio by CPU s per page = CLI OMP=1's CPU per page / this column's: what the pages/min ratio would be with every"
echo "  core busy and nothing else running (less sensitive to other load than wall time)."
((${OCR_BENCH_PREPROCESS:+1}+0)) && echo "ocr-tesseract preprocess = $OCR_BENCH_PREPROCESS (OCR_BENCH_PREPROCESS), not its default"
timeline() { # result.json: when pages and documents finished (SSE events, seconds from the first request)
	"$PY" -c 'import json, sys
r = json.load(open(sys.argv[1]))
if r.get("events_error") or r.get("last_page_done_s") is None:
    print("  timeline: not available (%s)" % r.get("events_error")); sys.exit()
print("  timeline: first page recognized at %.1fs, last at %.1fs; documents done from %.1fs to %.1fs"
      % (r["first_page_done_s"], r["last_page_done_s"], r["first_doc_done_s"], r["last_doc_done_s"]))
print("  pages done at: " + " ".join("%.1f" % t for t in r["page_done_s"]))
print("  docs done at:  " + " ".join("%.1f" % t for t in r["doc_done_s"]))' "$1"
}
echo "gateway upload (round $ROUNDS): $PAGES POSTs took ${U_UPLOAD}s of the wall time; stops on SIGTERM: $U_STOP; error/warning log lines (all rounds): $U_ERRS_ALL"
timeline "$TMP/gw-upload-r$ROUNDS/result.json"
if ((HAVE_SCAN)); then
	echo "gateway scan (round $ROUNDS): $PAGES scans (capture steps) took ${S_SCAN}s, ${S_CAPM}s per scan on average (median of rounds); stops on SIGTERM: $S_STOP; error/warning log lines (all rounds): $S_ERRS_ALL"
	timeline "$TMP/gw-scan-r$ROUNDS/result.json"
fi
DISTURBED=
for v in UM_OTHERS:"gateway upload" SM_OTHERS:"gateway scan" AM_OTHERS:"CLI OMP=1" B_OTHERS:"CLI stock"; do
	name=${v%%:*}
	val=${!name}
	if [[ $val != - ]] && ((val > 10)); then
		DISTURBED+="${DISTURBED:+, }${v#*:} ${val}%"
	fi
done
for v in U_NOTNFC S_NOTNFC; do
	[[ ${!v:-0} == 0 ]] || echo "WARNING: ${!v} documents' text is not NFC (${v%%_*}: U upload, S scan)"
done
[[ -z $DISTURBED ]] || echo "WARNING: other processes kept the CPUs busy during: $DISTURBED. Those figures are not comparable: rerun on a quiet machine."
echo
echo "reproduce:  OCR_BENCH_PAGES=$PAGES OCR_BENCH_ROUNDS=$ROUNDS $REPRO    (OCR_BENCH_KEEP=1 to keep $TMP)"

RC=0
for v in U_FAILED S_FAILED; do
	[[ ${!v} == - || ${!v} == 0 ]] || { echo "FAIL: ${!v} documents failed (${v%%_*} run)"; RC=1; }
done
[[ $U_STOP == ok ]] || { echo "FAIL: the upload gateway did not stop cleanly ($U_STOP)"; RC=1; }
if ((HAVE_SCAN)); then
	[[ $S_STOP == ok ]] || { echo "FAIL: the scan gateway did not stop cleanly ($S_STOP)"; RC=1; }
fi
exit $RC
