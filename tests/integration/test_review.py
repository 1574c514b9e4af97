# SPDX-License-Identifier: MIT
"""The review gate with the real parts: SANE's `test` and `pnm` backends
through scan-sane, Tesseract with `vie` through ocr-tesseract, the PDFs
checked with qpdf, pdfinfo and pdftotext. With [station] review on (the
default) a received document waits after recognition in state "review";
the clerk turns, deletes, orders and rescans pages, then confirms it, and
only then is it signed and archived."""
import json
import os
import re
import sqlite3
import struct
import subprocess
import sys

from gwtest import SOURCE_ROOT, Gateway, run, sample_pdf, sane_config

OCR_TESTS = os.path.join(SOURCE_ROOT, "plugins", "ocr-tesseract", "tests")
sys.path.insert(0, OCR_TESTS)

REVIEW_STATES = ("review", "done", "failed")


def make_page(tmp, seed, *extra):
    """One generated Vietnamese form page (A4, 300 dpi) and its ID number."""
    out = os.path.join(tmp, "pages-%d" % seed)
    subprocess.run(["/usr/bin/python3", os.path.join(OCR_TESTS, "make_pages.py"), "--out", out,
                    "--count", "1", "--seed", str(seed), *extra], check=True, capture_output=True)
    png = os.path.join(out, "page-001.png")
    truth = open(png[:-4] + ".txt", encoding="utf-8").read()
    ids = [l.split(": ")[1] for l in truth.splitlines() if l.startswith("Số định danh cá nhân")]
    return png, ids[0]


def to_pnm(png, pnm):
    from PIL import Image  # Debian's python3-pil, as make_pages uses
    Image.open(png).convert("L").save(pnm)


def gateway(tmp, device, review=None, extra=""):
    sane = sane_config(tmp)
    scan = "[scan-sane]\nenabled = true\nmode = gray\n" + device
    return Gateway(tmp, workers=2, env={"SANE_CONFIG_DIR": sane}, review=review,
                   plugins="%s\n[ocr-tesseract]\nenabled = true\n%s" % (scan, extra)).start()


# the test backend's feeder: landscape grid pages (no text: OCR leaves their
# orientation alone, so a turn by the clerk shows in the PDF)
FEEDER = ("device = test\nsource = adf\nresolution = 200\nmax_pages = %d\npage_size = 120x60\n"
          "device_options = test-picture=Grid\n")


def pnm_device(pnm):
    return ("device = pnm:0\nsource = flatbed\nresolution = 300\ndevice_options = filename=%s\n"
            % pnm)


def doc_path(code, doc_id, rest=""):
    return "/api/v1/dossiers/%s/documents/%s%s" % (code, doc_id, rest)


def pdf_pages(g, code, doc_id, tmp):
    """The document's PDF: its page sizes (w, h in points) and each page's text."""
    data = g.get(doc_path(code, doc_id, "/content")).body
    f = os.path.join(tmp, "doc.pdf")
    with open(f, "wb") as fh:
        fh.write(data)
    subprocess.run(["qpdf", "--check", f], check=True, capture_output=True)
    n = int(subprocess.run(["qpdf", "--show-npages", f], check=True, capture_output=True,
                           text=True).stdout)
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", str(n), f], check=True,
                          capture_output=True, text=True).stdout
    sizes = [(float(w), float(h)) for w, h in
             re.findall(r"Page +\d+ size: +([\d.]+) x ([\d.]+) pts", info)]
    assert len(sizes) == n, info
    texts = [subprocess.run(["pdftotext", "-f", str(i), "-l", str(i), f, "-"], check=True,
                            capture_output=True, text=True).stdout for i in range(1, n + 1)]
    return sizes, texts


def edit(g, method, code, doc_id, rest, body=None):
    return g.request(method, doc_path(code, doc_id, rest), body=body)


def events(g, doc_id):
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    try:
        return [t for t, p in db.execute("SELECT type, payload FROM events ORDER BY id")
                if doc_id in p]
    finally:
        db.close()


def test_scan_waits_for_review_and_is_signed_only_after_confirm(tmp):
    g = gateway(tmp, FEEDER % 3)
    code = g.create_dossier()["code"]
    r = g.post("/api/v1/dossiers/%s/scan" % code, {})
    assert r.status == 202, r
    doc_id = r.json()["id"]
    d = g.wait_document(code, doc_id, timeout=120, states=REVIEW_STATES)
    assert d["state"] == "review", d
    assert d["review"]["required"] and d["review"]["confirmed_at"] is None, d["review"]
    steps = {s["step"]: s["state"] for s in d["steps"]}
    assert steps == {"capture": "done", "recognize": "done", "sign": "pending",
                     "archive": "pending"}, steps
    # every page says how well it was read, for the page strip
    assert len(d["pages"]) == 3
    for p in d["pages"]:
        assert isinstance(p["confidence"], (int, float)) and isinstance(p["low_confidence"], bool), p
    assert d["current_media_type"] == "application/pdf"
    ev = events(g, doc_id)
    assert "document.review" in ev and not any(e.startswith("document.done") for e in ev), ev
    # the event names the pages to check (those read with low confidence)
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    (payload,), = db.execute("SELECT payload FROM events WHERE type = 'document.review'").fetchall()
    db.close()
    payload = json.loads(payload)
    assert payload["pages"] == 3, payload
    assert payload["low_confidence_pages"] == [p["page"] for p in d["pages"] if p["low_confidence"]], \
        (payload, d["pages"])
    # nothing moves on by itself
    g.stop()
    g.start()
    d = g.get(doc_path(code, doc_id)).json()
    assert d["state"] == "review" and d["steps"][2]["state"] == "pending", d
    # the thumbnail: a small PNG, made once and then served from the store
    t = g.get(doc_path(code, doc_id, "/pages/2/thumb"))
    assert t.status == 200 and t.headers["Content-Type"] == "image/png", t
    assert t.body[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", t.body[16:24])
    assert 0 < w <= 200 and h > 0 and w > h, (w, h)  # landscape, as scanned
    assert g.get(doc_path(code, doc_id, "/pages/2/thumb")).body == t.body
    # the clerk confirms: signed and archived next (the steps run or are skipped)
    assert g.confirm(code, doc_id)["state"] == "queued"
    d = g.wait_document(code, doc_id, timeout=60)
    assert d["state"] == "done", d
    assert d["review"]["confirmed_by"] == "test clerk", d["review"]
    ev = events(g, doc_id)
    assert ev.index("document.confirmed") < ev.index("document.done"), ev
    # once confirmed, no edit any more
    for method, rest, body in (("POST", "/pages/1/rotate", {"degrees": 90}),
                               ("DELETE", "/pages/1", None), ("POST", "/confirm", {})):
        r = edit(g, method, code, doc_id, rest, body)
        assert r.status == 409 and r.json()["error"] == "not_in_review", (rest, r)
    r = g.post("/api/v1/dossiers/%s/scan" % code, {"replace_page": 1, "document": doc_id})
    assert r.status == 409, r


def test_edits_change_the_pdf_and_text_and_survive_a_restart(tmp):
    # a feeder batch of 4 grid pages, then pages 1-3 scanned again from text
    # pages on the pnm device (the same data folder, another scanner)
    g = gateway(tmp, FEEDER % 4)
    code = g.create_dossier()["code"]
    doc_id = g.post("/api/v1/dossiers/%s/scan" % code, {}).json()["id"]
    d = g.wait_document(code, doc_id, timeout=120, states=REVIEW_STATES)
    assert d["state"] == "review" and len(d["pages"]) == 4, d
    sizes, _ = pdf_pages(g, code, doc_id, tmp)
    assert all(w > h for w, h in sizes), sizes  # landscape
    # turn page 4: its image and the PDF's page turn, the page is read again
    r = edit(g, "POST", code, doc_id, "/pages/4/rotate", {"degrees": 90})
    assert r.status == 200 and r.json()["pages"][3]["rotation"] == 90, r
    d = g.wait_document(code, doc_id, timeout=120, states=REVIEW_STATES)
    assert d["state"] == "review", d
    sizes, _ = pdf_pages(g, code, doc_id, tmp)
    assert len(sizes) == 4 and sizes[3][0] < sizes[3][1] and sizes[0][0] > sizes[0][1], sizes
    g.stop()

    pnm = os.path.join(tmp, "page.pnm")
    ids = []
    g = gateway(tmp, pnm_device(pnm))
    # the restart kept the review and the turn
    d = g.get(doc_path(code, doc_id)).json()
    assert d["state"] == "review" and d["pages"][3]["rotation"] == 90, d
    for n, seed in ((1, 41), (2, 42), (3, 43)):
        png, id_number = make_page(tmp, seed)
        to_pnm(png, pnm)
        ids.append(id_number)
        r = g.post("/api/v1/dossiers/%s/scan" % code, {"replace_page": n, "document": doc_id})
        assert r.status == 202 and r.json()["replace_page"] == n, r
        d = g.wait_document(code, doc_id, timeout=180, states=REVIEW_STATES)
        assert d["state"] == "review", d
    assert len(d["pages"]) == 4, d["pages"]
    sizes, texts = pdf_pages(g, code, doc_id, tmp)
    assert len(sizes) == 4 and all(h > w for w, h in sizes), sizes  # A4 portrait, page 4 turned
    for i in range(3):
        assert ids[i] in texts[i], (i, ids, texts[i][:300])
        assert ids[i] in d["text"]
    assert "document.edited" in events(g, doc_id)

    # delete page 2: the PDF and the text lose it, the later pages move up
    r = edit(g, "DELETE", code, doc_id, "/pages/2")
    assert r.status == 200 and len(r.json()["pages"]) == 3, r
    # a crash right after the edit loses nothing
    g.kill9()
    g.start()
    d = g.wait_document(code, doc_id, timeout=120, states=REVIEW_STATES)
    assert d["state"] == "review" and len(d["pages"]) == 3, d
    sizes, texts = pdf_pages(g, code, doc_id, tmp)
    assert len(sizes) == 3, sizes
    assert ids[0] in texts[0] and ids[2] in texts[1] and ids[1] not in "".join(texts), texts
    assert ids[1] not in d["text"] and ids[0] in d["text"] and ids[2] in d["text"]

    # refused, and nothing changed
    for method, rest, body, status in (
            ("POST", "/pages/0/rotate", {"degrees": 90}, 400),
            ("POST", "/pages/x/rotate", {"degrees": 90}, 400),
            ("POST", "/pages/4/rotate", {"degrees": 90}, 404),
            ("POST", "/pages/1/rotate", {"degrees": 45}, 400),
            ("POST", "/pages/1/rotate", {"degrees": 90, "x": 1}, 400),
            ("DELETE", "/pages/9", None, 404),
            ("POST", "/confirm", {"order": [1, 1, 2]}, 400),
            ("POST", "/confirm", {"order": [1, 2]}, 400),
            ("POST", "/confirm", {"order": [3, 2, 4]}, 400),
            ("POST", "/confirm", {"order": "3,2,1"}, 400)):
        r = edit(g, method, code, doc_id, rest, body)
        assert r.status == status, (rest, body, r)
    r = g.post("/api/v1/dossiers/%s/scan" % code, {"replace_page": 7, "document": doc_id})
    assert r.status == 404, r
    r = g.post("/api/v1/dossiers/%s/scan" % code, {"replace_page": 1})
    assert r.status == 400, r
    assert g.get(doc_path(code, doc_id)).json()["state"] == "review"

    # confirm with an order: the PDF's pages (and the text) in that order,
    # then signed and archived without stopping again
    g.confirm(code, doc_id, order=[2, 3, 1])
    d = g.wait_document(code, doc_id, timeout=120)
    assert d["state"] == "done", d
    sizes, texts = pdf_pages(g, code, doc_id, tmp)
    assert len(sizes) == 3
    assert ids[2] in texts[0] and ids[0] in texts[2], texts
    assert sizes[1][0] < sizes[1][1]  # the turned grid page, now second
    assert d["text"].index(ids[2]) < d["text"].index(ids[0])
    assert events(g, doc_id).count("document.review") >= 2


def test_a_page_that_cannot_be_read_goes_back_to_the_clerk(tmp):
    """Under review a scanned page that could not be recognized does not
    fail the document: it waits for the clerk, who scans the page again or
    deletes it; it cannot be confirmed before."""
    g = gateway(tmp, FEEDER % 2, extra="max_page_pixels = 1e5\n")  # the grid pages are larger
    code = g.create_dossier()["code"]
    doc_id = g.post("/api/v1/dossiers/%s/scan" % code, {}).json()["id"]
    d = g.wait_document(code, doc_id, timeout=120, states=REVIEW_STATES)
    assert d["state"] == "review" and [p["state"] for p in d["pages"]] == ["failed"] * 2, d
    assert "max_page_pixels" in d["pages"][0]["message"], d["pages"]
    r = edit(g, "POST", code, doc_id, "/confirm", {})
    assert r.status == 409 and r.json()["error"] == "page_failed", r
    g.stop()
    pnm = os.path.join(tmp, "page.pnm")
    png, id_number = make_page(tmp, 51)
    to_pnm(png, pnm)
    g = gateway(tmp, pnm_device(pnm))
    assert g.get(doc_path(code, doc_id)).json()["state"] == "review"
    r = g.post("/api/v1/dossiers/%s/scan" % code, {"replace_page": 1, "document": doc_id})
    assert r.status == 202, r
    d = g.wait_document(code, doc_id, timeout=120, states=REVIEW_STATES)
    assert d["state"] == "review" and [p["state"] for p in d["pages"]] == ["done", "failed"], d
    assert edit(g, "POST", code, doc_id, "/confirm", {}).status == 409
    assert edit(g, "DELETE", code, doc_id, "/pages/2").status == 200
    d = g.wait_document(code, doc_id, timeout=120, states=REVIEW_STATES)
    assert d["state"] == "review" and len(d["pages"]) == 1 and id_number in d["text"], d
    g.confirm(code, doc_id)
    assert g.wait_document(code, doc_id, timeout=60)["state"] == "done"


def test_a_crash_while_a_page_is_scanned_again_leaves_it_in_review(tmp):
    slow = ("device = test\nsource = adf\nresolution = 200\nmax_pages = 1\npage_size = 120x60\n"
            "device_options = test-picture=Grid;read-delay=yes;read-delay-duration=200000\n")
    g = gateway(tmp, slow)
    code = g.create_dossier()["code"]
    doc_id = g.post("/api/v1/dossiers/%s/scan" % code, {}).json()["id"]
    assert g.wait_document(code, doc_id, timeout=120, states=REVIEW_STATES)["state"] == "review"
    r = g.post("/api/v1/dossiers/%s/scan" % code, {"replace_page": 1, "document": doc_id})
    assert r.status == 202, r
    # while the scanner works the document is neither edited nor confirmed
    d = g.get(doc_path(code, doc_id)).json()
    if d["state"] == "rescan":
        assert edit(g, "POST", code, doc_id, "/confirm", {}).status == 409
        assert edit(g, "DELETE", code, doc_id, "/pages/1").status == 409
    g.kill9()
    g.start()
    d = g.wait_document(code, doc_id, timeout=120, states=REVIEW_STATES)
    assert d["state"] == "review" and len(d["pages"]) == 1, d
    ev = events(g, doc_id)
    assert "document.replace.failed" in ev or "document.edited" in ev, ev
    g.confirm(code, doc_id)
    assert g.wait_document(code, doc_id)["state"] == "done"


def test_a_turned_page_is_read_again(tmp):
    """A page fed sideways, which the recognize step did not turn (its
    orientation detection is off here): the clerk turns it, the page is
    recognized again the right way up, and the PDF's page (with its text
    layer) turns too."""
    g = Gateway(tmp, plugins="[ocr-tesseract]\nenabled = true\n"
                "preprocess = deskew,despeckle,normalize\n").start()
    code = g.create_dossier()["code"]
    png, id_number = make_page(tmp, 61, "--rotate", "90")
    doc_id = g.upload(code, open(png, "rb").read(), ctype="image/png", name="to-khai.png").json()["id"]
    d = g.wait_document(code, doc_id, timeout=120, states=REVIEW_STATES)
    assert d["state"] == "review", d
    sizes, _ = pdf_pages(g, code, doc_id, tmp)
    assert sizes[0][0] > sizes[0][1], sizes  # sideways
    r = edit(g, "POST", code, doc_id, "/pages/1/rotate", {"degrees": 270})
    assert r.status == 200, r
    d = g.wait_document(code, doc_id, timeout=120, states=REVIEW_STATES)
    assert d["state"] == "review" and d["pages"][0]["rotation"] == 270, d["pages"]
    assert id_number in d["text"] and d["pages"][0]["confidence"] >= 70, d["pages"]
    sizes, texts = pdf_pages(g, code, doc_id, tmp)
    assert sizes[0][0] < sizes[0][1] and id_number in texts[0], sizes
    t = g.get(doc_path(code, doc_id, "/pages/1/thumb"))
    w, h = struct.unpack(">II", t.body[16:24])
    assert w == 200 and h > w, (w, h)
    # turned back: the page as it was fed, its image as scanned
    scanned = g.get(doc_path(code, doc_id, "/pages/1")).body
    assert edit(g, "POST", code, doc_id, "/pages/1/rotate", {"degrees": 90}).status == 200
    d = g.wait_document(code, doc_id, timeout=120, states=REVIEW_STATES)
    assert d["pages"][0]["rotation"] == 0 and d["pages"][0]["sha256"] == d["sha256"], d
    assert g.get(doc_path(code, doc_id, "/pages/1")).body == open(png, "rb").read() != scanned


def test_the_clerks_turn_sticks_with_orientation_detection_on(tmp):
    """With the recognize step's orientation detection on (the default), a
    page the clerk turns is read as turned: the step is told so
    (MOTCUA_PAGE_TURNED_BY_CLERK) and does not turn it back. Here an upright
    form is turned a quarter by the clerk (as for a landscape table the
    detection got wrong): its PDF page stays landscape and the step reports
    no turn of its own; turned back, detection runs again."""
    g = Gateway(tmp, plugins="[ocr-tesseract]\nenabled = true\n").start()
    code = g.create_dossier()["code"]
    png, id_number = make_page(tmp, 62)
    doc_id = g.upload(code, open(png, "rb").read(), ctype="image/png", name="to-khai.png").json()["id"]
    d = g.wait_document(code, doc_id, timeout=120, states=REVIEW_STATES)
    assert d["state"] == "review", d
    sizes, _ = pdf_pages(g, code, doc_id, tmp)
    assert sizes[0][0] < sizes[0][1], sizes  # upright, portrait
    assert edit(g, "POST", code, doc_id, "/pages/1/rotate", {"degrees": 90}).status == 200
    d = g.wait_document(code, doc_id, timeout=120, states=REVIEW_STATES)
    assert d["state"] == "review" and d["pages"][0]["rotation"] == 90, d["pages"]
    sizes, _ = pdf_pages(g, code, doc_id, tmp)
    assert sizes[0][0] > sizes[0][1], ("the clerk's turn was undone", sizes)
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    turned = db.execute("SELECT json_extract(meta, '$.rotated') FROM pages WHERE document_id = ?",
                        (doc_id,)).fetchone()[0]
    db.close()
    assert not turned, turned
    # turned back by the clerk: portrait again, read as before
    assert edit(g, "POST", code, doc_id, "/pages/1/rotate", {"degrees": 270}).status == 200
    d = g.wait_document(code, doc_id, timeout=120, states=REVIEW_STATES)
    sizes, texts = pdf_pages(g, code, doc_id, tmp)
    assert d["pages"][0]["rotation"] == 0 and sizes[0][0] < sizes[0][1], (d["pages"], sizes)
    assert id_number in texts[0], texts


def test_documents_without_ocr_pages(tmp):
    """An uploaded PDF has no page images: it waits for the clerk too (it is
    signed next), is confirmed as a whole, and has no pages to edit; an
    image upload is a document of one page, reviewed like a scan."""
    g = Gateway(tmp, plugins="[ocr-tesseract]\nenabled = true\n").start()
    code = g.create_dossier()["code"]
    doc_id = g.upload(code, sample_pdf()).json()["id"]
    d = g.wait_document(code, doc_id, states=REVIEW_STATES)
    assert d["state"] == "review" and d["pages"] == [], d
    assert edit(g, "POST", code, doc_id, "/pages/1/rotate", {"degrees": 90}).status == 404
    assert edit(g, "GET", code, doc_id, "/pages/1/thumb").status == 404
    assert edit(g, "POST", code, doc_id, "/confirm", {"order": [1]}).status == 400
    g.confirm(code, doc_id, order=[])
    assert g.wait_document(code, doc_id)["state"] == "done"
    # the only page of a document is not deleted
    png, _ = make_page(tmp, 7)
    doc_id = g.upload(code, open(png, "rb").read(), ctype="image/png", name="to-khai.png").json()["id"]
    d = g.wait_document(code, doc_id, timeout=120, states=REVIEW_STATES)
    assert d["state"] == "review" and len(d["pages"]) == 1, d
    r = edit(g, "DELETE", code, doc_id, "/pages/1")
    assert r.status == 409 and r.json()["error"] == "last_page", r
    t = g.get(doc_path(code, doc_id, "/pages/1/thumb"))
    w, h = struct.unpack(">II", t.body[16:24])
    assert t.status == 200 and w == 200 and h > w, (w, h)  # A4 portrait


def test_signed_only_after_confirm_and_reused_papers_go_on(tmp):
    """With the real signer and archive: nothing is signed while the form
    waits for review; confirmed, it is signed (PAdES) and archived; reused
    from the archive in the citizen's next dossier it does not stop (it was
    reviewed, signed and archived when first received)."""
    sign_tests = os.path.join(SOURCE_ROOT, "plugins", "sign-openssl", "tests")
    form = os.path.join(SOURCE_ROOT, "tests", "data", "demo-to-khai.png")
    citizen = "048076039317"  # the form's "Số định danh cá nhân"
    d = os.path.join(tmp, "pki")
    subprocess.run(["sh", os.path.join(sign_tests, "make-ca.sh"), d], check=True, capture_output=True)
    g = Gateway(tmp, plugins="[ocr-tesseract]\nenabled = true\n"
                "[sign-openssl]\nenabled = true\nkey = %s/rsa.key\ncert = %s/rsa.pem\ntrust = %s/ca.pem\n"
                "[archive-sqlite]\nenabled = true\n" % (d, d, d)).start()
    first = g.create_dossier(name="Hồ Công Hùng", id_number=citizen)["code"]
    doc_id = g.upload(first, open(form, "rb").read(), ctype="image/png", name="to-khai.png").json()["id"]
    doc = g.wait_document(first, doc_id, timeout=120, states=REVIEW_STATES)
    assert doc["state"] == "review" and citizen in doc["text"], doc
    assert "signature" not in doc and "archive" not in doc, doc
    assert {s["step"]: s["state"] for s in doc["steps"]}["sign"] == "pending"
    _, texts = pdf_pages(g, first, doc_id, tmp)
    pdf = os.path.join(tmp, "doc.pdf")
    assert "Signature" not in subprocess.run(["pdfsig", pdf], capture_output=True, text=True).stdout
    g.confirm(first, doc_id)
    doc = g.wait_document(first, doc_id, timeout=120)
    assert doc["state"] == "done" and doc["signature"]["format"] == "PAdES", doc
    pdf_pages(g, first, doc_id, tmp)
    p = subprocess.run(["pdfsig", pdf], capture_output=True, text=True)
    assert "Signature is Valid" in p.stdout, p.stdout
    second = g.create_dossier(name="Hồ Công Hùng", id_number=citizen, procedure="1.000656")["code"]
    r = g.post("/api/v1/dossiers/%s/documents" % second, {"reuse": doc["archive"]["id"]})
    assert r.status == 202, r
    reused = g.wait_document(second, r.json()["id"], timeout=60, states=REVIEW_STATES)
    assert reused["state"] == "done" and not reused["review"]["required"], reused
    assert "document.review" not in events(g, reused["id"])


def test_cli_waits_for_review_and_confirms(tmp):
    g = Gateway(tmp).start()
    code = g.create_dossier()["code"]
    f = os.path.join(tmp, "giay-to.pdf")
    with open(f, "wb") as fh:
        fh.write(sample_pdf())
    tok = g.token("clerk")
    p = g.cli("document", "add", code, f, "--wait", token=tok)
    d = json.loads(p.stdout)
    assert d["state"] == "review", d
    p = g.cli("document", "confirm", code, d["id"], "--order", "1", token=tok, check=False)
    assert p.returncode != 0 and b"order" in p.stdout + p.stderr, p  # a PDF has no pages
    p = g.cli("document", "confirm", code, d["id"], "--wait", token=tok)
    d = json.loads(p.stdout)
    assert d["state"] == "done" and d["review"]["confirmed_by"] == "test clerk", d


def test_review_off_goes_on_as_before(tmp):
    g = Gateway(tmp, review=False).start()
    code = g.create_dossier()["code"]
    doc_id = g.upload(code, sample_pdf()).json()["id"]
    d = g.wait_document(code, doc_id, states=REVIEW_STATES)
    assert d["state"] == "done" and not d["review"]["required"], d
    ev = events(g, doc_id)
    assert "document.review" not in ev and "document.done" in ev, ev
    r = edit(g, "POST", code, doc_id, "/confirm", {})
    assert r.status == 409, r


if __name__ == "__main__":
    run(globals())
