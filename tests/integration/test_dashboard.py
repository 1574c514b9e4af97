# SPDX-License-Identifier: MIT
"""The dashboard (GET /dashboard) in a real browser: Debian's headless
Chromium driven through chromedriver's WebDriver protocol (plain HTTP, so
the stdlib is enough). It shows today's queue and waiting times and updates
live, without a reload, when tickets are issued and called."""
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request

from gwtest import Gateway, run
import gwtest  # noqa: E402

# These tests expect documents to go on to signing and archiving by
# themselves: without the clerk's review (test_review.py has it).
gwtest.REVIEW = False

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Browser:
    def __init__(self, tmp):
        # The port is free when picked but may be taken before chromedriver
        # binds it (the suite starts gateways on free ports in parallel):
        # then chromedriver exits, and it starts again on another port.
        for attempt in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen([CHROMEDRIVER, "--port=%d" % self.port, "--allowed-ips=127.0.0.1"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            end = time.time() + 20
            up = False
            while time.time() < end and self.proc.poll() is None and not up:
                try:
                    self.call("GET", "/status")
                    up = True
                except OSError:
                    time.sleep(0.1)
            if up:
                break
            self.proc.kill()
            self.proc.wait()
        else:
            raise AssertionError("chromedriver did not start (5 tries)")
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--user-data-dir=" + os.path.join(tmp, "chromium")]}}}}
        self.session = self.call("POST", "/session", caps)["value"]["sessionId"]

    def call(self, method, path, body=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def go(self, url):
        self.call("POST", "/session/%s/url" % self.session, {"url": url})

    def js(self, script):
        return self.call("POST", "/session/%s/execute/sync" % self.session, {"script": script, "args": []})["value"]

    def text(self, element_id):
        return self.js("const e = document.getElementById(%s); return e ? e.textContent : null;"
                       % json.dumps(element_id))

    def wait_text(self, element_id, want, timeout=15):
        end = time.time() + timeout
        got = None
        while time.time() < end:
            got = self.text(element_id)
            if got == want:
                return got
            time.sleep(0.1)
        raise AssertionError("#%s shows %r, not %r" % (element_id, got, want))

    def close(self):
        try:
            self.call("DELETE", "/session/%s" % self.session)
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def test_dashboard_live(tmp):
    assert os.path.exists(CHROMEDRIVER) and os.path.exists(CHROMIUM), \
        "Debian's chromium and chromium-driver are test dependencies (packaging/install-deps.sh test)"
    g = Gateway(tmp).start()
    r = g.request("GET", "/dashboard", token=None)
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/html"), r
    assert "Bảng theo dõi Bộ phận Một cửa".encode() in r.body
    sup = g.token("supervisor")
    b = Browser(tmp)
    try:
        b.go("http://127.0.0.1:%d/dashboard#token=%s" % (g.port, sup))
        assert b.js("return document.title").startswith("Bảng theo dõi"), b.js("return document.title")
        b.wait_text("waiting", "0")
        assert "cần bật eval-stream" in b.text("indicators"), b.text("indicators")
        # live: two citizens take tickets, the page follows without a reload
        b.js("window.__loaded = 1")
        g.post("/api/v1/tickets", {"service": "Hộ tịch"})
        g.post("/api/v1/tickets", {})
        b.wait_text("waiting", "2")
        time.sleep(1)
        g.post("/api/v1/tickets/next", {"counter": "Quầy 1"})
        b.wait_text("waiting", "1")
        b.wait_text("serving", "1")
        assert b.js("return window.__loaded") == 1, "the page was reloaded"
        assert b.text("avg-wait") not in ("–", None) and b.text("max-wait") not in ("–", None)
        assert "Cập nhật lúc" in b.text("status"), b.text("status")
        # a wrong token says so on the page
        b.go("http://127.0.0.1:%d/dashboard#token=nope" % g.port)
        b.js("location.reload()")
        end = time.time() + 10
        while time.time() < end and "401" not in (b.text("status") or ""):
            time.sleep(0.1)
        assert "401" in b.text("status"), b.text("status")
    finally:
        b.close()
    g.stop()


def test_dashboard_indicators(tmp):
    g = Gateway(tmp, plugins="[eval-stream]\nenabled = true\n").start()
    sup = g.token("supervisor")
    b = Browser(tmp)
    try:
        b.go("http://127.0.0.1:%d/dashboard#token=%s" % (g.port, sup))
        b.wait_text("waiting", "0")
        code = g.create_dossier()["code"]
        g.create_dossier(channel=2)
        # the citizen is very satisfied: the page follows without a reload
        g.post("/api/v1/ratings", {"dossier_code": code, "level": 1}, token=g.token("kiosk"))
        b.wait_text("satisfaction", "100%")
        end = time.time() + 15
        cell = None
        while time.time() < end:
            cell = b.js("const c = document.querySelector('[data-key=online_rate]'); return c ? c.textContent : null;")
            if cell == "50%":
                break
            time.sleep(0.1)
        assert cell == "50%", cell
        assert "Rất hài lòng 1" in b.text("ratings"), b.text("ratings")
        assert "Tỷ lệ số hóa hồ sơ, kết quả" in b.text("indicators"), b.text("indicators")
    finally:
        b.close()
    g.stop()


def test_snapshots_streamed_not_stored(tmp):
    # the evaluation's periodic snapshot reaches dashboards over SSE, but is
    # not written into the durable event log (a minute's snapshot would fill it)
    import sqlite3
    from test_api import read_sse
    g = Gateway(tmp, plugins="[eval-stream]\nenabled = true\nsnapshot_interval_s = 1\n").start()
    s, buf = read_sse(g.port, g.token("supervisor"), b"indicators.snapshot", timeout=10)
    s.close()
    assert b"event: indicators.snapshot" in buf, buf[-500:]
    block = buf[buf.rindex(b"event: indicators.snapshot"):]
    assert b"\"groups\"" in block or b"\"dossiers\"" in block, block[:300]
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    n = db.execute("SELECT COUNT(*) FROM events WHERE type = 'indicators.snapshot'").fetchone()[0]
    db.close()
    assert n == 0, n
    g.stop()


if __name__ == "__main__":
    run(globals())
