#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks that a plugin exports exactly what the SDK allows: one function,
# motcua_plugin_entry (see MOTCUA_PLUGIN_ENTRY_SYMBOL in <motcua/plugin.h>).
#
#   check-plugin-symbols.sh [--nm NM] PLUGIN.so...
#
# Looks at the dynamic symbol table (`nm -D --defined-only`):
#  - function symbols (T/t, W, i) other than _init and _fini must be
#    motcua_plugin_entry, and it must be there;
#  - data symbols (D/B/R/G/S/V/C...) are also refused, except the ones the
#    linker itself defines (_edata, _end, __bss_start, ...); absolute symbols
#    (A: version nodes on some toolchains) are ignored.
# Exit status: 0 ok, 1 wrong exports, 77 (skip) when nm is not available.
set -u

NM=${NM:-nm}
if [ "${1:-}" = "--nm" ]; then
	NM=$2
	shift 2
fi
if [ $# -lt 1 ]; then
	echo "usage: $0 [--nm NM] PLUGIN.so..." >&2
	exit 2
fi
if ! command -v "$NM" >/dev/null 2>&1; then
	echo "$NM not found: skipping" >&2
	exit 77
fi

status=0
for plugin in "$@"; do
	if [ ! -f "$plugin" ]; then
		echo "$plugin: no such file" >&2
		status=1
		continue
	fi
	if ! syms=$("$NM" -D --defined-only "$plugin"); then
		echo "$plugin: $NM failed" >&2
		status=1
		continue
	fi
	echo "$plugin:"
	echo "$syms" | sed 's/^/    /'
	if ! echo "$syms" | awk -v plugin="$plugin" '
		NF < 2 { next }
		{
			type = $(NF - 1)
			name = $NF
			sub(/@.*/, "", name)           # strip symbol versions
		}
		type == "A" || type == "a" { next }   # absolute: version nodes
		name == "_init" || name == "_fini" { next }
		type ~ /^[TtWi]$/ {
			if (name == "motcua_plugin_entry") {
				entry++
			} else {
				printf "%s: exports function %s (type %s): plugins export only motcua_plugin_entry; build with -fvisibility=hidden or mark it static\n", plugin, name, type
				bad++
			}
			next
		}
		name == "_edata" || name == "_end" || name == "__bss_start" || name == "_DYNAMIC" ||
		name == "_GLOBAL_OFFSET_TABLE_" || name == "__dso_handle" || name == "_IO_stdin_used" { next }
		{
			printf "%s: exports data symbol %s (type %s): plugins export only motcua_plugin_entry\n", plugin, name, type
			bad++
		}
		END {
			if (entry != 1) {
				printf "%s: motcua_plugin_entry is exported %d times (want 1)\n", plugin, entry
				bad++
			}
			exit bad ? 1 : 0
		}
	' >&2; then
		status=1
	else
		echo "$plugin: ok, exports only motcua_plugin_entry"
	fi
done
exit $status
