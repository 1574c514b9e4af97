#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Receipt rendering: how long GET receipt.pdf and receipt.png take, end to
end over HTTP and inside the worker (X-Render-Ms), cold (the worker thread's
first form: fontconfig and pango start) and warm (p50/p95 of RECEIPT_BENCH_N,
default 40), idle and with RECEIPT_BENCH_BUSY (default 2) processes spinning
on the CPU, as two OCR workers would.

  meson test -C build --benchmark --verbose receipt
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import test_receipt as tr  # noqa: E402

N = int(os.environ.get("RECEIPT_BENCH_N", "40"))
BUSY = int(os.environ.get("RECEIPT_BENCH_BUSY", "2"))
FORMS = ["receipt.pdf", "receipt.png?width=576", "receipt.png?width=384"]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def measure(g, code, form, n):
    wall, inner = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        r = g.get("/api/v1/dossiers/%s/%s" % (code, form))
        wall.append((time.perf_counter() - t0) * 1000)
        assert r.status == 200, r
        inner.append(float(r.headers.get("X-Render-Ms", "nan")))
    return wall, inner


def main():
    tmp = tempfile.mkdtemp(prefix="receipt-bench-")
    g = tr.gateway(tmp).start()
    try:
        d = tr.received_dossier(g)
        code = d["code"]
        print("receipt bench: %d requests per form, dossier %s with %d documents" %
              (N, code, len(d["documents"])))
        # cold: the first form each I/O thread draws (two threads)
        cold = [measure(g, code, FORMS[0], 1) for _ in range(2)]
        print("  cold receipt.pdf (first on each I/O thread): %s ms over HTTP, %s ms drawing" %
              ([round(c[0][0]) for c in cold], [round(c[1][0]) for c in cold]))
        for busy in (0, BUSY) if BUSY else (0,):
            spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                        for _ in range(busy)]
            try:
                for form in FORMS:
                    wall, inner = measure(g, code, form, N)
                    print("  %-24s %s: HTTP p50 %5.0f ms p95 %5.0f ms; drawing p50 %5.0f ms p95 %5.0f ms" %
                          (form, "idle" if not busy else "%d CPU hogs" % busy,
                           pct(wall, 50), pct(wall, 95), pct(inner, 50), pct(inner, 95)))
            finally:
                for s in spinners:
                    s.kill()
                    s.wait()
    finally:
        g.stop()


if __name__ == "__main__":
    main()
