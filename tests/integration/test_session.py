# SPDX-License-Identifier: MIT
"""Officials sign in (POST/GET/DELETE /api/v1/session): session tokens beside
machine tokens, expiry, disabled accounts, the lockout per account and per
client address (kept across a restart), and every action recorded with the
official who took it."""
import datetime
import http.client
import json
import os
import sqlite3
import time

from gwtest import Gateway, run

PASSWORD = "mật-khẩu-đủ-dài-1"


def add_user(g, username="an.nv", name="Nguyễn Văn An", role="clerk", unit="Phòng Tư pháp",
             counter=None, password=PASSWORD):
    args = ["user", "add", "--username", username, "--name", name, "--role", role, "--unit", unit,
            "--password-stdin"]
    if counter:
        args += ["--counter", counter]
    g.cli(*args, input=(password + "\n").encode())


def sign_in(g, username="an.nv", password=PASSWORD, source=None, **extra):
    return g.post("/api/v1/session", dict(username=username, password=password, **extra), token=None,
                  source=source)


def db_rows(g, sql, *args):
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def events(g, type_):
    return [json.loads(p) for (p,) in db_rows(g, "SELECT payload FROM events WHERE type = ? ORDER BY id",
                                              type_)]


def test_sign_in_who_am_i_and_out(tmp):
    g = Gateway(tmp, plugins="[station]\nsession_hours = 2\n")
    add_user(g, counter="3")
    g.start()
    r = sign_in(g)
    assert r.status == 201, r
    j = r.json()
    assert set(j) == {"token", "expires_at", "user"}, j
    tok = j["token"]
    assert tok.startswith("mcs_") and len(tok) == 68, tok
    assert j["user"] == {"username": "an.nv", "name": "Nguyễn Văn An", "role": "clerk",
                         "unit": "Phòng Tư pháp", "counter": "3"}, j
    left = datetime.datetime.fromisoformat(j["expires_at"]) - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(hours=1, minutes=55) < left <= datetime.timedelta(hours=2), left
    # only the token's hash is kept
    assert tok not in repr(db_rows(g, "SELECT * FROM sessions"))
    who = g.get("/api/v1/session", token=tok)
    assert who.status == 200 and who.json() == {"user": j["user"], "expires_at": j["expires_at"]}, who
    # the session works as a clerk's token
    assert g.get("/api/v1/dossiers", token=tok).status == 200
    assert g.get("/api/v1/plugins", token=tok).status in (200, 403)
    # the counter given at sign-in wins over the account's
    r2 = sign_in(g, counter="7")
    assert r2.status == 201 and r2.json()["user"]["counter"] == "7", r2
    assert g.get("/api/v1/session", token=r2.json()["token"]).json()["user"]["counter"] == "7"
    assert sign_in(g, counter=12).json()["user"]["counter"] == "12"
    # sign out: the token is dead, the other session lives
    r = g.request("DELETE", "/api/v1/session", token=tok)
    assert r.status == 204 and r.body == b"", r
    assert g.get("/api/v1/dossiers", token=tok).status == 401
    assert g.request("DELETE", "/api/v1/session", token=tok).status == 401
    assert g.get("/api/v1/dossiers", token=r2.json()["token"]).status == 200
    opened, closed = events(g, "session.opened"), events(g, "session.closed")
    assert [(e["username"], e["counter"]) for e in opened] == [("an.nv", "3"), ("an.nv", "7"),
                                                              ("an.nv", "12")], opened
    assert [(e["username"], e["counter"]) for e in closed] == [("an.nv", "3")], closed
    # bad requests: clear 400s, nothing counted as a failure
    for body in ({}, {"username": "an.nv"}, {"password": "x"}, {"username": "an.nv", "password": 5},
                 {"username": "an.nv", "password": PASSWORD, "extra": 1},
                 {"username": "an.nv", "password": PASSWORD, "counter": ""}):
        r = g.post("/api/v1/session", body, token=None)
        assert r.status == 400 and r.json()["error"] == "bad_request", (body, r)
    assert g.post("/api/v1/session", b"not json", token=None,
                  headers={"Content-Type": "application/json"}).status == 400
    assert db_rows(g, "SELECT COUNT(*) FROM limits") == [(0,)]
    # GET and DELETE need a token; an unknown path under the API still 401 first
    assert g.get("/api/v1/session", token=None).status == 401
    assert g.request("DELETE", "/api/v1/session", token=None).status == 401
    assert g.request("PUT", "/api/v1/session", token=None).status == 401
    assert g.get("/api/v1/sessionx", token=None).status == 401
    assert g.get("/api/v1/session", token="mcs_" + "0" * 64).status == 401
    g.stop()


def test_machine_tokens_still_work(tmp):
    g = Gateway(tmp).start()
    kiosk = g.token("kiosk", "Kiosk sảnh")
    r = g.get("/api/v1/session", token=kiosk)
    assert r.status == 200 and r.json() == {"user": None, "token": {"name": "Kiosk sảnh",
                                                                     "role": "kiosk"}}, r
    r = g.get("/api/v1/session", token="clerk")
    assert r.json()["token"] == {"name": "test clerk", "role": "clerk"}, r
    r = g.request("DELETE", "/api/v1/session", token="clerk")
    assert r.status == 400 and r.json()["error"] == "not_a_session", r
    assert g.get("/api/v1/dossiers").status == 200
    d = g.create_dossier()
    assert d["official"] == "test clerk", d
    g.stop()


def test_expired_and_disabled(tmp):
    g = Gateway(tmp)
    add_user(g)
    add_user(g, username="binh.tt", name="Trần Thị Bình", role="supervisor", unit="Văn phòng")
    g.start()
    a = sign_in(g).json()["token"]
    b = sign_in(g, username="binh.tt").json()["token"]
    b2 = sign_in(g, username="binh.tt").json()["token"]
    # an expired session (its end moved into the past) is refused
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    db.execute("UPDATE sessions SET expires_at = strftime('%s', 'now') - 1 WHERE user_id ="
               " (SELECT id FROM users WHERE username = 'an.nv')")
    db.commit()
    db.close()
    assert g.get("/api/v1/dossiers", token=a).status == 401
    assert g.get("/api/v1/session", token=a).status == 401
    assert g.get("/api/v1/dossiers", token=b).status == 200
    # disabling ends every session of that account, and no new one opens
    p = g.cli("user", "disable", "binh.tt")
    assert b"sessions are ended" in p.stderr, p
    assert g.get("/api/v1/dossiers", token=b).status == 401
    assert g.get("/api/v1/dossiers", token=b2).status == 401
    r = sign_in(g, username="binh.tt")
    assert r.status == 401 and r.json()["error"] == "bad_credentials", r
    # the other account still signs in
    assert sign_in(g).status == 201
    g.stop()


def test_wrong_password_and_unknown_user_alike(tmp):
    g = Gateway(tmp)
    add_user(g)
    g.start()
    wrong = sign_in(g, password="not-the-password")
    unknown = sign_in(g, username="khong.co")
    assert wrong.status == unknown.status == 401, (wrong, unknown)
    assert wrong.body == unknown.body and wrong.json()["error"] == "bad_credentials", (wrong, unknown)
    # the username is not case-sensitive
    assert sign_in(g, username="An.NV").status == 201
    # a success clears the account's failures: four more are still only 401
    for _ in range(4):
        assert sign_in(g, password="sai-mat-khau").status == 401
    assert sign_in(g).status == 201
    for _ in range(4):
        assert sign_in(g, password="sai-mat-khau").status == 401
    assert sign_in(g).status == 201
    # each failure was hashed like a real one (the log names the hash's time)
    assert g.log().count("refused (failures:") == 10, g.log()
    g.stop()


def test_lockout_per_account_survives_restart(tmp):
    g = Gateway(tmp)
    add_user(g)
    add_user(g, username="binh.tt", name="Trần Thị Bình", role="supervisor", unit="Văn phòng")
    g.start()
    for i in range(5):
        r = sign_in(g, password="sai-mat-khau-%d" % i)
        assert r.status == 401 and r.json()["error"] == "bad_credentials", (i, r)
    r = sign_in(g)
    assert r.status == 429 and r.json()["error"] == "locked", r
    assert 60 < int(r.headers["Retry-After"]) <= 15 * 60, r.headers
    # an unknown username locks the same way
    for i in range(5):
        assert sign_in(g, username="khong.co").status == 401
    assert sign_in(g, username="khong.co").json()["error"] == "locked"
    # another account from the same address is not locked
    assert sign_in(g, username="binh.tt").status == 201
    # nor is it lifted by a restart
    g.stop()
    g.start()
    r = sign_in(g)
    assert r.status == 429 and r.json()["error"] == "locked", r
    assert int(r.headers["Retry-After"]) > 60
    # a lock that has run out (its end moved into the past) lets the right password in
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    db.execute("UPDATE limits SET locked_until = 0, window_start = 0 WHERE key = 'an.nv'")
    db.commit()
    db.close()
    assert sign_in(g).status == 201
    g.stop()


def test_lockout_per_address_survives_restart(tmp):
    g = Gateway(tmp)
    add_user(g)
    g.start()
    # one failure for each of 20 usernames: no account reaches its limit
    for i in range(20):
        r = sign_in(g, username="thu.%d" % i, source="127.0.0.2")
        assert r.status == 401, (i, r)
    r = sign_in(g, source="127.0.0.2")
    assert r.status == 429 and r.json()["error"] == "locked" and "Retry-After" in r.headers, r
    # another address is not locked, nor is the account
    assert sign_in(g, source="127.0.0.3").status == 201
    g.stop()
    g.start()
    assert sign_in(g, source="127.0.0.2").status == 429
    assert sign_in(g).status == 201
    g.stop()


def test_actions_recorded_with_the_official(tmp):
    g = Gateway(tmp)
    add_user(g, counter="2")
    g.start()
    tok = sign_in(g).json()["token"]
    d = g.create_dossier(token=tok)
    assert d["official"] == "an.nv", d
    code = d["code"]
    assert db_rows(g, "SELECT created_by FROM dossiers WHERE code = ?", code) == [("an.nv",)]
    r = g.upload(code, b"%PDF-1.4\n%%EOF\n", token=tok)
    assert r.status == 202, r
    assert db_rows(g, "SELECT created_by FROM documents WHERE dossier_code = ?", code) == [("an.nv",)]
    received = [e for e in events(g, "document.received") if e["dossier_code"] == code]
    assert received and received[0]["by"] == "an.nv", received
    t = g.post("/api/v1/tickets", {}, token=tok)
    assert t.status == 201, t
    called = g.post("/api/v1/tickets/next", {"counter": "2"}, token=tok)
    assert called.status == 200, called
    assert db_rows(g, "SELECT issued_by, official FROM tickets") == [("an.nv", "an.nv")]
    assert g.post("/api/v1/dossiers/%s/status" % code, {"status": 4}, token=tok).status == 200
    status = [e for e in events(g, "dossier.status") if e["code"] == code]
    assert status and status[-1]["by"] == "an.nv", status
    created = [e for e in events(g, "dossier.created") if e["code"] == code]
    assert created[0]["official"] == "an.nv", created
    g.stop()


def test_sessions_survive_a_restart(tmp):
    g = Gateway(tmp)
    add_user(g)
    g.start()
    tok = sign_in(g).json()["token"]
    g.stop()
    g.start()
    who = g.get("/api/v1/session", token=tok)
    assert who.status == 200 and who.json()["user"]["username"] == "an.nv", who
    g.stop()


def test_stop_during_a_failures_delay(tmp):
    import threading
    g = Gateway(tmp)
    add_user(g)
    g.start()
    for i in range(4):
        assert sign_in(g, password="sai-mat-khau").status == 401
    # the fifth failure waits 2 s before its 401: the gateway stops meanwhile,
    # cleanly (the answer goes with the server: the client sees 401 or its
    # connection closed, as any request in flight at a stop)
    got = []

    def attempt():
        try:
            got.append(sign_in(g, password="sai-mat-khau"))
        except (ConnectionError, http.client.HTTPException) as e:
            got.append(e)
    t = threading.Thread(target=attempt)
    t.start()
    end = time.time() + 30
    while "failures: 5 of the account" not in g.log() and time.time() < end:
        time.sleep(0.01)
    assert g.stop() == 0
    t.join(30)
    assert len(got) == 1, got
    if not isinstance(got[0], Exception):
        assert got[0].status == 401 and got[0].json()["error"] == "bad_credentials", got
    assert "stopped cleanly" in g.log()
    # the failure was counted before it was answered: the account is locked
    g.start()
    assert sign_in(g).json()["error"] == "locked"
    g.stop()


run(globals())
