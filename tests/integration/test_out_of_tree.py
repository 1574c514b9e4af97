# SPDX-License-Identifier: MIT
"""The SDK as a third party uses it: install the project into a staging
folder, build plugins/adapter-example outside the tree with its Makefile and
nothing but `pkg-config --cflags --libs motcua-plugin`, run its test there
(`make check`: the SDK's test host, `pkg-config motcua-testhost`), then load
that build into the gateway and deliver a document through it."""
import json
import os
import shutil
import subprocess

from gwtest import BUILD_ROOT, SOURCE_ROOT, Gateway, run, sample_pdf
import gwtest  # noqa: E402

# These tests expect documents to go on to signing and archiving by
# themselves: without the clerk's review (test_review.py has it).
gwtest.REVIEW = False


def sh(*args, env=None, cwd=None):
    p = subprocess.run(args, capture_output=True, env=env, cwd=cwd, timeout=240)
    assert p.returncode == 0, "%s failed:\n%s\n%s" % (" ".join(args), p.stdout.decode(), p.stderr.decode())
    return p.stdout.decode()


def build_sanitizers():
    """The build's -Db_sanitize (the installed test host library is built
    with it, so what links it out of the tree must be too), or None."""
    p = subprocess.run(["meson", "introspect", "--buildoptions", BUILD_ROOT], capture_output=True, timeout=60)
    if p.returncode != 0:
        return None
    for o in json.loads(p.stdout):
        if o["name"] == "b_sanitize" and o["value"] not in ("none", "", []):
            return o["value"] if isinstance(o["value"], str) else ",".join(o["value"])
    return None


def test_adapter_builds_out_of_tree_and_loads(tmp):
    stage = os.path.join(tmp, "stage")
    sh("meson", "install", "-C", BUILD_ROOT, "--destdir", stage, "--no-rebuild", "--quiet")
    pcs = [os.path.join(r, f) for r, _, fs in os.walk(stage) for f in fs if f == "motcua-plugin.pc"]
    assert len(pcs) == 1, pcs
    headers = [os.path.join(r, f) for r, _, fs in os.walk(stage) for f in fs if f == "plugin.h"]
    assert len(headers) == 1 and headers[0].endswith("/include/motcua/plugin.h"), headers
    # the test host: its header, its static library and its .pc beside motcua-plugin.pc
    found = {f: os.path.join(r, f) for r, _, fs in os.walk(stage) for f in fs
             if f in ("testhost.h", "libmotcua-testhost.a", "motcua-testhost.pc")}
    assert sorted(found) == ["libmotcua-testhost.a", "motcua-testhost.pc", "testhost.h"], found
    assert found["testhost.h"].endswith("/include/motcua/testhost.h"), found
    assert os.path.dirname(found["motcua-testhost.pc"]) == os.path.dirname(pcs[0]), found
    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = os.path.dirname(pcs[0])
    env["PKG_CONFIG_LIBDIR"] = os.path.dirname(pcs[0])  # nothing else may be found
    env["PKG_CONFIG_SYSROOT_DIR"] = stage
    cflags = sh("pkg-config", "--cflags", "--libs", "motcua-plugin", env=env)
    assert stage in cflags, cflags
    assert sh("pkg-config", "--variable=abi_version", "motcua-plugin", env=env).strip() == "1"
    # the test host needs jansson (the system's) too: its tests, not the plugin
    system_pc = sh("pkg-config", "--variable", "pc_path", "pkg-config").strip()
    test_env = dict(env, PKG_CONFIG_LIBDIR=os.path.dirname(pcs[0]) + ":" + system_pc)
    th_flags = sh("pkg-config", "--cflags", "--libs", "motcua-plugin", "motcua-testhost", env=test_env)
    assert "-lmotcua-testhost" in th_flags and "-ldl" in th_flags and "-ljansson" in th_flags and \
        stage in th_flags, th_flags
    # a copy of the example, away from the source tree's headers
    src = os.path.join(tmp, "agency-adapter")
    shutil.copytree(os.path.join(SOURCE_ROOT, "plugins", "adapter-example"), src,
                    ignore=shutil.ignore_patterns("meson.build", "*.so"))
    cflags = "-O2 -Wall -Wextra -Werror"
    san = build_sanitizers()
    if san:
        cflags += " -fsanitize=" + san
    sh("make", "-C", src, "CFLAGS=" + cflags, env=env)
    # its own test, against the installed test host
    out = sh("make", "-C", src, "CFLAGS=" + cflags, "check", env=test_env)
    assert "FAIL" not in out, out
    so = os.path.join(src, "adapter-example.so")
    exported = sh("nm", "-D", "--defined-only", so)
    funcs = [l.split()[-1] for l in exported.splitlines() if l.split()[1:2] == ["T"]]
    assert funcs == ["motcua_plugin_entry"], funcs
    # load it exactly from there
    plugdir = os.path.join(tmp, "plugins")
    os.mkdir(plugdir)
    shutil.copy(so, plugdir)
    drop = os.path.join(tmp, "drop")
    os.mkdir(drop)
    g = Gateway(tmp, plugin_dir=plugdir,
                plugins="[adapter-example]\nenabled = true\ndrop_dir = %s\n" % drop).start()
    assert ("loaded adapter-example version 1.0.0 (ABI 1) from %s/adapter-example.so" % plugdir) in g.log()
    code = g.create_dossier()["code"]
    pdf = sample_pdf()
    doc_id = g.upload(code, pdf).json()["id"]
    d = g.wait_document(code, doc_id)
    assert d["state"] == "done", d
    # the outbox hands it the dossier's creation and the finished document
    import time
    end = time.time() + 15
    while time.time() < end and g.get("/api/v1/outbox", token="admin").json()["counts"]["delivered"] < 2:
        time.sleep(0.1)
    rows = g.get("/api/v1/outbox", token="admin").json()["items"]
    assert [r["state"] for r in rows] == ["delivered", "delivered"], rows
    got = {}
    for r in rows:
        with open(os.path.join(drop, r["idempotency_key"] + ".json"), encoding="utf-8") as f:
            got[r["event_type"]] = json.load(f)
    assert set(got) == {"dossier.created", "document.done"}, got
    doc = got["document.done"]["dossier"]["documents"][0]
    assert doc["id"] == doc_id and doc["sha256"] == d["current_sha256"], doc
    with open(doc["path"], "rb") as f:
        assert f.read() == pdf
    st = g.get("/api/v1/plugins/adapter-example/status").json()
    assert st["sent"] == 2, st


if __name__ == "__main__":
    run(globals())
