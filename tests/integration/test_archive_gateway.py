# SPDX-License-Identifier: MIT
"""The whole way of a paper in the running gateway with the real plugins: a
citizen's form (an image) is recognized (ocr-tesseract), signed
(sign-openssl, PAdES) and archived (archive-sqlite); the archive finds it by
words typed without diacritics, lists it under the citizen, lends it to the
citizen's next dossier without a new scan (reuse), proves it intact
(`motcua archive verify`, POST /api/v1/archive/verify), notices a flipped
byte, and exports the dossier as a BagIt package an independent validator
accepts; the archived signed PDF passes `motcua verify` and pdfsig."""
import json
import os
import subprocess
import urllib.parse

from gwtest import Gateway, run, CLI, SOURCE_ROOT
import gwtest  # noqa: E402

# These tests expect documents to go on to signing and archiving by
# themselves: without the clerk's review (test_review.py has it).
gwtest.REVIEW = False

SIGN_TESTS = os.path.join(SOURCE_ROOT, "plugins", "sign-openssl", "tests")
BAGIT = os.path.join(SOURCE_ROOT, "plugins", "archive-sqlite", "tests", "bagit_validate.py")
FORM = os.path.join(SOURCE_ROOT, "tests", "data", "demo-to-khai.png")
CITIZEN = "048076039317"  # the form's "Số định danh cá nhân"


def gateway(tmp):
    d = os.path.join(tmp, "pki")
    subprocess.run(["sh", os.path.join(SIGN_TESTS, "make-ca.sh"), d], check=True, capture_output=True)
    plugins = ("[ocr-tesseract]\nenabled = true\n"
               "[sign-openssl]\nenabled = true\nkey = %s/rsa.key\ncert = %s/rsa.pem\ntrust = %s/ca.pem\n"
               "[archive-sqlite]\nenabled = true\nretention_years = 10\n" % (d, d, d))
    return Gateway(tmp, plugins=plugins).start(), d


def search(g, **q):
    r = g.get("/api/v1/archive/search?" + urllib.parse.urlencode(q))
    assert r.status == 200, r
    return r.json()


def test_capture_sign_archive_reuse(tmp):
    g, pki = gateway(tmp)
    first = g.create_dossier(name="Hồ Công Hùng", id_number=CITIZEN)["code"]
    r = g.post("/api/v1/dossiers/%s/documents?name=to-khai.png&type=to-khai" % first, open(FORM, "rb").read(),
               headers={"Content-Type": "image/png"})
    assert r.status == 202, r
    doc = g.wait_document(first, r.json()["id"], timeout=120)
    assert doc["state"] == "done", doc
    steps = {s["step"]: s["state"] for s in doc["steps"]}
    assert steps == {"capture": "done", "recognize": "done", "sign": "done", "archive": "done"}, steps
    assert doc["signature"]["format"] == "PAdES", doc
    item_id = doc["archive"]["id"]

    # found by words with or without diacritics, filtered by citizen and procedure
    for words in ("da nang", "Đà Nẵng", "hai chau", "phuong", "HO CONG HUNG"):
        res = search(g, q=words)
        assert [i["id"] for i in res["items"]] == [item_id], (words, res)
    hit = search(g, q="dang ky khai sinh", id_number=CITIZEN, procedure="1.001234")["items"][0]
    assert hit["dossier_code"] == first and hit["document_type"] == "to-khai", hit
    assert hit["signature"]["format"] == "PAdES" and "path" not in hit, hit
    assert search(g, q="da nang", id_number="001203004567")["total"] == 0
    assert search(g, q="khong co chu nay")["total"] == 0

    # the archived signed PDF: intact for us and for poppler
    pdf = os.path.join(tmp, "archived.pdf")
    content = g.get("/api/v1/archive/items/%s/content" % item_id)
    assert content.status == 200 and content.headers["Content-Type"] == "application/pdf", content
    open(pdf, "wb").write(content.body)
    v = subprocess.run([CLI, "verify", pdf, "--trust", pki + "/ca.pem"], capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
    p = subprocess.run(["pdfsig", pdf], capture_output=True, text=True)
    assert "Signature is Valid" in p.stdout and "Total document signed" in p.stdout, p.stdout

    # the citizen's next dossier reuses the form: no new scan, no new copy
    listed = g.get("/api/v1/archive/applicants/%s/documents" % CITIZEN).json()
    assert [i["id"] for i in listed["items"]] == [item_id], listed
    second = g.create_dossier(name="Hồ Công Hùng", id_number=CITIZEN, procedure="1.000656")["code"]
    r = g.post("/api/v1/dossiers/%s/documents" % second, {"reuse": item_id})
    assert r.status == 202, r
    again = g.wait_document(second, r.json()["id"])
    assert again["state"] == "done" and again["reused_from"] == item_id, again
    assert again["archive"]["id"] == item_id and again["archive"]["reused"] is True, again
    assert again["current_sha256"] == doc["current_sha256"], again
    other = g.create_dossier(name="Lê Văn Tám", id_number="079088001234")["code"]
    assert g.post("/api/v1/dossiers/%s/documents" % other, {"reuse": item_id}).status == 409

    # fixity: intact, then one flipped byte in an archived file is named
    ok = g.cli("archive", "verify")
    assert ok.returncode == 0, ok.stdout
    rv = g.post("/api/v1/archive/verify", {}, token="supervisor").json()
    assert rv["ok"] is True and rv["chain"]["ok"] is True, rv

    # export: a BagIt package an independent validator accepts
    out = os.path.join(tmp, "export")
    os.makedirs(out)
    g.cli("archive", "export", first, out)
    bags = [os.path.join(out, b) for b in os.listdir(out)]
    assert len(bags) == 1 and os.path.basename(bags[0]) == first, bags
    val = subprocess.run(["/usr/bin/python3", BAGIT, bags[0]], capture_output=True, text=True)
    assert val.returncode == 0, val.stdout + val.stderr
    meta = json.load(open(os.path.join(bags[0], "data", "metadata.json"), encoding="utf-8"))
    assert first in json.dumps(meta, ensure_ascii=False), meta

    blobs = os.path.join(g.data, "archive-sqlite", "blobs")
    sha = doc["current_sha256"]
    blob = os.path.join(blobs, sha[:2], sha)
    data = bytearray(open(blob, "rb").read())
    data[len(data) // 2] ^= 0x01
    os.chmod(blob, 0o644)
    open(blob, "wb").write(bytes(data))
    bad = g.cli("archive", "verify", check=False)
    assert bad.returncode != 0 and item_id in bad.stdout.decode() + bad.stderr.decode(), bad
    rv = g.post("/api/v1/archive/verify", {}, token="supervisor").json()
    assert rv["ok"] is False and rv["changed"], rv
    g.stop()


if __name__ == "__main__":
    run(globals())
