# SPDX-License-Identifier: MIT
"""motcua user add|passwd|list|disable: offline on the gateway's database;
the password from standard input (--password-stdin) or asked twice on a
terminal without echo (a pty here)."""
import json
import os
import pty
import select
import sqlite3
import subprocess
import time

from gwtest import CLI, Gateway, run

PASSWORD = "mật-khẩu-đủ-dài-1"


def add(g, username="an.nv", password=PASSWORD, check=True, extra=()):
    return g.cli("user", "add", "--username", username, "--name", "Nguyễn Văn An", "--role", "clerk",
                 "--unit", "Phòng Tư pháp", "--password-stdin", *extra,
                 input=(password + "\n").encode(), check=check)


def sign_in(g, username="an.nv", password=PASSWORD):
    return g.post("/api/v1/session", {"username": username, "password": password}, token=None)


def test_add_list_passwd_disable(tmp):
    g = Gateway(tmp)
    p = add(g, extra=("--counter", "2"))
    assert b"user an.nv" in p.stderr and PASSWORD.encode() not in p.stdout + p.stderr, p
    g.cli("user", "add", "--username", "binh.tt", "--name", "Trần Thị Bình", "--role", "supervisor",
          "--unit", "Văn phòng", "--password-stdin", input=b"mot-mat-khau-khac\n")
    text = g.cli("user", "list").stdout.decode()
    assert "an.nv" in text and "Nguyễn Văn An" in text and "supervisor" in text, text
    listed = json.loads(g.cli("--json", "user", "list").stdout)
    assert [u["username"] for u in listed] == ["an.nv", "binh.tt"], listed
    assert json.loads(g.cli("user", "list", "--json").stdout) == listed
    assert listed[0]["counter"] == "2" and listed[1]["counter"] is None, listed
    assert listed[0]["disabled_at"] is None and listed[0]["role"] == "clerk", listed
    assert set(listed[0]) == {"id", "username", "name", "role", "unit", "counter", "created_at",
                              "disabled_at", "sessions"}, listed
    # the hash is Argon2id, the password itself is nowhere
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    rows = db.execute("SELECT hash FROM users").fetchall()
    db.close()
    assert all(h.startswith("$argon2id$v=19$m=65536,t=2,") for (h,) in rows), rows
    assert PASSWORD not in repr(rows)

    g.start()
    old = sign_in(g).json()["token"]
    assert json.loads(g.cli("--json", "user", "list").stdout)[0]["sessions"] == 1
    # passwd: the new password works, the old one not, the sessions are ended
    p = g.cli("user", "passwd", "an.nv", "--password-stdin", input=b"mat-khau-moi-2026\n")
    assert b"sessions are ended" in p.stderr, p
    assert g.get("/api/v1/dossiers", token=old).status == 401
    assert sign_in(g).status == 401
    new = sign_in(g, password="mat-khau-moi-2026")
    assert new.status == 201, new
    # disable: its sessions end, it cannot sign in, the list says so
    g.cli("user", "disable", "an.nv")
    assert g.get("/api/v1/dossiers", token=new.json()["token"]).status == 401
    assert sign_in(g, password="mat-khau-moi-2026").status == 401
    listed = json.loads(g.cli("--json", "user", "list").stdout)
    assert listed[0]["disabled_at"] and listed[0]["sessions"] == 0, listed
    assert "disabled" in g.cli("user", "list").stdout.decode()
    p = g.cli("user", "disable", "an.nv", check=False)
    assert p.returncode == 1 and b"disabled already" in p.stderr, p
    assert sign_in(g, "binh.tt", "mot-mat-khau-khac").status == 201
    g.stop()


def test_clear_errors(tmp):
    g = Gateway(tmp)
    add(g)
    cases = [
        (["user", "add", "--username", "an.nv", "--name", "X", "--role", "clerk", "--unit", "U",
          "--password-stdin"], PASSWORD, 1, "taken"),
        (["user", "add", "--username", "x.y", "--name", "X", "--role", "clerk", "--unit", "U",
          "--password-stdin"], "ngan", 2, "at least 10 characters"),
        (["user", "add", "--username", "x.y", "--name", "X", "--role", "kiosk", "--unit", "U",
          "--password-stdin"], PASSWORD, 2, "clerk, supervisor or admin"),
        (["user", "add", "--username", "Hoa Đ", "--name", "X", "--role", "clerk", "--unit", "U",
          "--password-stdin"], PASSWORD, 2, "username"),
        (["user", "add", "--username", "x.y", "--role", "clerk", "--unit", "U", "--password-stdin"],
         PASSWORD, 2, "needs --username, --name, --role and --unit"),
        (["user", "add", "--username", "x.y", "--name", "X", "--role", "clerk", "--unit", "U",
          "--password-stdin"], "", 2, "at least 10 characters"),
        (["user", "add", "--username", "x.y", "--name", "X", "--role", "clerk", "--unit", "U",
          "--password-stdin"], "x" * 200, 2, "no password on standard input"),
        (["user", "add", "--username", "x.y", "--name", "X", "--role", "clerk", "--unit", "U"],
         PASSWORD, 2, "--password-stdin"),
        (["user", "passwd", "khong.co", "--password-stdin"], PASSWORD, 1, "no user khong.co"),
        (["user", "disable", "khong.co"], None, 1, "no user khong.co"),
        (["user", "frobnicate"], None, 2, "Usage"),
        (["user"], None, 2, "Usage"),
    ]
    for args, pw, rc, msg in cases:
        p = g.cli(*args, input=(pw + "\n").encode() if pw is not None else b"", check=False)
        assert p.returncode == rc and msg in p.stderr.decode(), (args, p)
    # nothing was added by the refused commands
    assert [u["username"] for u in json.loads(g.cli("--json", "user", "list").stdout)] == ["an.nv"]


def _pty_run(g, args, answers):
    """Runs motcua on a pty: each answer is typed once its prompt has shown.
    Returns (exit code, everything the terminal showed)."""
    master, slave = pty.openpty()
    env = dict(os.environ)
    env.pop("MOTCUA_TOKEN", None)
    p = subprocess.Popen([CLI, "--config", g.conf, *args], stdin=slave, stdout=slave, stderr=slave,
                         env=env, close_fds=True)
    os.close(slave)
    seen = b""
    pending = list(answers)
    end = time.time() + 60
    while time.time() < end:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        while pending and pending[0][0].encode() in seen.split(b"\n")[-1] + b"":
            os.write(master, (pending.pop(0)[1] + "\n").encode())
        if p.poll() is not None and not r:
            break
    rc = p.wait(30)
    os.close(master)
    return rc, seen.decode("utf-8", "replace")


def test_password_asked_on_a_terminal(tmp):
    g = Gateway(tmp)
    args = ["user", "add", "--username", "cuong.lv", "--name", "Lê Văn Cường", "--role", "admin",
            "--unit", "Văn phòng UBND"]
    rc, shown = _pty_run(g, args, [("New password:", PASSWORD), ("Again:", PASSWORD)])
    assert rc == 0, shown
    assert "Mật khẩu mới / New password:" in shown and "Nhập lại / Again:" in shown, shown
    assert PASSWORD not in shown, "the password was echoed: %r" % shown
    assert "user cuong.lv" in shown, shown
    # two different answers: nothing added
    rc, shown = _pty_run(g, ["user", "add", "--username", "dung.pt", "--name", "Phạm Thị Dung",
                             "--role", "clerk", "--unit", "U"],
                         [("New password:", PASSWORD), ("Again:", PASSWORD + "x")])
    assert rc == 2 and "differ" in shown, shown
    # too short: refused at the first prompt
    rc, shown = _pty_run(g, ["user", "passwd", "cuong.lv"], [("New password:", "ngan")])
    assert rc == 2 and "at least 10 characters" in shown, shown
    # passwd on the terminal
    rc, shown = _pty_run(g, ["user", "passwd", "cuong.lv"],
                         [("New password:", "mat-khau-moi-2026"), ("Again:", "mat-khau-moi-2026")])
    assert rc == 0 and "mat-khau-moi-2026" not in shown, shown
    names = [u["username"] for u in json.loads(g.cli("--json", "user", "list").stdout)]
    assert names == ["cuong.lv"], names
    g.start()
    assert sign_in(g, "cuong.lv", "mat-khau-moi-2026").status == 201
    assert sign_in(g, "cuong.lv", PASSWORD).status == 401
    g.stop()


run(globals())
