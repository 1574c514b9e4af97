#!/bin/sh
# Builds motcua and runs the whole test suite twice: in the normal build and in
# an AddressSanitizer/UndefinedBehaviorSanitizer build. Installs what it needs
# first. The last line is the count: "N passed, N failed".
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
	if [ ! -f "$dir/build.ninja" ]; then
		# shellcheck disable=SC2086
		meson setup "$dir" $opts >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; failed=$((failed + 1)); continue; }
		rm -f "$dir.setup.log"
	fi
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
	counts=$(python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
try:
    for line in open(sys.argv[1]):
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            p += 1
        elif r == "SKIP":
            s += 1
        else:
            f += 1
except OSError:
    f += 1
print(p, f, s)
PY
)
	set -- $counts
	passed=$((passed + $1)) failed=$((failed + $2)) skipped=$((skipped + $3))
	echo "==> $dir: $1 passed, $2 failed, $3 skipped"
done
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
