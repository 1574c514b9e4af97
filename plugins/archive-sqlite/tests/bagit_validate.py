#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""An independent BagIt validator (RFC 8493), standard library only.

    bagit_validate.py [--require-tag LABEL]... BAG...

Written from the RFC, sharing nothing with the C exporter, because Debian 12
packages no BagIt validator (no python3-bagit) and the npm `bagit` package
needs the network at install time. It checks that each bag is *complete*
(RFC 8493 section 3: bagit.txt, data/, at least one payload manifest, every
payload file in every manifest and every manifest entry present, no
fetch.txt left to fetch) and *valid* (every checksum in every payload and
tag manifest matches, the Payload-Oxum matches). It also checks the forms of
section 2: the bagit.txt lines, manifest lines and paths (relative, under
data/ for payload manifests, percent-encoding of CR, LF and %), bag-info.txt
labels and continuation lines, and Bagging-Date.

Exits 0 when every bag is valid, 1 otherwise, listing every problem.
"""
import hashlib
import os
import re
import sys
import unicodedata

ALGS = {"md5", "sha1", "sha256", "sha512"}


def decode_path(p):
    # section 2.1.3: CR, LF and % in file names are percent-encoded
    return p.replace("%0D", "\r").replace("%0d", "\r").replace("%0A", "\n").replace("%0a", "\n").replace("%25", "%")


def read_lines(path, problems, what):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(f"{what} is not UTF-8")
        return []
    if text.startswith("\ufeff"):
        problems.append(f"{what} starts with a byte-order mark")
    lines = re.split(r"\r\n|\r|\n", text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def digest(path, alg):
    h = hashlib.new(alg)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(bag, name, problems, payload):
    entries = {}
    for n, line in enumerate(read_lines(os.path.join(bag, name), problems, name), 1):
        m = re.match(r"^([0-9A-Fa-f]+)[ \t]+(.+)$", line)
        if not m:
            problems.append(f"{name} line {n}: not 'checksum filepath'")
            continue
        path = decode_path(m.group(2))
        if path.startswith("/") or path.startswith("*") or ".." in path.split("/") or "\\" in path:
            problems.append(f"{name} line {n}: path {path!r} is not a relative path inside the bag")
            continue
        if payload and not path.startswith("data/"):
            problems.append(f"{name} line {n}: payload path {path!r} is not under data/")
        if not payload and path.startswith("data/"):
            problems.append(f"{name} line {n}: a tag manifest lists payload file {path!r}")
        if path in entries:
            problems.append(f"{name} line {n}: {path!r} is listed twice")
        entries[path] = m.group(1).lower()
    return entries


def read_bag_info(bag, problems):
    info = []
    path = os.path.join(bag, "bag-info.txt")
    if not os.path.exists(path):
        return info
    for n, line in enumerate(read_lines(path, problems, "bag-info.txt"), 1):
        if line[:1] in (" ", "\t"):
            if not info:
                problems.append(f"bag-info.txt line {n}: a continuation line without a label before it")
            else:
                info[-1] = (info[-1][0], info[-1][1] + " " + line.strip())
            continue
        m = re.match(r"^([^:\s][^:]*?)\s*:\s?(.*)$", line)
        if not m:
            problems.append(f"bag-info.txt line {n}: not 'Label: value'")
            continue
        info.append((m.group(1), m.group(2)))
    return info


def validate(bag, require_tags=()):
    problems = []
    if not os.path.isdir(bag):
        return [f"{bag} is not a folder"]
    # 2.1.1 bagit.txt
    bt = os.path.join(bag, "bagit.txt")
    if not os.path.isfile(bt):
        problems.append("bagit.txt is missing")
    else:
        lines = read_lines(bt, problems, "bagit.txt")
        if len(lines) != 2 or not re.fullmatch(r"BagIt-Version: [0-9]+\.[0-9]+", lines[0]) \
                or not re.fullmatch(r"Tag-File-Character-Encoding: \S+", lines[1]):
            problems.append(f"bagit.txt must be exactly the version and encoding lines, has {lines!r}")
    # 2.1.2 payload directory
    data = os.path.join(bag, "data")
    if not os.path.isdir(data):
        problems.append("data/ is missing")
    if os.path.exists(os.path.join(bag, "fetch.txt")):
        problems.append("fetch.txt is present: the bag is not complete")
    names = os.listdir(bag)
    manifests = [n for n in names if re.fullmatch(r"manifest-[a-z0-9]+\.txt", n)]
    tagmanifests = [n for n in names if re.fullmatch(r"tagmanifest-[a-z0-9]+\.txt", n)]
    if not manifests:
        problems.append("no payload manifest (manifest-<algorithm>.txt)")
    # the payload as found on disk
    found = set()
    octets = 0
    for dirpath, dirnames, filenames in os.walk(data):
        for fn in filenames:
            full = os.path.join(dirpath, fn)
            rel = os.path.relpath(full, bag).replace(os.sep, "/")
            found.add(unicodedata.normalize("NFC", rel))
            octets += os.path.getsize(full)
    # 2.1.3 payload manifests
    for man in manifests:
        alg = man[len("manifest-"):-4]
        if alg not in ALGS:
            problems.append(f"{man}: unknown algorithm {alg}")
            continue
        entries = read_manifest(bag, man, problems, True)
        listed = {unicodedata.normalize("NFC", p) for p in entries}
        for p in sorted(found - listed):
            problems.append(f"{man}: payload file {p} is not listed")
        for p, h in sorted(entries.items()):
            full = os.path.join(bag, p)
            if not os.path.isfile(full):
                problems.append(f"{man}: {p} is listed but missing")
            elif digest(full, alg) != h:
                problems.append(f"{man}: {p} does not match its {alg} checksum")
    # 2.2.1 tag manifests
    for man in tagmanifests:
        alg = man[len("tagmanifest-"):-4]
        if alg not in ALGS:
            problems.append(f"{man}: unknown algorithm {alg}")
            continue
        entries = read_manifest(bag, man, problems, False)
        for p, h in sorted(entries.items()):
            full = os.path.join(bag, p)
            if not os.path.isfile(full):
                problems.append(f"{man}: tag file {p} is listed but missing")
            elif digest(full, alg) != h:
                problems.append(f"{man}: tag file {p} does not match its {alg} checksum")
    # 2.2.2 bag-info.txt
    info = read_bag_info(bag, problems)
    labels = {}
    for k, v in info:
        labels.setdefault(k, []).append(v)
    for k in ("Payload-Oxum", "Bagging-Date"):
        if len(labels.get(k, [])) > 1:
            problems.append(f"bag-info.txt: {k} appears more than once")
    if "Payload-Oxum" in labels:
        m = re.fullmatch(r"([0-9]+)\.([0-9]+)", labels["Payload-Oxum"][0])
        if not m:
            problems.append("bag-info.txt: Payload-Oxum is not OCTETS.STREAMS")
        elif (int(m.group(1)), int(m.group(2))) != (octets, len(found)):
            problems.append(f"bag-info.txt: Payload-Oxum {labels['Payload-Oxum'][0]} but the payload is "
                            f"{octets}.{len(found)}")
    if "Bagging-Date" in labels and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", labels["Bagging-Date"][0]):
        problems.append("bag-info.txt: Bagging-Date is not YYYY-MM-DD")
    for t in require_tags:
        if t not in labels:
            problems.append(f"bag-info.txt: {t} is missing")
    return problems


def main(argv):
    require = []
    bags = []
    i = 0
    while i < len(argv):
        if argv[i] == "--require-tag" and i + 1 < len(argv):
            require.append(argv[i + 1])
            i += 2
            continue
        bags.append(argv[i])
        i += 1
    if not bags:
        print(__doc__, file=sys.stderr)
        return 2
    bad = 0
    for bag in bags:
        problems = validate(bag, require)
        if problems:
            bad += 1
            print(f"{bag}: NOT valid", file=sys.stderr)
            for p in problems:
                print(f"  {p}", file=sys.stderr)
        else:
            print(f"{bag}: valid")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
