#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes a C file holding a file's bytes as a NUL-terminated array:
   embed.py INPUT OUTPUT.c SYMBOL   (run by meson; the page is rebuilt in)"""
import sys

data = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "w") as out:
    out.write("/* generated from %s by embed.py: do not edit */\n" % sys.argv[1].rsplit("/", 1)[-1])
    out.write("extern const char %s[];\nconst char %s[] = {\n" % (sys.argv[3], sys.argv[3]))
    # char may be signed: bytes above 127 are written as the negative values
    # they have there, so that no conversion overflows
    for i in range(0, len(data), 16):
        out.write("".join("%d," % (b - 256 if b > 127 else b) for b in data[i:i + 16]) + "\n")
    out.write("0};\n")
