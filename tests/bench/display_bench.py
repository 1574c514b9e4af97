# SPDX-License-Identifier: MIT
"""Call next → the waiting-room display updated, while two OCR workers are
busy: the real gateway on 127.0.0.1 with ocr-tesseract on its two workers
kept busy by uploaded form images, /station/display open in headless
Chromium (a kiosk token), and a clerk calling tickets one after another.

Each sample is from the moment POST /api/v1/tickets/next is sent to the
moment the page shows that number (a MutationObserver in the page stamps it
with the same clock). Prints p50/p95/max in ms.
   meson test -C build --benchmark --verbose display
BENCH_CALLS (default 40)."""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from gwtest import SOURCE_ROOT, Gateway  # noqa: E402
from test_station_browser import browser, forget_profiles, wait  # noqa: E402

FORM = os.path.join(SOURCE_ROOT, "tests", "data", "demo-to-khai.png")
CALLS = int(os.environ.get("BENCH_CALLS", "40"))


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    import tempfile
    tmp = tempfile.mkdtemp(prefix="motcua-display-bench-")
    g = Gateway(tmp, plugins="[ocr-tesseract]\nenabled = true\n", workers=2,
                gateway_extra="").start()
    routes = {(r["method"], r["path"]) for r in g.get("/api/v1/routes", token="admin").json()["routes"]}
    for need in (("GET", "/api/v1/queue"), ("POST", "/api/v1/tickets/next")):
        if need not in routes:
            sys.exit("display bench: route %s %s not on this build" % need)
    kiosk = g.token("kiosk")
    d = browser(tmp, name="display-bench")
    try:
        d.get("http://127.0.0.1:%d/station/display#token=%s" % (g.port, kiosk))
        wait(d, lambda: "ok" in (d.find_element("css selector", ".net").get_attribute("class") or ""),
             "the display following the events")
        d.execute_script("""
          window.__seen = {};
          new MutationObserver(() => {
            const n = document.getElementById('now-number').textContent;
            if (!(n in window.__seen)) window.__seen[n] = Date.now();
          }).observe(document.getElementById('now-number'), {childList: true, characterData: true, subtree: true});""")
        # two OCR workers busy: form images uploaded, more whenever the queue runs low
        code = g.create_dossier()["code"]
        form = open(FORM, "rb").read()
        docs = []

        def keep_busy():
            busy = sum(1 for x in docs if g.get("/api/v1/dossiers/%s/documents/%s" % (code, x)).json()["state"]
                       in ("queued", "processing"))
            for _ in range(max(0, 4 - busy)):
                r = g.upload(code, form, ctype="image/png", name="to-khai.png")
                docs.append(r.json()["id"])
        keep_busy()
        lat = []
        for i in range(CALLS):
            if i % 5 == 0:
                keep_busy()
            t = g.post("/api/v1/tickets", {}).json()
            t0 = time.time()
            r = g.post("/api/v1/tickets/next", {"counter": "1"})
            assert r.status == 200, r
            want = "%04d" % r.json()["number"]
            seen = wait(d, lambda: d.execute_script("return window.__seen[arguments[0]]", want),
                        "the display showing %s" % want)
            lat.append(seen - t0 * 1000)
            g.post("/api/v1/tickets/%d/start" % t["id"], {})
            g.post("/api/v1/tickets/%d/done" % t["id"], {})
        busy = g.get("/metrics", token="admin").body.decode()
        line = [x for x in busy.splitlines() if x.startswith("motcua_workers_busy")]
        print("display bench: %d calls while OCR ran (%s at the end)" % (CALLS, line[0] if line else "?"))
        print("call next -> display updated: p50 %.0f ms, p95 %.0f ms, max %.0f ms"
              % (pct(lat, 50), pct(lat, 95), max(lat)))
    finally:
        d.quit()
        forget_profiles()
        g.stop()


if __name__ == "__main__":
    main()
