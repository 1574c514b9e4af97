# SPDX-License-Identifier: MIT
"""A small harness for integration tests: starts the real motcua-gateway on
127.0.0.1 with a config from the test, and talks to it over real sockets.

Each test file calls run(globals()): every function named test_* runs in turn,
each with a fresh temporary folder; the exit code is 0 if all passed."""
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

GATEWAY = os.path.abspath(os.environ.get("MOTCUA_GATEWAY", "build/gateway/daemon/motcua-gateway"))
CLI = os.path.abspath(os.environ.get("MOTCUA_CLI", "build/gateway/cli/motcua"))
PLUGIN_DIR = ":".join(os.path.abspath(d) for d in os.environ.get(
    "MOTCUA_PLUGIN_DIR", "build/plugins:build/tests/plugins").split(":"))
SOURCE_ROOT = os.environ.get("MOTCUA_SOURCE_ROOT", ".")
BUILD_ROOT = os.environ.get("MOTCUA_BUILD_ROOT", "build")
AGENCY = "000.00.12.H50"
# `meson test --setup valgrindgateway` runs the gateway under memcheck: the
# command it puts in front of the gateway's, and how much slower things get.
WRAPPER = shlex.split(os.environ.get("MOTCUA_TEST_WRAPPER", ""))
SLOW = 20 if WRAPPER else 1
VALGRIND_ERROR = 99  # --error-exitcode in meson.build's test setup
# [station] review for every Gateway that does not say: None leaves the
# gateway's default (review on: a received document waits for the clerk
# after recognition); test files whose documents must reach "done" by
# themselves set it to False (gwtest.REVIEW = False), or pass review=.
REVIEW = None
_instances = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def vn_today():
    return time.strftime("%y%m%d", time.gmtime(time.time() + 7 * 3600))


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<HTTP %d %r>" % (self.status, self.body[:300])


class Gateway:
    def __init__(self, tmp, plugins="", workers=2, gateway_extra="", http_extra="",
                 plugin_dir=None, agency=AGENCY, env=None, review=None):
        self.tmp = tmp
        self.port = free_port()
        self.data = os.path.join(tmp, "data")
        self.conf = os.path.join(tmp, "motcua.conf")
        self.log_path = os.path.join(tmp, "gateway.log")
        self.proc = None
        self.tokens = {}
        self.env = dict(os.environ, **(env or {}))
        # an ASan build: leaks of system libraries that are not ours (tests/lsan.supp)
        self.env.setdefault("LSAN_OPTIONS", "suppressions=" + os.path.join(
            os.path.abspath(SOURCE_ROOT), "tests", "lsan.supp"))
        _instances.append(self)
        review = REVIEW if review is None else review
        if review is not None:
            plugins = "[station]\nreview = %s\n\n%s" % ("true" if review else "false", plugins)
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write("[gateway]\ndata_dir = %s\nplugin_dir = %s\nworkers = %d\n%s\n"
                    "[http]\nlisten = 127.0.0.1:%d\n%s\n"
                    "[office]\nagency_code = %s\nname = Bộ phận Một cửa thử nghiệm\n\n%s\n"
                    % (self.data, plugin_dir or PLUGIN_DIR, workers, gateway_extra,
                       self.port, http_extra, agency, plugins))

    # ---- process ----
    def start(self, wait=True, args=()):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([*WRAPPER, GATEWAY, "--config", self.conf, *args],
                                     stdout=self.logf, stderr=self.logf, env=self.env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        end = time.time() + timeout * SLOW
        while time.time() < end:
            if self.proc.poll() is not None:
                raise AssertionError("gateway exited with %s:\n%s" % (self.proc.returncode, self.log()))
            try:
                if self.get("/api/v1/health", token=None).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError("gateway did not come up:\n" + self.log())

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("gateway did not stop within %ss" % timeout)
        if self.proc:
            self.logf.close()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        if "Sanitizer" in self.log() or "runtime error:" in self.log():
            raise AssertionError("sanitizer report in the gateway log:\n" + self.log()[-20000:])
        if WRAPPER and rc == VALGRIND_ERROR:
            raise AssertionError("memcheck found errors in the gateway:\n" + self.log()[-20000:])
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.logf.close()
        self.proc = None

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # ---- CLI ----
    def cli(self, *args, token=None, check=True, input=None):
        env = dict(os.environ)
        env.pop("MOTCUA_TOKEN", None)
        if token:
            env["MOTCUA_TOKEN"] = token
        p = subprocess.run([CLI, "--config", self.conf, *args], capture_output=True, env=env,
                           input=input, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError("motcua %s failed (%d): %s" % (" ".join(args), p.returncode,
                                                               p.stderr.decode()))
        return p

    def token(self, role="clerk", name=None):
        key = (role, name)
        if key not in self.tokens:
            out = self.cli("token", "create", "--role", role, "--name", name or ("test " + role))
            self.tokens[key] = out.stdout.decode().strip()
        return self.tokens[key]

    # ---- HTTP ----
    def request(self, method, path, body=None, headers=None, token="clerk", timeout=30,
                source=None):
        """source: the client's address (another 127.x.y.z: another client)."""
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + (self.token(token) if token in
                                              ("clerk", "supervisor", "admin", "agency") else token)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                          source_address=(source, 0) if source else None)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return Response(r.status, dict(r.getheaders()), r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def create_dossier(self, name="Nguyễn Thị Hồng Nhung", id_number="001203004567", channel=1,
                       procedure="1.001234", token="clerk"):
        r = self.post("/api/v1/dossiers", {"procedure_code": procedure,
                                           "procedure_name": "Đăng ký khai sinh",
                                           "applicant": {"name": name, "id_number": id_number},
                                           "channel": channel}, token=token)
        assert r.status == 201, r
        return r.json()

    def upload(self, code, data, ctype="application/pdf", name="giay-to.pdf", token="clerk"):
        from urllib.parse import quote
        return self.post("/api/v1/dossiers/%s/documents?name=%s" % (code, quote(name)), data,
                         headers={"Content-Type": ctype}, token=token)

    def confirm(self, code, doc_id, order=None, token="clerk"):
        """The clerk's confirmation of a document in review (202)."""
        r = self.post("/api/v1/dossiers/%s/documents/%s/confirm" % (code, doc_id),
                      {} if order is None else {"order": order}, token=token)
        assert r.status == 202, r
        return r.json()

    def wait_document(self, code, doc_id, timeout=60, states=("done", "failed")):
        end = time.time() + timeout
        while time.time() < end:
            r = self.get("/api/v1/dossiers/%s/documents/%s" % (code, doc_id))
            assert r.status == 200, r
            d = r.json()
            if d["state"] in states:
                return d
            time.sleep(0.05)
        raise AssertionError("document %s still %s" % (doc_id, d["state"]))


def sample_pdf(text="Giấy khai sinh"):
    """A small, valid one-page PDF (classic xref) with some text."""
    content = ("BT /F1 18 Tf 72 720 Td (%s) Tj ET" % text.encode("ascii", "replace").decode()).encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return out


def sample_png():
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    raw = b"".join(b"\x00" + b"\xff\xff\xff" * 4 for _ in range(4))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def run(ns):
    tests = [(k, v) for k, v in ns.items() if k.startswith("test_") and callable(v)]
    only = sys.argv[1:]
    failed = 0
    for name, fn in tests:
        if only and name not in only:
            continue
        tmp = tempfile.mkdtemp(prefix="motcua-test-")
        t0 = time.time()
        try:
            fn(tmp)
            # Every gateway a test left running must stop cleanly on SIGTERM
            # (under ASan/UBSan this is also where leaks and errors surface).
            for g in _instances:
                if g.proc and g.proc.poll() is None:
                    rc = g.stop()
                    assert rc == 0, "gateway exited with %s on SIGTERM" % rc
                    assert "stopped cleanly" in g.log(), "no clean stop in the log"
            print("ok   %s (%.1fs)" % (name, time.time() - t0), flush=True)
            shutil.rmtree(tmp, ignore_errors=True)
        except Exception:
            failed += 1
            print("FAIL %s (%.1fs)\n%s" % (name, time.time() - t0, traceback.format_exc()), flush=True)
            for root, _, files in os.walk(tmp):
                for f in files:
                    if f.endswith(".log"):
                        print("---- %s ----" % os.path.join(root, f))
                        with open(os.path.join(root, f), errors="replace") as fh:
                            print(fh.read()[-6000:])
            # tmp is left for inspection
        finally:
            for g in _instances:
                if g.proc and g.proc.poll() is None:
                    g.proc.kill()
                    g.proc.wait()
            _instances.clear()
    print("%d passed, %d failed" % (len(tests) - failed if not only else len(only) - failed, failed))
    sys.exit(1 if failed else 0)


def sane_config(tmp, backends=("test", "pnm")):
    """A private SANE configuration (SANE_CONFIG_DIR) with SANE's own
    virtual devices: `test` (patterns, a feeder that empties after 10 pages,
    simulated errors) and `pnm` (scans a given image file)."""
    d = os.path.join(tmp, "sane.d")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "dll.conf"), "w") as f:
        f.write("\n".join(backends) + "\n")
    for b in backends:
        src = "/etc/sane.d/%s.conf" % b
        if os.path.exists(src):
            shutil.copy(src, d)
    return d
