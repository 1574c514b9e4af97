# SPDX-License-Identifier: MIT
"""Capture and recognition with the real parts: libsane through SANE's own
virtual devices (`test`: a document feeder that empties after 10 sheets and
simulated device errors; `pnm`: scans a given image), Tesseract with the `vie`
model on generated Vietnamese form pages, searchable PDFs checked with
poppler's pdftotext/pdfinfo and qpdf."""
import os
import subprocess
import sys
import unicodedata

from gwtest import SOURCE_ROOT, Gateway, run, sample_pdf, sane_config
import gwtest  # noqa: E402

# These tests expect documents to go on to signing and archiving by
# themselves: without the clerk's review (test_review.py has it).
gwtest.REVIEW = False

OCR_TESTS = os.path.join(SOURCE_ROOT, "plugins", "ocr-tesseract", "tests")
sys.path.insert(0, OCR_TESTS)
from cer import cer  # noqa: E402


def make_pages(tmp, name, count=1, seed=3, *extra):
    out = os.path.join(tmp, name)
    subprocess.run(["/usr/bin/python3", os.path.join(OCR_TESTS, "make_pages.py"), "--out", out,
                    "--count", str(count), "--seed", str(seed), *extra], check=True, capture_output=True)
    pages = sorted(os.path.join(out, f) for f in os.listdir(out) if f.endswith(".png"))
    return [(p, open(p[:-4] + ".txt", encoding="utf-8").read()) for p in pages]


def scan_gateway(tmp, scan_conf, workers=2):
    sane = sane_config(tmp)
    # SANE runs in scan-sane's helper process, not in the gateway: under
    # AddressSanitizer the gateway keeps its leak checks.
    env = {"SANE_CONFIG_DIR": sane}
    return Gateway(tmp, workers=workers, env=env,
                   plugins="[scan-sane]\nenabled = true\n%s\n[ocr-tesseract]\nenabled = true\n" % scan_conf).start()


def pdf_text(data, tmp):
    f = os.path.join(tmp, "out.pdf")
    with open(f, "wb") as fh:
        fh.write(data)
    subprocess.run(["qpdf", "--check", f], check=True, capture_output=True)
    info = subprocess.run(["pdfinfo", f], check=True, capture_output=True, text=True).stdout
    text = subprocess.run(["pdftotext", "-layout", f, "-"], check=True, capture_output=True, text=True).stdout
    return info, unicodedata.normalize("NFC", text)


def test_sane_feeder_batch_through_the_api(tmp):
    g = scan_gateway(tmp, "device = test\nsource = adf\nmode = gray\nresolution = 200\n"
                          "page_size = 100x100\ndevice_options = test-picture=Grid\n")
    names = [s["name"] for s in g.get("/api/v1/scanners").json()["scanners"]]
    assert "test:0" in names, names
    code = g.create_dossier()["code"]
    r = g.post("/api/v1/dossiers/%s/scan" % code, {"mode": "gray", "resolution": 200})
    assert r.status == 202, r
    doc = g.wait_document(code, r.json()["id"], timeout=120)
    assert doc["state"] == "done", doc
    # the test device's feeder holds 10 sheets
    assert len(doc["pages"]) == 10 and all(p["state"] == "done" for p in doc["pages"]), doc["pages"]
    assert all(p["media_type"] == "image/png" for p in doc["pages"])
    steps = {s["step"]: s for s in doc["steps"]}
    assert steps["capture"]["plugin"] == "scan-sane" and steps["capture"]["message"] == "10 pages scanned"
    assert steps["recognize"]["plugin"] == "ocr-tesseract" and steps["recognize"]["state"] == "done"
    # every page carries its confidence and the flag the clerk sees
    assert all("confidence" in p and "low_confidence" in p for p in doc["pages"]), doc["pages"]
    assert doc["current_media_type"] == "application/pdf"
    content = g.get("/api/v1/dossiers/%s/documents/%s/content" % (code, doc["id"])).body
    info, _ = pdf_text(content, tmp)
    assert "Pages:           10" in info, info


def test_vietnamese_form_scanned_through_sane(tmp):
    (png, truth), = make_pages(tmp, "form", 1, 11)
    from PIL import Image  # Debian's python3-pil, as make_pages uses
    pnm = os.path.join(tmp, "form.pnm")
    Image.open(png).convert("L").save(pnm)
    g = scan_gateway(tmp, "device = pnm:0\nsource = flatbed\nmode = gray\nresolution = 300\n"
                          "device_options = filename=%s\n" % pnm)
    code = g.create_dossier()["code"]
    r = g.post("/api/v1/dossiers/%s/scan" % code, {"name": "Tờ khai"})
    assert r.status == 202, r
    doc = g.wait_document(code, r.json()["id"], timeout=120)
    assert doc["state"] == "done", doc
    assert len(doc["pages"]) == 1 and not doc["pages"][0]["low_confidence"], doc["pages"]
    e = cer(truth, doc["text"])
    assert e < 0.03, (e, doc["text"])
    assert unicodedata.is_normalized("NFC", doc["text"])
    ids = [l.split(": ")[1] for l in truth.splitlines() if l.startswith("Số định danh cá nhân")]
    assert doc["fields"]["id_numbers"][:1] == ids, (doc["fields"], ids)
    born = [l.split(": ")[1] for l in truth.splitlines() if l.startswith("Ngày, tháng, năm sinh")]
    assert born[0] in doc["fields"]["dates"], doc["fields"]
    content = g.get("/api/v1/dossiers/%s/documents/%s/content" % (code, doc["id"])).body
    info, text = pdf_text(content, tmp)
    assert "Pages:           1" in info and "A4" in info, info
    for phrase in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "ĐĂNG KÝ KHAI SINH", ids[0]):
        assert phrase in " ".join(text.split()), (phrase, text[:500])


def test_uploaded_pages_clean_skewed_and_upside_down(tmp):
    g = Gateway(tmp, workers=2, plugins="[ocr-tesseract]\nenabled = true\n").start()
    code = g.create_dossier()["code"]
    cases = [("clean", make_pages(tmp, "clean", 1, 21), 0.03),
             ("skewed+noise", make_pages(tmp, "skewed", 1, 22, "--skew", "2", "3", "--noise", "0.004"), 0.05),
             ("upside down", make_pages(tmp, "flipped", 1, 23, "--rotate", "180"), 0.05)]
    docs = []
    for label, [(png, truth)], bound in cases:
        r = g.upload(code, open(png, "rb").read(), ctype="image/png", name=label + ".png")
        assert r.status == 202, r
        docs.append((label, r.json()["id"], truth, bound))
    for label, doc_id, truth, bound in docs:
        d = g.wait_document(code, doc_id, timeout=120)
        assert d["state"] == "done", d
        e = cer(truth, d["text"])
        print("CER %-13s %.4f (confidence %.1f)" % (label, e, d["confidence"]))
        assert e < bound, (label, e, d["text"][:300])


def test_errors_fail_the_document_and_leave_the_dossier_usable(tmp):
    g = scan_gateway(tmp, "device = nope\n")
    code = g.create_dossier()["code"]
    r = g.post("/api/v1/dossiers/%s/scan" % code, {})
    assert r.status == 202, r
    d = g.wait_document(code, r.json()["id"])
    assert d["state"] == "failed" and "not connected" in d["reason"], d["reason"]
    # a corrupt image: a PNG signature and header, then garbage
    png = open(make_pages(tmp, "p", 1, 5)[0][0], "rb").read()
    bad = png[:64] + os.urandom(4000)
    r = g.upload(code, bad, ctype="image/png", name="hong.png")
    assert r.status == 202, r
    d = g.wait_document(code, r.json()["id"])
    assert d["state"] == "failed" and "could not be read" in d["reason"], d
    assert d["pages"][0]["state"] == "failed", d["pages"]
    # the dossier goes on: a good document still goes through
    r = g.upload(code, sample_pdf())
    assert g.wait_document(code, r.json()["id"])["state"] == "done"
    g.stop()
    # a jammed feeder keeps the pages scanned before the jam... and says so
    jam_dir = os.path.join(tmp, "jam")
    os.makedirs(jam_dir)
    g2 = scan_gateway(jam_dir, "device = test\nsource = adf\nmode = gray\nresolution = 200\npage_size = 50x50\n"
                      "device_options = test-picture=Grid;read-return-value=SANE_STATUS_JAMMED\n")
    code = g2.create_dossier()["code"]
    r = g2.post("/api/v1/dossiers/%s/scan" % code, {})
    d = g2.wait_document(code, r.json()["id"])
    assert d["state"] == "failed" and "jam" in d["reason"], d["reason"]


if __name__ == "__main__":
    run(globals())
