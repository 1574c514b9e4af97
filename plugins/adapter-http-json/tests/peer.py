#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A stand-in for an agency's REST/JSON API, for the adapter-http-json tests
and benchmark. Python stdlib only (Debian's /usr/bin/python3).

What it answers depends on the request path, so one peer serves every case:
  POST /ok            200 {"id": "P-<n>"}; the same Idempotency-Key gets the
                      same id again (a repeat is counted, not stored twice)
  POST /500           500 {"error": "..."}
  POST /400, /422     400 / 422 {"error": "<Vietnamese text>"}
  POST /401           401 {"error": "..."}
  POST /slow?s=N      sleeps N seconds, then as /ok
  POST /garbage       200 with an HTML body
  POST /empty         204
  GET  /updates       the --updates file (or {"updates": []})
  GET  /stats         {"requests", "unique", "repeats"}
Every request is recorded as one JSON line in --log: method, path, headers,
body, hmac_ok (the X-Motcua-Signature recomputed with --hmac-key-file),
repeat, and the client certificate's subject under TLS.

  peer.py --port-file F [--log F] [--cert C --key K [--client-ca CA]]
          [--hmac-key-file F] [--updates F]
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--client-ca")
    ap.add_argument("--hmac-key-file")
    ap.add_argument("--updates")
    args = ap.parse_args()

    key = None
    if args.hmac_key_file:
        with open(args.hmac_key_file, "rb") as f:
            key = f.read().splitlines()[0].rstrip(b" \t")
    lock = threading.Lock()
    seen = {}
    counts = {"requests": 0, "unique": 0, "repeats": 0}
    log = open(args.log, "a", encoding="utf-8") if args.log else None

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes

        def log_message(self, *a):
            pass

        def answer(self, status, body, ctype="application/json"):
            data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def record(self, body, **extra):
            entry = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            }
            cert = None
            if isinstance(self.connection, ssl.SSLSocket):
                pc = self.connection.getpeercert()
                if pc:
                    cert = ",".join("%s=%s" % kv for rdn in pc.get("subject", ()) for kv in rdn)
            entry["client_cert"] = cert
            if key is not None:
                ts = self.headers.get("X-Motcua-Timestamp", "")
                sig = self.headers.get("X-Motcua-Signature", "")
                want = "sha256=" + hmac.new(key, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
                entry["hmac_ok"] = hmac.compare_digest(sig, want)
            entry.update(extra)
            if log:
                with lock:
                    log.write(json.dumps(entry, ensure_ascii=False) + "\n")
                    log.flush()

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            self.record(b"")
            if url.path == "/updates":
                data = b'{"updates": []}'
                if args.updates and os.path.exists(args.updates):
                    with open(args.updates, "rb") as f:
                        data = f.read()
                return self.answer(200, data)
            if url.path == "/stats":
                with lock:
                    return self.answer(200, dict(counts))
            return self.answer(404, {"error": "no such path"})

        def do_POST(self):
            url = urllib.parse.urlsplit(self.path)
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n) if n else b""
            mode = url.path.strip("/") or "ok"
            if mode == "slow":
                q = urllib.parse.parse_qs(url.query)
                time.sleep(float(q.get("s", ["5"])[0]))
                mode = "ok"
            idem = self.headers.get("Idempotency-Key")
            repeat = False
            with lock:
                counts["requests"] += 1
                if mode == "ok" and idem:
                    if idem in seen:
                        repeat = True
                        counts["repeats"] += 1
                    else:
                        counts["unique"] += 1
                        seen[idem] = "P-%d" % counts["unique"]
                    ref = seen[idem]
            self.record(body, repeat=repeat)
            if mode == "ok":
                return self.answer(200, {"id": ref if idem else "P-0", "repeat": repeat})
            if mode == "500":
                return self.answer(500, {"error": "database unavailable"})
            if mode == "400":
                return self.answer(400, {"error": "thiếu số định danh của người nộp (applicant.id_number)"})
            if mode == "422":
                return self.answer(422, {"message": "mã thủ tục không được tiếp nhận: procedure_code"})
            if mode == "401":
                return self.answer(401, {"error": "token không hợp lệ"})
            if mode == "garbage":
                return self.answer(200, b"<html><body>Service Temporarily Unavailable", "text/html")
            if mode == "empty":
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            return self.answer(404, {"error": "no such path"})

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128

        def handle_error(self, request, client_address):
            # A refused TLS handshake is an expected outcome. Linger a
            # little before closing, as nginx's lingering_close does, so
            # that the client reads our alert rather than a reset.
            if isinstance(sys.exc_info()[1], (ssl.SSLError, OSError)):
                time.sleep(0.3)

    srv = Server(("127.0.0.1", 0), Handler)
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        if args.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(args.client_ca)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
