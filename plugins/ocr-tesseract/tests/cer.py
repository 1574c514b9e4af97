#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Character error rate between a reference text and an OCR hypothesis.

CER = Levenshtein distance (insertions + deletions + substitutions, on Unicode
code points) / number of code points of the reference, after both texts are
normalised to NFC, form feeds are taken as whitespace, and every whitespace
run is collapsed to one space (leading and trailing whitespace dropped). So
line breaks and layout spacing do not count, letters and diacritics do.

As a program:  cer.py REFERENCE.txt HYPOTHESIS.txt   prints the CER (0..1+)
               [--json] prints {"cer":..,"distance":..,"length":..}
As a module:   from cer import cer, distance, normalize
"""

import json
import re
import sys
import unicodedata

_WS = re.compile(r"\s+")


def normalize(text):
    """NFC, whitespace runs collapsed to one space, ends stripped."""
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def distance(a, b):
    """Levenshtein distance between two sequences (O(len(a)*len(b)) time,
    O(min) memory)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer_details(reference, hypothesis):
    ref, hyp = normalize(reference), normalize(hypothesis)
    d = distance(ref, hyp)
    n = len(ref)
    return {"cer": (d / n) if n else float(bool(hyp)), "distance": d, "length": n}


def cer(reference, hypothesis):
    """CER of hypothesis against reference (strings)."""
    return cer_details(reference, hypothesis)["cer"]


def main(argv):
    args = [a for a in argv if a != "--json"]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        ref = f.read()
    with open(args[1], encoding="utf-8") as f:
        hyp = f.read()
    d = cer_details(ref, hyp)
    if "--json" in argv:
        print(json.dumps(d))
    else:
        print(f"{d['cer']:.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
