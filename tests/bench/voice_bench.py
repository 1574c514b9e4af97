#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Voice benchmark: GET /api/v1/tickets/{id}/announce.wav in the real
gateway, the first time (synthesized by libespeak-ng) against the second
(served from the cache), medians over N tickets with distinct numbers (so
distinct texts: each first fetch is a synthesis).

  meson test -C build --benchmark --verbose voice

Reported, per phase: the client's time to the whole WAV (p50/p95, ms) and,
for the first fetch, the gateway's own synthesis time (X-Synthesis-Ms: the
espeak-ng call under its lock, without HTTP).

Environment:
  VOICE_BENCH_N         tickets (default 50)
  VOICE_BENCH_OCR_BUSY  1: measure while the two OCR workers are busy
                        ([gateway] workers = 2, ocr-tesseract, generated
                        Vietnamese pages uploaded first and kept coming),
                        as the issue's note asks; default 0 (an idle gateway)
"""
import os
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MOTCUA_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
from gwtest import Gateway  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def workers_busy(g):
    for line in g.get("/metrics", token="supervisor").body.decode().splitlines():
        if line.startswith("motcua_workers_busy "):
            return int(line.split()[1])
    return 0


def make_pages(tmp, n):
    import subprocess
    out = os.path.join(tmp, "pages")
    subprocess.run(["/usr/bin/python3", os.path.join(SRC, "plugins", "ocr-tesseract", "tests", "make_pages.py"),
                    "--out", out, "--count", str(n), "--seed", "5"], check=True, capture_output=True)
    return [open(os.path.join(out, f), "rb").read() for f in sorted(os.listdir(out)) if f.endswith(".png")]


def main():
    n = int(os.environ.get("VOICE_BENCH_N", "50"))
    busy = os.environ.get("VOICE_BENCH_OCR_BUSY", "0") == "1"
    tmp = tempfile.mkdtemp(prefix="motcua-voice-bench-")
    plugins = "[ocr-tesseract]\nenabled = true\n" if busy else ""
    g = Gateway(tmp, workers=2, plugins=plugins).start()
    stop = threading.Event()
    uploader = None
    if busy:
        pages = make_pages(tmp, 4)
        code = g.create_dossier()["code"]

        def keep_busy():
            # Four pages ahead of the two OCR workers, all through the run.
            i = 0
            while not stop.is_set():
                docs = g.get("/api/v1/dossiers/%s" % code).json().get("documents", [])
                waiting = sum(1 for d in docs if d["state"] not in ("done", "failed", "review"))
                if waiting < 4:
                    g.upload(code, pages[i % len(pages)], ctype="image/png", name="p%d.png" % i)
                    i += 1
                else:
                    time.sleep(0.2)
        uploader = threading.Thread(target=keep_busy, daemon=True)
        uploader.start()
        # until both OCR workers are running pages (/metrics: running or queued)
        end = time.time() + 60
        while time.time() < end and workers_busy(g) < 2:
            time.sleep(0.2)
        assert workers_busy(g) >= 2, "OCR did not start"
    ids = []
    for _ in range(n):
        assert g.post("/api/v1/tickets", {}).status == 201
    for _ in range(n):
        r = g.post("/api/v1/tickets/next", {"counter": "1"})
        assert r.status == 200, r
        ids.append(r.json()["id"])
    kiosk = g.token("kiosk")
    first, synth, cached = [], [], []
    for tid in ids:
        t0 = time.perf_counter()
        r = g.get("/api/v1/tickets/%d/announce.wav" % tid, token=kiosk)
        first.append((time.perf_counter() - t0) * 1e3)
        assert r.status == 200 and r.headers["X-Cache"] == "miss", r
        synth.append(float(r.headers["X-Synthesis-Ms"]))
    for tid in ids:
        t0 = time.perf_counter()
        r = g.get("/api/v1/tickets/%d/announce.wav" % tid, token=kiosk)
        cached.append((time.perf_counter() - t0) * 1e3)
        assert r.status == 200 and r.headers["X-Cache"] == "hit", r
    busy_note = ""
    if busy:
        assert workers_busy(g) >= 2, "OCR was no longer busy at the end"
        stop.set()
        uploader.join(30)
        busy_note = " while 2 OCR workers were busy (ocr-tesseract)"
    g.stop()
    print("voice: %d announcements (\"Mời công dân có số thứ tự ... đến quầy số một\")%s" % (n, busy_note))
    print("  %-34s %8s %8s %8s" % ("", "p50 ms", "p95 ms", "max ms"))
    for label, xs in (("first fetch (synthesis + HTTP)", first),
                      ("  espeak-ng synthesis (server)", synth),
                      ("cached fetch (X-Cache: hit)", cached)):
        print("  %-34s %8.1f %8.1f %8.1f" % (label, statistics.median(xs), pct(xs, 95), max(xs)))
    print("  first/cached median ratio: %.1f" % (statistics.median(first) / statistics.median(cached)))


if __name__ == "__main__":
    main()
