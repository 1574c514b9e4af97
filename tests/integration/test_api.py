# SPDX-License-Identifier: MIT
"""HTTP API v1 against the real gateway: routes, auth on every route, input
validation, uploads, events."""
import http.client
import json
import os
import re
import socket
import time

from gwtest import AGENCY, Gateway, run, sample_pdf, sample_png, vn_today
import gwtest  # noqa: E402

# These tests expect documents to go on to signing and archiving by
# themselves: without the clerk's review (test_review.py has it).
gwtest.REVIEW = False

CODE_RE = re.compile(r"^000\.00\.12\.H50-\d{6}-\d{4}$")


def test_health_needs_no_token(tmp):
    g = Gateway(tmp).start()
    r = g.get("/api/v1/health", token=None)
    assert r.status == 200, r
    j = r.json()
    assert j["status"] == "ok" and j["version"], j
    assert r.headers["Content-Type"].startswith("application/json")


def test_auth_on_every_route(tmp):
    g = Gateway(tmp, plugins="[test-steps]\nenabled = true\n").start()
    d = g.create_dossier()
    up = g.upload(d["code"], sample_pdf())
    assert up.status == 202, up
    doc = up.json()["id"]
    code = d["code"]
    routes = [
        ("GET", "/api/v1/plugins", None),
        ("POST", "/api/v1/dossiers", {"procedure_code": "1.1", "channel": 1,
                                      "applicant": {"name": "A", "id_number": "001203004567"}}),
        ("GET", "/api/v1/dossiers", None),
        ("GET", "/api/v1/dossiers/" + code, None),
        ("POST", "/api/v1/dossiers/%s/documents?name=x" % code, None),
        ("GET", "/api/v1/dossiers/%s/documents/%s" % (code, doc), None),
        ("GET", "/api/v1/dossiers/%s/documents/%s/content" % (code, doc), None),
        ("GET", "/api/v1/events", None),
        ("GET", "/metrics", None),
        ("GET", "/api/v1/plugins/test-steps/stats", None),
        ("GET", "/api/v1/nope", None),
    ]
    revoked = g.token("clerk", "revoked clerk")
    tid = [l for l in g.cli("token", "list").stdout.decode().splitlines() if "revoked clerk" in l][0].split()[0]
    g.cli("token", "revoke", tid)
    for method, path, body in routes:
        for tok in (None, "mct_" + "0" * 40, "garbage", revoked):
            r = g.request(method, path, body=body, token=tok)
            assert r.status == 401, (method, path, tok, r)
            assert r.json()["error"] == "unauthorized", r
            assert "Bearer" in r.headers.get("WWW-Authenticate", ""), r.headers
    # Roles: who may do what (403 with a reason, never a silent success).
    body = {"procedure_code": "1.1", "channel": 1,
            "applicant": {"name": "A", "id_number": "001203004567"}}
    for role in ("supervisor", "agency"):
        r = g.post("/api/v1/dossiers", body, token=role)
        assert r.status == 403 and r.json()["error"] == "forbidden", (role, r)
        r = g.upload(code, sample_pdf(), token=role)
        assert r.status == 403, (role, r)
    for role in ("clerk", "agency"):
        assert g.get("/metrics", token=role).status == 403
    assert g.get("/api/v1/plugins", token="agency").status == 403
    assert g.get("/api/v1/events", token="agency").status == 403
    assert g.get("/api/v1/plugins/test-steps/stats", token="supervisor").status == 403
    for role in ("clerk", "supervisor", "admin", "agency"):
        assert g.get("/api/v1/dossiers/" + code, token=role).status == 200, role
    assert g.post("/api/v1/dossiers", body, token="admin").status == 201
    m = g.get("/metrics", token="supervisor")
    assert m.status == 200 and b"motcua_dossiers_total 2" in m.body, m


def test_create_dossier(tmp):
    g = Gateway(tmp).start()
    r = g.post("/api/v1/dossiers", {"procedure_code": "1.001234", "procedure_name": "Đăng ký khai sinh",
                                    "applicant": {"name": "Trần Thị Đào", "id_number": "079190001234",
                                                  "phone": "0912345678"}, "channel": 2})
    assert r.status == 201, r
    d = r.json()
    assert CODE_RE.match(d["code"]), d
    assert d["code"] == "%s-%s-0001" % (AGENCY, vn_today()), d
    assert r.headers["Location"] == "/api/v1/dossiers/" + d["code"]
    assert d["status"] == 1 and d["channel"] == 2 and d["documents"] == []
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00$", d["received_at"]), d
    assert d["applicant"] == {"name": "Trần Thị Đào", "id_number": "079190001234", "phone": "0912345678",
                              "address": None, "email": None}
    # the lookup key printed on the receipt: 8 characters of Crockford's base 32
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{8}", d["lookup_key"]), d
    assert d["procedure_name"] == "Đăng ký khai sinh"
    got = g.get("/api/v1/dossiers/" + d["code"]).json()
    assert got == d, (got, d)
    assert g.create_dossier()["code"].endswith("-0002")
    assert g.get("/api/v1/dossiers/%s-%s-0099" % (AGENCY, vn_today())).status == 404
    r = g.post("/api/v1/dossiers", {"procedure_code": "1.001234", "channel": 1,
                                    "applicant": {"name": "Phạm Thị Ánh", "id_number": "001203004567",
                                                  "address": "Số 12, ngõ 34 phố Hàng Bạc, Hoàn Kiếm, Hà Nội",
                                                  "email": "anh.pham@example.vn"}})
    assert r.status == 201, r
    a = r.json()["applicant"]
    assert a["address"] == "Số 12, ngõ 34 phố Hàng Bạc, Hoàn Kiếm, Hà Nội" and a["email"] == "anh.pham@example.vn", a
    assert r.json()["lookup_key"] != d["lookup_key"]


def test_bad_dossier_input_changes_nothing(tmp):
    g = Gateway(tmp).start()
    ok = {"procedure_code": "1.001234", "applicant": {"name": "Lê Văn Tám", "id_number": "001203004567"},
          "channel": 1}
    bad_bodies = [
        (b"{", "bad_json"),
        (b"[]", "bad_json"),
        (b"\"x\"", "bad_json"),
        (b'{"procedure_code": "1", "procedure_code": "2"}', "bad_json"),
        (b'{"procedure_code": "\xff\xfe", "channel": 1}', "bad_json"),
    ]
    for body, err in bad_bodies:
        r = g.post("/api/v1/dossiers", body, headers={"Content-Type": "application/json"})
        assert r.status == 400 and r.json()["error"] == err, (body, r)
        assert r.json()["detail"], r
    variants = [
        {k: v for k, v in ok.items() if k != "procedure_code"},
        {**ok, "procedure_code": ""},
        {**ok, "procedure_code": 12},
        {**ok, "procedure_code": "a b"},
        {**ok, "procedure_code": "x" * 65},
        {**ok, "channel": 4},
        {**ok, "channel": 0},
        {**ok, "channel": "1"},
        {k: v for k, v in ok.items() if k != "channel"},
        {**ok, "applicant": "Lê Văn Tám"},
        {**ok, "applicant": {"name": "Lê Văn Tám"}},
        {**ok, "applicant": {"name": "", "id_number": "001203004567"}},
        {**ok, "applicant": {"name": "Lê Văn Tám", "id_number": "12345"}},
        {**ok, "applicant": {"name": "Lê Văn Tám", "id_number": "00120300456X"}},
        {**ok, "applicant": {"name": "Lê Văn Tám", "id_number": "001203004567", "phone": "call me"}},
        {**ok, "applicant": {"name": "Lê Văn Tám", "id_number": "001203004567", "email": "tam"}},
        {**ok, "applicant": {"name": "Lê Văn Tám", "id_number": "001203004567", "email": "tam@localhost"}},
        {**ok, "applicant": {"name": "Lê Văn Tám", "id_number": "001203004567", "email": "a b@x.vn"}},
        {**ok, "applicant": {"name": "Lê Văn Tám", "id_number": "001203004567", "address": "x" * 501}},
        {**ok, "applicant": {"name": "Lê Văn Tám", "id_number": "001203004567", "address": 7}},
        {**ok, "applicant": {"name": "Lê Văn Tám", "id_number": "001203004567", "email": "a@b"}},
        {**ok, "applicant": {"name": "x" * 201, "id_number": "001203004567"}},
        {**ok, "applicant": {"name": "Lê\nVăn", "id_number": "001203004567"}},
        {**ok, "status": 9},
    ]
    for body in variants:
        r = g.post("/api/v1/dossiers", body)
        assert r.status == 400, (body, r)
        j = r.json()
        assert j["error"] == "bad_request" and j["detail"], (body, j)
    r = g.post("/api/v1/dossiers", json.dumps(ok).encode(), headers={"Content-Type": "text/plain"})
    assert r.status == 415, r
    r = g.post("/api/v1/dossiers", b"{" + b" " * 70000 + b"}", headers={"Content-Type": "application/json"})
    assert r.status == 413, r
    listing = g.get("/api/v1/dossiers").json()
    assert listing["total"] == 0 and listing["dossiers"] == [], listing
    # and the sequence did not move: the next good one is 0001
    assert g.post("/api/v1/dossiers", ok).json()["code"].endswith("-0001")


def test_list_dossiers_paged_and_filtered(tmp):
    g = Gateway(tmp).start()
    codes = [g.create_dossier(id_number="0012030045%02d" % i)["code"] for i in range(7)]
    r = g.get("/api/v1/dossiers?limit=3")
    j = r.json()
    assert r.status == 200 and j["total"] == 7 and [d["code"] for d in j["dossiers"]] == codes[:3], j
    j = g.get("/api/v1/dossiers?limit=3&offset=6").json()
    assert [d["code"] for d in j["dossiers"]] == codes[6:], j
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 7 * 3600))
    assert g.get("/api/v1/dossiers?from=%s&to=%s" % (today, today)).json()["total"] == 7
    assert g.get("/api/v1/dossiers?to=2020-01-01").json()["total"] == 0
    assert g.get("/api/v1/dossiers?from=2999-01-01").json()["total"] == 0
    assert g.get("/api/v1/dossiers?status=1").json()["total"] == 7
    assert g.get("/api/v1/dossiers?status=10").json()["total"] == 0
    assert g.get("/api/v1/dossiers?from=%sT00:00:00%%2B07:00" % today).json()["total"] == 7
    for q in ("status=11", "status=x", "limit=0", "limit=501", "offset=-1", "from=2026-02-30",
              "from=yesterday", "to=2026-13-01", "colour=red"):
        r = g.get("/api/v1/dossiers?" + q)
        assert r.status == 400 and r.json()["error"] == "bad_request", (q, r)


def test_upload_document(tmp):
    g = Gateway(tmp).start()
    code = g.create_dossier()["code"]
    pdf = sample_pdf()
    r = g.upload(code, pdf, name="Tờ khai đăng ký khai sinh.pdf")
    assert r.status == 202, r
    j = r.json()
    assert set(j) >= {"id", "state"} and j["state"] == "queued", j
    doc = g.wait_document(code, j["id"])
    import hashlib
    assert doc["state"] == "done", doc
    assert doc["name"] == "Tờ khai đăng ký khai sinh.pdf"
    assert doc["sha256"] == hashlib.sha256(pdf).hexdigest()
    steps = {s["step"]: s for s in doc["steps"]}
    # delivery is the outbox's, not a step of the document
    assert [s["step"] for s in doc["steps"]] == ["capture", "recognize", "sign", "archive"]
    assert steps["capture"]["state"] == "done"
    for s in ("recognize", "sign", "archive"):
        assert steps[s]["state"] == "skipped", steps[s]
    c = g.get("/api/v1/dossiers/%s/documents/%s/content" % (code, j["id"]))
    assert c.status == 200 and c.body == pdf and c.headers["Content-Type"] == "application/pdf", c
    d = g.get("/api/v1/dossiers/" + code).json()
    assert [x["id"] for x in d["documents"]] == [j["id"]], d
    # PNG too
    r = g.upload(code, sample_png(), ctype="image/png", name="anh.png")
    assert r.status == 202, r
    assert g.wait_document(code, r.json()["id"])["state"] == "done"
    # unknown document, document of another dossier
    assert g.get("/api/v1/dossiers/%s/documents/ffff" % code).status == 404
    other = g.create_dossier()["code"]
    assert g.get("/api/v1/dossiers/%s/documents/%s" % (other, j["id"])).status == 404
    assert g.get("/api/v1/dossiers/%s/documents/%s/content" % (other, j["id"])).status == 404


def test_bad_uploads_change_nothing(tmp):
    g = Gateway(tmp, http_extra="max_upload_mb = 1").start()
    code = g.create_dossier()["code"]
    pdf = sample_pdf()
    cases = [
        (pdf, "text/plain", 415),
        (pdf, "application/zip", 415),
        (pdf, None, 415),
        (b"hello, not a pdf\n%%EOF", "application/pdf", 422),
        (pdf[:-30], "application/pdf", 422),                 # truncated: no %%EOF
        (sample_png(), "application/pdf", 422),
        (pdf, "image/png", 422),
        (b"\xff\xd8\xff\xe0" + b"\0" * 100, "image/jpeg", 422),  # no EOI
        (b"GIF89a" + b"\0" * 100, "image/tiff", 422),
        (b"", "application/pdf", 422),
    ]
    for body, ctype, want in cases:
        headers = {"Content-Type": ctype} if ctype else {}
        r = g.post("/api/v1/dossiers/%s/documents?name=x.pdf" % code, body, headers=headers)
        assert r.status == want, (ctype, body[:20], r)
        assert r.json()["error"] and r.json()["detail"], r
    big = b"%PDF-1.4\n" + b"0" * (1 << 20) + b"\n%%EOF\n"
    r = g.upload(code, big)
    assert r.status == 413, r
    assert g.upload("NO-SUCH-DOSSIER", pdf).status == 404
    r = g.upload(code, pdf, name="a/b.pdf")
    assert r.status == 400, r
    # nothing was recorded
    assert g.get("/api/v1/dossiers/" + code).json()["documents"] == []
    # and a good one still goes through
    assert g.upload(code, pdf).status == 202


def test_unknown_routes_and_methods(tmp):
    g = Gateway(tmp).start()
    assert g.get("/").status == 404
    assert g.get("/api/v2/health", token=None).status == 404
    r = g.request("DELETE", "/api/v1/dossiers")
    assert r.status == 405 and r.json()["error"] == "method_not_allowed", r
    assert g.post("/api/v1/health", token=None).status == 405
    assert g.get("/api/v1/dossiers/x/y/z/w/v/u/t").status == 404


def test_route_table(tmp):
    g = Gateway(tmp, plugins="[test-steps]\nenabled = true\n").start()
    assert g.get("/api/v1/routes").status == 403  # a clerk may not
    r = g.get("/api/v1/routes", token="admin")
    assert r.status == 200, r
    routes = {(x["method"], x["path"]): x for x in r.json()["routes"]}
    # the modules' rows, with their roles, and the plugins' under their prefix
    assert routes[("POST", "/api/v1/dossiers")]["roles"] == ["clerk", "admin"], routes
    assert routes[("GET", "/api/v1/health")]["roles"] == [], routes
    assert ("POST", "/api/v1/tickets/{id}/done") in routes and ("GET", "/api/v1/outbox/{id}") in routes
    assert ("GET", "/api/v1/archive/items/{id}/content") in routes and ("GET", "/api/v1/events") in routes
    st = routes[("GET", "/api/v1/plugins/test-steps/stats")]
    assert st["owner"] == "test-steps" and st["roles"] == ["clerk", "admin"], st
    assert routes[("POST", "/api/v1/plugins/test-steps/echo/*")]["owner"] == "test-steps"
    assert routes[("GET", "/api/v1/indicators")].get("fallback") is True, routes
    assert all(x["summary"] for x in r.json()["routes"] if x["owner"] == "gateway"), r.json()
    # the table decides 405, with Allow, for every route the same way
    r = g.request("PUT", "/api/v1/tickets")
    assert r.status == 405 and r.headers.get("Allow") == "POST, GET", (r, r.headers)
    r = g.request("DELETE", "/api/v1/outbox/1", token="admin")
    assert r.status == 405 and r.headers.get("Allow") == "GET", (r, r.headers)
    # an unknown route needs a token first under /api/v1/, not outside it
    assert g.get("/api/v1/nothing/here", token=None).status == 401
    assert g.get("/api/v1/nothing/here").status == 404
    assert g.get("/nothing", token=None).status == 404
    # without the evaluation plugin, its well-known route says so
    r = g.get("/api/v1/indicators")
    assert r.status == 503 and r.json()["error"] == "no_indicators", r


def test_documents_waiting_for_the_old_route_job_finish(tmp):
    """Schema 5 had a route job (always skipped) after the archive step;
    schema 6 drops it, and a document that waited only for it is finished
    at the next start, with its document.done."""
    import sqlite3
    g = Gateway(tmp).start()
    code = g.create_dossier()["code"]
    doc = g.wait_document(code, g.upload(code, sample_pdf()).json()["id"])
    assert doc["state"] == "done", doc
    ticket = g.post("/api/v1/tickets", {}).json()
    g.stop()
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    # back to schema 5: what versions 6 and later made goes (a test of each
    # later version's upgrade undoes that version here too)
    db.execute("ALTER TABLE documents DROP COLUMN paper")  # version 10
    # version 8: rating sessions, the ratings' official, counter and session,
    # and the tickets table as schema 5 had it
    db.execute("DROP TABLE rating_sessions")
    for col in ("official", "counter", "session_id"):
        db.execute("ALTER TABLE ratings DROP COLUMN %s" % col)
    db.execute("CREATE TABLE tickets_v5(id INTEGER PRIMARY KEY AUTOINCREMENT, day TEXT NOT NULL,"
               " number INTEGER NOT NULL, service TEXT, state TEXT NOT NULL, issued_at INTEGER NOT NULL,"
               " issued_by TEXT, called_at INTEGER, counter TEXT, official TEXT, done_at INTEGER,"
               " UNIQUE(day, number))")
    db.execute("INSERT INTO tickets_v5 SELECT id, day, number, service, state, issued_at, issued_by,"
               " called_at, counter, official, done_at FROM tickets")
    db.execute("DROP TABLE tickets")
    db.execute("ALTER TABLE tickets_v5 RENAME TO tickets")
    db.execute("CREATE INDEX tickets_waiting ON tickets(day, state, number)")
    # version 9: counting limits
    db.execute("DROP TABLE limits")
    # version 11: the review gate
    db.execute("DROP TABLE thumbnails")
    for col in ("scanned_sha", "rotation"):
        db.execute("ALTER TABLE pages DROP COLUMN %s" % col)
    for col in ("review", "reviewed_at", "reviewed_by"):
        db.execute("ALTER TABLE documents DROP COLUMN %s" % col)
    db.execute("DROP TABLE sessions")
    db.execute("DROP TABLE users")
    for col in ("applicant_address", "applicant_email", "lookup_key"):
        db.execute("ALTER TABLE dossiers DROP COLUMN %s" % col)
    db.execute("PRAGMA user_version = 5")
    db.execute("INSERT INTO jobs(document_id, step, state) VALUES(?, 4, 'pending')", (doc["id"],))
    db.execute("UPDATE documents SET state = 'processing' WHERE id = ?", (doc["id"],))
    db.execute("DELETE FROM events WHERE type = 'document.done'")
    db.commit()
    db.close()
    g.start()
    doc = g.get("/api/v1/dossiers/%s/documents/%s" % (code, doc["id"])).json()
    assert doc["state"] == "done" and [s["step"] for s in doc["steps"]] == ["capture", "recognize", "sign",
                                                                             "archive"], doc
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    assert db.execute("PRAGMA user_version").fetchone()[0] == 11
    # version 8 kept schema 5's tickets, now with a place in the queue
    t = g.get("/api/v1/tickets").json()["tickets"]
    assert [(x["id"], x["number"], x["state"], x["recalls"]) for x in t] == [(ticket["id"], 1, "waiting", 0)], t
    assert g.post("/api/v1/tickets/next", {"counter": "1"}).json()["id"] == ticket["id"]
    # version 7 gave the dossier received under schema 5 a lookup key
    key = g.get("/api/v1/dossiers/" + code).json()["lookup_key"]
    assert re.fullmatch(r"[0-9A-F]{8}", key), key
    assert db.execute("SELECT COUNT(*) FROM events WHERE type = 'document.done'").fetchone()[0] == 1
    db.close()


def read_sse(port, token, until, timeout=10, since=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    path = "/api/v1/events" + ("?since=%d" % since if since is not None else "")
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (path, token)).encode())
    buf = b""
    end = time.time() + timeout
    while time.time() < end and until not in buf:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return s, buf


def follow_sse(port, token, until, timeout=10):
    """Starts following the live stream (no replay) in a thread; returns a
    function that waits until `until` was read (or the timeout) and gives the
    bytes read."""
    import threading
    got = {}

    def follow():
        s, buf = read_sse(port, token, until, timeout=timeout)
        s.close()
        got["buf"] = buf
    t = threading.Thread(target=follow)
    t.start()
    time.sleep(0.3)

    def result():
        t.join(timeout + 5)
        return got.get("buf", b"")
    return result


def test_events_stream(tmp):
    g = Gateway(tmp).start()
    tok = g.token("supervisor")
    # a live stream sees what happens after it connects
    live = follow_sse(g.port, tok, b"document.done")
    code = g.create_dossier()["code"]
    doc = g.upload(code, sample_pdf()).json()["id"]
    buf = live()
    assert b"200 OK" in buf and b"text/event-stream" in buf, buf[:300]
    for ev in (b"event: dossier.created", b"event: document.received", b"event: document.step.skipped",
               b"event: document.done"):
        assert ev in buf, (ev, buf)
    assert code.encode() in buf and doc.encode() in buf
    # events come in order with increasing ids, and a reconnect can resume
    ids = [int(x) for x in re.findall(rb"\nid: (\d+)", buf)]
    assert ids == sorted(ids) and len(ids) == len(set(ids)), ids
    s, replay = read_sse(g.port, tok, b"document.done", since=ids[0])
    s.close()
    rids = [int(x) for x in re.findall(rb"\nid: (\d+)", replay)]
    assert rids[:len(ids) - 1] == ids[1:], (rids, ids)
    data = [json.loads(l[6:]) for l in replay.split(b"\n") if l.startswith(b"data: ")]
    assert all("type" in d and d["at"].endswith("+07:00") for d in data), data
    r = g.get("/api/v1/events?since=abc", token="supervisor")
    assert r.status == 400, r


def test_clients_that_hang_up_early(tmp):
    g = Gateway(tmp).start()
    code = g.create_dossier()["code"]
    tok = g.token("clerk")
    pdf = sample_pdf()
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", g.port))
        s.sendall(("POST /api/v1/dossiers/%s/documents?name=hangup%d.pdf HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\nContent-Type: application/pdf\r\n"
                   "Content-Length: %d\r\n\r\n" % (code, i, tok, len(pdf))).encode()
                  + (pdf if i % 2 else pdf[:100]))
        s.close()
        s, _ = read_sse(g.port, g.token("supervisor"), b"retry", timeout=2)
        s.close()
    r = g.get("/api/v1/health", token=None)
    assert r.status == 200, r
    # whatever was complete may have been stored; nothing half-sent was
    docs = g.get("/api/v1/dossiers/" + code).json()["documents"]
    assert len(docs) <= 10 and all(d["name"].startswith("hangup") for d in docs), docs
    for d in docs:
        assert int(d["name"][6:-4]) % 2 == 1, d


def test_systemd_notify_and_watchdog(tmp):
    path = tmp + "/notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    g = Gateway(tmp, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}).start()
    got = [sock.recv(256)]
    end = time.time() + 0.7
    while time.time() < end:
        got.append(sock.recv(256))
    assert got[0] == b"READY=1", got
    assert got.count(b"WATCHDOG=1") >= 4, got  # every 100 ms
    assert g.stop() == 0
    rest = []
    try:
        while True:
            rest.append(sock.recv(256))
    except socket.timeout:
        pass
    assert b"STOPPING=1" in rest, rest
    sock.close()


if __name__ == "__main__":
    run(globals())
