# SPDX-License-Identifier: MIT
"""The citizen's lookup without a token: GET /api/v1/lookup?code=&key=, POST
/api/v1/lookup/rating and the page /lookup. The fields, the masked name, the
same answer for a wrong code or key, the per-address limit, the one-time
rating, and nothing else of the dossier."""
import json
import os
import sqlite3
from urllib.parse import quote

from gwtest import Gateway, run

FIELDS = {"code", "status", "status_text", "status_text_en", "procedure", "received_at", "due_at",
          "missing", "result_ready", "applicant", "rating_open"}


def lookup(g, code, key, source=None):
    return g.get("/api/v1/lookup?code=%s&key=%s" % (quote(code), quote(key)), token=None,
                 source=source)


def dossier(g, name="Nguyễn Văn An", **kw):
    r = g.post("/api/v1/dossiers", {"procedure_code": "1.001234", "procedure_name": "Đăng ký khai sinh",
                                    "applicant": {"name": name, "id_number": "001203004567",
                                                  "phone": "0901234567"},
                                    "channel": 1, **kw})
    assert r.status == 201, r
    return r.json()


def set_status(g, code, status, **extra):
    r = g.post("/api/v1/dossiers/%s/status" % code, dict(status=status, **extra))
    return r


def test_fields_status_and_masking(tmp):
    g = Gateway(tmp).start()
    d = dossier(g, processing_days=3)
    r = lookup(g, d["code"], d["lookup_key"])
    assert r.status == 200, r
    j = r.json()
    assert set(j) == FIELDS, j
    assert j["code"] == d["code"] and j["status"] == 1, j
    assert j["status_text"] == "Hồ sơ mới được tiếp nhận" and j["status_text_en"] == "Newly received", j
    assert j["procedure"] == {"code": "1.001234", "name": "Đăng ký khai sinh"}, j
    assert j["received_at"] == d["received_at"] and j["due_at"] == d["due_at"] and j["due_at"], (j, d)
    assert j["applicant"] == {"name": "Nguyễn V. A."}, j
    assert j["missing"] == [] and j["result_ready"] is False and j["rating_open"] is True, j
    # nothing else of the dossier: no ID number, phone, full name, documents, official
    for secret in ("001203004567", "0901234567", "Nguyễn Văn An", "test clerk", d["lookup_key"],
                   "documents", "id_number", "phone", "official"):
        assert secret not in r.body.decode(), secret
    # every national status in plain words; the result ready at 9 and 10
    texts = set()
    for status in range(2, 11):
        assert set_status(g, d["code"], status).status == 200
        j = lookup(g, d["code"], d["lookup_key"]).json()
        assert j["status"] == status and j["status_text"] and j["status_text_en"], j
        assert j["result_ready"] == (status in (9, 10)), j
        texts.add(j["status_text"])
    assert len(texts) == 9, texts
    assert lookup(g, d["code"], d["lookup_key"]).json()["status_text"] == "Đã trả kết quả"
    # other names
    for name, masked in (("Võ Thị Sáu", "Võ T. S."), ("Đặng   Thị  Ánh Tuyết", "Đặng T. Á. T."),
                         ("Ê", "Ê."), ("Hoàng", "H."), ("Ông Ích Khiêm", "Ông Í. K.")):
        d2 = dossier(g, name=name)
        assert lookup(g, d2["code"], d2["lookup_key"]).json()["applicant"]["name"] == masked, name
    g.stop()


def test_missing_papers(tmp):
    g = Gateway(tmp).start()
    d = dossier(g)
    code, key = d["code"], d["lookup_key"]
    papers = ["Bản sao Căn cước công dân", "Giấy chứng sinh"]
    r = set_status(g, code, 5, note="Thiếu giấy tờ", missing=papers)
    if r.status == 400:
        # the supplement request's "missing" is the receipt's part (issue 12
        # §6): until it is there, its event is written as it will be
        assert set_status(g, code, 5, note="Thiếu giấy tờ").status == 200
        db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
        db.execute("INSERT INTO events(at, type, payload) VALUES(strftime('%s','now'), 'dossier.status', ?)",
                   (json.dumps({"code": code, "status": 5, "previous": 1, "by": "test clerk",
                                "details": {"note": "Thiếu giấy tờ", "missing": papers}}),))
        db.commit()
        db.close()
    j = lookup(g, code, key).json()
    assert j["status"] == 5 and j["missing"] == papers, j
    assert j["status_text"] == "Hồ sơ cần bổ sung giấy tờ", j
    # supplemented: in process again, nothing missing any more
    assert set_status(g, code, 4).status == 200
    assert lookup(g, code, key).json()["missing"] == []
    g.stop()


def test_same_answer_for_wrong_code_or_key(tmp):
    g = Gateway(tmp).start()
    a, b = dossier(g), dossier(g, name="Trần Thị Bình")
    wrong_key = "".join("0" if c != "0" else "1" for c in a["lookup_key"])
    answers = [lookup(g, a["code"], wrong_key),                      # wrong key
               lookup(g, a["code"][:-1] + "9", a["lookup_key"]),     # wrong code
               lookup(g, a["code"], b["lookup_key"]),                # another dossier's key
               lookup(g, "000.00.00.H00-991231-0001", "ABCDEFGH"),   # nothing at all
               lookup(g, a["code"], "ABC"),                          # not a key
               lookup(g, a["code"], a["lookup_key"] + "0"),          # too long
               lookup(g, "x" * 300, a["lookup_key"])]
    for r in answers:
        assert r.status == 404 and r.body == answers[0].body, (r, answers[0])
    assert answers[0].json()["error"] == "not_found"
    # the key as a citizen may type it: lower case, a dash, O for 0, I or L for 1
    k = a["lookup_key"]
    typed = (k[:4] + "-" + k[4:]).lower().replace("0", "o").replace("1", "l")
    assert lookup(g, a["code"], typed).status == 200, typed
    # missing parameters are a 400
    assert g.get("/api/v1/lookup?code=" + quote(a["code"]), token=None).status == 400
    assert g.get("/api/v1/lookup", token=None).status == 400
    # public routes only these: under /api/v1/ an unknown path still asks for a token first
    assert g.get("/api/v1/lookup/other", token=None).status == 401
    assert g.get("/api/v1/lookups", token=None).status == 401
    assert g.get("/api/v1/dossiers/%s" % a["code"], token=None).status == 401
    r = g.request("DELETE", "/api/v1/lookup", token=None)
    assert r.status == 405 and r.headers["Allow"] == "GET", r
    assert g.get("/api/v1/lookup/rating", token=None).status == 405
    g.stop()


def test_rate_limit_per_address(tmp):
    g = Gateway(tmp).start()
    d = dossier(g)
    for i in range(30):
        r = lookup(g, d["code"], d["lookup_key"] if i % 2 else "ZZZZZZZZ", source="127.0.0.2")
        assert r.status in (200, 404), (i, r)
    r = lookup(g, d["code"], d["lookup_key"], source="127.0.0.2")
    assert r.status == 429 and r.json()["error"] == "too_many_requests", r
    assert 0 < int(r.headers["Retry-After"]) <= 600, r.headers
    # the rating counts against the same limit
    r = g.post("/api/v1/lookup/rating", {"code": d["code"], "key": d["lookup_key"], "level": 1},
               token=None, source="127.0.0.2")
    assert r.status == 429, r
    # another address is not limited; the limit outlives a restart
    assert lookup(g, d["code"], d["lookup_key"], source="127.0.0.3").status == 200
    g.stop()
    g.start()
    assert lookup(g, d["code"], d["lookup_key"], source="127.0.0.2").status == 429
    assert lookup(g, d["code"], d["lookup_key"]).status == 200
    g.stop()


def test_one_time_rating(tmp):
    g = Gateway(tmp).start()
    d = dossier(g)
    code, key = d["code"], d["lookup_key"]
    for body, status in (({"code": code, "key": key, "level": 4}, 400),
                         ({"code": code, "key": key, "level": "1"}, 400),
                         ({"code": code, "key": key}, 400),
                         ({"code": code, "key": key, "level": 1, "comment": "x"}, 400),
                         ({"code": code, "key": "ZZZZZZZZ", "level": 1}, 404),
                         ({"code": code + "1", "key": key, "level": 1}, 404)):
        r = g.post("/api/v1/lookup/rating", body, token=None)
        assert r.status == status, (body, r)
    r = g.post("/api/v1/lookup/rating", {"code": code, "key": key.lower(), "level": 2}, token=None)
    assert r.status == 201 and r.json() == {"code": code, "level": 2}, r
    r = g.post("/api/v1/lookup/rating", {"code": code, "key": key, "level": 1}, token=None)
    assert r.status == 409 and r.json()["error"] == "already_rated", r
    assert lookup(g, code, key).json()["rating_open"] is False
    # the kiosk's rating of that dossier is refused too: one per dossier
    r = g.post("/api/v1/ratings", {"dossier_code": code, "level": 1}, token=g.token("kiosk"))
    assert r.status == 409, r
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    rows = db.execute("SELECT dossier_code, level, created_by FROM ratings").fetchall()
    ev = [json.loads(p) for (p,) in db.execute("SELECT payload FROM events WHERE type = 'rating.added'")]
    db.close()
    assert rows == [(code, 2, "lookup")], rows
    assert len(ev) == 1 and ev[0]["dossier_code"] == code and ev[0]["official"] == "test clerk", ev
    g.stop()


def test_page(tmp):
    g = Gateway(tmp).start()
    for path in ("/lookup", "/lookup?code=000.00.00.H00-261203-0001&key=ABCDEFGH"):
        r = g.get(path, token=None)
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/html"), r
        page = r.body.decode()
        assert "Tra cứu hồ sơ" in page and "Dossier lookup" in page and 'lang="vi"' in page
        assert "/api/v1/lookup" in page and "/api/v1/lookup/rating" in page
        # nothing fetched from elsewhere
        for bad in ("http://", "https://", "//cdn", "<link", "src=\""):
            assert bad not in page, bad
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert g.request("POST", "/lookup", token=None).status == 405
    g.stop()


def test_page_in_a_browser(tmp):
    """The page as a citizen's phone shows it (headless Chromium): filled in
    from the receipt's URL, the status, the English switch, the rating once.
    Its screenshots go to the build folder (screenshots/)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        print("skip: no selenium")
        return
    g = Gateway(tmp).start()
    d = dossier(g)
    assert set_status(g, d["code"], 9).status == 200
    o = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=412,915"):
        o.add_argument(a)
    b = webdriver.Chrome(options=o)
    shots = os.path.join(os.path.abspath(os.environ.get("MOTCUA_BUILD_ROOT", tmp)), "screenshots")
    os.makedirs(shots, exist_ok=True)
    try:
        wait = WebDriverWait(b, 20)
        text = lambda i: b.find_element("id", i).text
        b.get("http://127.0.0.1:%d/lookup?code=%s&key=%s" % (g.port, quote(d["code"]), d["lookup_key"]))
        wait.until(lambda _: text("status"))
        assert text("status") == "Đã có kết quả, mời công dân đến nhận", text("status")
        assert text("r-applicant") == "Nguyễn V. A." and text("r-ready") == "Đã có kết quả"
        assert text("r-procedure") == "Đăng ký khai sinh"
        assert b.find_element("id", "rating").is_displayed()
        b.save_screenshot(os.path.join(shots, "lookup.png"))
        b.find_element("id", "lang").click()
        wait.until(lambda _: text("status") == "The result is ready to be collected")
        assert text("r-ready") == "Ready" and b.find_element("id", "lang").text == "Tiếng Việt"
        b.find_element("css selector", ".levels button[data-level='1']").click()
        wait.until(lambda _: text("rating-msg"))
        assert text("rating-msg") == "Thank you for your rating.", text("rating-msg")
        b.save_screenshot(os.path.join(shots, "lookup-rated-en.png"))
        # a wrong key: the same words as for an unknown dossier
        b.get("http://127.0.0.1:%d/lookup?code=%s&key=ZZZZZZZZ" % (g.port, quote(d["code"])))
        wait.until(lambda _: text("error"))
        assert text("error") == "Không tìm thấy hồ sơ với mã hồ sơ và mã tra cứu này.", text("error")
        assert not b.find_element("id", "result").is_displayed()
    finally:
        b.quit()
    assert lookup(g, d["code"], d["lookup_key"]).json()["rating_open"] is False
    g.stop()


run(globals())
