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


def gateway(tmp, procedures=SAMPLE, station="", office="", plugins=""):
    g = Gateway(tmp, plugins=plugins)
    with open(g.conf, encoding="utf-8") as f:
        text = f.read()
    text = text.replace("[office]\n", "[office]\nprocedures = %s\n%s" % (procedures, office))
    if station:
        text += "\n[station]\n" + station
    with open(g.conf, "w", encoding="utf-8") as f:
        f.write(text)
    return g


def new_dossier(g, procedure=KHAI_SINH, token="clerk", **applicant):
    a = {"name": "Nguyễn Thị Hồng Nhung", "id_number": "001203004567", "phone": "0912345678",
         "address": "Số 12, ấp Chợ, xã Tân Hiệp, tỉnh Vĩnh Long", "email": "nhung@example.vn"}
    a.update(applicant)
    r = g.post("/api/v1/dossiers", {"procedure_code": procedure, "applicant": a, "channel": 1},
               token=token)
    assert r.status == 201, r
    return r.json()


def upload(g, code, paper=None, name="to-khai.pdf", data=None, ctype="application/pdf", token="clerk"):
    q = "name=" + urllib.parse.quote(name)
    if paper is not None:
        q += "&paper=" + urllib.parse.quote(paper)
    return g.post("/api/v1/dossiers/%s/documents?%s" % (code, q), data or sample_pdf(),
                  headers={"Content-Type": ctype}, token=token)


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
    g = gateway(tmp).start()
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


def test_scan_with_a_paper(tmp):
    g = gateway(tmp, plugins="[test-capture]\nenabled = true\n").start()
    code = new_dossier(g)["code"]
    r = g.post("/api/v1/dossiers/%s/scan" % code, {"paper": "chung-sinh", "pages": 1, "delay_ms": 0})
    assert r.status == 202, r
    # (with [station] review = true it waits for the clerk after recognition)
    doc = g.wait_document(code, r.json()["id"], states=("done", "failed", "review"))
    assert doc["paper"] == "chung-sinh", doc
    assert g.get("/api/v1/dossiers/%s/checklist" % code).json()["papers"][1]["documents"] == [doc["id"]]
    r = g.post("/api/v1/dossiers/%s/scan" % code, {"paper": "to-khai x", "pages": 1})
    assert r.status == 400, r


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
    # [station] receipt_place is checked too
    os.makedirs(os.path.join(tmp, "place"))
    g = gateway(os.path.join(tmp, "place"), station="receipt_place =\n")
    p = subprocess.run([GATEWAY, "--config", g.conf, "--check"], capture_output=True, timeout=20)
    assert p.returncode == 78 and b"receipt_place" in p.stderr, p.stderr
    os.makedirs(os.path.join(tmp, "ok"))
    p = subprocess.run([GATEWAY, "--config", gateway(os.path.join(tmp, "ok")).conf, "--check"],
                       capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr


# ---- the receipt and form 02 ----

KET_HON = "1.000894"  # 5 working days, papers: to-khai, giay-to-tuy-than (2), xac-nhan-hon-nhan


def nfc(s):
    return unicodedata.normalize("NFC", s)


def words(s):
    return " ".join(nfc(s).split())


def pdf_text(tmp, data, name="form.pdf"):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(data)
    p = subprocess.run(["pdftotext", "-enc", "UTF-8", path, "-"], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    text = p.stdout.decode("utf-8")
    return text


def qr_codes(path):
    """The QR codes zbarimg reads in an image, in order."""
    p = subprocess.run(["zbarimg", "-q", "--raw", path], capture_output=True, timeout=60)
    assert p.returncode in (0, 4), p.stderr  # 4: nothing found
    return [l for l in p.stdout.decode("utf-8").split("\n") if l]


def pdf_qr_codes(tmp, data, name="form"):
    pdf = os.path.join(tmp, name + ".pdf")
    with open(pdf, "wb") as f:
        f.write(data)
    subprocess.run(["pdftoppm", "-r", "150", "-png", pdf, os.path.join(tmp, name)], check=True,
                   timeout=60)
    pages = sorted(f for f in os.listdir(tmp) if f.startswith(name + "-") and f.endswith(".png"))
    assert pages, os.listdir(tmp)
    return [c for page in pages for c in qr_codes(os.path.join(tmp, page))]


def png_header(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    w, h, depth, color = struct.unpack(">IIBB", data[16:26])
    return w, h, depth, color


def received_dossier(g, official_name="Trần Văn Bình"):
    """A marriage registration dossier received by a signed-in official (an
    account made with `motcua user add`, whose full name goes on the receipt),
    with two of its three papers handed in (one of them twice: two
    documents), and a document of no paper. Returns it with the official's
    session token as "token"."""
    username = "official%d" % (abs(hash(official_name)) % 10000)
    g.cli("user", "add", "--username", username, "--name", official_name, "--role", "clerk",
          "--unit", "UBND xã", "--password-stdin", input=b"mat-khau-du-dai-1\n")
    r = g.post("/api/v1/session", {"username": username, "password": "mat-khau-du-dai-1"}, token=None)
    assert r.status == 201, r
    tok = r.json()["token"]
    d = new_dossier(g, procedure=KET_HON, token=tok, name="Lê Thị Ánh Tuyết",
                    address="Ấp Phước Hưng, xã Tân Hiệp, tỉnh Vĩnh Long", phone="0987654321",
                    email="tuyet.le@example.vn")
    code = d["code"]
    assert d["official"] == username, d
    assert upload(g, code, paper="to-khai", name="tờ khai.pdf", token=tok).status == 202
    assert upload(g, code, paper="giay-to-tuy-than", name="CCCD chồng.pdf", token=tok).status == 202
    assert upload(g, code, paper="giay-to-tuy-than", name="CCCD vợ.pdf", token=tok).status == 202
    assert upload(g, code, name="Ảnh chân dung.png", data=sample_png(), ctype="image/png",
                  token=tok).status == 202
    d = g.get("/api/v1/dossiers/" + code).json()
    d["token"] = tok
    return d


def time_words(iso):
    # "2026-12-03T14:05:33+07:00" -> "14 giờ 05 phút, ngày 03/12/2026"
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)", iso)
    y, mo, d, h, mi = m.groups()
    return "%s giờ %s phút, ngày %s/%s/%s" % (h, mi, d, mo, y)


def test_receipt_pdf_has_every_field_of_form_01(tmp):
    g = gateway(tmp, station="receipt_place = Tân Hiệp\n").start()
    d = received_dossier(g)
    code, key = d["code"], d["lookup_key"]
    r = g.get("/api/v1/dossiers/%s/receipt.pdf" % code)
    assert r.status == 200 and r.headers["Content-Type"] == "application/pdf", r
    print("receipt.pdf drawn in %s ms" % r.headers.get("X-Render-Ms"))
    raw = pdf_text(tmp, r.body)
    assert raw == nfc(raw), "pdftotext's text is not NFC"
    text = words(raw)
    y, mo, day = d["received_at"][:10].split("-")
    expected = [
        "UBND XÃ", "BỘ PHẬN MỘT CỬA THỬ NGHIỆM",  # unit and office
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
        "Tân Hiệp, ngày %s tháng %s năm %s" % (day, mo, y),
        "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
        "Mã hồ sơ: " + code,
        "Lê Thị Ánh Tuyết", "Ấp Phước Hưng, xã Tân Hiệp, tỉnh Vĩnh Long",
        "Số điện thoại: 0987654321", "Email: tuyet.le@example.vn",
        "Nội dung yêu cầu giải quyết: Đăng ký kết hôn",
        "Thành phần hồ sơ nộp gồm",
        "1 Tờ khai đăng ký kết hôn Bản chính 01",
        "2 Giấy tờ tùy thân của hai bên nam, nữ Bản chính hoặc bản sao 02",
        "3 Ảnh chân dung.png Bản điện tử 01",
        "Thời gian giải quyết hồ sơ theo quy định là: 5 ngày làm việc",
        "Thời gian nhận hồ sơ: " + time_words(d["received_at"]),
        "Thời gian trả kết quả giải quyết hồ sơ: " + time_words(d["due_at"]),
        "Đăng ký nhận kết quả tại: Bộ phận Một cửa UBND xã",
        "Phí, lệ phí: Miễn lệ phí",
        "NGƯỜI TIẾP NHẬN HỒ SƠ", "Trần Văn Bình",  # the official's full name
        "NGƯỜI NỘP HỒ SƠ",
        "Liên 1: Lưu", "Liên 2: Giao người nộp",
        "Mã tra cứu", key,
    ]
    missing = [e for e in expected if nfc(e) not in text]
    assert not missing, (missing, text)
    # the paper not handed in is not listed as handed in
    assert "Giấy xác nhận tình trạng hôn nhân" not in text, text
    # pdftoppm renders it; the QR on each copy is the lookup URL with this code and key
    codes = pdf_qr_codes(tmp, r.body, "receipt")
    url = "http://127.0.0.1:%d/lookup?code=%s&key=%s" % (g.port, code, key)
    assert codes == [url, url], codes
    q = urllib.parse.parse_qs(urllib.parse.urlparse(codes[0]).query)
    assert q == {"code": [code], "key": [key]}, q
    # a reprint is the same receipt, byte for byte, also after a restart
    again = g.get("/api/v1/dossiers/%s/receipt.pdf" % code)
    assert again.status == 200 and again.body == r.body
    assert 'filename="' in again.headers.get("Content-Disposition", ""), again.headers
    g.stop()
    g.start()
    assert g.get("/api/v1/dossiers/%s/receipt.pdf" % code).body == r.body
    # who may print it
    assert g.get("/api/v1/dossiers/%s/receipt.pdf" % code, token="supervisor").status == 200
    assert g.get("/api/v1/dossiers/%s/receipt.pdf" % code, token="agency").status == 403
    assert g.get("/api/v1/dossiers/%s/receipt.pdf" % code, token=None).status == 401
    assert g.get("/api/v1/dossiers/000.00.12.H50-991231-0001/receipt.pdf").status == 404


def test_receipt_png_is_1_bit_for_thermal_printers(tmp):
    g = gateway(tmp, station="lookup_url = https://dichvucong.example.gov.vn/tra-cuu?ma={code}&k={key}\n").start()
    d = received_dossier(g)
    code, key = d["code"], d["lookup_key"]
    url = "https://dichvucong.example.gov.vn/tra-cuu?ma=%s&k=%s" % (code, key)
    for width in (576, 384):
        r = g.get("/api/v1/dossiers/%s/receipt.png?width=%d" % (code, width))
        assert r.status == 200 and r.headers["Content-Type"] == "image/png", r
        print("receipt.png?width=%d drawn in %s ms" % (width, r.headers.get("X-Render-Ms")))
        w, h, depth, color = png_header(r.body)
        assert (w, depth, color) == (width, 1, 0), (w, h, depth, color)
        assert h > w, (w, h)
        path = os.path.join(tmp, "receipt-%d.png" % width)
        with open(path, "wb") as f:
            f.write(r.body)
        assert qr_codes(path) == [url, url], qr_codes(path)  # the two copies
        assert g.get("/api/v1/dossiers/%s/receipt.png?width=%d" % (code, width)).body == r.body
    # no width: the 80 mm roll
    r = g.get("/api/v1/dossiers/%s/receipt.png" % code)
    assert r.status == 200 and png_header(r.body)[0] == 576
    for bad in ("500", "0", "x", "576px"):
        r = g.get("/api/v1/dossiers/%s/receipt.png?width=%s" % (code, bad))
        assert r.status == 400 and "576" in r.json()["detail"], r
    # the PDF's QR carries the configured URL too
    assert pdf_qr_codes(tmp, g.get("/api/v1/dossiers/%s/receipt.pdf" % code).body) == [url, url]


def test_supplement_request_form_02(tmp):
    g = gateway(tmp).start()
    d = received_dossier(g, official_name="Phạm Minh Khoa")
    code = d["code"]
    for form in ("supplement.pdf", "supplement.png"):
        r = g.get("/api/v1/dossiers/%s/%s" % (code, form))
        assert r.status == 409 and r.json()["error"] == "no_supplement_request", r
        assert g.get("/api/v1/dossiers/000.00.12.H50-991231-0001/" + form).status == 404
    r = g.post("/api/v1/dossiers/%s/status" % code, {
        "status": 5, "note": "Giấy tờ tùy thân đã hết hạn",
        "missing": ["xac-nhan-hon-nhan", "Bản sao sổ hộ khẩu"]}, token=d["token"])
    assert r.status == 200, r
    r = g.get("/api/v1/dossiers/%s/supplement.pdf" % code)
    assert r.status == 200 and r.headers["Content-Type"] == "application/pdf", r
    print("supplement.pdf drawn in %s ms" % r.headers.get("X-Render-Ms"))
    text = words(pdf_text(tmp, r.body))
    for e in ["PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ", "Mã hồ sơ: " + code, "Lê Thị Ánh Tuyết",
              "Đăng ký kết hôn", "Yêu cầu hoàn thiện hồ sơ gồm những nội dung sau",
              "1. Giấy xác nhận tình trạng hôn nhân", "2. Bản sao sổ hộ khẩu",
              "Giấy tờ tùy thân đã hết hạn", "Phạm Minh Khoa", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
              d["lookup_key"]]:
        assert nfc(e) in text, (e, text)
    url = "http://127.0.0.1:%d/lookup?code=%s&key=%s" % (g.port, code, d["lookup_key"])
    assert pdf_qr_codes(tmp, r.body, "supplement") == [url]
    assert g.get("/api/v1/dossiers/%s/supplement.pdf" % code).body == r.body
    r = g.get("/api/v1/dossiers/%s/supplement.png?width=384" % code)
    assert r.status == 200 and png_header(r.body)[:1] + png_header(r.body)[2:] == (384, 1, 0), r
    path = os.path.join(tmp, "supplement-384.png")
    with open(path, "wb") as f:
        f.write(r.body)
    assert qr_codes(path) == [url]
    # in process again: no supplement request any more
    assert g.post("/api/v1/dossiers/%s/status" % code, {"status": 4}).status == 200
    assert g.get("/api/v1/dossiers/%s/supplement.pdf" % code).status == 409
    # the receipt itself is unchanged by it
    assert g.get("/api/v1/dossiers/%s/receipt.pdf" % code).status == 200


if __name__ == "__main__":
    run(globals())
