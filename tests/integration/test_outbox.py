# SPDX-License-Identifier: MIT
"""The host's outbox with a real peer (an HTTP server on 127.0.0.1 in this
process) and the test-adapter plugin: every dossier change is delivered to
the agency, in order per dossier, exactly once as far as the peer is
concerned (it keeps the first of each Idempotency-Key), through a peer that
is down, failing, refusing or slow, and through kill -9 of the gateway."""
import http.server
import json
import os
import signal
import socket
import sqlite3
import threading
import time

from gwtest import Gateway, run, sample_pdf, sample_png
import gwtest  # noqa: E402

# These tests expect documents to go on to signing and archiving by
# themselves: without the clerk's review (test_review.py has it).
gwtest.REVIEW = False


class Peer:
    """An agency's server: records what it accepts, once per key."""

    def __init__(self, port=0):
        self.mode = "ok"        # ok | 500 | 400 | slow | garbage
        self.delay = 0.0
        self.accepted = []      # bodies, in the order accepted
        self.keys = set()
        self.repeats = 0
        self.requests = 0
        self.lock = threading.Lock()
        peer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                key = self.headers.get("Idempotency-Key")
                with peer.lock:
                    peer.requests += 1
                    mode = peer.mode
                if mode == "slow" or peer.delay:
                    time.sleep(peer.delay or 5)
                if mode == "500":
                    return self.answer(500, b"database down")
                if mode == "400":
                    return self.answer(400, b"MaTTHC unknown")
                with peer.lock:
                    if key in peer.keys:
                        peer.repeats += 1
                    else:
                        peer.keys.add(key)
                        peer.accepted.append(json.loads(body))
                self.answer(200, ("ref-%d" % len(peer.accepted)).encode())

            def answer(self, code, text):
                self.send_response(code)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that gave up (timeout, kill -9): expected here

        self.server = Server(("127.0.0.1", port), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def of(self, code):
        with self.lock:
            return [(b["type"], b["event"]) for b in self.accepted if b["code"] == code]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def gateway(tmp, port, outbox="max_attempts = 3\nbackoff_base_s = 1\nbackoff_max_s = 2\n", procedures="*",
            timeout_ms=2000, extra=""):
    return Gateway(tmp, gateway_extra="", plugins="[outbox]\n%s\n[test-adapter]\nenabled = true\nport = %d\n"
                   "procedures = %s\ntimeout_ms = %d\n%s" % (outbox, port, procedures, timeout_ms, extra)).start()


def outbox(g, **q):
    from urllib.parse import urlencode
    r = g.get("/api/v1/outbox?" + urlencode(q), token="supervisor")
    assert r.status == 200, r
    return r.json()


def wait(cond, timeout=30, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def test_delivered_in_order(tmp):
    peer = Peer()
    g = gateway(tmp, peer.port)
    code = g.create_dossier()["code"]
    doc = g.wait_document(code, g.upload(code, sample_pdf()).json()["id"])
    assert doc["state"] == "done"
    wait(lambda: len(peer.of(code)) == 2, what="2 deliveries")
    (t1, e1), (t2, e2) = peer.of(code)
    assert (t1, t2) == ("dossier.created", "document.done"), peer.of(code)
    body = peer.accepted[0]
    assert body["dossier"]["code"] == code and body["dossier"]["applicant"]["id_number"] == "001203004567"
    assert body["dossier"]["status"] == 1 and body["event"]["at"].endswith("+07:00"), body
    d = peer.accepted[1]["dossier"]["documents"][0]
    assert d["id"] == doc["id"] and d["sha256"] == doc["current_sha256"] and d["state"] == "done", d
    assert open(d["path"], "rb").read() == g.get("/api/v1/dossiers/%s/documents/%s/content"
                                                  % (code, doc["id"])).body
    rows = outbox(g)
    assert rows["counts"]["delivered"] == 2 and rows["total"] == 2, rows
    assert all(r["state"] == "delivered" and r["attempts"] == 1 and r["peer_ref"] for r in rows["items"]), rows
    assert len({r["idempotency_key"] for r in rows["items"]}) == 2
    one = g.get("/api/v1/outbox/%d" % rows["items"][0]["id"], token="admin").json()
    assert one["dossier"]["code"] == code and one["event"]["code"] == code, one
    # routing: a procedure not routed here makes no row
    g.stop()
    os.makedirs(os.path.join(tmp, "b"))
    g2 = gateway(os.path.join(tmp, "b"), peer.port, procedures="2.000001")
    g2.create_dossier()
    time.sleep(0.3)
    assert outbox(g2)["total"] == 0
    g2.stop()
    peer.stop()


def test_peer_down_then_up(tmp):
    port = free_port()  # nothing listens yet
    g = gateway(tmp, port, outbox="max_attempts = 50\nbackoff_base_s = 1\nbackoff_max_s = 1\n")
    t0 = time.time()
    codes = [g.create_dossier(name="Người %d" % i)["code"] for i in range(4)]
    for c in codes[:2]:
        g.wait_document(c, g.upload(c, sample_pdf()).json()["id"])
    wait(lambda: outbox(g)["total"] == 6 and any(r["attempts"] >= 1 for r in outbox(g)["items"]),
         what="a failed try")
    time.sleep(2)
    rows = outbox(g)
    assert rows["counts"]["pending"] == 6, rows
    failing = [r for r in rows["items"] if r["attempts"] >= 1]
    assert failing and all("cannot connect" in r["last_error"] for r in failing), rows
    # the destination pauses: an outage costs a probe per backoff (1 s here),
    # not a try of every row. The four first rows may all go before the first
    # failure is known; then one probe a second at most (the backoff has no
    # jitter at 1 s), where retrying every row would be four a second.
    probes = int(time.time() - t0) + 1
    assert sum(r["attempts"] for r in rows["items"]) <= 4 + probes, (probes, rows)
    assert "cannot reach the peer" in g.log() and "deliveries pause" in g.log()
    # later rows of a dossier wait behind its first: never tried before it
    for r in rows["items"]:
        if r["event_type"] == "document.done":
            assert r["attempts"] == 0, r
    peer = Peer(port)
    wait(lambda: outbox(g)["counts"]["delivered"] == 6, timeout=30, what="all delivered")
    assert "the peer answers again" in g.log()
    for c in codes:
        types = [t for t, _ in peer.of(c)]
        assert types == (["dossier.created", "document.done"] if c in codes[:2] else ["dossier.created"]), types
    assert peer.repeats == 0
    g.stop()
    peer.stop()


def test_failures_dead_letters_retry_cancel(tmp):
    peer = Peer()
    peer.mode = "500"
    g = gateway(tmp, peer.port)
    code = g.create_dossier()["code"]
    g.wait_document(code, g.upload(code, sample_pdf()).json()["id"])
    dead = wait(lambda: outbox(g, state="dead")["items"], what="a dead letter")
    assert dead[0]["event_type"] == "dossier.created" and dead[0]["attempts"] == 3, dead
    assert "gave up after 3 attempts" in dead[0]["last_error"] and "HTTP 500" in dead[0]["last_error"], dead
    # the dossier's next row waits behind the dead one: order before completeness
    waiting = outbox(g, state="pending")["items"]
    assert [r["event_type"] for r in waiting] == ["document.done"] and waiting[0]["attempts"] == 0, waiting
    assert "is a dead letter" in g.log()
    # only an admin retries; then the peer is fine and both go, in order
    assert g.post("/api/v1/outbox/%d/retry" % dead[0]["id"], {}, token="supervisor").status == 403
    peer.mode = "ok"
    r = g.post("/api/v1/outbox/%d/retry" % dead[0]["id"], {}, token="admin")
    assert r.status == 200 and r.json()["state"] == "pending" and r.json()["attempts"] == 0, r
    wait(lambda: outbox(g)["counts"]["delivered"] == 2, what="delivered after retry")
    assert [t for t, _ in peer.of(code)] == ["dossier.created", "document.done"]
    assert g.post("/api/v1/outbox/%d/retry" % dead[0]["id"], {}, token="admin").status == 409
    assert g.post("/api/v1/outbox/%d/cancel" % dead[0]["id"], {}, token="admin").status == 409

    # 4xx: refused for good at the first answer, no blind retry
    peer.mode = "400"
    before = peer.requests
    code2 = g.create_dossier()["code"]
    dead = wait(lambda: outbox(g, state="dead", dossier=code2)["items"], what="a refusal")
    assert dead[0]["attempts"] == 1 and "refused: HTTP 400: MaTTHC unknown" in dead[0]["last_error"], dead
    time.sleep(1.5)
    assert peer.requests == before + 1
    # cancel frees the dossier's later rows
    peer.mode = "ok"
    r = g.post("/api/v1/outbox/%d/cancel" % dead[0]["id"], {}, token="admin")
    assert r.status == 200 and r.json()["state"] == "cancelled", r
    g.wait_document(code2, g.upload(code2, sample_pdf()).json()["id"])
    wait(lambda: [t for t, _ in peer.of(code2)] == ["document.done"], what="the row after the cancelled one")

    # slow: the adapter's timeout, then tried again
    peer.mode, peer.delay = "slow", 3
    code3 = g.create_dossier()["code"]
    row = wait(lambda: [r for r in outbox(g, dossier=code3)["items"] if r["attempts"] >= 1], what="a timeout")
    assert "did not answer within" in row[0]["last_error"], row
    peer.delay = 0
    peer.mode = "ok"
    wait(lambda: outbox(g, dossier=code3)["counts"]["delivered"] == 1, what="delivered after the timeout")

    # bad parameters
    for qs in ("state=lost", "limit=0", "nope=1", "dossier=a%20b"):
        r = g.get("/api/v1/outbox?" + qs, token="supervisor")
        assert r.status == 400, (qs, r)
    assert g.get("/api/v1/outbox", token="clerk").status == 403
    assert g.get("/api/v1/outbox/999999", token="admin").status == 404
    assert g.post("/api/v1/outbox/abc/retry", {}, token="admin").status == 404
    m = g.get("/metrics", token="supervisor").body.decode()
    assert 'motcua_outbox_items{state="delivered"}' in m, m
    g.stop()
    peer.stop()


def test_status_and_result_from_the_agency(tmp):
    peer = Peer()
    g = gateway(tmp, peer.port)
    code = g.create_dossier()["code"]
    agency = g.token("agency")
    r = g.post("/api/v1/plugins/test-adapter/status", {"code": code, "status": 4}, token=agency)
    assert r.status == 200, r
    assert g.get("/api/v1/dossiers/%s" % code).json()["status"] == 4
    assert g.post("/api/v1/plugins/test-adapter/status", {"code": code, "status": 11}, token=agency).status == 400
    assert g.post("/api/v1/plugins/test-adapter/status", {"code": "000.00.00.H00-991231-0001", "status": 4},
                  token=agency).status == 404
    result = os.path.join(tmp, "ket-qua.png")
    open(result, "wb").write(sample_png())
    r = g.post("/api/v1/plugins/test-adapter/result", {"code": code, "path": result, "media_type": "image/png",
                                                       "name": "Giay khai sinh.png"}, token=agency)
    assert r.status == 202, r
    os.unlink(result)  # the host has its own copy
    docs = wait(lambda: g.get("/api/v1/dossiers/%s" % code).json()["documents"], what="the result document")
    doc = g.wait_document(code, docs[0]["id"])
    assert doc["type"] == "ket-qua" and doc["state"] == "done" and doc["name"] == "Giay khai sinh.png", doc
    # its document.done says it is a result (the evaluation counts results by
    # it), beside the event's own type
    import sqlite3
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    done = [json.loads(p) for (p,) in db.execute("SELECT payload FROM events WHERE type = 'document.done'")]
    db.close()
    assert [(e["type"], e["document_type"]) for e in done] == [("document.done", "ket-qua")], done
    # a PDF that is not one is refused
    bad = os.path.join(tmp, "bad.pdf")
    open(bad, "wb").write(b"not a pdf at all")
    r = g.post("/api/v1/plugins/test-adapter/result", {"code": code, "path": bad, "media_type": "application/pdf",
                                                       "name": "x.pdf"}, token=agency)
    assert r.status == 400, r
    # the agency's own status change goes to the peer too, in order
    wait(lambda: [t for t, _ in peer.of(code)] == ["dossier.created", "dossier.status", "document.done"],
         what="3 deliveries")
    st = [e for t, e in peer.of(code) if t == "dossier.status"][0]
    assert st["status"] == 4 and st["previous"] == 1 and st["by"] == "test-adapter", st
    g.stop()
    peer.stop()


def test_sync_report(tmp):
    peer = Peer()
    g = gateway(tmp, peer.port)
    good = g.create_dossier()["code"]
    wait(lambda: outbox(g, dossier=good)["counts"]["delivered"] == 1, what="the first delivery")
    peer.mode = "400"
    bad = g.create_dossier(name="Trần Thị B")["code"]
    dead = wait(lambda: outbox(g, state="dead", dossier=bad)["items"], what="a refusal")
    p = g.cli("sync", "report", "--destination", "test-adapter", "--from", time.strftime("%Y-%m-%d", time.gmtime(time.time() + 7 * 3600)), check=False)
    out = p.stdout.decode()
    assert p.returncode == 1 and "1 of 2 dossiers acknowledged" in out, out
    assert bad in out and good not in out and "dead" in out and "HTTP 400" in out, out
    j = json.loads(g.cli("sync", "report", "--destination", "test-adapter", "--json", check=False).stdout)
    assert j["dossiers"] == 2 and j["synced"] == 1 and [m["code"] for m in j["not_synced"]] == [bad], j
    # a destination that took nothing: every dossier is listed as never queued
    p = g.cli("sync", "report", check=False)
    assert p.returncode == 1 and "never queued" in p.stdout.decode(), p.stdout
    assert g.cli("sync", "report", "--from", "2026-13-01", check=False).returncode == 2
    peer.mode = "ok"
    g.post("/api/v1/outbox/%d/retry" % dead[0]["id"], {}, token="admin")
    wait(lambda: outbox(g, dossier=bad)["counts"]["delivered"] == 1, what="the retried delivery")
    p = g.cli("sync", "report", "--destination", "test-adapter", check=False)
    assert p.returncode == 0 and "2 of 2 dossiers acknowledged (100.0%)" in p.stdout.decode(), p.stdout
    g.stop()
    peer.stop()


def test_kill9_during_delivery(tmp):
    peer = Peer()
    peer.delay = 0.3  # every delivery is in flight a while
    g = gateway(tmp, peer.port, outbox="max_attempts = 100\nbackoff_base_s = 1\nbackoff_max_s = 1\n")
    codes = [g.create_dossier(name="Công dân %d" % i)["code"] for i in range(12)]
    for round_ in range(3):
        time.sleep(0.5)
        g.kill9()
        g.start()
    wait(lambda: outbox(g)["counts"]["delivered"] == 12, timeout=60, what="all delivered")
    # every dossier reached the peer once; repeats after the kills were dropped by key
    got = [b["code"] for b in peer.accepted]
    assert sorted(got) == sorted(codes) and len(set(got)) == 12, got
    print("  peer saw %d requests, %d repeats dropped by Idempotency-Key" % (peer.requests, peer.repeats))
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE state != 'delivered'").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(DISTINCT idempotency_key) FROM outbox").fetchone()[0] == 12
    db.close()
    g.stop()
    peer.stop()


if __name__ == "__main__":
    run(globals())
