# SPDX-License-Identifier: MIT
"""The plugin host: loading, ABI negotiation, refusals that leave the gateway
running, the host table (steps, routes, events, timers, work), and config
validation for plugin sections."""
import os
import subprocess
import time

from gwtest import GATEWAY, Gateway, run, sample_pdf
import gwtest  # noqa: E402

# These tests expect documents to go on to signing and archiving by
# themselves: without the clerk's review (test_review.py has it).
gwtest.REVIEW = False

ALL = """
[test-steps]
enabled = true
[test-bad-abi]
enabled = true
[test-no-entry]
enabled = true
[test-fail-init]
enabled = true
[adapter-example]
enabled = false
"""


def test_refused_plugins_leave_the_rest_running(tmp):
    g = Gateway(tmp, plugins=ALL).start()
    plugins = {p["name"]: p for p in g.get("/api/v1/plugins").json()["plugins"]}
    assert plugins["test-steps"]["state"] == "loaded", plugins
    assert plugins["test-steps"]["abi"] == 1 and plugins["test-steps"]["version"] == "0.0.1"
    assert plugins["test-steps"]["provides"] == ["recognize", "sign", "sink"], plugins
    assert plugins["test-bad-abi"]["state"] == "refused", plugins
    assert plugins["test-no-entry"]["state"] == "refused", plugins
    assert plugins["test-fail-init"]["state"] == "failed", plugins
    assert plugins["adapter-example"]["state"] == "disabled", plugins
    for p in plugins.values():
        assert set(p) >= {"name", "version", "abi", "provides", "state"}, p
    log = g.log()
    # one clear line each, naming the plugin and (for ABI) both versions
    assert "test-bad-abi: plugin refused: plugin speaks ABI version 99, this gateway supports ABI version 1" in log, log
    assert "test-no-entry: plugin refused:" in log and "no entry symbol motcua_plugin_entry()" in log, log
    assert "test-fail-init: plugin refused: init failed: No such device" in log, log
    assert "test-fail-init: cannot reach its device" in log
    # what the failed plugin registered was undone: its route and its step
    assert g.get("/api/v1/plugins/test-fail-init/ghost", token="admin").status == 404
    # the steps of the plugins that run are done; the archive step, whose
    # plugin is enabled but failed, waits for it (held), not skipped
    code = g.create_dossier()["code"]
    doc_id = g.upload(code, sample_pdf()).json()["id"]
    end = time.time() + 15
    while time.time() < end:
        doc = g.get("/api/v1/dossiers/%s/documents/%s" % (code, doc_id)).json()
        steps = {s["step"]: s for s in doc["steps"]}
        if (steps["archive"]["message"] or "").startswith("held:"):
            break
        time.sleep(0.05)
    assert steps["archive"]["state"] == "pending", steps
    assert "test-fail-init is enabled but did not start" in steps["archive"]["message"], steps
    assert doc["state"] == "processing", doc
    assert steps["recognize"]["state"] == "done" and steps["recognize"]["plugin"] == "test-steps"
    assert steps["sign"]["state"] == "done", steps


def test_abi_negotiation_and_older_plugins(tmp):
    g = Gateway(tmp, plugins="[test-two-abi]\nenabled = true\n[test-old-info]\nenabled = true\n").start()
    plugins = {p["name"]: p for p in g.get("/api/v1/plugins").json()["plugins"]}
    # it offers ABI 2 and 1, preferring 2: this gateway offers 1, and gets it
    assert plugins["test-two-abi"]["state"] == "loaded", plugins
    assert plugins["test-two-abi"]["abi"] == 1 and plugins["test-two-abi"]["version"] == "2.0-for-abi-1", plugins
    assert "test-two-abi: speaking ABI 1" in g.log()
    # an info shorter than this gateway's (built against an older header)
    assert plugins["test-old-info"]["state"] == "loaded", plugins
    assert "test-old-info: an older plugin" in g.log()
    g.stop()  # its fini pointer, beyond its struct_size, must not be called
    assert "test-old-info: unloaded" in g.log(), g.log()


def test_host_table(tmp):
    g = Gateway(tmp, plugins="[test-steps]\nenabled = true\n").start()
    code = g.create_dossier()["code"]
    pdf = sample_pdf()
    doc_id = g.upload(code, pdf).json()["id"]
    doc = g.wait_document(code, doc_id)
    assert doc["state"] == "done", doc
    # each step's output became the document's current file, made durable
    content = g.get("/api/v1/dossiers/%s/documents/%s/content" % (code, doc_id)).body
    assert content == pdf + b"\n% test-steps recognize\n" + b"\n% test-steps sign\n", content[-80:]
    import hashlib
    assert doc["current_sha256"] == hashlib.sha256(content).hexdigest()
    assert doc["sha256"] == hashlib.sha256(pdf).hexdigest()  # the original is kept
    time.sleep(0.3)
    st = g.get("/api/v1/plugins/test-steps/stats")
    assert st.status == 200, st
    s = st.json()
    assert s["work_result"] == 42, s              # work ran on the pool, done on the loop
    assert s["ticks"] >= 3, s                      # the 50 ms timer repeats
    assert s["events"] >= 5, s                     # document.* events reached the subscriber
    assert s["steps_run"] == 2 and s["who"] == "test clerk" and s["path"] == "/stats", s
    r = g.post("/api/v1/plugins/test-steps/echo/anything", b"xin ch\xc3\xa0o",
               headers={"Content-Type": "text/plain"})
    assert r.status == 201 and r.body == "xin chào".encode(), r
    assert g.get("/api/v1/plugins/test-steps/echo/x").status == 405
    assert g.get("/api/v1/plugins/test-steps/nope").status == 404
    assert g.get("/api/v1/plugins/no-such-plugin/stats").status == 404


def test_failing_step_fails_the_document_with_reason(tmp):
    g = Gateway(tmp, plugins="[test-steps]\nenabled = true\nfail_step = sign\n").start()
    code = g.create_dossier()["code"]
    doc = g.wait_document(code, g.upload(code, sample_pdf()).json()["id"])
    assert doc["state"] == "failed", doc
    assert "sign" in doc["reason"] and "refused this document on purpose" in doc["reason"], doc
    steps = {s["step"]: s for s in doc["steps"]}
    assert steps["recognize"]["state"] == "done" and steps["sign"]["state"] == "failed", steps
    assert steps["archive"]["state"] == "pending", steps


def test_transient_failure_is_retried(tmp):
    # a step that answers -EAGAIN is tried again after step_retry_s, doubling
    g = Gateway(tmp, gateway_extra="step_retry_s = 1",
                plugins="[test-steps]\nenabled = true\nbusy_step = sign\nbusy_times = 2\n").start()
    code = g.create_dossier()["code"]
    doc_id = g.upload(code, sample_pdf()).json()["id"]
    time.sleep(0.5)
    doc = g.get("/api/v1/dossiers/%s/documents/%s" % (code, doc_id)).json()
    sign = doc["steps"][2]
    assert doc["state"] == "processing" and sign["state"] == "pending", doc
    assert "busy, try later" in sign["message"], sign
    doc = g.wait_document(code, doc_id, timeout=15)
    assert doc["state"] == "done" and doc["steps"][2]["attempts"] == 3, doc
    assert "will be retried in 1s" in g.log() and "will be retried in 2s" in g.log(), g.log()
    g.stop()


def test_adapter_example_waits_for_its_folder(tmp):
    # the template adapter: its drop folder missing is a transient failure
    # of the delivery (the outbox tries again), not of the document
    drop = os.path.join(tmp, "drop")
    g = Gateway(tmp, plugins="[outbox]\nbackoff_base_s = 1\nbackoff_max_s = 1\n"
                "[adapter-example]\nenabled = true\ndrop_dir = %s\n" % drop).start()
    code = g.create_dossier()["code"]
    doc = g.wait_document(code, g.upload(code, sample_pdf()).json()["id"])
    assert doc["state"] == "done", doc
    end = time.time() + 10
    while time.time() < end:
        rows = g.get("/api/v1/outbox", token="admin").json()
        if rows["items"] and rows["items"][0]["attempts"] >= 1:
            break
        time.sleep(0.1)
    assert rows["counts"]["pending"] == 2 and rows["items"][0]["last_error"], rows
    os.mkdir(drop)  # the agency's share comes back
    while time.time() < end + 10:
        rows = g.get("/api/v1/outbox", token="admin").json()
        if rows["counts"]["delivered"] == 2:
            break
        time.sleep(0.1)
    assert rows["counts"]["delivered"] == 2, rows
    files = sorted(os.listdir(drop))
    assert files == sorted(r["idempotency_key"] + ".json" for r in rows["items"]), files
    g.stop()


def check_refused(tmp, conf_tail, expect, gateway_extra="", plugin_dir=None):
    g = Gateway(tmp, plugins=conf_tail, gateway_extra=gateway_extra, plugin_dir=plugin_dir)
    p = subprocess.run([GATEWAY, "--config", g.conf], capture_output=True, timeout=20)
    err = p.stderr.decode()
    assert p.returncode == 78, (p.returncode, err)
    assert expect in err, (expect, err)
    assert not os.path.exists(os.path.join(g.data, "motcua.db")), "refused config touched the data"
    return err


def test_config_refusals(tmp):
    conf = os.path.join(tmp, "x.conf")
    # the line numbers: [gateway] is line 1 of the generated file
    err = check_refused(tmp, "[test-steps]\nenabled = true\ncolour = red\n",
                        "[test-steps] colour: unknown key (plugin test-steps accepts: enabled delay_ms fail_step busy_step busy_times)")
    lines = open(os.path.join(tmp, "motcua.conf"), encoding="utf-8").read().split("\n")
    lineno = lines.index("colour = red") + 1
    assert "motcua.conf:%d:" % lineno in err, err
    check_refused(tmp, "[test-steps]\nenabled = maybe\n", "enabled = 'maybe': must be true or false")
    check_refused(tmp, "[test-steps]\ndelay_ms = 3\n", "[test-steps]: missing 'enabled = true|false'")
    check_refused(tmp, "[no-such-plugin]\nenabled = true\n", "[no-such-plugin]: unknown section: no plugin no-such-plugin.so")
    check_refused(tmp, "", "[gateway] step_retry_s = '0': must be between 1 and 86400", gateway_extra="step_retry_s = 0")
    check_refused(tmp, "", "[gateway] workers is set twice", gateway_extra="workers = 3")
    check_refused(tmp, "", "[gateway] colour = 'red': unknown key", gateway_extra="colour = red")
    check_refused(tmp, "[Bad Name]\nenabled = true\n", "unknown section")
    check_refused(tmp, "", "not a valid line", gateway_extra="this is not ini")
    # --check validates without starting
    g = Gateway(tmp, plugins="[test-steps]\nenabled = true\n")
    p = subprocess.run([GATEWAY, "--config", g.conf, "--check"], capture_output=True, timeout=20)
    assert p.returncode == 0 and b"configuration OK" in p.stdout, p
    p = subprocess.run([GATEWAY, "--config", os.path.join(tmp, "missing.conf")], capture_output=True)
    assert p.returncode == 78 and b"cannot open" in p.stderr, p
    # -o overrides are checked the same way
    p = subprocess.run([GATEWAY, "--config", g.conf, "-o", "http.max_upload_mb=0", "--check"],
                       capture_output=True)
    assert p.returncode == 78 and b"<command line>: [http] max_upload_mb = '0'" in p.stderr, p


def test_shipped_config_is_valid(tmp):
    from gwtest import SOURCE_ROOT
    conf = os.path.join(SOURCE_ROOT, "conf", "motcua.conf")
    p = subprocess.run([GATEWAY, "--config", conf, "-o", "gateway.data_dir=" + os.path.join(tmp, "d"),
                        "-o", "gateway.plugin_dir=" + os.environ.get("MOTCUA_PLUGIN_DIR", "build/plugins"),
                        "--check"], capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr.decode()


def test_embedded_defaults(tmp):
    # no --config at all: data in ./motcua-data, 127.0.0.1:8080 unless overridden
    port = __import__("gwtest").free_port()
    p = subprocess.Popen([GATEWAY, "-o", "http.listen=127.0.0.1:%d" % port], cwd=tmp,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        import http.client
        end = time.time() + 10
        while time.time() < end:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/api/v1/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        assert os.path.exists(os.path.join(tmp, "motcua-data", "motcua.db"))
    finally:
        p.terminate()
        out = p.communicate(timeout=10)[0].decode()
    assert p.returncode == 0, out
    assert "/motcua-data, " in out and "stopped cleanly" in out, out


if __name__ == "__main__":
    run(globals())
