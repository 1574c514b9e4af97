# SPDX-License-Identifier: MIT
"""sign-openssl in the running gateway: uploads come out signed (PAdES for
PDFs, a detached CAdES .p7s for other files), independent tools agree
(pdfsig, openssl cms), `motcua verify` checks them; with the TSA down a
document is signed B-B at once and the host's rerun adds the timestamp when
the TSA is back; bad keys stop the gateway at start with a clear reason."""
import os
import re
import signal
import socket
import subprocess
import time

from gwtest import Gateway, run, sample_pdf, sample_png, CLI, SOURCE_ROOT
import gwtest  # noqa: E402

# These tests expect documents to go on to signing and archiving by
# themselves: without the clerk's review (test_review.py has it).
gwtest.REVIEW = False

SIGN_TESTS = os.path.join(SOURCE_ROOT, "plugins", "sign-openssl", "tests")


def pki(tmp):
    d = os.path.join(tmp, "pki")
    subprocess.run(["sh", os.path.join(SIGN_TESTS, "make-ca.sh"), d], check=True, capture_output=True)
    return d


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sign_conf(d, extra=""):
    return ("[sign-openssl]\nenabled = true\nkey = %s/ec.key\ncert = %s/ec.pem\ntrust = %s/ca.pem\n"
            "organisation = Bộ phận Một cửa thử nghiệm\n%s\n" % (d, d, d, extra))


def verify(path, trust, *more):
    return subprocess.run([CLI, "verify", path, "--trust", trust, *more], capture_output=True, text=True)


def test_pades_and_cades(tmp):
    d = pki(tmp)
    g = Gateway(tmp, plugins=sign_conf(d)).start()
    code = g.create_dossier()["code"]
    r = g.upload(code, sample_pdf("Don de nghi"), name="don.pdf")
    assert r.status == 202, r
    doc = g.wait_document(code, r.json()["id"])
    assert doc["state"] == "done", doc
    sig = doc["signature"]
    assert sig["format"] == "PAdES" and sig["level"] == "B-B", sig
    assert sig["signed_at"].endswith("+07:00") and sig["signer"] == "Bộ phận Một cửa (ECDSA)", sig
    assert doc["current_sha256"] != doc["sha256"], doc
    pdf = os.path.join(tmp, "signed.pdf")
    with open(pdf, "wb") as f:
        f.write(g.get("/api/v1/dossiers/%s/documents/%s/content" % (code, doc["id"])).body)
    p = subprocess.run(["pdfsig", pdf], capture_output=True, text=True)
    assert "Signature Validation: Signature is Valid." in p.stdout, p.stdout
    assert "Total document signed" in p.stdout, p.stdout
    subprocess.run(["qpdf", "--check", pdf], check=True, capture_output=True)
    v = verify(pdf, d + "/ca.pem")
    assert v.returncode == 0, v.stdout + v.stderr
    v = verify(pdf, d + "/other-ca.pem")
    assert v.returncode != 0, v.stdout
    # one flipped byte of the signed content (the page): broken for us and for pdfsig
    data = bytearray(open(pdf, "rb").read())
    at = data.index(b"/MediaBox") + 3
    data[at] ^= 0x01
    bad = os.path.join(tmp, "flipped.pdf")
    open(bad, "wb").write(bytes(data))
    v = verify(bad, d + "/ca.pem")
    assert v.returncode != 0, v.stdout
    assert "Signature is Valid" not in subprocess.run(["pdfsig", bad], capture_output=True, text=True).stdout

    # an image without OCR: the file stays as it is, a .p7s comes beside it
    r = g.upload(code, sample_png(), ctype="image/png", name="anh.png")
    doc = g.wait_document(code, r.json()["id"])
    assert doc["state"] == "done" and doc["signature"]["format"] == "CAdES", doc
    assert doc["current_sha256"] == doc["sha256"] and doc["sidecar"], doc
    png = os.path.join(tmp, "anh.png")
    open(png, "wb").write(g.get("/api/v1/dossiers/%s/documents/%s/content" % (code, doc["id"])).body)
    p7s = png + ".p7s"
    side = g.get("/api/v1/dossiers/%s/documents/%s/sidecar" % (code, doc["id"]))
    assert side.headers["Content-Type"] == doc["sidecar"]["media_type"], side
    open(p7s, "wb").write(side.body)
    p = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", p7s, "-content", png,
                        "-CAfile", d + "/ca.pem", "-purpose", "any", "-out", "/dev/null"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and "Verification successful" in p.stderr, p.stderr
    v = verify(p7s, d + "/ca.pem", "--data", png)
    assert v.returncode == 0, v.stdout + v.stderr
    g.stop()


def test_tsa_down_then_up(tmp):
    d = pki(tmp)
    port = free_port()
    g = Gateway(tmp, plugins=sign_conf(d, "tsa_url = http://127.0.0.1:%d/tsa\ntsa_timeout_s = 2\n"
                                          "tsa_retry_s = 2\n" % port)).start()
    code = g.create_dossier()["code"]
    r = g.upload(code, sample_pdf("Giay uy quyen"), name="uy-quyen.pdf")
    doc_id = r.json()["id"]
    doc = g.wait_document(code, doc_id)
    # the counter is not held up: signed at once, without its timestamp
    assert doc["state"] == "done", doc
    assert doc["signature"]["level"] == "B-B" and doc["signature"]["timestamp"] == "pending", doc
    first = doc["current_sha256"]
    tsa = subprocess.Popen(["/usr/bin/python3", os.path.join(SIGN_TESTS, "tsa-server.py"), str(port),
                            os.path.join(d, "tsa.cnf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.time() + 60
        while time.time() < end:
            doc = g.get("/api/v1/dossiers/%s/documents/%s" % (code, doc_id)).json()
            if doc["state"] == "done" and doc["signature"]["level"] == "B-T":
                break
            time.sleep(0.2)
        assert doc["signature"]["level"] == "B-T", doc
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", doc["signature"]["timestamp"]), doc
        assert doc["current_sha256"] != first, doc
        pdf = os.path.join(tmp, "bt.pdf")
        open(pdf, "wb").write(g.get("/api/v1/dossiers/%s/documents/%s/content" % (code, doc_id)).body)
        v = verify(pdf, d + "/ca.pem")
        assert v.returncode == 0, v.stdout + v.stderr
        assert "pdfsig" and "Signature is Valid" in subprocess.run(["pdfsig", pdf], capture_output=True,
                                                                     text=True).stdout
    finally:
        tsa.send_signal(signal.SIGTERM)
        tsa.wait(timeout=10)
    assert "runs again, as asked" in g.log()
    g.stop()


def test_bad_key_refused(tmp):
    d = pki(tmp)
    os.chmod(os.path.join(d, "ec.key"), 0o644)
    g = Gateway(tmp, plugins=sign_conf(d)).start()
    log = g.log()
    assert "0644" in log and "chmod 600" in log, log
    # the gateway runs on; a document waits for its signature instead of
    # going on unsigned, and is signed once the key is fixed
    code = g.create_dossier()["code"]
    doc_id = g.upload(code, sample_pdf()).json()["id"]
    end = time.time() + 10
    while time.time() < end:
        doc = g.get("/api/v1/dossiers/%s/documents/%s" % (code, doc_id)).json()
        sign = [s for s in doc["steps"] if s["step"] == "sign"][0]
        if (sign["message"] or "").startswith("held:"):
            break
        time.sleep(0.1)
    assert doc["state"] in ("queued", "processing") and sign["state"] == "pending", doc
    assert "sign-openssl is enabled but did not start" in sign["message"], sign
    g.stop()
    os.chmod(os.path.join(d, "ec.key"), 0o600)
    g.start()
    doc = g.wait_document(code, doc_id)
    assert doc["state"] == "done" and doc["signature"]["format"] == "PAdES", doc
    g.stop()


if __name__ == "__main__":
    run(globals())
