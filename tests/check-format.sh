#!/bin/sh
# The tree's C is formatted by the checked-in .clang-format: lists the files
# that are not (with the first differences) and fails. To fix them:
#   clang-format -i $(git ls-files '*.c' '*.h' '*.cpp')
set -eu
cd "$1"
cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null 2>&1; then
	echo "FAIL: $cf is not installed (packaging/install-deps.sh test installs it)" >&2
	exit 1
fi
if [ -d .git ] || git rev-parse --git-dir >/dev/null 2>&1; then
	files=$(git ls-files '*.c' '*.h' '*.cpp')
else
	files=$(find gateway plugins station hw tests -name '*.[ch]' -o -name '*.cpp')
fi
bad=0
for f in $files; do
	if ! "$cf" --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f" >&2
		"$cf" "$f" | diff -u "$f" - | head -20 >&2 || true
		bad=$((bad + 1))
	fi
done
n=$(echo "$files" | wc -w)
echo "$n files checked, $bad not formatted"
[ "$bad" -eq 0 ]
