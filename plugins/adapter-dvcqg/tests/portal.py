# SPDX-License-Identifier: MIT
"""A stand-in for the national public service portal (Cổng Dịch vụ công quốc
gia) sync service, for the adapter-dvcqg tests. Real HTTP on 127.0.0.1.

  portal.py --port-file F --log L [--user U --password P]

POST /api/auth/login      {"username", "password"} -> {"error_code": "0", "session": ...}
                          wrong credentials -> 401 {"error_code": "AUTH_FAILED", ...}
POST /api/dvcqg/sync      {"session", "madonvi", "service", "isUpdating", "data": [...]}
                          -> {"error_code": "0", "message": ..., "ref": ...}
     unknown session       -> 401 {"error_code": "SESSION_EXPIRED"}
     shape/date errors     -> 200 {"error_code": "INVALID_DATA", "message": why}
POST /control/expire      forgets every session (the next call gets 401)
POST /control/mode        {"mode": "ok" | "500" | "garbage" | "slow" | "invalid"}

Every request is appended to the log as one JSON line: {"path", "headers"
(Idempotency-Key), "body" (parsed), "status", "answer"}.
"""
import argparse
import datetime
import json
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DATE = re.compile(r"^\d{14}$")
DOSSIER_DATES = ("NgayTiepNhan", "NgayHenTra", "NgayKetThucXuLy")
PROGRESS_DATES = ("ThoiDiemXuLy", "NgayBatDau", "NgayKetThucTheoQuyDinh")


def check_date(rec, key, required=False):
    v = rec.get(key)
    if v is None:
        return "%s missing" % key if required else None
    if not isinstance(v, str) or not DATE.match(v):
        return "%s = %r is not yyyyMMddHHmmss" % (key, v)
    try:
        datetime.datetime.strptime(v, "%Y%m%d%H%M%S")
    except ValueError:
        return "%s = %r is not a real time" % (key, v)
    return None


def check_dossier(rec):
    for k in ("MaHoSo", "MaTTHC", "TenTTHC", "ChuHoSo", "MaDoiTuong"):
        if not isinstance(rec.get(k), str):
            return "%s missing" % k
    if not rec["MaHoSo"]:
        return "MaHoSo empty"
    if rec.get("TrangThaiHoSo") not in range(1, 11):
        return "TrangThaiHoSo = %r" % rec.get("TrangThaiHoSo")
    if rec.get("KenhThucHien") not in (1, 2, 3):
        return "KenhThucHien = %r" % rec.get("KenhThucHien")
    for k in DOSSIER_DATES:
        e = check_date(rec, k, k == "NgayTiepNhan")
        if e:
            return e
    if rec["TrangThaiHoSo"] in (9, 10) and "NgayKetThucXuLy" not in rec:
        return "NgayKetThucXuLy missing for a finished dossier"
    for lst, keys in (("TaiLieuNop", ("TepDinhKemId", "TenTepDinhKem")),
                      ("DanhSachGiayToKetQua", ("GiayToId", "TenGiayTo"))):
        if not isinstance(rec.get(lst), list):
            return "%s missing" % lst
        for f in rec[lst]:
            for k in keys:
                if not isinstance(f.get(k), str) or not f[k]:
                    return "%s[].%s missing" % (lst, k)
    return None


def check_progress(rec):
    if not isinstance(rec.get("MaHoSo"), str) or not rec["MaHoSo"]:
        return "MaHoSo missing"
    if rec.get("TrangThaiHoSo") not in range(1, 11):
        return "TrangThaiHoSo = %r" % rec.get("TrangThaiHoSo")
    for k in PROGRESS_DATES:
        e = check_date(rec, k, k == "ThoiDiemXuLy")
        if e:
            return e
    return None


class Portal:
    def __init__(self, args):
        self.args = args
        self.sessions = set()
        self.mode = "ok"
        self.lock = threading.Lock()
        self.seq = 0


def make_handler(portal):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def answer(self, status, obj, raw=None):
            # sent after the call is recorded, so that a client that got
            # its answer finds the call in the log
            self.pending = (status, raw if raw is not None else json.dumps(obj, ensure_ascii=False).encode())
            return status, obj if raw is None else raw.decode("latin-1")

        def send_pending(self):
            status, body = self.pending
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def record(self, body, status, ans):
            line = {"path": self.path, "idempotency_key": self.headers.get("Idempotency-Key"),
                    "body": body, "status": status, "answer": ans}
            with portal.lock:
                with open(portal.args.log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(line, ensure_ascii=False) + "\n")

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n)
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            if self.path.startswith("/control/"):
                if self.path == "/control/expire":
                    portal.sessions.clear()
                elif self.path == "/control/mode":
                    portal.mode = body["mode"]
                self.answer(200, {"ok": True})
                self.send_pending()
                return
            mode = portal.mode
            if mode == "500":
                st, ans = self.answer(500, {"error_code": "-1", "message": "Lỗi hệ thống"})
            elif mode == "garbage":
                st, ans = self.answer(200, None, raw=b"<html>maintenance</html>")
            elif mode == "slow":
                time.sleep(5)
                st, ans = self.answer(200, {"error_code": "0", "message": "late"})
            elif self.path == "/api/auth/login":
                st, ans = self.login(body)
            elif self.path == "/api/dvcqg/sync":
                st, ans = self.sync(body, mode)
            else:
                st, ans = self.answer(404, {"error_code": "NOT_FOUND", "message": self.path})
            if isinstance(body, dict) and "password" in body:
                body = dict(body, password="***")
            self.record(body, st, ans)
            self.send_pending()

        def login(self, body):
            if (not isinstance(body, dict) or body.get("username") != portal.args.user
                    or body.get("password") != portal.args.password):
                return self.answer(401, {"error_code": "AUTH_FAILED",
                                         "message": "Sai tên đăng nhập hoặc mật khẩu"})
            s = secrets.token_hex(16)
            portal.sessions.add(s)
            return self.answer(200, {"error_code": "0", "message": "OK", "session": s})

        def sync(self, body, mode):
            if not isinstance(body, dict):
                return self.answer(400, {"error_code": "BAD_JSON", "message": "body is not JSON"})
            if body.get("session") not in portal.sessions:
                return self.answer(401, {"error_code": "SESSION_EXPIRED",
                                         "message": "Phiên làm việc đã hết hạn"})
            svc = body.get("service")
            if svc not in ("DongBoHoSoMC", "CapNhatTienDoHoSoMC"):
                return self.answer(200, {"error_code": "UNKNOWN_SERVICE", "message": str(svc)})
            if not isinstance(body.get("isUpdating"), bool) or not isinstance(body.get("madonvi"), str):
                return self.answer(200, {"error_code": "INVALID_DATA",
                                         "message": "isUpdating/madonvi"})
            data = body.get("data")
            if not isinstance(data, list) or not data:
                return self.answer(200, {"error_code": "INVALID_DATA", "message": "data is empty"})
            for rec in data:
                err = (check_dossier if svc == "DongBoHoSoMC" else check_progress)(rec)
                if err:
                    return self.answer(200, {"error_code": "INVALID_DATA",
                                             "message": "Dữ liệu không hợp lệ: " + err})
            if mode == "invalid":
                return self.answer(200, {"error_code": "INVALID_DATA",
                                         "message": "Mã TTHC không tồn tại trên Cổng"})
            with portal.lock:
                portal.seq += 1
                ref = "DVC-%06d" % portal.seq
            return self.answer(200, {"error_code": "0", "message": "Đồng bộ thành công", "ref": ref})

    return H


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--user", default="motcua")
    ap.add_argument("--password", default="mat-khau-1")
    args = ap.parse_args()
    portal = Portal(args)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(portal))
    srv.daemon_threads = True
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
