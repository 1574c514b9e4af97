# SPDX-License-Identifier: MIT
"""Nothing is lost, nothing is duplicated: concurrent dossier creation, kill -9
at random moments of a pipeline run (many rounds), and a graceful stop."""
import collections
import hashlib
import os
import random
import signal
import sqlite3
import threading
import time

from gwtest import AGENCY, Gateway, run, sample_pdf, vn_today
import gwtest  # noqa: E402

# These tests expect documents to go on to signing and archiving by
# themselves: without the clerk's review (test_review.py has it).
gwtest.REVIEW = False

STEPS_PLUGIN = "[test-steps]\nenabled = true\ndelay_ms = %d\n"
TRAILER = b"\n% test-steps recognize\n" + b"\n% test-steps sign\n"


def test_50_concurrent_creations_unique_and_gap_free(tmp):
    g = Gateway(tmp, workers=2).start()
    tok = g.token("clerk")
    n = 50
    barrier = threading.Barrier(n)
    results = [None] * n

    def create(i):
        barrier.wait()
        r = g.post("/api/v1/dossiers", {"procedure_code": "1.001234",
                                        "applicant": {"name": "Công dân %d" % i,
                                                      "id_number": "0012030%05d" % i},
                                        "channel": 1 + i % 3}, token=tok)
        results[i] = r
    threads = [threading.Thread(target=create, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None and r.status == 201 for r in results), [r for r in results if not r or r.status != 201]
    codes = sorted(r.json()["code"] for r in results)
    want = ["%s-%s-%04d" % (AGENCY, vn_today(), i) for i in range(1, n + 1)]
    assert codes == want, codes
    assert g.get("/api/v1/dossiers?limit=500").json()["total"] == n


class Client:
    """Creates dossiers and uploads documents until the gateway goes away,
    remembering what the gateway acknowledged."""

    def __init__(self, g, seq):
        self.g = g
        self.seq = seq

    def run(self, acked_dossiers, acked_docs, sent_docs, lock):
        g = self.g
        while True:
            try:
                r = g.post("/api/v1/dossiers", {"procedure_code": "1.001234",
                                                "applicant": {"name": "Phạm Thị Thu", "id_number": "001203004567"},
                                                "channel": 1}, timeout=5)
                if r.status != 201:
                    return
                code = r.json()["code"]
                with lock:
                    acked_dossiers.add(code)
                for _ in range(2):
                    with lock:
                        self.seq[0] += 1
                        n = self.seq[0]
                    pdf = sample_pdf("Ho so so %d" % n)
                    with lock:
                        sent_docs[hashlib.sha256(pdf).hexdigest()] = pdf
                    r = g.upload(code, pdf, name="trang-%d.pdf" % n)
                    if r.status != 202:
                        return
                    with lock:
                        acked_docs[r.json()["id"]] = (code, pdf)
            except OSError:
                return


def test_kill9_at_random_moments_loses_nothing(tmp):
    rounds = int(os.environ.get("MOTCUA_CRASH_ROUNDS", "40"))
    rng = random.Random(int(os.environ.get("MOTCUA_CRASH_SEED", str(int(time.time())))))
    g = Gateway(tmp, workers=2, plugins=STEPS_PLUGIN % 25)
    g.start()
    tok = g.token("clerk")
    g.tokens[("clerk", None)] = tok
    g.stop()
    acked_dossiers, acked_docs, sent_docs = set(), {}, {}
    lock = threading.Lock()
    seq = [0]
    kills_during_start = 0
    for rnd in range(rounds):
        g.start(wait=False)
        delay = rng.uniform(0, 0.6)
        if rng.random() < 0.15:
            # sometimes while it is starting up and resuming
            time.sleep(rng.uniform(0, 0.05))
            kills_during_start += 1
            g.kill9()
            continue
        try:
            g.wait_ready()
        except AssertionError:
            raise
        clients = [threading.Thread(target=Client(g, seq).run,
                                    args=(acked_dossiers, acked_docs, sent_docs, lock)) for _ in range(2)]
        for c in clients:
            c.start()
        time.sleep(delay)
        g.kill9()
        for c in clients:
            c.join(10)
    # a last, uninterrupted run finishes everything
    g.start()
    deadline = time.time() + 120
    while time.time() < deadline:
        db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
        pending = db.execute("SELECT COUNT(*) FROM documents WHERE state IN ('queued', 'processing')").fetchone()[0]
        db.close()
        if pending == 0:
            break
        time.sleep(0.2)
    assert pending == 0, "documents still unfinished"
    assert g.stop() == 0
    assert len(acked_docs) >= rounds // 2, "the test did too little work: %d documents" % len(acked_docs)

    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # dossiers: every acknowledged one is there; codes are gap-free
    codes = [r[0] for r in db.execute("SELECT code FROM dossiers ORDER BY code")]
    assert acked_dossiers <= set(codes), acked_dossiers - set(codes)
    assert codes == ["%s-%s-%04d" % (AGENCY, vn_today(), i) for i in range(1, len(codes) + 1)], codes
    # documents: every acknowledged one is done with exactly the right bytes
    rows = {r[0]: r[1:] for r in db.execute(
        "SELECT id, dossier_code, state, original_sha, current_sha, reason FROM documents")}
    for doc_id, (code, pdf) in acked_docs.items():
        assert doc_id in rows, "acknowledged document %s lost" % doc_id
        dcode, state, orig, cur, reason = rows[doc_id]
        assert dcode == code and state == "done", (doc_id, state, reason)
        assert orig == hashlib.sha256(pdf).hexdigest()
        want = pdf + TRAILER
        assert cur == hashlib.sha256(want).hexdigest(), "document %s: steps ran twice or not at all" % doc_id
        with open(os.path.join(g.data, "blobs", cur[:2], cur), "rb") as f:
            assert f.read() == want
    # nothing invented: every stored document was sent by a client, at most once
    origs = collections.Counter(r[2] for r in rows.values())
    for sha, n in origs.items():
        assert sha in sent_docs, "document nobody sent: %s" % sha
        assert n == 1, "document stored %d times" % n
    for r in rows.values():
        assert r[1] == "done", r
    # one job per step and document, each finished once; one document.done each
    for doc_id in rows:
        states = [s for (s,) in db.execute("SELECT state FROM jobs WHERE document_id = ? ORDER BY step", (doc_id,))]
        assert states == ["done", "done", "done", "skipped"], (doc_id, states)  # capture recognize sign archive
    done_events = collections.Counter(
        r[0] for r in db.execute("SELECT json_extract(payload, '$.document_id') FROM events WHERE type = 'document.done'"))
    assert set(done_events) == set(rows) and set(done_events.values()) == {1}, done_events
    assert os.listdir(os.path.join(g.data, "tmp")) == [], "temp files left behind"
    print("crash test: %d kill -9 rounds (%d during start-up), %d dossiers, %d documents acknowledged, %d stored"
          % (rounds, kills_during_start, len(codes), len(acked_docs), len(rows)))


def test_sigterm_finishes_running_steps_and_resumes_the_rest(tmp):
    g = Gateway(tmp, workers=2, plugins=STEPS_PLUGIN % 400).start()
    code = g.create_dossier()["code"]
    pdfs = {}
    for i in range(4):
        pdf = sample_pdf("Trang %d" % i)
        pdfs[g.upload(code, pdf).json()["id"]] = pdf
    time.sleep(0.2)  # two steps are running now
    t0 = time.time()
    assert g.stop(signal.SIGTERM) == 0
    assert time.time() - t0 < 5
    log = g.log()
    assert "SIGTERM: stopping" in log and "stopped cleanly" in log, log
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    done_before = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'done' AND plugin = 'test-steps'").fetchone()[0]
    running = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'running'").fetchone()[0]
    db.close()
    assert done_before == 2 and running == 0, (done_before, running)  # the two in flight finished
    g.start()
    for doc_id, pdf in pdfs.items():
        d = g.wait_document(code, doc_id)
        assert d["state"] == "done"
        assert g.get("/api/v1/dossiers/%s/documents/%s/content" % (code, doc_id)).body == pdf + TRAILER


if __name__ == "__main__":
    run(globals())
