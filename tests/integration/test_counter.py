# SPDX-License-Identifier: MIT
"""The counter's moments: queue tickets, ratings from a kiosk, staff status
changes, and the promised return date from the office calendar."""
import datetime
import json
import os
import subprocess
import time

from gwtest import Gateway, run, GATEWAY
import gwtest  # noqa: E402

# These tests expect documents to go on to signing and archiving by
# themselves: without the clerk's review (test_review.py has it).
gwtest.REVIEW = False

VN = datetime.timezone(datetime.timedelta(hours=7))


def test_tickets(tmp):
    g = Gateway(tmp).start()
    r = g.post("/api/v1/tickets", {"service": "Hộ tịch"})
    assert r.status == 201, r
    t1 = r.json()
    t2 = g.post("/api/v1/tickets", {}).json()
    assert (t1["number"], t2["number"]) == (1, 2) and t1["state"] == "waiting", (t1, t2)
    # the service is named by its code now ("Hộ tịch" is HT's name)
    assert t1["issued_at"].endswith("+07:00") and t1["service"] == "HT" and t1["service_name"] == "Hộ tịch", t1
    assert t1["priority"] is None and t1["recalls"] == 0 and t1["ahead"] == 0 and t2["ahead"] == 1, (t1, t2)
    q = g.get("/api/v1/tickets").json()
    assert q["waiting"] == 2 and [t["number"] for t in q["tickets"]] == [1, 2], q
    time.sleep(1.1)
    called = g.post("/api/v1/tickets/next", {"counter": "Quầy 3"})
    assert called.status == 200, called
    c = called.json()
    assert c["id"] == t1["id"] and c["state"] == "called" and c["counter"] == "Quầy 3", c
    assert c["official"] == "test clerk", c
    # the dossier received under the ticket
    code = g.post("/api/v1/dossiers", {"procedure_code": "1.001193", "applicant": {"name": "Lê Thị Hoa",
               "id_number": "001203004567"}, "channel": 1, "ticket_id": t1["id"]}).json()["code"]
    assert g.get("/api/v1/dossiers/%s" % code).json()["ticket_id"] == t1["id"]
    r = g.post("/api/v1/dossiers", {"procedure_code": "1.001193", "applicant": {"name": "X",
               "id_number": "001203004567"}, "channel": 1, "ticket_id": 999})
    assert r.status == 400 and "ticket_id" in r.json()["detail"], r
    done = g.post("/api/v1/tickets/%d/done" % t1["id"], {})
    assert done.status == 200 and done.json()["state"] == "done", done
    assert g.post("/api/v1/tickets/%d/done" % t1["id"], {}).status == 409
    assert g.post("/api/v1/tickets/%d/done" % t2["id"], {}).status == 409  # not called yet
    assert g.post("/api/v1/tickets/99999/done", {}).status == 404
    assert g.post("/api/v1/tickets/next", {}).status == 400  # counter missing
    g.post("/api/v1/tickets/next", {"counter": "Quầy 1"})
    r = g.post("/api/v1/tickets/next", {"counter": "Quầy 1"})
    assert r.status == 404 and r.json()["error"] == "no_one_waiting", r
    # the moments are events, with the waiting and service times
    rows = _events(g, "ticket.")
    called_ev = [e for e in rows if e["type"] == "ticket.called"][0]
    assert called_ev["waited_s"] >= 1 and called_ev["counter"] == "Quầy 3", called_ev
    assert any(e["type"] == "ticket.done" and "served_s" in e for e in rows), rows
    g.stop()


def _events(g, prefix):
    import sqlite3
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    rows = [json.loads(p) for (p,) in db.execute("SELECT payload FROM events WHERE type LIKE ? ORDER BY id",
                                                 (prefix + "%",))]
    db.close()
    return rows


def test_ratings(tmp):
    g = Gateway(tmp).start()
    code = g.create_dossier()["code"]
    kiosk = g.token("kiosk")
    r = g.post("/api/v1/ratings", {"dossier_code": code, "level": 1, "criteria": {"thai_do": 5},
                                   "comment": "Cán bộ nhiệt tình"}, token=kiosk)
    assert r.status == 201, r
    j = r.json()
    assert j["level"] == 1 and j["level_name"] == "Rất hài lòng" and j["official"] == "test clerk", j
    # one rating per dossier
    r = g.post("/api/v1/ratings", {"dossier_code": code, "level": 3}, token=kiosk)
    assert r.status == 409 and r.json()["error"] == "already_rated", r
    for body, status in (({"dossier_code": code, "level": 4}, 400), ({"dossier_code": code, "level": "1"}, 400),
                         ({"dossier_code": "000.00.00.H00-991231-0001", "level": 2}, 404),
                         ({"ticket": 12345, "level": 2}, 404), ({"level": 2}, 400),
                         ({"dossier_code": code, "ticket": 1, "level": 2}, 400),
                         ({"dossier_code": code, "level": 2, "extra": 1}, 400),
                         ({"dossier_code": code, "level": 2, "criteria": [1]}, 400)):
        r = g.post("/api/v1/ratings", body, token=kiosk)
        assert r.status == status, (body, r)
    t = g.post("/api/v1/tickets", {}).json()
    assert g.post("/api/v1/ratings", {"ticket": t["id"], "level": 2}, token=kiosk).status == 201
    # the kiosk can do nothing else
    assert g.post("/api/v1/dossiers", {}, token=kiosk).status == 403
    assert g.get("/api/v1/dossiers", token=kiosk).status == 403
    # (a kiosk issues tickets and follows the queue's events: test_queue.py)
    assert len(_events(g, "rating.added")) == 2
    g.stop()


def _due(received, days, holidays):
    day = received.astimezone(VN).date()
    left = days
    if (day.weekday() >= 5 or day in holidays) and left == 0:
        left = 1
    while left > 0:
        day += datetime.timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            left -= 1
    return day


def test_promised_date_and_status(tmp):
    today = datetime.datetime.now(VN).date()
    holidays = {today + datetime.timedelta(days=1), today + datetime.timedelta(days=3)}
    hfile = os.path.join(tmp, "holidays.txt")
    with open(hfile, "w") as f:
        f.write("# ngày nghỉ lễ\n" + "\n".join(d.isoformat() for d in sorted(holidays)) + "\n")
    pfile = os.path.join(tmp, "procedures.txt")
    with open(pfile, "w", encoding="utf-8") as f:
        f.write("# mã thủ tục;số ngày làm việc;đơn vị\n1.001193;5;Phòng Tư pháp\n1.000656;0;Công an xã\n")
    conf_extra = "holidays = %s\nprocedures = %s\n" % (hfile, pfile)
    g = Gateway(tmp, agency="000.00.12.H50")
    with open(g.conf, encoding="utf-8") as f:
        text = f.read()
    with open(g.conf, "w", encoding="utf-8") as f:
        f.write(text.replace("[office]\n", "[office]\n" + conf_extra))
    g.start()
    d = g.create_dossier(procedure="1.001193")
    got = datetime.datetime.fromisoformat(d["due_at"])
    want = _due(datetime.datetime.fromisoformat(d["received_at"]), 5, holidays)
    assert got.date() == want and got.strftime("%H:%M:%S") == "23:59:59", (got, want)
    assert d["unit"] == "Phòng Tư pháp" and d["official"] == "test clerk", d
    d2 = g.create_dossier(procedure="2.000001")
    assert d2["due_at"] is None and d2["unit"] is None, d2
    r = g.post("/api/v1/dossiers", {"procedure_code": "2.000001", "applicant": {"name": "A",
               "id_number": "001203004567"}, "channel": 2, "processing_days": 2, "unit": "Văn phòng"})
    d3 = r.json()
    assert datetime.datetime.fromisoformat(d3["due_at"]).date() == \
        _due(datetime.datetime.fromisoformat(d3["received_at"]), 2, holidays) and d3["unit"] == "Văn phòng", d3
    created = [e for e in _events(g, "dossier.created") if e["code"] == d["code"]][0]
    assert created["due_at"] == d["due_at"] and created["unit"] == "Phòng Tư pháp", created

    # staff change the status: a supplement request, then in process again
    r = g.post("/api/v1/dossiers/%s/status" % d["code"], {"status": 5, "note": "Thiếu bản sao CCCD"})
    assert r.status == 200 and r.json()["status"] == 5, r
    assert g.post("/api/v1/dossiers/%s/status" % d["code"], {"status": 11}).status == 400
    assert g.post("/api/v1/dossiers/%s/status" % d["code"], {"status": 4}, token="supervisor").status == 403
    assert g.post("/api/v1/dossiers/000.00.12.H50-991231-0001/status", {"status": 4}).status == 404
    st = [e for e in _events(g, "dossier.status")]
    assert st[0]["status"] == 5 and st[0]["previous"] == 1 and st[0]["details"]["note"] == "Thiếu bản sao CCCD", st
    g.stop()

    # a bad calendar file stops the gateway at start, with the file and line
    with open(hfile, "a") as f:
        f.write("2026-02-30\n")
    p = subprocess.run([GATEWAY, "--config", g.conf, "--check"], capture_output=True, timeout=20)
    assert p.returncode == 78 and b"holidays.txt:" in p.stderr and b"2026-02-30" in p.stderr, p.stderr


def test_report(tmp):
    g = Gateway(tmp, plugins="[eval-stream]\nenabled = true\n").start()
    a = g.create_dossier()["code"]
    g.create_dossier(channel=2)
    g.post("/api/v1/ratings", {"dossier_code": a, "level": 3}, token=g.token("kiosk"))
    today = datetime.datetime.now(VN).date().isoformat()
    end = time.time() + 10
    while time.time() < end:
        ind = g.get("/api/v1/indicators?from=%s&to=%s&by=office" % (today, today), token="supervisor").json()
        if ind["groups"] and ind["groups"][0]["dossiers"] == 2 and ind["groups"][0]["ratings"]["3"] == 1:
            break
        time.sleep(0.1)
    office = ind["groups"][0]
    assert office["online_rate"] == 50.0 and office["satisfaction"] == 50.0, office
    out = os.path.join(tmp, "reports")
    os.mkdir(out)
    g.stop()  # offline, on the plugin's database
    p = g.cli("report", "--from", today, "--to", today, "--out", out)
    csv_path, html_path = p.stdout.decode().split()
    rows = open(csv_path, encoding="utf-8-sig").read().splitlines()
    assert rows[0].startswith("period_from,period_to,by,group"), rows[0]
    sat = [r for r in rows if ",office," in r and ",satisfaction," in r][0]
    assert sat.endswith(",50.0,%,>=70,chưa đạt"), sat
    online = [r for r in rows if ",office," in r and ",online_rate," in r][0]
    assert ",50.0,%,," in online, online
    assert any(",official,\"test clerk\"," in r for r in rows), rows
    html = open(html_path, encoding="utf-8").read()
    assert "Báo cáo chỉ số" in html and "mục tiêu ≥ 70%" in html and "Theo cán bộ" in html, html[:500]
    # a quarter names its files after it; bad periods are refused
    p = g.cli("report", "--quarter", "2026Q4", "--out", out)
    assert p.stdout.decode().split()[0].endswith("motcua-report-2026Q4.csv"), p.stdout
    for bad in (["--quarter", "2026Q5"], ["--year", "26"], ["--from", today], ["--from", "2026-12-31", "--to", "2026-01-01"]):
        assert g.cli("report", *bad, check=False).returncode == 2, bad


if __name__ == "__main__":
    run(globals())
