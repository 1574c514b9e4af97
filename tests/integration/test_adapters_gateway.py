# SPDX-License-Identifier: MIT
"""The real adapters in the running gateway, with their peers on 127.0.0.1:
an agency's REST/JSON API (adapter-http-json, bearer token), a stand-in of
the national portal (adapter-dvcqg: login, DongBoHoSoMC, CapNhatTienDoHoSoMC)
and a shared folder (adapter-folder). A dossier and its signed document go to
all three in order; the agency's status update (webhook) goes back out to the
portal; `motcua sync report` finds nothing unacknowledged."""
import json
import os
import subprocess
import time

from gwtest import Gateway, run, sample_pdf, SOURCE_ROOT
import gwtest  # noqa: E402

# These tests expect documents to go on to signing and archiving by
# themselves: without the clerk's review (test_review.py has it).
gwtest.REVIEW = False

HTTP_TESTS = os.path.join(SOURCE_ROOT, "plugins", "adapter-http-json", "tests")
PORTAL = os.path.join(SOURCE_ROOT, "plugins", "adapter-dvcqg", "tests", "portal.py")


def start(cmd, port_file):
    p = subprocess.Popen(["/usr/bin/python3", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.time() + 10
    while time.time() < end and not (os.path.exists(port_file) and open(port_file).read().strip()):
        time.sleep(0.05)
    return p, int(open(port_file).read())


def secret(path, text):
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return path


def lines(path):
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]


def test_three_destinations(tmp):
    peer, pport = start([os.path.join(HTTP_TESTS, "peer.py"), "--port-file", tmp + "/peer.port",
                         "--log", tmp + "/peer.jsonl"], tmp + "/peer.port")
    portal, qport = start([PORTAL, "--port-file", tmp + "/portal.port", "--log", tmp + "/portal.jsonl",
                           "--user", "motcua", "--password", "mat-khau-1"], tmp + "/portal.port")
    folder = os.path.join(tmp, "agency-share")
    os.mkdir(folder)
    try:
        g = Gateway(tmp, plugins=(
            "[outbox]\nbackoff_base_s = 1\nbackoff_max_s = 2\n"
            "[adapter-http-json]\nenabled = true\nurl = http://127.0.0.1:%d/ok\nauth = bearer\n"
            "token_file = %s\ntimeout_s = 5\nprocedures = *\n"
            "[adapter-dvcqg]\nenabled = true\nurl = http://127.0.0.1:%d\nusername = motcua\n"
            "password_file = %s\n"
            "[adapter-folder]\nenabled = true\npath = %s\nprocedures = *\n"
            % (pport, secret(tmp + "/token", "tok-agency-123"), qport, secret(tmp + "/pw", "mat-khau-1"),
               folder))).start()
        code = g.create_dossier()["code"]
        doc = g.wait_document(code, g.upload(code, sample_pdf("Don"), name="don.pdf").json()["id"])
        assert doc["state"] == "done", doc
        end = time.time() + 30
        while time.time() < end and g.get("/api/v1/outbox", token="admin").json()["counts"]["delivered"] < 6:
            time.sleep(0.1)
        rows = g.get("/api/v1/outbox", token="admin").json()
        assert rows["counts"]["delivered"] == 6, rows
        by = {}
        for r in rows["items"]:
            by.setdefault(r["destination"], []).append(r["event_type"])
        assert by == {d: ["dossier.created", "document.done"]
                      for d in ("adapter-http-json", "adapter-dvcqg", "adapter-folder")}, by

        # the agency's API: bearer token, Idempotency-Key, the contract's fields
        posts = [l for l in lines(tmp + "/peer.jsonl") if l["method"] == "POST"]
        assert len(posts) == 2, posts
        body = posts[0]["body"]
        body = json.loads(body) if isinstance(body, str) else body
        assert set(body) >= {"code", "procedure_code", "status", "applicant", "documents"}, body
        assert body["code"] == code and posts[0]["headers"]["authorization"] == "Bearer tok-agency-123", posts[0]
        keys = {r["idempotency_key"]: r for r in rows["items"]}
        first = keys[posts[0]["headers"]["idempotency-key"]]
        assert first["destination"] == "adapter-http-json" and first["event_type"] == "dossier.created", first

        # the portal: new, then updated; dates yyyyMMddHHmmss
        sync = [l["body"] for l in lines(tmp + "/portal.jsonl") if l["path"].endswith("/sync")]
        assert [(s["service"], s["isUpdating"]) for s in sync][:2] == [("DongBoHoSoMC", False),
                                                                       ("DongBoHoSoMC", True)], sync
        hs = sync[0]["data"][0]
        assert hs["MaHoSo"] == code and hs["MaTTHC"] == "1.001234" and len(hs["NgayTiepNhan"]) == 14, hs

        # the folder: one package per change, with the signed file
        pk = sorted(os.listdir(os.path.join(folder, code)))
        assert len(pk) == 2 and pk[1].endswith("document.done"), pk
        man = json.load(open(os.path.join(folder, code, pk[1], "manifest.json"), encoding="utf-8"))
        assert man["dossier"]["code"] == code, man

        # the agency says "in process" (webhook): the portal hears it too
        agency = g.token("agency")
        r = g.post("/api/v1/plugins/adapter-http-json/webhook", {"code": code, "status": 4}, token=agency)
        assert r.status in (200, 202), r
        assert g.get("/api/v1/dossiers/%s" % code).json()["status"] == 4
        end = time.time() + 30
        while time.time() < end and g.get("/api/v1/outbox", token="admin").json()["counts"]["delivered"] < 9:
            time.sleep(0.1)
        services = [l["body"]["service"] for l in lines(tmp + "/portal.jsonl") if l["path"].endswith("/sync")]
        assert "CapNhatTienDoHoSoMC" in services, services
        p = g.cli("sync", "report", check=False)
        assert p.returncode == 0 and "1 of 1 dossiers acknowledged" in p.stdout.decode(), p.stdout
        g.stop()
    finally:
        for proc in (peer, portal):
            proc.terminate()
            proc.wait(timeout=10)


def test_webhook_hmac_headers(tmp):
    import hashlib
    import hmac as hm
    key = "khoa-bi-mat-cua-so"
    g = Gateway(tmp, plugins="[adapter-http-json]\nenabled = true\nurl = http://127.0.0.1:9/ok\nauth = hmac\n"
                "hmac_key_file = %s\nprocedures = *\n" % secret(tmp + "/hmac", key)).start()
    code = g.create_dossier()["code"]
    agency = g.token("agency")
    body = json.dumps({"code": code, "status": 4}).encode()

    def post(ts, sig, in_query=False):
        path = "/api/v1/plugins/adapter-http-json/webhook"
        headers = {"Content-Type": "application/json"}
        if in_query:
            path += "?timestamp=%s&signature=%s" % (ts, sig)
        else:
            headers.update({"X-Motcua-Timestamp": ts, "X-Motcua-Signature": sig})
        return g.request("POST", path, body, headers=headers, token=agency)

    ts = str(int(time.time()))
    good = "sha256=" + hm.new(key.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    r = post(ts, good)
    assert r.status in (200, 202), r
    assert g.get("/api/v1/dossiers/%s" % code).json()["status"] == 4
    bad = "sha256=" + "0" * 64
    r = post(ts, bad)
    assert r.status == 400 and "does not match" in r.json()["detail"], r
    old = str(int(time.time()) - 3600)
    r = post(old, "sha256=" + hm.new(key.encode(), old.encode() + b"." + body, hashlib.sha256).hexdigest())
    assert r.status == 400 and "away from our clock" in r.json()["detail"], r
    r = g.request("POST", "/api/v1/plugins/adapter-http-json/webhook", body,
                  headers={"Content-Type": "application/json"}, token=agency)
    assert r.status == 400 and "missing" in r.json()["detail"], r
    assert post(ts, good, in_query=True).status in (200, 202)  # the older form still works
    g.stop()


if __name__ == "__main__":
    run(globals())
