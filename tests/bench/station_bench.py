#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The station at a busy counter: the clerk's and the waiting room's
latencies while the two OCR workers are busy (ocr-tesseract reading
generated Vietnamese pages that keep coming, checked on /metrics), each
beside the floor it cannot beat, in the same run:

  confirm -> receipt PDF ready   POST .../confirm then GET receipt.pdf, as the
                                 console does, on a dossier received under
                                 review; floor: GET of the same dossier's JSON
  call next -> display updated   POST /tickets/next until the waiting-room
                                 page (/station/display in headless Chromium)
                                 shows the number; floor: the ticket.called
                                 event reaching a plain SSE client
  announcement                   GET announce.wav, the first time
                                 (synthesized) and cached; beside the
                                 espeak-ng command line saying the same text

  meson test -C build --benchmark --verbose station

Environment: STATION_BENCH_N (default 30) rounds of each measure.
Latencies in ms, p50 / p95 / max; the ratio is p50 over the floor's p50.
"""
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MOTCUA_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
from gwtest import Gateway  # noqa: E402

N = int(os.environ.get("STATION_BENCH_N", "30"))
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PROCEDURES = os.path.join(SRC, "conf", "procedures.txt")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def row(label, xs, floor=None):
    ratio = "" if floor is None else "%7.1fx" % (statistics.median(xs) / max(statistics.median(floor), 1e-3))
    print("  %-44s %8.1f %8.1f %8.1f %s" % (label, statistics.median(xs), pct(xs, 95), max(xs), ratio),
          flush=True)


def workers_busy(g):
    for line in g.get("/metrics", token="supervisor").body.decode().splitlines():
        if line.startswith("motcua_workers_busy "):
            return int(line.split()[1])
    return 0


def make_pages(tmp, n):
    out = os.path.join(tmp, "pages")
    subprocess.run(["/usr/bin/python3", os.path.join(SRC, "plugins", "ocr-tesseract", "tests", "make_pages.py"),
                    "--out", out, "--count", str(n), "--seed", "7"], check=True, capture_output=True)
    return [open(os.path.join(out, f), "rb").read() for f in sorted(os.listdir(out)) if f.endswith(".png")]


class Load(threading.Thread):
    """Keeps four pages ahead of the two OCR workers: full A4 forms uploaded
    to a dossier of their own (they stop in review after OCR, so the
    workers go on to the next)."""

    def __init__(self, g, pages):
        super().__init__(daemon=True)
        self.g, self.pages, self.stop = g, pages, threading.Event()
        self.code = g.create_dossier(name="Tải nền", id_number="001203009999")["code"]
        self.sent = 0

    def run(self):
        while not self.stop.is_set():
            docs = self.g.get("/api/v1/dossiers/%s" % self.code).json().get("documents", [])
            if sum(1 for d in docs if d["state"] not in ("done", "failed", "review")) < 4:
                self.g.upload(self.code, self.pages[self.sent % len(self.pages)], ctype="image/png",
                              name="nen-%d.png" % self.sent)
                self.sent += 1
            else:
                time.sleep(0.2)


class Sse(threading.Thread):
    """A plain event-stream client: when each ticket.called arrived."""

    def __init__(self, g, token):
        super().__init__(daemon=True)
        self.g, self.token, self.called = g, token, {}
        self.ready = threading.Event()

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.g.port, timeout=600)
        conn.request("GET", "/api/v1/events", headers={"Authorization": "Bearer " + self.token,
                                                      "Accept": "text/event-stream"})
        r = conn.getresponse()
        self.ready.set()
        ev = None
        while True:
            line = r.fp.readline()
            if not line:
                return
            line = line.decode("utf-8", "replace").rstrip("\r\n")
            if line.startswith("event:"):
                ev = line[6:].strip()
            elif line.startswith("data:") and ev == "ticket.called":
                p = json.loads(line[5:])
                self.called.setdefault(p.get("id"), time.time() * 1000)


def bench_receipt(g, png):
    """confirm -> receipt.pdf on N dossiers each with one page in review."""
    todo = []
    for i in range(N):
        code = g.post("/api/v1/dossiers", {"procedure_code": "1.001193", "channel": 1,
                                           "applicant": {"name": "Nguyễn Văn Bình %d" % i,
                                                         "id_number": "0012030%05d" % i}}).json()["code"]
        r = g.upload(code, png, ctype="image/png", name="to-khai.png")
        assert r.status == 202, r
        todo.append((code, r.json()["id"]))
    for code, doc in todo:
        d = g.wait_document(code, doc, timeout=600, states=("review", "done", "failed"))
        assert d["state"] == "review", d
    ready, floor = [], []
    for code, doc in todo:
        t0 = time.perf_counter()
        r = g.post("/api/v1/dossiers/%s/documents/%s/confirm" % (code, doc), {})
        assert r.status == 202, r
        r = g.get("/api/v1/dossiers/%s/receipt.pdf" % code)
        assert r.status == 200 and r.body.startswith(b"%PDF"), r
        ready.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        assert g.get("/api/v1/dossiers/%s" % code).status == 200
        floor.append((time.perf_counter() - t0) * 1000)
    return ready, floor


def bench_display(g, tmp):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    kiosk = g.token("kiosk", name="bench display")
    sse = Sse(g, kiosk)
    sse.start()
    sse.ready.wait(30)
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="motcua-bench-chromium-")
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1366,768", "--mute-audio", "--autoplay-policy=no-user-gesture-required",
              "--user-data-dir=" + profile]:
        o.add_argument(a)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    try:
        d.get("http://127.0.0.1:%d/station/display#token=%s" % (g.port, kiosk))
        # every change of the big number, with the page's own clock
        d.execute_script("""
          window.__bench = [];
          const n = document.querySelector('#now-number');
          new MutationObserver(() => window.__bench.push([n.textContent, Date.now()]))
            .observe(n, {childList: true, characterData: true, subtree: true});""")
        time.sleep(1)  # the page's first GET /api/v1/queue and its event stream
        shown, floor = [], []
        for _ in range(N):
            t = g.post("/api/v1/tickets", {}).json()
            t0 = time.time() * 1000
            r = g.post("/api/v1/tickets/next", {"counter": "1"})
            assert r.status == 200 and r.json()["id"] == t["id"], r
            end = time.time() + 30
            at = None
            while time.time() < end and at is None:
                for text, ms in d.execute_script("return window.__bench"):
                    if text.strip().lstrip("0") == str(t["number"]) and ms >= t0:
                        at = ms
                        break
                else:
                    time.sleep(0.01)
            assert at is not None, "the display did not show %d" % t["number"]
            shown.append(at - t0)
            while t["id"] not in sse.called and time.time() < end:
                time.sleep(0.005)
            floor.append(sse.called[t["id"]] - t0)
            assert g.post("/api/v1/tickets/%d/done" % t["id"], {}).status == 200
        return shown, floor
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


def bench_voice(g, tmp):
    ids = []
    for _ in range(N):
        g.post("/api/v1/tickets", {})
        r = g.post("/api/v1/tickets/next", {"counter": "2"})
        ids.append(r.json()["id"])
    kiosk = g.token("kiosk", name="bench display")
    first, cached, cli = [], [], []
    for tid in ids:
        t0 = time.perf_counter()
        r = g.get("/api/v1/tickets/%d/announce.wav" % tid, token=kiosk)
        first.append((time.perf_counter() - t0) * 1000)
        assert r.status == 200 and r.headers.get("X-Cache") == "miss", r
        text = r.headers.get("X-Announce-Text", "")
        from urllib.parse import unquote
        wav = os.path.join(tmp, "cli.wav")
        t0 = time.perf_counter()
        subprocess.run(["espeak-ng", "-v", "vi", "-s", "150", "-w", wav, unquote(text)], check=True)
        cli.append((time.perf_counter() - t0) * 1000)
    for tid in ids:
        t0 = time.perf_counter()
        r = g.get("/api/v1/tickets/%d/announce.wav" % tid, token=kiosk)
        cached.append((time.perf_counter() - t0) * 1000)
        assert r.status == 200 and r.headers.get("X-Cache") == "hit", r
    return first, cached, cli


def main():
    tmp = tempfile.mkdtemp(prefix="motcua-station-bench-")
    g = Gateway(tmp, workers=2, plugins="[ocr-tesseract]\nenabled = true\n", review=True)
    # the procedures file the demo uses (receipt with papers and fees)
    conf = open(g.conf, encoding="utf-8").read().replace(
        "[office]\n", "[office]\nprocedures = %s\n" % PROCEDURES, 1)
    open(g.conf, "w", encoding="utf-8").write(conf)
    g.start()
    load = Load(g, make_pages(tmp, 4))
    load.start()
    end = time.time() + 120
    while time.time() < end and workers_busy(g) < 2:
        time.sleep(0.2)
    assert workers_busy(g) >= 2, "OCR did not get busy"
    busy = []
    try:
        print("station bench: %d rounds each, while 2 OCR workers are busy (ocr-tesseract, "
              "A4 Vietnamese forms kept coming)" % N, flush=True)
        print("  %-44s %8s %8s %8s %8s" % ("ms", "p50", "p95", "max", "vs floor"))
        ready, floor = bench_receipt(g, load.pages[0])
        busy.append(workers_busy(g))
        row("confirm -> receipt.pdf ready", ready, floor)
        row("  floor: GET the dossier's JSON", floor)
        shown, sfloor = bench_display(g, tmp)
        busy.append(workers_busy(g))
        row("call next -> display shows the number", shown, sfloor)
        row("  floor: ticket.called at a plain SSE client", sfloor)
        first, cached, cli = bench_voice(g, tmp)
        busy.append(workers_busy(g))
        row("announce.wav first time (synthesis)", first, cli)
        row("announce.wav cached", cached, cli)
        row("  reference: espeak-ng command, same text", cli)
        print("  OCR workers busy after each part (of 2): %s; background pages sent: %d"
              % (busy, load.sent), flush=True)
    finally:
        load.stop.set()
        g.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
