#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A stand-in RFC 3161 timestamp authority for the sign-openssl tests: a real
HTTP server on 127.0.0.1 that answers each POSTed timestamp query with
`openssl ts -reply` signed by the test CA's TSA certificate.

    tsa-server.py PORT TSA_CNF [PORT_FILE]

PORT 0 picks a free port; the port is written to PORT_FILE (if given) once
the server listens. Runs until killed (SIGTERM).
"""
import http.server
import os
import subprocess
import sys
import tempfile


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        if n <= 0 or n > 65536:
            self.send_error(400, "bad query size")
            return
        query = self.rfile.read(n)
        with tempfile.TemporaryDirectory() as d:
            q, r = os.path.join(d, "q.tsq"), os.path.join(d, "r.tsr")
            with open(q, "wb") as f:
                f.write(query)
            p = subprocess.run(["openssl", "ts", "-reply", "-config", self.server.cnf,
                                "-queryfile", q, "-out", r], capture_output=True)
            if p.returncode != 0:
                self.send_error(500, "openssl ts failed")
                sys.stderr.write(p.stderr.decode(errors="replace"))
                return
            with open(r, "rb") as f:
                reply = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, fmt, *args):
        sys.stderr.write("tsa-server: " + (fmt % args) + "\n")


def main():
    port, cnf = int(sys.argv[1]), sys.argv[2]
    srv = http.server.HTTPServer(("127.0.0.1", port), Handler)
    srv.cnf = cnf
    if len(sys.argv) > 3:
        tmp = sys.argv[3] + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(srv.server_address[1]))
        os.rename(tmp, sys.argv[3])
    srv.serve_forever()


if __name__ == "__main__":
    main()
