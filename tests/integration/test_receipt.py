# SPDX-License-Identifier: MIT
"""Procedures and their papers, the checklist, the supplement request, and the
receipt (form 01 of Circular 01/2018/TT-VPCP) and form 02 as PDF and 1-bit PNG,
read back with pdftotext, pdftoppm and zbarimg."""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import unicodedata
import urllib.parse
import zlib

sys.path.insert(0, os.path.dirname(__file__))
from gwtest import GATEWAY, SOURCE_ROOT, Gateway, run, sample_pdf, sample_png  # noqa: E402

SAMPLE = os.path.join(SOURCE_ROOT, "conf", "procedures.txt")
KHAI_SINH = "1.001193"


def gateway(tmp, procedures=SAMPLE, station="", office=""):
    g = Gateway(tmp)
    with open(g.conf, encoding="utf-8") as f:
        text = f.read()
    text = text.replace("[office]\n", "[office]\nprocedures = %s\n%s" % (procedures, office))
    if station:
        text += "\n[station]\n" + station
    with open(g.conf, "w", encoding="utf-8") as f:
        f.write(text)
    return g


def new_dossier(g, procedure=KHAI_SINH, **applicant):
    a = {"name": "Nguyễn Thị Hồng Nhung", "id_number": "001203004567", "phone": "0912345678",
         "address": "Số 12, ấp Chợ, xã Tân Hiệp, tỉnh Vĩnh Long", "email": "nhung@example.vn"}
    a.update(applicant)
    r = g.post("/api/v1/dossiers", {"procedure_code": procedure, "applicant": a, "channel": 1})
    assert r.status == 201, r
    return r.json()


def upload(g, code, paper=None, name="to-khai.pdf", data=None, ctype="application/pdf"):
    q = "name=" + urllib.parse.quote(name)
    if paper is not None:
        q += "&paper=" + urllib.parse.quote(paper)
    return g.post("/api/v1/dossiers/%s/documents?%s" % (code, q), data or sample_pdf(),
                  headers={"Content-Type": ctype})


def test_procedures_route_lists_names_fees_and_papers(tmp):
    g = gateway(tmp).start()
    r = g.get("/api/v1/procedures")
    assert r.status == 200, r
    procs = {p["code"]: p for p in r.json()["procedures"]}
    ks = procs[KHAI_SINH]
    assert ks["name"] == "Đăng ký khai sinh" and ks["processing_days"] == 0, ks
    assert ks["unit"] == "UBND xã" and ks["fee"].startswith("Miễn lệ phí"), ks
    assert ks["result_place"] == "Bộ phận Một cửa UBND xã", ks
    assert ks["papers"][0] == {"id": "to-khai", "name": "Tờ khai đăng ký khai sinh",
                               "form": "original", "count": 1}, ks["papers"]
    assert {p["form"] for p in ks["papers"]} == {"original", "copy", "either"}, ks["papers"]
    old = procs["1.001234"]  # a line of the first version's form
    assert old == {"code": "1.001234", "name": None, "processing_days": 5, "unit": "Phòng Tư pháp",
                   "fee": None, "result_place": None, "papers": []}, old
    assert g.get("/api/v1/procedures", token=None).status == 401
    # the dossier takes the procedure's name when the request gives none
    d = new_dossier(g)
    assert d["procedure_name"] == "Đăng ký khai sinh" and d["unit"] == "UBND xã", d


def test_papers_assignment_and_checklist(tmp):
    g = gateway(tmp, station="review = false\n").start()
    code = new_dossier(g)["code"]
    r = g.get("/api/v1/dossiers/%s/checklist" % code)
    assert r.status == 200, r
    cl = r.json()
    assert [p["id"] for p in cl["papers"]] == ["to-khai", "chung-sinh", "giay-to-tuy-than", "ket-hon"], cl
    assert cl["missing"] == ["to-khai", "chung-sinh", "giay-to-tuy-than", "ket-hon"], cl
    # an upload with ?paper=
    r = upload(g, code, paper="to-khai")
    assert r.status == 202, r
    doc1 = r.json()["id"]
    assert g.get("/api/v1/dossiers/%s/documents/%s" % (code, doc1)).json()["paper"] == "to-khai"
    # a paper of another procedure, or none at all: 400, nothing stored
    before = len(g.get("/api/v1/dossiers/" + code).json()["documents"])
    r = upload(g, code, paper="ban-sao")
    assert r.status == 400 and "ban-sao" in r.json()["detail"] and "to-khai" in r.json()["detail"], r
    assert upload(g, code, paper="").status == 400
    assert len(g.get("/api/v1/dossiers/" + code).json()["documents"]) == before
    # an upload without a paper, assigned afterwards
    doc2 = upload(g, code, name="chung-sinh.png", data=sample_png(), ctype="image/png").json()["id"]
    d2 = g.get("/api/v1/dossiers/%s/documents/%s" % (code, doc2)).json()
    assert d2["paper"] is None, d2
    path = "/api/v1/dossiers/%s/documents/%s/paper" % (code, doc2)
    r = g.post(path, {"paper": "chung-sinh"})
    assert r.status == 200 and r.json()["paper"] == "chung-sinh", r
    assert g.post(path, {"paper": "ban-chinh"}).status == 400
    assert g.post(path, {"paper": 3}).status == 400
    assert g.post(path, {"paper": "to-khai", "x": 1}).status == 400
    assert g.post(path, {}).status == 400
    assert g.post(path, {"paper": "to-khai"}, token="supervisor").status == 403
    assert g.post("/api/v1/dossiers/%s/documents/nope/paper" % code, {"paper": "to-khai"}).status == 404
    assert g.get("/api/v1/dossiers/%s/documents/%s" % (code, doc2)).json()["paper"] == "chung-sinh"
    cl = g.get("/api/v1/dossiers/%s/checklist" % code).json()
    got = {p["id"]: p["documents"] for p in cl["papers"]}
    assert got == {"to-khai": [doc1], "chung-sinh": [doc2], "giay-to-tuy-than": [], "ket-hon": []}, cl
    assert cl["missing"] == ["giay-to-tuy-than", "ket-hon"], cl
    # unassigning: null
    r = g.post(path, {"paper": None})
    assert r.status == 200 and r.json()["paper"] is None, r
    assert "chung-sinh" in g.get("/api/v1/dossiers/%s/checklist" % code).json()["missing"]
    ev = [e for e in events(g, "document.paper") if e["document_id"] == doc2]
    assert [e["paper"] for e in ev] == ["chung-sinh", None], ev
    # a scan with {"paper"}: checked before the scanner is asked
    r = g.post("/api/v1/dossiers/%s/scan" % code, {"paper": "ban-sao"})
    assert r.status == 400 and "ban-sao" in r.json()["detail"], r
    # a dossier of a procedure without papers: no paper is one of its
    old = new_dossier(g, procedure="1.001234")["code"]
    assert g.get("/api/v1/dossiers/%s/checklist" % old).json() == {"papers": [], "missing": []}
    assert upload(g, old, paper="to-khai").status == 400
    assert g.get("/api/v1/dossiers/000.00.12.H50-991231-0001/checklist").status == 404


def test_supplement_request_records_the_missing_papers(tmp):
    g = gateway(tmp).start()
    code = new_dossier(g)["code"]
    path = "/api/v1/dossiers/%s/status" % code
    assert g.post(path, {"status": 4, "missing": ["ket-hon"]}).status == 400
    assert g.post(path, {"status": 5, "missing": []}).status == 400
    assert g.post(path, {"status": 5, "missing": "ket-hon"}).status == 400
    r = g.post(path, {"status": 5, "missing": ["ban-sao"]})  # a typo'd id: not taken for a name
    assert r.status == 400 and "ban-sao" in r.json()["detail"], r
    assert g.post(path, {"status": 5, "missing": ["ket-hon", "ket-hon"]}).status == 400
    assert g.get("/api/v1/dossiers/" + code).json()["status"] == 1
    r = g.post(path, {"status": 5, "note": "Bổ sung trong 5 ngày làm việc",
                      "missing": ["ket-hon", "Giấy chứng sinh", "Giấy xác nhận cư trú"]})
    assert r.status == 200 and r.json()["status"] == 5, r
    ev = [e for e in events(g, "dossier.status") if e["code"] == code][-1]
    assert ev["details"]["missing"] == ["Giấy chứng nhận kết hôn của cha mẹ", "Giấy chứng sinh",
                                        "Giấy xác nhận cư trú"], ev
    assert ev["details"]["missing_papers"] == [
        {"id": "ket-hon", "name": "Giấy chứng nhận kết hôn của cha mẹ"},
        {"id": "chung-sinh", "name": "Giấy chứng sinh"},
        {"id": None, "name": "Giấy xác nhận cư trú"}], ev
    assert ev["details"]["note"] == "Bổ sung trong 5 ngày làm việc", ev


def events(g, type_):
    import sqlite3
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    rows = [json.loads(p) for (p,) in db.execute("SELECT payload FROM events WHERE type = ? ORDER BY id",
                                                 (type_,))]
    db.close()
    return rows


def test_procedures_file_errors_stop_the_gateway(tmp):
    cases = [
        ("1.001193;5;UBND xã\n  paper: to-khai;Tờ khai;bản chính;1\n", 2, "original, copy or either"),
        ("1.001193;5;UBND xã\n  phí: 5.000 đồng\n", 2, "unknown key"),
        ("  name: Khai sinh\n", 1, "procedure line above"),
        ("1.001193;five;UBND xã\n", 1, "CODE;WORKING_DAYS;UNIT"),
        ("1.001193;5\n  paper: a;Tờ khai;copy;1\n  paper: a;Tờ khai khác;copy;1\n", 3, "listed twice"),
    ]
    for i, (text, line, what) in enumerate(cases):
        pfile = os.path.join(tmp, "procedures-%d.txt" % i)
        with open(pfile, "w", encoding="utf-8") as f:
            f.write(text)
        os.makedirs(os.path.join(tmp, str(i)))
        g = gateway(os.path.join(tmp, str(i)), procedures=pfile)
        p = subprocess.run([GATEWAY, "--config", g.conf, "--check"], capture_output=True, timeout=20)
        err = p.stderr.decode()
        assert p.returncode == 78 and ("%s:%d:" % (pfile, line)) in err and what in err, (text, err)
    os.makedirs(os.path.join(tmp, "ok"))
    p = subprocess.run([GATEWAY, "--config", gateway(os.path.join(tmp, "ok")).conf, "--check"],
                       capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr


if __name__ == "__main__":
    run(globals())
