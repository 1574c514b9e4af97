# SPDX-License-Identifier: MIT
"""Following a queue ticket on the citizen's phone (station/src/follow.c): the
ticket's QR code GET /api/v1/tickets/{id}/qr.png (read back with zbarimg), the
public GET /api/v1/queue/follow?ticket=&key= (its fields, the people ahead as
tickets are called, the same 404 for a wrong id or key, a ticket of another
day, the per-address limit), and the page /station/follow."""
import os
import sqlite3
import struct
import subprocess
from urllib.parse import parse_qs, quote, urlsplit

from gwtest import Gateway, run

FIELDS = {"number", "service", "service_name", "state", "ahead", "counter", "called_at", "issued_at"}
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
FOLLOW_LIMIT = 120  # follow.h


def station(tmp):
    return Gateway(tmp, plugins="[station]\nreview = false\n")


def issue(g, body=None, token="clerk"):
    r = g.post("/api/v1/tickets", body or {}, token=token)
    assert r.status == 201, r
    return r.json()


def qr_url(g, tmp, ticket_id, token="clerk", headers=None):
    """The URL the ticket's QR code holds, as zbarimg reads it."""
    r = g.get("/api/v1/tickets/%d/qr.png" % ticket_id, token=token, headers=headers)
    assert r.status == 200, r
    assert r.headers["Content-Type"] == "image/png", r.headers
    assert r.headers["Cache-Control"] == "private", r.headers
    body = r.body
    # a 1-bit grayscale PNG, square, with a quiet zone (white corners)
    assert body[:8] == b"\x89PNG\r\n\x1a\n" and body[12:16] == b"IHDR", body[:32]
    w, h, depth, color = struct.unpack(">IIBB", body[16:26])
    assert w == h and w >= 100 and depth == 1 and color == 0, (w, h, depth, color)
    path = os.path.join(tmp, "qr-%d.png" % ticket_id)
    with open(path, "wb") as f:
        f.write(body)
    p = subprocess.run(["zbarimg", "-q", "--raw", path], capture_output=True, timeout=60)
    assert p.returncode == 0, p
    codes = [l for l in p.stdout.decode().split("\n") if l]
    assert len(codes) == 1, codes
    return codes[0]


def key_of(url):
    q = parse_qs(urlsplit(url).query)
    return q["ticket"][0], q["key"][0]


def follow(g, ticket, key, source=None):
    return g.get("/api/v1/queue/follow?ticket=%s&key=%s" % (quote(str(ticket)), quote(key)),
                 token=None, source=source)


def test_qr_png_holds_the_follow_url(tmp):
    g = station(tmp).start()
    kiosk = g.token("kiosk")
    a, b = issue(g, {"service": "HT"}, token=kiosk), issue(g, {"service": "HT"}, token=kiosk)
    url = qr_url(g, tmp, a["id"], token=kiosk)
    u = urlsplit(url)
    assert u.scheme == "http" and u.netloc == "127.0.0.1:%d" % g.port, url
    assert u.path == "/station/follow", url
    tid, key = key_of(url)
    assert tid == str(a["id"]) and len(key) == 8 and all(c in ALPHABET for c in key), url
    # the same ticket, the same key (a reprint); another ticket, another key
    assert qr_url(g, tmp, a["id"]) == url
    url_b = qr_url(g, tmp, b["id"])
    assert key_of(url_b)[0] == str(b["id"]) and key_of(url_b)[1] != key, (url, url_b)
    # the Host the kiosk used, when it is a plain one; else where the gateway listens
    assert urlsplit(qr_url(g, tmp, a["id"], headers={"Host": "192.168.1.20:8080"})).netloc == \
        "192.168.1.20:8080"
    assert urlsplit(qr_url(g, tmp, a["id"], headers={"Host": "evil\"host/x"})).netloc == \
        "127.0.0.1:%d" % g.port
    # the URL's key opens the ticket
    r = follow(g, tid, key)
    assert r.status == 200 and r.json()["number"] == a["number"], r
    # unknown tickets; roles
    for bad in ("999999", "0", "-1", "abc", "1x"):
        r = g.get("/api/v1/tickets/%s/qr.png" % bad)
        assert r.status == 404 and r.json()["error"] == "not_found", (bad, r)
    for role in ("clerk", "supervisor", "admin"):
        assert g.get("/api/v1/tickets/%d/qr.png" % a["id"], token=role).status == 200, role
    assert g.get("/api/v1/tickets/%d/qr.png" % a["id"], token="agency").status == 403
    assert g.get("/api/v1/tickets/%d/qr.png" % a["id"], token=None).status == 401
    # the key's secret outlives a restart: printed tickets keep working
    g.stop()
    g.start()
    assert qr_url(g, tmp, a["id"]) == url
    assert follow(g, tid, key).status == 200
    mode = os.stat(os.path.join(g.data, "follow.key")).st_mode & 0o777
    assert mode == 0o600, oct(mode)
    g.stop()


def test_public_url(tmp):
    """[station] public_url: the address phones reach, whatever Host the kiosk used."""
    g = Gateway(tmp, plugins="[station]\nreview = false\npublic_url = https://motcua.xa.gov.vn/qm\n").start()
    a = issue(g)
    url = qr_url(g, tmp, a["id"], headers={"Host": "127.0.0.1:1"})
    assert url.startswith("https://motcua.xa.gov.vn/qm/station/follow?ticket=%d&key=" % a["id"]), url
    g.stop()
    for bad in ("motcua.xa.gov.vn", "ftp://x", "http://", "http:///x", "http://x/", "http://x?a=1",
                "http://x/#f", "http://a b", "http://" + "x" * 200):
        p = subprocess.run([os.environ["MOTCUA_GATEWAY"], "--config", g.conf, "-o",
                            "station.public_url=" + bad, "--check"], capture_output=True, timeout=60)
        assert p.returncode == 78 and b"[station] public_url" in p.stderr, (bad, p)
    p = subprocess.run([os.environ["MOTCUA_GATEWAY"], "--config", g.conf, "-o",
                        "station.public_url=http://192.168.1.10:8080", "--check"], capture_output=True,
                       timeout=60)
    assert p.returncode == 0, p


def test_fields_and_people_ahead(tmp):
    g = station(tmp).start()
    t = [issue(g, {"service": "HT"}) for _ in range(3)]
    other = issue(g, {"service": "CT"})
    keys = [key_of(qr_url(g, tmp, x["id"]))[1] for x in t]
    j = follow(g, t[2]["id"], keys[2]).json()
    assert set(j) == FIELDS, j
    assert j["number"] == t[2]["number"] and j["service"] == "HT" and j["service_name"] == "Hộ tịch", j
    assert j["state"] == "waiting" and j["ahead"] == 2 and j["counter"] is None, j
    assert j["called_at"] is None and j["issued_at"] == t[2]["issued_at"], j
    assert follow(g, t[0]["id"], keys[0]).json()["ahead"] == 0
    # nothing else of the ticket (who issued it, its id, the official)
    body = follow(g, t[2]["id"], keys[2]).body.decode()
    for secret in ("test clerk", "official", "priority", '"id"', keys[2]):
        assert secret not in body, secret
    # calls move it up
    r = g.post("/api/v1/tickets/next", {"counter": "2", "services": ["HT"]})
    assert r.status == 200 and r.json()["id"] == t[0]["id"], r
    assert follow(g, t[2]["id"], keys[2]).json()["ahead"] == 1
    j = follow(g, t[0]["id"], keys[0]).json()
    assert j["state"] == "called" and j["counter"] == "2" and j["called_at"] and j["ahead"] == 0, j
    assert g.post("/api/v1/tickets/%d/start" % t[0]["id"], {}).status == 200
    assert follow(g, t[0]["id"], keys[0]).json()["state"] == "serving"
    assert g.post("/api/v1/tickets/%d/done" % t[0]["id"], {}).status == 200
    assert follow(g, t[0]["id"], keys[0]).json()["state"] == "done"
    assert g.post("/api/v1/tickets/next", {"counter": "3", "services": ["HT"]}).json()["id"] == t[1]["id"]
    j = follow(g, t[2]["id"], keys[2]).json()
    assert j["ahead"] == 0 and j["state"] == "waiting", j
    assert g.post("/api/v1/tickets/%d/no-show" % t[1]["id"], {}).status == 200
    assert follow(g, t[1]["id"], keys[1]).json()["state"] == "no_show"
    g.post("/api/v1/tickets/next", {"counter": "3", "services": ["HT"]})
    r = g.post("/api/v1/tickets/%d/transfer" % t[2]["id"], {"service": "CT"})
    assert r.status == 200, r
    j = follow(g, t[2]["id"], keys[2]).json()
    assert j["state"] == "transferred" and j["ahead"] == 0, j
    # in the other service the transferred citizen keeps their place: ahead of a later ticket
    j = follow(g, other["id"], key_of(qr_url(g, tmp, other["id"]))[1]).json()
    assert j["service"] == "CT" and j["ahead"] == 1, j
    g.stop()


def test_wrong_id_or_key_same_404(tmp):
    g = station(tmp).start()
    a, b = issue(g), issue(g)
    ka, kb = key_of(qr_url(g, tmp, a["id"]))[1], key_of(qr_url(g, tmp, b["id"]))[1]
    wrong = "".join("0" if c != "0" else "1" for c in ka)
    answers = [follow(g, a["id"], wrong),            # wrong key
               follow(g, a["id"], kb),               # another ticket's key
               follow(g, b["id"] + 1000, ka),        # no such ticket
               follow(g, "abc", ka),                 # not a ticket id
               follow(g, a["id"], "ABC"),            # not a key
               follow(g, a["id"], ka + "0"),         # too long
               follow(g, a["id"], "UUUUUUUU")]       # not the alphabet
    for r in answers:
        assert r.status == 404 and r.body == answers[0].body, (r, answers[0])
    assert answers[0].json()["error"] == "not_found"
    assert follow(g, a["id"], ka.lower()).status == 200
    assert g.get("/api/v1/queue/follow?ticket=%d" % a["id"], token=None).status == 400
    assert g.get("/api/v1/queue/follow", token=None).status == 400
    # nothing else public: the queue itself still wants a token
    assert g.get("/api/v1/queue", token=None).status == 401
    assert g.get("/api/v1/tickets", token=None).status == 401
    assert g.request("POST", "/api/v1/queue/follow", token=None).status == 405
    g.stop()


def test_ticket_of_another_day(tmp):
    g = station(tmp).start()
    old, new = issue(g), issue(g)
    key_old = key_of(qr_url(g, tmp, old["id"]))[1]
    # yesterday's ticket, left waiting when the office closed
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    db.execute("UPDATE tickets SET day = '000101', issued_at = issued_at - 86400 WHERE id = ?",
               (old["id"],))
    db.commit()
    db.close()
    # the key is the day's: the one printed then is the one it has now
    assert follow(g, old["id"], key_old).status == 404
    key_day = key_of(qr_url(g, tmp, old["id"]))[1]
    j = follow(g, old["id"], key_day).json()
    assert j["state"] == "waiting" and j["ahead"] == 0, j
    assert j["issued_at"][:10] != new["issued_at"][:10], (j, new)
    # today's ticket does not count it
    j = follow(g, new["id"], key_of(qr_url(g, tmp, new["id"]))[1]).json()
    assert j["ahead"] == 0, j
    g.stop()


def test_limit_per_address(tmp):
    g = station(tmp).start()
    a = issue(g)
    key = key_of(qr_url(g, tmp, a["id"]))[1]
    for i in range(FOLLOW_LIMIT):
        r = follow(g, a["id"], key if i % 2 else "ZZZZZZZZ", source="127.0.0.2")
        assert r.status in (200, 404), (i, r)
    r = follow(g, a["id"], key, source="127.0.0.2")
    assert r.status == 429 and r.json()["error"] == "too_many_requests", r
    assert 0 < int(r.headers["Retry-After"]) <= 600, r.headers
    # another address is not limited; the lookup's limit is its own
    assert follow(g, a["id"], key, source="127.0.0.3").status == 200
    r = g.get("/api/v1/lookup?code=x&key=ABCDEFGH", token=None, source="127.0.0.2")
    assert r.status == 404, r
    g.stop()


def test_page(tmp):
    g = station(tmp).start()
    for path in ("/station/follow", "/station/follow?ticket=1&key=ABCDEFGH"):
        r = g.get(path, token=None)
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/html"), r
        page = r.body.decode()
        assert 'lang="vi"' in page and "Theo dõi số thứ tự" in page and "Follow your ticket" in page
        assert "/api/v1/queue/follow" in page and "15000" in page
        for words in ("Đang chờ", "Mời đến quầy số ", "Đang được phục vụ", "Đã xong", "Vắng mặt",
                      "Đã chuyển"):
            assert words in page, words
        assert 'name="viewport"' in page
        # nothing fetched from elsewhere
        for bad in ("http://", "https://", "//cdn", "<link", "src=\"", "@import", "url("):
            assert bad not in page, bad
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert g.request("POST", "/station/follow", token=None).status == 405
    g.stop()


def test_page_in_a_browser(tmp):
    """The page as a citizen's phone shows it (headless Chromium), opened from
    the ticket's QR: the number, the people ahead, the call to a counter, the
    English switch; a wrong key. Screenshots go to the build folder."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        print("skip: no selenium")
        return
    g = station(tmp).start()
    first, mine = issue(g, {"service": "HT"}), issue(g, {"service": "HT"})
    url = qr_url(g, tmp, mine["id"])
    o = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=412,915"):
        o.add_argument(a)
    b = webdriver.Chrome(options=o)
    shots = os.path.join(os.path.abspath(os.environ.get("MOTCUA_BUILD_ROOT", tmp)), "screenshots")
    os.makedirs(shots, exist_ok=True)
    try:
        wait = WebDriverWait(b, 20)
        text = lambda i: b.find_element("id", i).text
        b.get(url)
        wait.until(lambda _: text("number"))
        assert text("number") == str(mine["number"]) and text("service") == "Hộ tịch"
        assert text("state") == "Đang chờ" and text("ahead") == "Còn 1 người trước ông/bà", text("ahead")
        assert not b.find_element("id", "old").is_displayed()
        b.save_screenshot(os.path.join(shots, "follow-waiting.png"))
        assert g.post("/api/v1/tickets/next", {"counter": "2"}).json()["id"] == first["id"]
        b.get(url)
        wait.until(lambda _: text("ahead") == "Ông/bà là người tiếp theo")
        assert g.post("/api/v1/tickets/next", {"counter": "2"}).json()["id"] == mine["id"]
        b.get(url)
        wait.until(lambda _: text("state") == "Mời đến quầy số 2")
        assert not b.find_element("id", "ahead").is_displayed()
        b.save_screenshot(os.path.join(shots, "follow-called.png"))
        b.find_element("id", "lang").click()
        wait.until(lambda _: text("state") == "Please go to counter 2")
        assert b.find_element("id", "lang").text == "Tiếng Việt"
        tid, key = key_of(url)
        b.get(url.replace("key=" + key, "key=ZZZZZZZZ"))
        wait.until(lambda _: text("error"))
        assert text("error").startswith("Không tìm thấy số thứ tự này"), text("error")
        assert not b.find_element("id", "ticket").is_displayed()
    finally:
        b.quit()
    g.stop()


if __name__ == "__main__":
    run(globals())
