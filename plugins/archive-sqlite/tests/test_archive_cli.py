#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""`motcua archive verify|export|search|disposal` through archive-cli-main
(the CLI function the `motcua` tool calls), on a small archive it makes:
exit codes, output naming bad items, the BagIt export checked by the
independent validator, and the audit chain recomputed with the sqlite3 CLI
and sha256sum as README.md tells an auditor to."""
import os
import shutil
import subprocess
import sys
import tempfile

cli = sys.argv[1]
validator = os.environ["ARCHIVE_BAGIT_VALIDATOR"]
sqlite3 = os.environ.get("ARCHIVE_SQLITE3") or shutil.which("sqlite3")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(*args):
    p = subprocess.run([cli, archive] + list(args), capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def sql(q):
    return subprocess.run([sqlite3, "-separator", "|", os.path.join(archive, "archive.db"), q],
                          capture_output=True, text=True, check=True).stdout


tmp = tempfile.mkdtemp(prefix="archive-cli-", dir=os.environ.get("TMPDIR"))
archive = os.path.join(tmp, "archive")
files = os.path.join(tmp, "files")
os.mkdir(files)
rc, out, err = run("--fixture", files)
assert rc == 0, err

rc, out, err = run("verify")
check(rc == 0 and "intact" in out, f"verify of an intact archive: {rc} {out} {err}")
items = sql("SELECT id FROM items ORDER BY n").split()
check(len(items) == 3, f"three items: {items}")

# the auditor's recomputation, as README.md describes it
if sqlite3 and shutil.which("sha256sum"):
    rows = sql("SELECT seq, prev_hash, hash FROM audit ORDER BY seq").splitlines()
    prev = "0" * 64
    for row in rows:
        seq, prev_hash, h = row.split("|")
        line = subprocess.run(f"{sqlite3} -separator '|' {archive}/archive.db "
                              f"\"SELECT prev_hash, seq, at, action, item_id, detail FROM audit WHERE seq = {seq}\""
                              " | sha256sum", shell=True, capture_output=True, text=True).stdout.split()[0]
        check(line == h, f"audit entry {seq}: sha256sum gives {line}, the row says {h}")
        check(prev_hash == prev, f"audit entry {seq} does not chain")
        prev = h
    check(len(rows) == 3, f"three audit entries: {rows}")
else:
    check(False, "sqlite3 and sha256sum are needed to recompute the chain")

# search
rc, out, err = run("search", "nguyen")
check(rc == 0 and "2 found" in out and "[Nguyễn]" in out, f"search nguyen: {out} {err}")
rc, out, err = run("search", "duong")
check(rc == 0 and "1 found" in out and items[0] in out, f"search duong: {out} {err}")
rc, out, err = run("search", "--id-number", "079088001111", "dong")
check(rc == 0 and "2 found" in out, f"search with id number: {out} {err}")
rc, out, err = run("search", "--from", "2025-03-01", "--to", "2025-03-01")
check(rc == 0 and "1 found" in out and items[1] in out, f"search one day: {out} {err}")
rc, out, err = run("search", "--json", "--procedure", "1.001193", "ĐÔNG")
check(rc == 0 and '"total": 2' in out, f"search --json: {out} {err}")
rc, out, err = run("search", "--from", "2025-13-01", "x")
check(rc == 2 and "YYYY-MM-DD" in err, f"bad date: {rc} {err}")
rc, out, err = run("search", '"', "NEAR(", "*", "AND")
check(rc == 0, f"odd words: {rc} {err}")

# disposal: the 2010 item is past its ten years, and still there
rc, out, err = run("disposal")
check(rc == 0 and items[0] in out and items[1] not in out, f"disposal: {out} {err}")

# export
outdir = os.path.join(tmp, "out")
os.mkdir(outdir)
rc, out, err = run("export", "000.00.12.H50-250301-0002", outdir)
bag = os.path.join(outdir, "000.00.12.H50-250301-0002")
check(rc == 0 and out.strip() == bag, f"export: {rc} {out} {err}")
v = subprocess.run([sys.executable, validator, "--require-tag", "External-Identifier", bag], capture_output=True, text=True)
check(v.returncode == 0, f"validator: {v.stdout} {v.stderr}")
rc, out, err = run("export", "000.00.12.H50-250301-0002", outdir)
check(rc == 1 and "exists" in err, f"export twice: {rc} {err}")
rc, out, err = run("export", "NO-SUCH-DOSSIER", outdir)
check(rc == 1 and "no archived item" in err, f"export of nothing: {rc} {err}")
check(not [n for n in os.listdir(outdir) if n.startswith(".tmp")], "a temp folder was left")

# tampering, one kind at a time; verify names the item and exits 1
n_audit = sql("SELECT count(*) FROM audit").strip()
blob = sql(f"SELECT sha256 FROM items WHERE id = '{items[1]}'").strip()
blob_path = os.path.join(archive, "blobs", blob[:2], blob)
data = open(blob_path, "rb").read()
with open(blob_path, "r+b") as f:
    f.seek(5)
    f.write(bytes([data[5] ^ 0x20]))
rc, out, err = run("verify")
check(rc == 1 and "CHANGED" in out and items[1] in out, f"flipped byte: {rc} {out}")
os.rename(blob_path, blob_path + ".gone")
rc, out, err = run("verify")
check(rc == 1 and "MISSING" in out and items[1] in out, f"missing blob: {rc} {out}")
os.rename(blob_path + ".gone", blob_path)
with open(blob_path, "wb") as f:
    f.write(data)
with open(os.path.join(archive, "blobs", blob[:2], "0" * 64), "w") as f:
    f.write("stray")
rc, out, err = run("verify")
check(rc == 1 and "UNEXPECTED" in out, f"unexpected file: {rc} {out}")
os.unlink(os.path.join(archive, "blobs", blob[:2], "0" * 64))
rc, out, err = run("verify")
check(rc == 0, f"intact again: {rc} {out}")
check(sql("SELECT count(*) FROM audit").strip() == n_audit, "verify from the CLI wrote to the audit log")
if sqlite3:
    sql("DROP TRIGGER audit_no_update; UPDATE audit SET detail = replace(detail, '001099012345', '001099099999')"
        f" WHERE item_id = '{items[1]}'")
    rc, out, err = run("verify")
    check(rc == 1 and "AUDIT item " + items[1] in out and "BROKEN" in out, f"edited audit row: {rc} {out}")

# usage
check(run("verify", "extra")[0] == 2, "verify with an argument")
check(run("frobnicate")[0] == 2, "unknown command")
check(run("export", "ONLY-CODE")[0] == 2, "export without DIR")
p = subprocess.run([cli, os.path.join(tmp, "nothing"), "verify"], capture_output=True, text=True)
check(p.returncode == 1 and "not an archive" in p.stderr, f"verify of no archive: {p.returncode} {p.stderr}")

if not failures:
    shutil.rmtree(tmp)
print("ok" if not failures else f"{len(failures)} checks failed", file=sys.stderr)
sys.exit(1 if failures else 0)
