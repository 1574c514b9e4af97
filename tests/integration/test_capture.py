# SPDX-License-Identifier: MIT
"""The host's capture path with a device-less capture plugin (test-capture)
and a page-level recognize step (test-steps): pages are stored and recognized
while the batch is still being scanned; device errors fail the document with a
reason and keep the pages; a crash or stop during a scan loses no page."""
import json
import os
import re
import signal
import sqlite3
import time

from gwtest import Gateway, run, sample_pdf
import gwtest  # noqa: E402

# These tests expect documents to go on to signing and archiving by
# themselves: without the clerk's review (test_review.py has it).
gwtest.REVIEW = False
from test_api import follow_sse, read_sse

PLUGINS = "[test-capture]\nenabled = true\n[test-steps]\nenabled = true\ndelay_ms = %d\n"
TRAILER = b"\n% test-steps recognize\n" + b"\n% test-steps sign\n"


def events(g, since=0, until=b"document.done"):
    s, buf = read_sse(g.port, g.token("supervisor"), until, since=since, timeout=10)
    s.close()
    out = []
    for block in buf.split(b"\n\n"):
        m = re.search(rb"id: (\d+)\nevent: ([\w.]+)\ndata: (.*)", block)
        if m:
            out.append((int(m.group(1)), m.group(2).decode(), json.loads(m.group(3))))
    return out


def live_events(g, until):
    """Starts following the live stream; returns a function that waits for
    `until` and gives every event seen, transient ones (no id) as
    (None, type, data)."""
    live = follow_sse(g.port, g.token("supervisor"), until, timeout=15)

    def result():
        out = []
        for block in live().split(b"\n\n"):
            m = re.search(rb"(?:id: (\d+)\n)?event: ([\w.]+)\ndata: (.*)", block)
            if m:
                out.append((int(m.group(1)) if m.group(1) else None, m.group(2).decode(),
                            json.loads(m.group(3))))
        return out
    return result


def test_scan_overlaps_recognition(tmp):
    g = Gateway(tmp, workers=2, plugins=PLUGINS % 150).start()
    code = g.create_dossier()["code"]
    live = live_events(g, b"document.done")
    r = g.post("/api/v1/dossiers/%s/scan" % code, {"pages": 4, "delay_ms": 200, "name": "Hồ sơ quét"})
    assert r.status == 202, r
    j = r.json()
    assert set(j) == {"id", "state"}, j
    doc = g.wait_document(code, j["id"])
    assert doc["state"] == "done", doc
    assert doc["name"] == "Hồ sơ quét"
    assert [p["page"] for p in doc["pages"]] == [1, 2, 3, 4], doc["pages"]
    assert all(p["state"] == "done" and p["media_type"] == "image/png" for p in doc["pages"]), doc["pages"]
    assert [p["low_confidence"] for p in doc["pages"]] == [False, True, False, False], doc["pages"]
    assert doc["pages"][0]["confidence"] == 81.5
    assert "text" not in doc["pages"][0]  # page texts stay out of the listing
    assert doc["text"] == "trang 1 / trang 2 / trang 3 / trang 4", doc
    assert doc["fields"] == {"id_numbers": ["001203004567"]} and doc["pages_seen"] == 4, doc
    steps = {s["step"]: s for s in doc["steps"]}
    assert steps["capture"]["state"] == "done" and steps["capture"]["plugin"] == "test-capture", steps
    assert steps["capture"]["message"] == "4 pages scanned", steps
    page1 = g.get("/api/v1/dossiers/%s/documents/%s/pages/1" % (code, j["id"]))
    assert page1.status == 200 and page1.headers["Content-Type"] == "image/png", page1
    assert page1.body.endswith(b"page 1\n")
    assert g.get("/api/v1/dossiers/%s/documents/%s/pages/4" % (code, j["id"])).body.endswith(b"page 4\n")
    assert g.get("/api/v1/dossiers/%s/documents/%s/pages/5" % (code, j["id"])).status == 404
    assert g.get("/api/v1/dossiers/%s/documents/%s/pages/x" % (code, j["id"])).status == 404
    content = g.get("/api/v1/dossiers/%s/documents/%s/content" % (code, j["id"])).body
    assert content == page1.body + TRAILER, content
    # page 1 was recognized before the last page was scanned
    evs = events(g)
    captured = [i for i, t, d in evs if t == "document.page.captured" and d["document_id"] == j["id"]]
    done = [i for i, t, d in evs if t == "document.page.done" and d["document_id"] == j["id"]]
    assert len(captured) == 4 and len(done) == 4, evs
    assert done[0] < captured[-1], (captured, done)
    # progress goes to the clients following the stream, and is not stored
    # (ten rows a page, each a synchronous commit, for a progress bar)
    assert not [e for e in evs if e[1] == "capture.progress"], evs
    progress = [(i, d) for i, t, d in live() if t == "capture.progress"]
    assert [p["page"] for i, p in progress] == [1, 2, 3, 4], progress
    assert all(i is None and p["plugin"] == "test-capture" and p["document_id"] == j["id"]
               for i, p in progress), progress
    assert any(t == "document.scan.started" for i, t, d in evs)
    # an uploaded image is a one-page document and is recognized the same way
    png = page1.body
    up = g.upload(code, png, ctype="image/png", name="anh.png")
    assert up.status == 202
    d = g.wait_document(code, up.json()["id"])
    assert d["state"] == "done" and d["text"] == "trang 1" and len(d["pages"]) == 1, d


def test_scan_errors_keep_pages_and_dossier(tmp):
    g = Gateway(tmp, workers=2, plugins=PLUGINS % 0).start()
    code = g.create_dossier()["code"]
    scan = "/api/v1/dossiers/%s/scan" % code
    r = g.post(scan, {"pages": 5, "fail_after": 2, "error": "jam"})
    assert r.status == 202, r
    doc = g.wait_document(code, r.json()["id"])
    assert doc["state"] == "failed", doc
    assert "paper jam" in doc["reason"] and "kept" in doc["reason"], doc["reason"]
    assert len(doc["pages"]) == 2, doc["pages"]
    assert g.get("/api/v1/dossiers/%s/documents/%s/pages/2" % (code, doc["id"])).status == 200
    steps = {s["step"]: s for s in doc["steps"]}
    assert steps["capture"]["state"] == "failed", steps
    for opts, words in (({"pages": 3, "fail_after": 0, "error": "empty"}, "feeder is empty"),
                        ({"pages": 3, "fail_after": 0, "error": "busy"}, "busy"),
                        ({"pages": 3, "fail_after": 1, "error": "unplugged"}, "not connected"),
                        ({"pages": 0}, "no page was scanned")):
        r = g.post(scan, opts)
        assert r.status == 202, r
        d = g.wait_document(code, r.json()["id"])
        assert d["state"] == "failed" and words in d["reason"], (opts, d["reason"])
    # refused before anything happens
    for body, status in (({"source": "moon"}, 400), ({"pages": 99}, 400), ({"name": ""}, 400),
                         ({"name": "a/b"}, 400), ([], 400)):
        r = g.post(scan, body)
        assert r.status == status, (body, r)
    r = g.post(scan, b"{oops", headers={"Content-Type": "application/json"})
    assert r.status == 400 and r.json()["error"] == "bad_json", r
    assert g.post("/api/v1/dossiers/NOPE/scan", {}).status == 404
    assert g.post(scan, {}, token="supervisor").status == 403
    assert g.post(scan, {}, token=None).status == 401
    # one scan at a time
    r1 = g.post(scan, {"pages": 3, "delay_ms": 300})
    r2 = g.post(scan, {"pages": 1})
    assert r1.status == 202 and r2.status == 409 and r2.json()["error"] == "scanner_busy", r2
    assert g.wait_document(code, r1.json()["id"])["state"] == "done"
    # the dossier is still usable: uploads and new scans work
    assert g.upload(code, sample_pdf()).status == 202
    r = g.post(scan, b"", headers={"Content-Type": "application/json"})  # empty body: defaults
    assert r.status == 202, r
    assert g.wait_document(code, r.json()["id"])["state"] == "done"
    sc = g.get("/api/v1/scanners")
    assert sc.status == 200 and sc.json() == {"scanners": [{"name": "test-capture:0", "vendor": "motcua",
                                                            "model": "fake", "type": "test"}],
                                              "plugin": "test-capture"}, sc
    assert g.get("/api/v1/scanners", token="agency").status == 403


def test_no_capture_plugin(tmp):
    g = Gateway(tmp).start()
    code = g.create_dossier()["code"]
    r = g.post("/api/v1/dossiers/%s/scan" % code, {})
    assert r.status == 503 and r.json()["error"] == "no_scanner", r
    assert g.get("/api/v1/scanners").json() == {"scanners": [], "plugin": None}
    assert g.get("/api/v1/dossiers/" + code).json()["documents"] == []


def test_crash_and_stop_during_scan_keep_pages(tmp):
    g = Gateway(tmp, workers=2, plugins=PLUGINS % 0).start()
    code = g.create_dossier()["code"]
    r = g.post("/api/v1/dossiers/%s/scan" % code, {"pages": 20, "delay_ms": 100})
    doc_id = r.json()["id"]
    time.sleep(0.55)
    g.kill9()
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    kept = [r[0] for r in db.execute("SELECT sha FROM pages WHERE document_id = ? ORDER BY page_no", (doc_id,))]
    db.close()
    assert 2 <= len(kept) < 20, kept
    assert any(f.startswith("capture-") for f in os.listdir(os.path.join(g.data, "tmp")))
    g.start()
    d = g.get("/api/v1/dossiers/%s/documents/%s" % (code, doc_id)).json()
    assert d["state"] == "failed" and "stopped during the scan" in d["reason"], d
    assert [p["sha256"] for p in d["pages"]] == kept, d["pages"]
    assert os.listdir(os.path.join(g.data, "tmp")) == [], "the interrupted scan's folder is left"
    # SIGTERM during a scan: the scan stops after the page in hand, the gateway exits cleanly
    r = g.post("/api/v1/dossiers/%s/scan" % code, {"pages": 50, "delay_ms": 100})
    doc_id = r.json()["id"]
    time.sleep(0.35)
    t0 = time.time()
    assert g.stop() == 0
    assert time.time() - t0 < 3
    g.start()
    d = g.get("/api/v1/dossiers/%s/documents/%s" % (code, doc_id)).json()
    assert d["state"] == "failed" and "stopped during the scan" in d["reason"], d
    assert 1 <= len(d["pages"]) < 50


if __name__ == "__main__":
    run(globals())
