#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Helpers of ocr-bench.sh (Python stdlib + PIL; run with Debian's /usr/bin/python3).

  ocr_bench.py pages   --make-pages MP --out DIR --count N [--noise P] [--skew MIN MAX] [--seed S]
        N pages: the first N - N//2 clean, the other N//2 with salt-and-pepper
        noise and skew; writes DIR/clean/, DIR/noisy/ (make_pages.py output),
        DIR/pnm/page-NNN.pgm (for SANE's pnm backend) and DIR/pages.tsv:
        name <TAB> class <TAB> png <TAB> truth.txt <TAB> pgm

  ocr_bench.py upload  --url URL --token T --manifest M --text-dir D --out J [--timeout S]
        one dossier; every page POSTed as its own document (image/png), as
        fast as possible; waits until every document is done or failed.

  ocr_bench.py scan    --url URL --token T --manifest M --text-dir D --out J --link L [--timeout S]
        one dossier; for each page: L (the pnm backend's `filename`) is made
        to point at the page's PGM, POST .../scan {} (one scan at a time: the
        next one starts when the capture step of the previous one is done,
        while OCR goes on), then waits until every document is done or failed.

        Both write each document's recognized text ("text", NFC) to
        D/<page>.txt and a summary to J: {"wall_s", "docs": [...], ...}.
        Wall time: first upload (scan) request to the last document done.

  ocr_bench.py cer     --manifest M --hyp-dir D
        prints "CLEAN_CER NOISY_CER MISSING": character error rate per class
        in percent (edits summed over the class / reference characters), with
        plugins/ocr-tesseract/tests/cer.py (found through --cer-dir or
        $OCR_BENCH_CER_DIR); MISSING = pages without a hypothesis file.

  ocr_bench.py rusage  OUT -- CMD ARGS...
        runs CMD, writes its user and system time and "Maximum resident set
        size (kbytes): N" to OUT (as /usr/bin/time -v does), exits with CMD's
        status.
"""

import argparse
import http.client
import json
import os
import resource
import subprocess
import sys
import threading
import time
import unicodedata
from urllib.parse import quote, urlsplit

DOSSIER = {"procedure_code": "1.001234",
           "applicant": {"name": "Nguyễn Văn A", "id_number": "001203004567"},
           "channel": 1}


def die(msg):
    print("ocr-bench: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def read_manifest(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                name, cls, png, truth, pgm = line.split("\t")
                rows.append({"name": name, "class": cls, "png": png, "truth": truth, "pgm": pgm})
    return rows


# ---- pages ----

def cmd_pages(a):
    from PIL import Image
    n_noisy = a.count // 2
    n_clean = a.count - n_noisy
    py = sys.executable
    rows = []
    for cls, n, first, extra in (
            ("clean", n_clean, 1, []),
            ("noisy", n_noisy, n_clean + 1,
             ["--noise", str(a.noise), "--skew", str(a.skew[0]), str(a.skew[1])])):
        if n == 0:
            continue
        d = os.path.join(a.out, cls)
        subprocess.run([py, a.make_pages, "--out", d, "--count", str(n), "--first", str(first),
                        "--seed", str(a.seed + (0 if cls == "clean" else 1))] + extra, check=True)
        with open(os.path.join(d, "pages.json"), encoding="utf-8") as f:
            for p in json.load(f):
                name = p["file"].rsplit(".", 1)[0]
                rows.append((name, cls, os.path.join(d, p["file"]), os.path.join(d, p["text_file"])))
    pnm = os.path.join(a.out, "pnm")
    os.makedirs(pnm, exist_ok=True)
    with open(os.path.join(a.out, "pages.tsv"), "w", encoding="utf-8") as f:
        for name, cls, png, truth in rows:
            pgm = os.path.join(pnm, name + ".pgm")
            with Image.open(png) as im:
                im.convert("L").save(pgm)  # binary PGM (P5), what the pnm backend reads
            f.write("\t".join((name, cls, png, truth, pgm)) + "\n")
    return 0


# ---- HTTP ----

class Api:
    def __init__(self, url, token):
        u = urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.token = token

    def req(self, method, path, body=None, ctype=None, timeout=30):
        h = {"Authorization": "Bearer " + self.token}
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            ctype = "application/json"
        if ctype:
            h["Content-Type"] = ctype
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        try:
            j = json.loads(data) if data else None
        except ValueError:
            j = None
        return r.status, j, data

    def create_dossier(self):
        st, j, raw = self.req("POST", "/api/v1/dossiers", DOSSIER)
        if st != 201 or not j or "code" not in j:
            die("POST /api/v1/dossiers answered %d: %r" % (st, raw[:300]))
        return j["code"]

    def document(self, code, doc_id):
        st, j, raw = self.req("GET", "/api/v1/dossiers/%s/documents/%s" % (code, doc_id))
        if st != 200 or not isinstance(j, dict):
            die("GET document %s answered %d: %r" % (doc_id, st, raw[:300]))
        return j

    def dossier_states(self, code):
        st, j, raw = self.req("GET", "/api/v1/dossiers/%s" % code)
        if st != 200 or not isinstance(j, dict):
            die("GET /api/v1/dossiers/%s answered %d: %r" % (code, st, raw[:300]))
        return {d["id"]: d["state"] for d in j.get("documents", [])}


class Events(threading.Thread):
    """Follows GET /api/v1/events (Server-Sent Events) and timestamps each
    event on arrival (the events' own "at" has whole seconds only)."""

    def __init__(self, api):
        super().__init__(daemon=True)
        self.api = api
        self.seen = []  # (time.time(), type, data)
        self.error = None
        self.ready = threading.Event()

    def run(self):
        try:
            c = http.client.HTTPConnection(self.api.host, self.api.port, timeout=3600)
            c.request("GET", "/api/v1/events?since=0",
                      headers={"Authorization": "Bearer " + self.api.token,
                               "Accept": "text/event-stream"})
            r = c.getresponse()
            if r.status != 200:
                self.error = "GET /api/v1/events answered %d" % r.status
                return
            self.ready.set()
            etype, data = None, []
            while True:
                line = r.readline()
                if not line:
                    return
                line = line.decode("utf-8", "replace").rstrip("\r\n")
                if line.startswith("event:"):
                    etype = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and etype:
                    try:
                        d = json.loads("\n".join(data))
                    except ValueError:
                        d = {}
                    self.seen.append((time.time(), etype, d))
                    etype, data = None, []
        except Exception as e:  # the benchmark goes on without a timeline
            self.error = repr(e)
        finally:
            self.ready.set()

    def summary(self, t0, ids):
        ids = set(ids)
        mine = [(t - t0, ty, d) for t, ty, d in self.seen if d.get("document_id") in ids]
        pages = sorted(t for t, ty, d in mine if ty == "document.page.done")
        docs = sorted(t for t, ty, d in mine if ty == "document.done")
        return {"events_error": self.error,
                "first_page_done_s": pages[0] if pages else None,
                "last_page_done_s": pages[-1] if pages else None,
                "first_doc_done_s": docs[0] if docs else None,
                "last_doc_done_s": docs[-1] if docs else None,
                "page_done_s": pages, "doc_done_s": docs,
                "timeline": [[round(t, 3), ty, d.get("document_id"), d.get("page")] for t, ty, d in mine]}


def start_events(api):
    ev = Events(api)
    ev.start()
    ev.ready.wait(10)
    return ev


def wait_all(api, code, ids, deadline, what):
    """Polls the dossier until every document in ids is done or failed;
    returns the time (time.time()) it saw that."""
    last = None
    while True:
        states = api.dossier_states(code)
        pending = [i for i in ids if states.get(i) not in ("done", "failed")]
        if not pending:
            return time.time()
        if time.time() > deadline:
            die("%s: %d of %d documents still not done after the timeout (states: %s)"
                % (what, len(pending), len(ids),
                   ", ".join(sorted({states.get(i, "?") for i in pending}))))
        now = time.time()
        if last is None or now - last >= 15:
            done = len(ids) - len(pending)
            print("ocr-bench: %s: %d/%d documents finished" % (what, done, len(ids)),
                  file=sys.stderr, flush=True)
            last = now
        time.sleep(0.05)


def collect(api, code, entries, text_dir, t0, t_end, out, extra, events=None):
    os.makedirs(text_dir, exist_ok=True)
    docs = []
    for e in entries:
        d = api.document(code, e["id"])
        text = d.get("text")
        if isinstance(text, str):
            with open(os.path.join(text_dir, e["name"] + ".txt"), "w", encoding="utf-8") as f:
                f.write(unicodedata.normalize("NFC", text))
        pages = d.get("pages") or []
        steps = {s.get("step"): s for s in d.get("steps") or []}
        rec = steps.get("recognize", {})
        docs.append({"page": e["name"], "class": e["class"], "id": e["id"], "state": d.get("state"),
                     "reason": d.get("reason"), "has_text": isinstance(text, str),
                     "text_nfc": isinstance(text, str) and unicodedata.is_normalized("NFC", text),
                     "confidence": d.get("confidence"),
                     "page_states": [p.get("state") for p in pages],
                     "page_meta": [{k: v for k, v in p.items()
                                    if k in ("confidence", "rotated", "skew", "low_confidence", "words")}
                                   for p in pages],
                     "recognize": {k: rec.get(k) for k in ("state", "message", "attempts",
                                                            "started_at", "finished_at")},
                     "t_submit": e["t_submit"] - t0})
    res = {"dossier": code, "pages": len(entries), "wall_s": t_end - t0,
           "failed": sum(1 for d in docs if d["state"] != "done"),
           "no_text": sum(1 for d in docs if not d["has_text"]),
           "not_nfc": sum(1 for d in docs if d["has_text"] and not d["text_nfc"]), "docs": docs}
    res.update(extra)
    if events is not None:
        time.sleep(0.2)  # the last events are on their way
        res.update(events.summary(t0, [e["id"] for e in entries]))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    res["driver_cpu_s"] = ru.ru_utime + ru.ru_stime  # this client's own CPU (polling)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(res, f, ensure_ascii=False, indent=1)
    return res


def cmd_upload(a):
    api = Api(a.url, a.token)
    rows = read_manifest(a.manifest)
    code = api.create_dossier()
    events = start_events(api)
    bodies = []
    for r in rows:
        with open(r["png"], "rb") as f:
            bodies.append(f.read())
    deadline = time.time() + a.timeout
    t0 = time.time()
    entries = []
    for r, body in zip(rows, bodies):
        path = "/api/v1/dossiers/%s/documents?name=%s" % (code, quote(r["name"] + ".png"))
        ts = time.time()
        st, j, raw = api.req("POST", path, body, ctype="image/png")
        if st != 202 or not j or "id" not in j:
            die("upload of %s answered %d: %r" % (r["name"], st, raw[:300]))
        entries.append(dict(r, id=j["id"], t_submit=ts))
    t_uploaded = time.time()
    t_end = wait_all(api, code, [e["id"] for e in entries], deadline, "upload")
    collect(api, code, entries, a.text_dir, t0, t_end, a.out, {"upload_s": t_uploaded - t0}, events)
    return 0


def relink(link, target):
    tmp = link + ".new"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, link)  # atomic: the backend sees the old or the new page


def cmd_scan(a):
    api = Api(a.url, a.token)
    rows = read_manifest(a.manifest)
    code = api.create_dossier()
    events = start_events(api)
    relink(a.link, rows[0]["pgm"])
    deadline = time.time() + a.timeout
    t0 = time.time()
    entries = []
    capture_s = []
    for r in rows:
        relink(a.link, r["pgm"])
        while True:
            ts = time.time()
            st, j, raw = api.req("POST", "/api/v1/dossiers/%s/scan" % code, {})
            if st == 409 and time.time() < deadline:  # the scanner is still busy: not expected
                time.sleep(0.02)
                continue
            break
        if st != 202 or not j or "id" not in j:
            die("scan of %s answered %d: %r" % (r["name"], st, raw[:300]))
        e = dict(r, id=j["id"], t_submit=ts)
        entries.append(e)
        # the capture step done: the backend has read the file, the next page may go
        while True:
            d = api.document(code, e["id"])
            steps = d.get("steps") or []
            cst = steps[0].get("state") if steps else None
            if cst == "done":
                break
            if cst in ("failed", "skipped") or d.get("state") == "failed":
                die("scan of %s: capture %s: %s %s" % (r["name"], cst, d.get("reason"),
                                                       steps[0].get("message") if steps else ""))
            if time.time() > deadline:
                die("scan of %s: capture not done after the timeout (capture %s)" % (r["name"], cst))
            time.sleep(0.02)
        capture_s.append(time.time() - ts)
    t_scanned = time.time()
    t_end = wait_all(api, code, [e["id"] for e in entries], deadline, "scan")
    collect(api, code, entries, a.text_dir, t0, t_end, a.out,
            {"scan_s": t_scanned - t0, "capture_s_mean": sum(capture_s) / len(capture_s),
             "capture_s_max": max(capture_s)}, events)
    return 0


# ---- CER ----

def cmd_cer(a):
    sys.path.insert(0, a.cer_dir)
    import cer as cermod
    rows = read_manifest(a.manifest)
    tot = {"clean": [0, 0], "noisy": [0, 0]}
    missing = 0
    for r in rows:
        with open(r["truth"], encoding="utf-8") as f:
            ref = f.read()
        hp = os.path.join(a.hyp_dir, r["name"] + ".txt")
        if os.path.exists(hp):
            with open(hp, encoding="utf-8", errors="replace") as f:
                hyp = unicodedata.normalize("NFC", f.read())
        else:
            missing += 1
            hyp = ""  # a missing page counts as all wrong
        d = cermod.cer_details(ref, hyp)
        tot[r["class"]][0] += d["distance"]
        tot[r["class"]][1] += d["length"]

    def pct(c):
        return "%.2f" % (100.0 * tot[c][0] / tot[c][1]) if tot[c][1] else "-"
    print(pct("clean"), pct("noisy"), missing)
    return 0


def cmd_rusage(a):
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    rc = subprocess.call(cmd)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)  # ru_maxrss: KiB on Linux
    with open(a.out, "w") as f:
        f.write("\tUser time (seconds): %.2f\n\tSystem time (seconds): %.2f\n"
                "\tMaximum resident set size (kbytes): %d\n\tExit status: %d\n"
                % (ru.ru_utime, ru.ru_stime, ru.ru_maxrss, rc))
    return rc


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd_name", required=True)
    p = sub.add_parser("pages")
    p.add_argument("--make-pages", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--noise", type=float, default=0.003)
    p.add_argument("--skew", type=float, nargs=2, default=(1.0, 3.0))
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(fn=cmd_pages)
    for name, fn in (("upload", cmd_upload), ("scan", cmd_scan)):
        p = sub.add_parser(name)
        p.add_argument("--url", required=True)
        p.add_argument("--token", required=True)
        p.add_argument("--manifest", required=True)
        p.add_argument("--text-dir", required=True)
        p.add_argument("--out", required=True)
        p.add_argument("--timeout", type=float, default=300)
        if name == "scan":
            p.add_argument("--link", required=True)
        p.set_defaults(fn=fn)
    p = sub.add_parser("cer")
    p.add_argument("--manifest", required=True)
    p.add_argument("--hyp-dir", required=True)
    p.add_argument("--cer-dir", default=os.environ.get("OCR_BENCH_CER_DIR", ""))
    p.set_defaults(fn=cmd_cer)
    p = sub.add_parser("rusage")
    p.add_argument("out")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_rusage)
    a = ap.parse_args()
    try:
        return a.fn(a)
    except (OSError, http.client.HTTPException) as e:
        die("%s: %s (did the gateway stop?)" % (a.cmd_name, e))


if __name__ == "__main__":
    sys.exit(main())
