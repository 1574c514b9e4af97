# SPDX-License-Identifier: MIT
"""The queue as counters run it (queue.c): services from config, priority
tickets and how they interleave, the ticket's states and the moves that are
refused, transfers, the waiting room's view, the counters; the counters'
rating sessions (rating-session.c); what the event stream shows to a kiosk
and to an official."""
import json
import os
import socket
import sqlite3
import subprocess
import threading
import time
from urllib.parse import quote

from gwtest import Gateway, run, GATEWAY


def station(tmp, extra="", **kw):
    """A gateway with [station] settings (and review off: no documents here)."""
    return Gateway(tmp, plugins="[station]\nreview = false\n" + extra, **kw)


def events(g, prefix):
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    rows = [dict(json.loads(p), type=t) for (t, p) in db.execute(
        "SELECT type, payload FROM events WHERE type LIKE ? ORDER BY id", (prefix + "%",))]
    db.close()
    return rows


def issue(g, body=None, token="clerk"):
    r = g.post("/api/v1/tickets", body or {}, token=token)
    assert r.status == 201, r
    return r.json()


def next_ticket(g, counter="1", **body):
    r = g.post("/api/v1/tickets/next", dict(body, counter=counter))
    assert r.status == 200, r
    return r.json()


def test_states_and_illegal_moves(tmp):
    g = station(tmp).start()
    a, b = issue(g, {"service": "HT"}), issue(g, {"service": "HT"})
    assert a["state"] == "waiting" and a["service_name"] == "Hộ tịch" and a["transferred_to"] is None, a
    # a waiting ticket cannot be recalled, started, marked absent or finished
    for move in ("recall", "start", "no-show", "done"):
        r = g.post("/api/v1/tickets/%d/%s" % (a["id"], move), {})
        assert r.status == 409 and "waiting" in r.json()["detail"], (move, r)
    r = g.post("/api/v1/tickets/%d/transfer" % a["id"], {"service": "CT"})
    assert r.status == 409, r
    assert g.get("/api/v1/tickets").json()["waiting"] == 2
    c = next_ticket(g, "1")
    assert c["id"] == a["id"] and c["state"] == "called" and c["started_at"] is None, c
    r = g.post("/api/v1/tickets/%d/recall" % a["id"], {})
    assert r.status == 200 and r.json()["recalls"] == 1 and r.json()["state"] == "called", r
    assert g.post("/api/v1/tickets/%d/recall" % a["id"], {}).json()["recalls"] == 2
    s = g.post("/api/v1/tickets/%d/start" % a["id"], {})
    assert s.status == 200 and s.json()["state"] == "serving" and s.json()["started_at"], s
    # serving: no recall, no start again, no no-show; nothing changes
    for move in ("recall", "start", "no-show"):
        r = g.post("/api/v1/tickets/%d/%s" % (a["id"], move), {})
        assert r.status == 409 and "serving" in r.json()["detail"], (move, r)
    t = [x for x in g.get("/api/v1/tickets").json()["tickets"] if x["id"] == a["id"]][0]
    assert t["state"] == "serving" and t["recalls"] == 2, t
    d = g.post("/api/v1/tickets/%d/done" % a["id"], {})
    assert d.status == 200 and d.json()["state"] == "done", d
    for move in ("recall", "start", "no-show", "done"):
        assert g.post("/api/v1/tickets/%d/%s" % (a["id"], move), {}).status == 409, move
    # the next one does not come: absent, and that is final too
    assert next_ticket(g, "1")["id"] == b["id"]
    n = g.post("/api/v1/tickets/%d/no-show" % b["id"], {})
    assert n.status == 200 and n.json()["state"] == "no_show" and n.json()["done_at"], n
    assert g.post("/api/v1/tickets/%d/start" % b["id"], {}).status == 409
    assert g.post("/api/v1/tickets/%d/done" % b["id"], {}).status == 409
    # done straight from called keeps /done's old contract
    e = issue(g)
    next_ticket(g, "2")
    assert g.post("/api/v1/tickets/%d/done" % e["id"], {}).json()["state"] == "done"
    assert g.post("/api/v1/tickets/999999/recall", {}).status == 404
    assert g.post("/api/v1/tickets/abc/start", {}).status == 404
    assert g.post("/api/v1/tickets/%d/recall" % a["id"], {}, token=g.token("kiosk")).status == 403
    # the moments; a recall is not a second ticket.called (the waiting time is the first call's)
    types = [x["type"] for x in events(g, "ticket.") if x["id"] == a["id"]]
    assert types == ["ticket.issued", "ticket.called", "ticket.recalled", "ticket.recalled",
                     "ticket.started", "ticket.done"], types
    called = [x for x in events(g, "ticket.called") if x["id"] == a["id"]][0]
    assert "waited_s" in called and called["state"] == "called", called
    done = [x for x in events(g, "ticket.done") if x["id"] == a["id"]][0]
    assert done["served_s"] >= 0 and done["recalls"] == 2, done
    g.stop()


def test_priority_interleave(tmp):
    """Priority first, but never more than priority_run (here 2) priority
    calls in a row while an ordinary ticket waits."""
    g = station(tmp, "priority_run = 2\n").start()
    o1, o2 = issue(g), issue(g)
    p1, p2, p3 = (issue(g, {"priority": p}) for p in ("elderly", "disabled", "pregnant"))
    o3 = issue(g)
    p4 = issue(g, {"priority": "child"}, token=g.token("kiosk"))
    assert p1["priority"] == "elderly" and p4["priority"] == "child", (p1, p4)
    # people ahead: the priority tickets first, then who came earlier
    assert [t["ahead"] for t in (o1, o2, p1, p2, p3, o3, p4)] == [0, 1, 0, 1, 2, 5, 3]
    for bad in ({"priority": "vip"}, {"priority": 1}, {"priority": "Elderly"}):
        r = g.post("/api/v1/tickets", bad)
        assert r.status == 400 and "elderly" in r.json()["detail"], (bad, r)
    order = [next_ticket(g, "1")["id"] for _ in range(7)]
    want = [p1, p2, o1, p3, p4, o2, o3]
    assert order == [t["id"] for t in want], (order, [t["id"] for t in want])
    # with no ordinary ticket waiting, priority tickets go on
    q = [issue(g, {"priority": "elderly"}) for _ in range(3)]
    assert [next_ticket(g, "1")["id"] for _ in range(3)] == [t["id"] for t in q]
    # and the first ordinary one after that run goes first
    o4, p5 = issue(g), issue(g, {"priority": "disabled"})
    assert next_ticket(g, "1")["id"] == o4["id"] and next_ticket(g, "1")["id"] == p5["id"]
    g.stop()


def test_transfer_keeps_the_place(tmp):
    g = station(tmp).start()
    b, x = issue(g, {"service": "CT"}), issue(g, {"service": "CT"})
    a = issue(g, {"service": "HT", "priority": "elderly"})
    c = issue(g, {"service": "CT"})
    # a counter of Hộ tịch only
    called = next_ticket(g, "1", services=["HT"])
    assert called["id"] == a["id"], called
    for bad, status in (({"service": "NOPE"}, 400), ({}, 400), ({"service": "HT"}, 409),
                        ({"service": "CT", "x": 1}, 400)):
        r = g.post("/api/v1/tickets/%d/transfer" % a["id"], bad)
        assert r.status == status, (bad, r)
    assert g.get("/api/v1/tickets").json()["waiting"] == 3  # nothing changed
    r = g.post("/api/v1/tickets/%d/transfer" % a["id"], {"service": "CT"})
    assert r.status == 200, r
    n = r.json()
    assert n["id"] != a["id"] and n["number"] == a["number"] and n["service"] == "CT", n
    assert n["state"] == "waiting" and n["priority"] == "elderly" and n["transferred_from"] == a["id"], n
    # ahead of c (came later) ... and, priority, even of b and x
    assert n["ahead"] == 0, n
    old = [t for t in g.get("/api/v1/tickets").json()["tickets"] if t["id"] == a["id"]][0]
    assert old["state"] == "transferred" and old["transferred_to"] == n["id"], old
    assert g.post("/api/v1/tickets/%d/transfer" % a["id"], {"service": "DD"}).status == 409
    ev = events(g, "ticket.transferred")
    assert len(ev) == 1 and ev[0]["id"] == a["id"] and ev[0]["to"]["id"] == n["id"], ev
    # the new ticket has no ticket.issued of its own (the indicators count one citizen)
    assert [t["id"] for t in events(g, "ticket.issued")] == [b["id"], x["id"], a["id"], c["id"]]
    assert [next_ticket(g, "2", services=["CT"])["id"] for _ in range(4)] == [n["id"], b["id"], x["id"], c["id"]]

    # an ordinary citizen transferred goes behind who came earlier, ahead of who came later
    e, f = issue(g, {"service": "DD"}), issue(g, {"service": "HT"})
    h = issue(g, {"service": "DD"})
    assert next_ticket(g, "1", services=["HT"])["id"] == f["id"]
    g.post("/api/v1/tickets/%d/start" % f["id"], {})
    m = g.post("/api/v1/tickets/%d/transfer" % f["id"], {"service": "DD"}).json()
    assert m["ahead"] == 1 and m["transferred_from"] == f["id"], m
    assert [next_ticket(g, "3", services=["DD"])["id"] for _ in range(3)] == [e["id"], m["id"], h["id"]]
    r = g.post("/api/v1/tickets/next", {"counter": "3", "services": ["XYZ"]})
    assert r.status == 400, r
    g.stop()


def test_services_and_queue(tmp):
    sfile = os.path.join(tmp, "services.txt")
    with open(sfile, "w", encoding="utf-8") as f:
        f.write("# mã;tên lĩnh vực;English name\nHT;Hộ tịch;Civil status\n\n"
                "TP-CT ; Chứng thực ; Certification\nLDTBXH;Lao động – Thương binh và Xã hội;Labour\n")
    g = station(tmp, "services = %s\n" % sfile).start()
    s = g.get("/api/v1/services", token=g.token("kiosk"))
    assert s.status == 200, s
    assert s.json()["services"] == [
        {"code": "HT", "name": "Hộ tịch", "name_en": "Civil status"},
        {"code": "TP-CT", "name": "Chứng thực", "name_en": "Certification"},
        {"code": "LDTBXH", "name": "Lao động – Thương binh và Xã hội", "name_en": "Labour"}], s.json()
    r = g.post("/api/v1/tickets", {"service": "DD"})
    assert r.status == 400 and "HT, TP-CT, LDTBXH" in r.json()["detail"], r
    kiosk = g.token("kiosk")
    t1 = issue(g, {"service": "HT"}, token=kiosk)
    issue(g, {"service": "Chứng thực"}, token=kiosk)  # a name still names its service
    issue(g, {"service": "TP-CT"}, token=kiosk)
    issue(g, {}, token=kiosk)
    assert next_ticket(g, "Quầy 1")["id"] == t1["id"]
    g.post("/api/v1/tickets/%d/recall" % t1["id"], {})
    nxt = next_ticket(g, "Quầy 2")
    q = g.get("/api/v1/queue", token=kiosk)
    assert q.status == 200, q
    q = q.json()
    assert [(c["number"], c["counter"]) for c in q["called"]] == [(2, "Quầy 2"), (1, "Quầy 1")], q
    assert q["called"][1]["recalls"] == 1 and q["called"][0]["service"] == "TP-CT" and q["called"][0]["called_at"]
    assert nxt["service_name"] == "Chứng thực"
    assert q["waiting"] == [{"service": "HT", "service_name": "Hộ tịch", "count": 0},
                            {"service": "TP-CT", "service_name": "Chứng thực", "count": 1},
                            {"service": "LDTBXH", "service_name": "Lao động – Thương binh và Xã hội", "count": 0},
                            {"service": None, "service_name": None, "count": 1}], q["waiting"]
    assert q["services"] == s.json()["services"]
    # the last five calls only
    for _ in range(2):
        issue(g)
    for i in range(4):
        next_ticket(g, str(i))
    assert len(g.get("/api/v1/queue", token=kiosk).json()["called"]) == 5
    # the kiosk may not run the queue
    assert g.post("/api/v1/tickets/next", {"counter": "1"}, token=kiosk).status == 403
    assert g.get("/api/v1/tickets", token=kiosk).status == 403
    g.stop()
    # the built-in list when unset: a commune office's
    d2 = os.path.join(tmp, "g2")
    os.makedirs(d2)
    g2 = station(d2).start()
    codes = [x["code"] for x in g2.get("/api/v1/services").json()["services"]]
    names = [x["name"] for x in g2.get("/api/v1/services").json()["services"]]
    assert "HT" in codes and {"Hộ tịch", "Chứng thực", "Đất đai", "Kinh doanh", "Lĩnh vực khác"} <= set(names), names
    g2.stop()


def test_services_file_errors(tmp):
    sfile = os.path.join(tmp, "services.txt")
    g = station(tmp, "services = %s\n" % sfile)
    for text, where in (("HT;Hộ tịch;Civil status\nCT;Chứng thực\n", "services.txt:2:"),
                        ("HT;Hộ tịch;Civil status\n# x\nHT;Hộ tịch lại;Again\n", "services.txt:3:"),
                        ("H T;Hộ tịch;Civil status\n", "services.txt:1:"),
                        ("HT;;Civil status\n", "services.txt:1:"),
                        ("HT;Hộ tịch;Civil;status\n", "services.txt:1:"),
                        ("# nothing\n\n", "services.txt: no service"),
                        (b"HT;H\xff;Civil status\n", "services.txt:1:")):
        with open(sfile, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode())
        p = subprocess.run([GATEWAY, "--config", g.conf, "--check"], capture_output=True, timeout=20)
        assert p.returncode == 78 and where.encode() in p.stderr, (text, p.stderr)
    os.unlink(sfile)
    p = subprocess.run([GATEWAY, "--config", g.conf, "--check"], capture_output=True, timeout=20)
    assert p.returncode == 78 and b"[station] services" in p.stderr, p.stderr
    g2 = station(tmp, "priority_run = 0\n")
    p = subprocess.run([GATEWAY, "--config", g2.conf, "--check"], capture_output=True, timeout=20)
    assert p.returncode == 78 and b"priority_run" in p.stderr, p.stderr


def add_official(g, username, name, counter, expires_in=3600, ended=False):
    """A signed-in official, as the accounts' sign-in writes them."""
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"), timeout=10)
    now = int(time.time())
    cur = db.execute("INSERT INTO users(username, name, role, unit, counter, hash, created_at, updated_at)"
                     " VALUES(?, ?, 'clerk', 'Văn phòng', ?, 'x', ?, ?)", (username, name, counter, now, now))
    db.execute("INSERT INTO sessions(user_id, hash, counter, created_at, expires_at, ended_at)"
               " VALUES(?, ?, ?, ?, ?, ?)", (cur.lastrowid, "h-" + username, counter, now,
                                             now + expires_in, now if ended else None))
    db.commit()
    db.close()


def test_counters(tmp):
    g = station(tmp).start()
    add_official(g, "lan", "Trần Thị Lan", "1")
    add_official(g, "minh", "Lê Văn Minh", "1")
    add_official(g, "cu", "Người Đã Về", "2", ended=True)
    add_official(g, "het", "Hết Hạn", "3", expires_in=-10)
    r = g.get("/api/v1/counters/1")
    assert r.status == 200, r
    c = r.json()
    assert c == {"counter": "1", "officials": [{"username": "lan", "name": "Trần Thị Lan"},
                                               {"username": "minh", "name": "Lê Văn Minh"}],
                 "ticket": None, "dossier": None, "rating_open": False}, c
    assert g.get("/api/v1/counters/2").json()["officials"] == []
    assert g.get("/api/v1/counters/3").json()["officials"] == []
    t = issue(g)
    next_ticket(g, "Quầy 5")
    code = g.post("/api/v1/dossiers", {"procedure_code": "1.001193", "applicant": {"name": "Lê Thị Hoa",
                  "id_number": "001203004567"}, "channel": 1, "ticket_id": t["id"]}).json()["code"]
    c = g.get("/api/v1/counters/" + quote("Quầy 5")).json()
    assert c["ticket"]["id"] == t["id"] and c["ticket"]["state"] == "called" and c["dossier"] == code, c
    assert c["rating_open"] is False
    g.post("/api/v1/tickets/%d/done" % t["id"], {})
    c = g.get("/api/v1/counters/" + quote("Quầy 5")).json()
    assert c["ticket"] is None and c["dossier"] is None and c["rating_open"] is True, c
    all_ = g.get("/api/v1/counters").json()["counters"]
    # counters with someone signed in, a ticket today, an open rating session, or an official's own
    assert [x["counter"] for x in all_] == ["1", "2", "3", "Quầy 5"], all_
    assert all_[0] == g.get("/api/v1/counters/1").json()
    assert g.get("/api/v1/counters", token=g.token("kiosk")).status == 403
    assert g.get("/api/v1/counters/" + "9" * 51).status == 404
    g.stop()


def test_rating_sessions(tmp):
    g = station(tmp, "rating_window_s = 600\n").start()
    kiosk = g.token("kiosk")
    assert g.get("/api/v1/counters/2/rating-session", token=kiosk).json() == {"open": False, "expires_at": None}
    # a press with no session: logged, not counted
    r = g.post("/api/v1/counters/2/rating", {"level": 1}, token=kiosk)
    assert r.status == 200 and r.json() == {"counted": False}, r
    t = issue(g)
    next_ticket(g, "2")
    g.post("/api/v1/tickets/%d/start" % t["id"], {})
    g.post("/api/v1/tickets/%d/done" % t["id"], {})
    s = g.get("/api/v1/counters/2/rating-session", token=kiosk).json()
    assert s["open"] is True and s["expires_at"].endswith("+07:00"), s
    assert g.get("/api/v1/counters/3/rating-session", token=kiosk).json()["open"] is False
    for bad in ({"level": 0}, {"level": "1"}, {}, {"level": 1, "x": 2}):
        assert g.post("/api/v1/counters/2/rating", bad, token=kiosk).status == 400, bad
    # the official cannot rate into their own session
    assert g.post("/api/v1/counters/2/rating", {"level": 1}, token="clerk").status == 403
    # pressed twice: counts once
    r = g.post("/api/v1/counters/2/rating", {"level": 2}, token=kiosk)
    assert r.status == 201 and r.json() == {"counted": True}, r
    r = g.post("/api/v1/counters/2/rating", {"level": 3}, token=kiosk)
    assert r.status == 200 and r.json() == {"counted": False}, r
    assert g.get("/api/v1/counters/2/rating-session", token=kiosk).json()["open"] is False
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    rows = db.execute("SELECT ticket_id, dossier_code, level, official, counter, session_id IS NOT NULL"
                      " FROM ratings").fetchall()
    db.close()
    assert rows == [(t["id"], None, 2, "test clerk", "2", 1)], rows
    added = events(g, "rating.added")
    assert len(added) == 1 and added[0]["level"] == 2 and added[0]["ticket_id"] == t["id"], added
    assert added[0]["official"] == "test clerk" and added[0]["counter"] == "2", added
    assert [e["reason"] for e in events(g, "rating.ignored")] == ["no_session", "no_session"]
    assert [(e["type"], e["counter"], e.get("reason")) for e in events(g, "rating_session.")] == [
        ("rating_session.opened", "2", None), ("rating_session.closed", "2", "rated")]
    # the ticket's own rating route knows it was rated
    assert g.post("/api/v1/ratings", {"ticket": t["id"], "level": 1}, token=kiosk).status == 409

    # a dossier's result returned (status 10) at the counter where its official calls
    d = g.create_dossier()["code"]
    t2 = issue(g)
    next_ticket(g, "4")
    r = g.post("/api/v1/dossiers/%s/status" % d, {"status": 10})
    assert r.status == 200, r
    wait_open(g, "4", kiosk)
    # finishing the ticket there opens a new one in its place
    g.post("/api/v1/tickets/%d/done" % t2["id"], {})
    opened = [e for e in events(g, "rating_session.") if e["counter"] == "4"]
    assert [(e["type"], e.get("reason")) for e in opened] == [
        ("rating_session.opened", None), ("rating_session.closed", "replaced"), ("rating_session.opened", None)]
    assert g.post("/api/v1/counters/4/rating", {"level": 1}, token=kiosk).json() == {"counted": True}
    # the status route from someone with no counter opens nothing
    d2 = g.create_dossier()["code"]
    g.post("/api/v1/dossiers/%s/status" % d2, {"status": 10}, token="admin")
    # and the result rated at a kiosk is the dossier's rating
    g.post("/api/v1/dossiers/%s/status" % d, {"status": 10})
    wait_open(g, "4", kiosk)
    assert g.post("/api/v1/counters/4/rating", {"level": 3}, token=kiosk).json() == {"counted": True}
    assert not [e for e in events(g, "rating_session.opened") if e["counter"] not in ("2", "4")]
    assert [(e["dossier_code"], e["level"]) for e in events(g, "rating.added")][-1] == (d, 3)
    assert g.post("/api/v1/ratings", {"dossier_code": d, "level": 1}, token=kiosk).status == 409
    # an official signed in at a counter: the session opens there, even with
    # their latest ticket called elsewhere
    add_official(g, "test clerk", "Cán Bộ Thử", "7")
    d3 = g.create_dossier()["code"]
    g.post("/api/v1/dossiers/%s/status" % d3, {"status": 10})
    wait_open(g, "7", kiosk)
    assert g.get("/api/v1/counters/4/rating-session", token=kiosk).json()["open"] is False
    assert g.post("/api/v1/counters/7/rating", {"level": 1}, token=kiosk).json() == {"counted": True}
    assert [(e["dossier_code"], e["counter"]) for e in events(g, "rating.added")][-1] == (d3, "7")
    g.stop()


def wait_open(g, counter, kiosk, timeout=10):
    """The session a dossier.status opens (on the bus, just after the reply)."""
    end = time.time() + timeout
    while time.time() < end:
        if g.get("/api/v1/counters/%s/rating-session" % counter, token=kiosk).json()["open"]:
            return
        time.sleep(0.05)
    raise AssertionError("no rating session at counter " + counter)


def wait_db(g, sql, args=(), timeout=30):
    """Polls the database file itself (not the gateway)."""
    end = time.time() + timeout
    while time.time() < end:
        db = sqlite3.connect(os.path.join(g.data, "motcua.db"), timeout=10)
        row = db.execute(sql, args).fetchone()
        db.close()
        if row and row[0]:
            return row
        time.sleep(0.1)
    raise AssertionError("still not: " + sql)


def test_rating_session_window_and_restart(tmp):
    g = station(tmp, "rating_window_s = 5\n").start()
    kiosk = g.token("kiosk")
    t = issue(g)
    next_ticket(g, "1")
    g.post("/api/v1/tickets/%d/done" % t["id"], {})
    assert g.get("/api/v1/counters/1/rating-session", token=kiosk).json()["open"] is True
    # the window ends with no request: the timer closes it
    wait_db(g, "SELECT COUNT(*) FROM events WHERE type = 'rating_session.closed'"
               " AND payload LIKE '%\"reason\":\"expired\"%'")
    assert g.get("/api/v1/counters/1/rating-session", token=kiosk).json()["open"] is False
    assert g.post("/api/v1/counters/1/rating", {"level": 1}, token=kiosk).json() == {"counted": False}

    # a restart keeps an open session
    t = issue(g)
    next_ticket(g, "1")
    g.post("/api/v1/tickets/%d/done" % t["id"], {})
    g.stop()
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    db.execute("UPDATE rating_sessions SET expires_at = expires_at + 3600 WHERE closed_at IS NULL")
    db.commit()
    db.close()
    g.start()
    s = g.get("/api/v1/counters/1/rating-session", token=kiosk).json()
    assert s["open"] is True, s
    g.stop()
    # one whose window ended while the gateway was down closes at start
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    db.execute("UPDATE rating_sessions SET expires_at = ? WHERE closed_at IS NULL", (int(time.time()) - 60,))
    db.commit()
    db.close()
    g.start()
    assert g.get("/api/v1/counters/1/rating-session", token=kiosk).json()["open"] is False
    closed = [e for e in events(g, "rating_session.closed")]
    assert [e["reason"] for e in closed] == ["expired", "expired"], closed
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    assert db.execute("SELECT COUNT(*) FROM rating_sessions WHERE closed_at IS NULL").fetchone()[0] == 0
    db.close()
    g.stop()


def read_sse(g, token, until, since=None, timeout=10, ready=None):
    s = socket.create_connection(("127.0.0.1", g.port), timeout=timeout)
    path = "/api/v1/events" + ("?since=%d" % since if since is not None else "")
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (path, token)).encode())
    buf = b""
    end = time.time() + timeout
    while time.time() < end and until not in buf:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
        if ready is not None and b"motcua events from" in buf:
            ready.set()  # the stream is open: what comes now is live
    s.close()
    return buf


def sse_events(buf):
    out = []
    for block in buf.decode("utf-8", "replace").split("\n\n"):
        kind = data = None
        for line in block.split("\n"):
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if kind and data is not None:
            out.append((kind, data))
    return out


def test_event_stream_per_role(tmp):
    g = station(tmp).start()
    kiosk = g.token("kiosk")
    clerk = g.token("clerk")
    # live: a kiosk's and an official's streams, open before anything happens
    live, ready = {}, {"kiosk": threading.Event(), "clerk": threading.Event()}

    def follow(name, token, until):
        live[name] = read_sse(g, token, until, timeout=15, ready=ready[name])
    threads = [threading.Thread(target=follow, args=("kiosk", kiosk, b"rating_session.opened")),
               threading.Thread(target=follow, args=("clerk", clerk, b"rating_session.opened"))]
    for th in threads:
        th.start()
    assert ready["kiosk"].wait(15) and ready["clerk"].wait(15)
    code = g.create_dossier(name="Phạm Văn Bình")["code"]
    g.post("/api/v1/dossiers/%s/status" % code, {"status": 4})
    assert g.post("/api/v1/ratings", {"dossier_code": code, "level": 3, "comment": "Chậm"},
                  token=kiosk).status == 201
    t = issue(g, {"service": "HT"}, token=kiosk)
    next_ticket(g, "1")
    g.post("/api/v1/tickets/%d/done" % t["id"], {})
    for th in threads:
        th.join()
    for how, buf in (("live", live["kiosk"]), ("replay", read_sse(g, kiosk, b"rating_session.opened", since=0))):
        kinds = [k for k, _ in sse_events(buf)]
        assert kinds == ["ticket.issued", "ticket.called", "ticket.done", "rating_session.opened"], (how, kinds)
        assert b"Ph\xe1\xba\xa1m" not in buf and code.encode() not in buf and b"dossier" not in buf, (how, buf)
    for how, buf in (("live", live["clerk"]), ("replay", read_sse(g, clerk, b"rating_session.opened", since=0))):
        ev = sse_events(buf)
        rating = [d for k, d in ev if k == "rating.added"]
        assert len(rating) == 1 and rating[0]["dossier_code"] == code, (how, ev)
        assert not {"level", "level_name", "comment"} & set(rating[0]), (how, rating)
        assert "dossier.created" in [k for k, _ in ev], (how, ev)
    # supervisors (the dashboard) see the level
    ev = sse_events(read_sse(g, g.token("supervisor"), b"rating_session.opened", since=0))
    rating = [d for k, d in ev if k == "rating.added"]
    assert rating[0]["level"] == 3 and rating[0]["comment"] == "Chậm", rating
    g.stop()


def test_eval_stream_counts_one_citizen(tmp):
    """Recalls, a start and a transfer leave the waiting-time indicator on the
    first call, and a transferred citizen is one ticket, not two."""
    import datetime
    g = Gateway(tmp, plugins="[station]\nreview = false\n[eval-stream]\nenabled = true\n").start()
    a, b = issue(g, {"service": "HT"}), issue(g, {"service": "HT"})
    next_ticket(g, "1")
    g.post("/api/v1/tickets/%d/recall" % a["id"], {})
    g.post("/api/v1/tickets/%d/start" % a["id"], {})
    n = g.post("/api/v1/tickets/%d/transfer" % a["id"], {"service": "CT"}).json()
    assert next_ticket(g, "2", services=["CT"])["id"] == n["id"]
    g.post("/api/v1/tickets/%d/done" % n["id"], {})
    today = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=7))).date().isoformat()
    end = time.time() + 10
    while time.time() < end:
        office = g.get("/api/v1/indicators?from=%s&to=%s&by=office" % (today, today),
                       token="supervisor").json()["groups"]
        if office and office[0]["tickets"] == 2:
            break
        time.sleep(0.1)
    office = office[0]
    assert office["tickets"] == 2 and office["tickets_called"] == 1, office
    called = [e for e in events(g, "ticket.called") if e["id"] == a["id"]][0]
    assert office["waiting_avg_s"] == called["waited_s"], (office, called)
    g.stop()


if __name__ == "__main__":
    run(globals())
