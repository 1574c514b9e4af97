#!/bin/sh
# Builds motcua and runs the whole test suite twice: in the normal build and in
# an AddressSanitizer/UndefinedBehaviorSanitizer build. Installs what it needs
# first. The last line is the count: "N passed, N failed".
# A test may skip (exit 77) only for hardware the machine lacks, and only in
# the meson suite `hardware`; any other skip counts as a failure, named on a
# line before the count: a package install-deps.sh installs is never a reason.
#   packaging/run-tests.sh            (from anywhere)
# MOTCUA_TEST_BUILDS="build" limits it to the normal build.
set -u
cd "$(dirname "$0")/.."
packaging/install-deps.sh test || { echo "0 passed, 1 failed"; exit 1; }

builds=${MOTCUA_TEST_BUILDS:-"build build-asan"}
passed=0 failed=0 skipped=0
for dir in $builds; do
	case $dir in
	build-asan) opts="-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug" ;;
	*) opts="" ;;
	esac
	echo "==> $dir: configure and build"
	# A build folder made before the test packages were installed (by
	# run-demo.sh, which installs only what the gateway runs with) recorded
	# the test tools as missing: configure it again, so that meson looks for
	# them now that they are here. Cheap, and a no-op in what it finds when
	# nothing changed.
	if [ -f "$dir/build.ninja" ]; then
		setup="--reconfigure"
	else
		setup=""
	fi
	# shellcheck disable=SC2086
	meson setup $setup "$dir" $opts >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; failed=$((failed + 1)); continue; }
	rm -f "$dir.setup.log"
	if ! meson compile -C "$dir"; then
		failed=$((failed + 1))
		continue
	fi
	echo "==> $dir: test"
	rm -f "$dir/meson-logs/testlog.json"
	# Sanitizer findings fail the test that triggered them. Plugins stay
	# mapped until exit so that a leak names the library it comes from.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
	MOTCUA_DEBUG_NO_DLCLOSE=1 \
		meson test -C "$dir" --print-errorlogs --num-processes 2
	counts=$(python3 - "$dir/meson-logs/testlog.json" "$dir" <<'PY'
import json, sys
p = f = s = 0
try:
    for line in open(sys.argv[1]):
        t = json.loads(line)
        r = t["result"]
        # "motcua:unit+hardware / gpio": the suites before the slash
        suites = t["name"].split(" / ")[0].split(":", 1)[-1].split("+")
        if r in ("OK", "EXPECTEDFAIL"):
            p += 1
        elif r == "SKIP" and "hardware" in suites:
            s += 1
            print("skipped (hardware): %s" % t["name"], file=sys.stderr)
        else:
            f += 1
            if r == "SKIP":
                why = (t.get("stdout") or t.get("stderr") or "").strip().splitlines()
                print("FAIL %s: skipped, but not for hardware (%s): %s" % (
                    sys.argv[2], t["name"], why[-1] if why else "no reason given"), file=sys.stderr)
except OSError:
    f += 1
print(p, f, s)
PY
)
	set -- $counts
	passed=$((passed + $1)) failed=$((failed + $2)) skipped=$((skipped + $3))
	echo "==> $dir: $1 passed, $2 failed, $3 skipped for lack of hardware"
done
[ "$skipped" -gt 0 ] && echo "($skipped skipped for hardware this machine lacks)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
