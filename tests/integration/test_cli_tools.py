# SPDX-License-Identifier: MIT
"""`motcua NAME ARGS...` runs the plugins' own programs (motcua-verify,
motcua-archive, motcua-report): the binary links none of the plugins' cores
or their libraries; the search order ($MOTCUA_EXEC_PATH, the libexec folder,
the build tree only for a build-tree motcua); arguments and exit codes pass
through; the configuration motcua resolved arrives in MOTCUA_SETTINGS; a tool
run directly takes the same from its flags and says the same; the tools are
installed into the libexec folder."""
import json
import os
import re
import shutil
import subprocess

from gwtest import BUILD_ROOT, CLI, Gateway, run, sample_pdf
import gwtest  # noqa: E402

# These tests expect documents to go on to signing and archiving by
# themselves: without the clerk's review (test_review.py has it).
gwtest.REVIEW = False

TOOLS = {os.path.basename(p)[len("motcua-"):]: p
         for p in os.environ.get("MOTCUA_CLI_TOOLS", "").split(":") if p}
PLUGIN_CORES = [p for p in os.environ.get("MOTCUA_PLUGIN_CORES", "").split(":") if p]
GATEWAY_CORE = os.environ.get("MOTCUA_GATEWAY_CORE", "")
LIBEXEC = os.environ.get("MOTCUA_LIBEXEC_DIR", "")


def sh(*args, env=None, cwd=None, input=None):
    return subprocess.run(args, capture_output=True, env=env, cwd=cwd, input=input, timeout=120)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("MOTCUA_EXEC_PATH", "MOTCUA_SETTINGS",
                                                             "MOTCUA_TOKEN")}
    env.update(extra)
    return env


def fake_tool(folder, name, rc, tag=None):
    """A motcua-NAME that records its arguments and MOTCUA_SETTINGS."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "motcua-" + name)
    with open(path, "w") as f:
        f.write("#!/usr/bin/python3\nimport json, os, sys\n"
                "print(json.dumps({'tag': %r, 'argv': sys.argv[1:], 'exe': sys.argv[0],"
                " 'settings': os.environ.get('MOTCUA_SETTINGS')}))\nsys.exit(%d)\n" % (tag or folder, rc))
    os.chmod(path, 0o755)
    return path


def defined_symbols(path, kinds="TtDdBbRr"):
    out = sh("nm", "--defined-only", path).stdout.decode()
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in kinds:
            syms.add(parts[2])
    return syms


def test_motcua_links_no_plugin_core(tmp):
    dyn = sh("readelf", "-d", CLI)
    assert dyn.returncode == 0, dyn
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn.stdout.decode())
    assert needed and any(n.startswith("libevent_core") for n in needed), needed
    for lib in ("libqpdf", "libp11", "libcurl", "libmosquitto", "libtesseract", "liblept", "libsane"):
        assert not [n for n in needed if n.startswith(lib + ".") or n.startswith(lib + "-")], (lib, needed)
    mine = defined_symbols(CLI)
    assert "main" in mine, "no symbols to look at (stripped?)"
    gateway = defined_symbols(GATEWAY_CORE)
    # no function or data of the plugins' core libraries (their global names:
    # static ones like open_db are per file)...
    for core in PLUGIN_CORES:
        theirs = defined_symbols(core, "TDBR") - gateway
        assert theirs, core
        assert not (mine & theirs), (core, sorted(mine & theirs)[:20])
    # ...nor anything named like them that the gateway itself does not define
    plugin_like = sorted(s for s in mine - gateway if re.match(r"(sign|archive|eval)_", s))
    assert not plugin_like, plugin_like


def test_exec_path_order_arguments_exit_code(tmp):
    a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    fake_tool(b, "verify", 8, "b")
    fake_tool(b, "hello", 0, "b")
    os.makedirs(a)
    # not executable, and a folder: both passed over
    with open(os.path.join(a, "motcua-verify"), "w") as f:
        f.write("#!/bin/sh\nexit 99\n")
    os.mkdir(os.path.join(a, "motcua-hello"))
    env = clean_env(MOTCUA_EXEC_PATH="::%s:/nonexistent:%s:" % (a, b))
    p = sh(CLI, "verify", "x y", "", "--trust", "z", env=env)
    assert p.returncode == 8, p
    out = json.loads(p.stdout)
    assert out["tag"] == "b" and out["argv"] == ["x y", "", "--trust", "z"], out
    assert out["exe"] == os.path.join(b, "motcua-verify"), out
    # the first folder that has it wins, also over the build tree's own tool
    fake_tool(a, "verify", 7, "a")
    p = sh(CLI, "verify", "file.pdf", env=env)
    assert p.returncode == 7 and json.loads(p.stdout)["tag"] == "a", p
    # any motcua-NAME found is a command (a third party's tool)
    p = sh(CLI, "hello", env=env)
    assert p.returncode == 0 and json.loads(p.stdout)["argv"] == [], p
    # the built-in commands are never looked for
    fake_tool(a, "token", 5)
    fake_tool(a, "sync", 5)
    assert sh(CLI, "token", "frobnicate", env=env).returncode == 2
    assert sh(CLI, "sync", env=env).returncode == 2


def test_unknown_commands(tmp):
    d = os.path.join(tmp, "tools")
    fake_tool(os.path.join(d, "motcua-sub"), "evil", 0)  # d/motcua-sub/motcua-evil
    fake_tool(d, "Upper", 0)
    env = clean_env(MOTCUA_EXEC_PATH=d)
    for words in (["frobnicate"], ["sub/motcua-evil"], ["../tools/motcua-Upper"], ["Upper"], [""]):
        p = sh(CLI, *words, env=env)
        assert p.returncode == 2 and p.stdout == b"", (words, p)
        assert p.stderr.startswith(b"Usage: motcua [--config FILE]"), (words, p)


def test_build_tree_only_for_a_build_tree_motcua(tmp):
    if "verify" not in TOOLS:
        print("skipped: no sign-openssl in this build")
        return
    usage = sh(TOOLS["verify"], "--help", env=clean_env(MOTCUA_SETTINGS="{}")).stdout
    assert usage.startswith(b"usage: motcua verify FILE"), usage
    p = sh(CLI, "verify", "--help", env=clean_env())
    assert p.returncode == 0 and p.stdout == usage, p
    # through a symbolic link it is still the build tree's motcua
    link = os.path.join(tmp, "motcua-link")
    os.symlink(CLI, link)
    assert sh(link, "verify", "--help", env=clean_env()).stdout == usage
    # a copy elsewhere is not: the build tree is not searched for it
    if LIBEXEC and os.path.exists(os.path.join(LIBEXEC, "motcua-verify")):
        print("(a motcua-verify is installed in %s: the copy would find it)" % LIBEXEC)
        return
    copy = os.path.join(tmp, "motcua")
    shutil.copy(CLI, copy)
    p = sh(copy, "verify", "--help", env=clean_env())
    assert p.returncode == 2 and p.stdout == b"", p
    assert p.stderr == ("motcua: verify (from sign-openssl) is not installed: motcua-verify is in neither "
                        "$MOTCUA_EXEC_PATH nor %s\n" % LIBEXEC).encode(), p.stderr
    p = sh(copy, "verify", "--help", env=clean_env(MOTCUA_EXEC_PATH=os.path.dirname(TOOLS["verify"])))
    assert p.returncode == 0 and p.stdout == usage, p


def test_settings_reach_the_tool(tmp):
    d = os.path.join(tmp, "tools")
    fake_tool(d, "archive", 0)
    env = clean_env(MOTCUA_EXEC_PATH=d)
    conf = os.path.join(tmp, "motcua.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("[gateway]\ndata_dir = /srv/motcua\n[office]\nname = UBND phường Bến Nghé\n"
                "[archive-sqlite]\nenabled = true\npath = /srv/kho\n[sign-openssl]\ntrust = /etc/ca.pem\n")
    p = sh(CLI, "--config", conf, "-o", "archive-sqlite.path=/mnt/kho", "-o", "eval-stream.enabled=true",
           "archive", "verify", env=env)
    assert p.returncode == 0, p
    s = json.loads(json.loads(p.stdout)["settings"])
    assert s == {"gateway": {"data_dir": "/srv/motcua"},
                 "office": {"name": "UBND phường Bến Nghé", "agency_code": "000.00.00.H00"},
                 "archive-sqlite": {"enabled": "true", "path": "/mnt/kho"},
                 "sign-openssl": {"trust": "/etc/ca.pem"},
                 "eval-stream": {"enabled": "true"}}, s
    # no configuration at all: the gateway's embedded defaults
    s = json.loads(json.loads(sh(CLI, "archive", env=env).stdout)["settings"])
    assert s == {"gateway": {"data_dir": "motcua-data"},
                 "office": {"name": "Bộ phận Một cửa", "agency_code": "000.00.00.H00"}}, s
    # what JSON cannot carry is refused before the tool runs
    with open(conf, "wb") as f:
        f.write(b"[sign-openssl]\ntrust = /etc/ca\xff.pem\n")
    p = sh(CLI, "--config", conf, "archive", env=env)
    assert p.returncode == 2 and p.stdout == b"", p
    assert p.stderr == b"motcua: configuration: [sign-openssl] trust must be UTF-8 text\n", p
    # a bad configuration is reported as before, whatever the command
    p = sh(CLI, "-o", "gateway.nonsense=1", "archive", env=env)
    assert p.returncode == 2 and b"unknown key" in p.stderr and p.stdout == b"", p


def test_tools_run_directly_say_the_same(tmp):
    missing = [t for t in ("verify", "archive", "report") if t not in TOOLS]
    if missing:
        print("skipped: no %s in this build" % ", ".join(missing))
        return
    g = Gateway(tmp, plugins="[archive-sqlite]\nenabled = true\n[eval-stream]\nenabled = true\n").start()
    code = g.create_dossier()["code"]
    doc = g.wait_document(code, g.upload(code, sample_pdf()).json()["id"])
    assert doc["state"] == "done" and doc["archive"]["id"], doc
    g.stop()
    env = clean_env()
    cfg = ["--config", g.conf]
    archive_dir = os.path.join(g.data, "archive-sqlite")
    for args in (["verify"], ["verify", "--json"], ["search", "khai", "sinh"], ["disposal"], ["frob"],
                 ["search", "--bogus"], []):
        via = sh(CLI, *cfg, "archive", *args, env=env)
        direct = sh(TOOLS["archive"], "--dir", archive_dir, *args, env=env)
        assert (via.returncode, via.stdout, via.stderr) == (direct.returncode, direct.stdout, direct.stderr), \
            (args, via, direct)
    assert sh(CLI, *cfg, "archive", "verify", env=env).returncode == 0
    # run directly without --dir: the gateway's default data folder, from where it runs
    shutil.copytree(g.data, os.path.join(tmp, "cwd", "motcua-data"))
    p = sh(TOOLS["archive"], "verify", env=env, cwd=os.path.join(tmp, "cwd"))
    assert p.returncode == 0 and b"archive intact: 1 items" in p.stdout, p

    pdf = os.path.join(tmp, "plain.pdf")
    with open(pdf, "wb") as f:
        f.write(sample_pdf())
    for args in ([pdf], [pdf, "--json"], [], ["--bogus"], [pdf + ".nope"]):
        via = sh(CLI, *cfg, "verify", *args, env=env)
        direct = sh(TOOLS["verify"], *args, env=env)
        assert (via.returncode, via.stdout, via.stderr) == (direct.returncode, direct.stdout, direct.stderr), \
            (args, via, direct)

    out_via, out_direct = os.path.join(tmp, "via"), os.path.join(tmp, "direct")
    os.mkdir(out_via)
    os.mkdir(out_direct)
    db = os.path.join(g.data, "eval-stream", "eval.db")
    via = sh(CLI, *cfg, "-o", "office.name=Phường Bến Nghé", "report", "--year", "2026", "--out", out_via, env=env)
    direct = sh(TOOLS["report"], "--db", db, "--agency-name", "Phường Bến Nghé", "--agency-code", "000.00.12.H50",
                "--year", "2026", "--out", out_direct, env=env)
    assert via.returncode == 0 and direct.returncode == 0, (via, direct)
    assert via.stdout.replace(out_via.encode(), b"OUT") == direct.stdout.replace(out_direct.encode(), b"OUT")
    for name in ("motcua-report-2026.csv", "motcua-report-2026.html"):
        with open(os.path.join(out_via, name), "rb") as a, open(os.path.join(out_direct, name), "rb") as b:
            body = a.read()
            assert body == b.read(), name
        if name.endswith(".html"):
            assert "Phường Bến Nghé — 000.00.12.H50 (2026-01-01 đến 2026-12-31)" in body.decode(), body[:900]
    for bad in (["--quarter", "2026Q5"], ["--from", "2026-02-29", "--to", "2026-03-01"], ["--bogus"], []):
        via = sh(CLI, *cfg, "report", *bad, env=env)
        direct = sh(TOOLS["report"], "--db", db, *bad, env=env)
        assert via.returncode == 2 and (via.returncode, via.stdout, via.stderr) == \
            (direct.returncode, direct.stdout, direct.stderr), (bad, via, direct)


def test_tools_help_and_bad_settings(tmp):
    for name, path in TOOLS.items():
        p = sh(path, "--help", env=clean_env())
        assert p.returncode == 0 and b"MOTCUA_SETTINGS" in p.stdout, (name, p)
        assert p.stdout.startswith(b"usage: motcua " + name.encode()), (name, p)
        # through motcua, what the command always printed: nothing of the tool
        p = sh(CLI, name, "--help", env=clean_env())
        assert b"MOTCUA_SETTINGS" not in p.stdout + p.stderr, (name, p)
        for bad, why in (("[1]", b"must be"), ('{"a": 1}', b"must be"), ("{", b"is not JSON")):
            p = sh(path, "x", env=clean_env(MOTCUA_SETTINGS=bad))
            assert p.returncode == 2 and p.stdout == b"", (name, bad, p)
            assert p.stderr.startswith(b"motcua " + name.encode() + b": MOTCUA_SETTINGS ") and why in p.stderr, \
                (name, bad, p)


def test_installed_into_libexec(tmp):
    if not TOOLS:
        print("skipped: no plugin tools in this build")
        return
    stage = os.path.join(tmp, "stage")
    p = sh("meson", "install", "-C", BUILD_ROOT, "--destdir", stage, "--no-rebuild", "--quiet")
    assert p.returncode == 0, p
    libexec = stage + LIBEXEC
    for name in TOOLS:
        tool = os.path.join(libexec, "motcua-" + name)
        assert os.access(tool, os.X_OK), (tool, os.listdir(stage))
    bins = [os.path.join(r, "motcua") for r, _, fs in os.walk(stage) if "motcua" in fs and r.endswith("/bin")]
    assert len(bins) == 1, bins
    # the installed motcua is not in the build tree: it runs the installed tools
    for name, args, says in (("verify", ["--bogus"], b"motcua verify: unknown option --bogus\n"),
                             ("archive", ["verify", "x"], b"motcua: archive verify takes no argument\n"),
                             ("report", ["--year", "26"], b"motcua: report --quarter")):
        if name in TOOLS:
            p = sh(bins[0], name, *args, env=clean_env(MOTCUA_EXEC_PATH=libexec))
            assert p.returncode == 2 and p.stderr.startswith(says), (name, p)


if __name__ == "__main__":
    run(globals())
