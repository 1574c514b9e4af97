# SPDX-License-Identifier: MIT
"""The host's side of signing and archiving, with a plugin that has no crypto
or database (test-archive): what a step sees (dossier and document JSON, the
original file, sidecars), a step that asks to run again later, the archive
routes' checks, and reuse of an archived paper in another dossier."""
import json
import os
import time

from gwtest import Gateway, run, sample_pdf, sample_png
import gwtest  # noqa: E402

# These tests expect documents to go on to signing and archiving by
# themselves: without the clerk's review (test_review.py has it).
gwtest.REVIEW = False

PLUGINS = "[test-archive]\nenabled = true\nagain = %d\n"


def archived(g, doc_id):
    with open(os.path.join(g.data, "test-archive", doc_id + ".json"), encoding="utf-8") as f:
        return json.loads(f.read())


def test_step_io_and_sidecar(tmp):
    g = Gateway(tmp, plugins=PLUGINS % 0).start()
    code = g.create_dossier()["code"]
    r = g.post("/api/v1/dossiers/%s/documents?name=%s&type=to-khai" % (code, "to-khai.png"), sample_png(),
               headers={"Content-Type": "image/png"})
    assert r.status == 202, r
    doc = g.wait_document(code, r.json()["id"])
    assert doc["state"] == "done", doc
    assert doc["type"] == "to-khai" and doc["reused_from"] is None, doc
    assert doc["signature"] == {"runs": 1, "level": "B-T"}, doc
    assert doc["sidecar"]["media_type"] == "application/pkcs7-signature", doc
    r = g.get("/api/v1/dossiers/%s/documents/%s/sidecar" % (code, doc["id"]))
    assert r.status == 200 and r.body.startswith(b"signature of " + doc["id"].encode()), r
    assert r.headers["Content-Type"] == "application/pkcs7-signature"
    a = archived(g, doc["id"])
    # the archive step saw the dossier, the document, the upload and the sidecar
    assert a["dossier_code"] == code and a["id_number"] == "001203004567", a
    assert a["original"] == "image/png" and a["sidecar"] == "application/pkcs7-signature", a
    # a document without a sidecar answers 404 on /sidecar; bad type is refused
    r = g.post("/api/v1/dossiers/%s/documents?type=bad%%20type" % code, sample_pdf(),
               headers={"Content-Type": "application/pdf"})
    assert r.status == 400 and "type" in r.json()["detail"], r
    g.stop()


def test_again_after(tmp):
    g = Gateway(tmp, plugins=PLUGINS % 1).start()
    code = g.create_dossier()["code"]
    r = g.upload(code, sample_pdf())
    assert r.status == 202, r
    doc_id = r.json()["id"]
    doc = g.wait_document(code, doc_id)
    assert doc["state"] == "done", doc
    assert doc["signature"]["level"] == "B-B", doc
    first_sidecar = doc["sidecar"]["sha256"]
    # a second later the sign step runs again on its input, then the archive
    end = time.time() + 15
    while time.time() < end:
        doc = g.get("/api/v1/dossiers/%s/documents/%s" % (code, doc_id)).json()
        if doc["state"] == "done" and doc["signature"]["runs"] == 2:
            break
        time.sleep(0.1)
    assert doc["signature"] == {"runs": 2, "level": "B-T"}, doc
    assert doc["sidecar"]["sha256"] != first_sidecar, doc
    sign = [s for s in doc["steps"] if s["step"] == "sign"][0]
    assert sign["message"] == "signed (run 2)" and sign["attempts"] == 2, sign
    # the file the rerun signed is the step's input, not its earlier output
    assert doc["current_sha256"] == doc["sha256"], doc
    log = g.log()
    assert "runs again, as asked" in log, log
    # and it stays done across a restart (again_at cleared)
    g.stop()
    g.start()
    time.sleep(1.5)
    doc = g.get("/api/v1/dossiers/%s/documents/%s" % (code, doc_id)).json()
    assert doc["signature"]["runs"] == 2 and doc["state"] == "done", doc
    g.stop()


def test_archive_routes_check_input(tmp):
    g = Gateway(tmp, plugins=PLUGINS % 0).start()
    r = g.get("/api/v1/archive/search?q=nguy%E1%BB%85n&id_number=001203004567&procedure=1.001234"
              "&from=2026-01-01&to=2026-12-31&limit=5&offset=0")
    assert r.status == 200, r
    assert r.json()["query"] == {"q": "nguyễn", "id_number": "001203004567", "procedure": "1.001234",
                                 "from": "2026-01-01", "to": "2026-12-31", "limit": 5, "offset": 0}, r
    for qs, word in (("id_number=123", "id_number"), ("from=2026-13-01", "from"), ("limit=0", "limit"),
                     ("limit=9999", "limit"), ("nope=1", "unknown"), ("q=a&q=b", "twice"),
                     ("from=2026-02-01&to=2026-01-01", "after"), ("q=" + "a" * 201, "q")):
        r = g.get("/api/v1/archive/search?" + qs)
        assert r.status == 400 and word in r.json()["detail"], (qs, r)
    assert g.get("/api/v1/archive/applicants/12ab/documents").status == 400
    assert g.get("/api/v1/archive/items/no-such-item").status == 404
    assert g.get("/api/v1/archive/items/..%2Fetc/content").status == 404
    assert g.post("/api/v1/archive/search", {}).status == 405
    assert g.post("/api/v1/archive/verify", {}, token="clerk").status == 403
    r = g.post("/api/v1/archive/verify", {}, token="admin")
    assert r.status == 500 and "cannot verify" in r.json()["detail"], r
    assert g.get("/api/v1/archive/disposal", token="supervisor").json() == {"items": []}
    g.stop()
    # without an archive plugin: a clear 503
    os.makedirs(os.path.join(tmp, "none"))
    g2 = Gateway(os.path.join(tmp, "none")).start()
    r = g2.get("/api/v1/archive/search?q=x")
    assert r.status == 503 and "archive-sqlite" in r.json()["detail"], r
    g2.stop()


def test_reuse(tmp):
    g = Gateway(tmp, plugins=PLUGINS % 0).start()
    first = g.create_dossier()["code"]
    r = g.upload(first, sample_pdf("CCCD"), name="can-cuoc.pdf")
    doc = g.wait_document(first, r.json()["id"])
    assert doc["state"] == "done", doc
    listed = g.get("/api/v1/archive/applicants/001203004567/documents").json()
    assert [i["id"] for i in listed["items"]] == [doc["id"]], listed
    item = g.get("/api/v1/archive/items/%s" % doc["id"]).json()
    assert "path" not in item and item["dossier_code"] == first, item
    content = g.get("/api/v1/archive/items/%s/content" % doc["id"])
    assert content.status == 200 and content.body.startswith(b"%PDF-"), content

    second = g.create_dossier()["code"]
    r = g.post("/api/v1/dossiers/%s/documents" % second, {"reuse": doc["id"]})
    assert r.status == 202, r
    j = r.json()
    assert j["reused_from"] == doc["id"] and j["sha256"] == doc["current_sha256"], j
    again = g.wait_document(second, j["id"])
    assert again["state"] == "done" and again["reused_from"] == doc["id"], again
    assert again["name"] == "can-cuoc.pdf" and again["type"] == "giay-to", again
    states = {s["step"]: s["state"] for s in again["steps"]}
    assert states == {"capture": "done", "recognize": "skipped", "sign": "skipped", "archive": "done"}, states
    assert again["signature"] == {"level": "B-T"}, again
    a = archived(g, j["id"])
    assert a["reused_from"] == doc["id"] and a["dossier_code"] == second, a
    got = g.get("/api/v1/dossiers/%s/documents/%s/content" % (second, j["id"]))
    assert got.body == content.body

    # another citizen's paper, unknown items and bad bodies are refused; nothing is added
    other = g.create_dossier(name="Trần Văn Đức", id_number="079088001234")["code"]
    r = g.post("/api/v1/dossiers/%s/documents" % other, {"reuse": doc["id"]})
    assert r.status == 409 and "another applicant" in r.json()["detail"], r
    for body, status in (({"reuse": "nope"}, 404), ({"reuse": doc["id"], "extra": 1}, 400),
                         ({}, 400), ({"reuse": 5}, 400), ({"reuse": doc["id"], "type": "a b"}, 400)):
        r = g.post("/api/v1/dossiers/%s/documents" % other, body)
        assert r.status == status, (body, r)
    assert g.get("/api/v1/dossiers/%s" % other).json()["documents"] == []
    r = g.post("/api/v1/dossiers/000.00.00.H00-991231-0001/documents", {"reuse": doc["id"]})
    assert r.status == 404, r
    g.stop()


if __name__ == "__main__":
    run(globals())
