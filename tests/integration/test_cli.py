# SPDX-License-Identifier: MIT
"""The motcua CLI: tokens offline on the database, dossiers and documents
through the running gateway."""
import json
import os
import sqlite3

from gwtest import AGENCY, Gateway, run, sample_pdf, vn_today
import gwtest  # noqa: E402

# These tests expect documents to go on to signing and archiving by
# themselves: without the clerk's review (test_review.py has it).
gwtest.REVIEW = False


def test_tokens(tmp):
    g = Gateway(tmp)
    p = g.cli("token", "create", "--role", "supervisor", "--name", "Anh Minh (giám sát)")
    tok = p.stdout.decode().strip()
    assert tok.startswith("mct_") and len(tok) == 44 and "\n" not in tok, tok
    assert "shown only once" in p.stderr.decode()
    g.start()
    assert g.get("/api/v1/dossiers", token=tok).status == 200
    listing = g.cli("token", "list").stdout.decode()
    assert "supervisor" in listing and "Anh Minh (giám sát)" in listing, listing
    assert tok not in listing
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    stored = [r for r in db.execute("SELECT * FROM tokens")]
    db.close()
    assert tok not in repr(stored), "the secret itself must not be stored"
    tid = listing.splitlines()[1].split()[0]
    g.cli("token", "revoke", tid)
    assert g.get("/api/v1/dossiers", token=tok).status == 401
    p = g.cli("token", "revoke", tid, check=False)
    assert p.returncode == 1 and b"already revoked" in p.stderr, p
    for bad in (["token", "create", "--role", "boss"], ["token", "create"], ["token", "revoke", "x"],
                ["token", "frobnicate"], ["nonsense"]):
        p = g.cli(*bad, check=False)
        assert p.returncode == 2, (bad, p)


def test_dossier_and_document_commands(tmp):
    g = Gateway(tmp).start()
    tok = g.token("clerk")
    p = g.cli("dossier", "create", "--procedure", "1.001234", "--procedure-name", "Đăng ký kết hôn",
              "--name", "Võ Thị Sáu", "--id-number", "052190001234", "--phone", "0901234567",
              "--channel", "1", token=tok)
    d = json.loads(p.stdout)
    assert d["code"] == "%s-%s-0001" % (AGENCY, vn_today()), d
    assert d["applicant"]["name"] == "Võ Thị Sáu"
    shown = json.loads(g.cli("dossier", "show", d["code"], token=tok).stdout)
    assert shown["code"] == d["code"]
    listed = json.loads(g.cli("dossier", "list", "--status", "1", "--limit", "5", token=tok).stdout)
    assert listed["total"] == 1, listed
    f = os.path.join(tmp, "to-khai.pdf")
    with open(f, "wb") as fh:
        fh.write(sample_pdf())
    p = g.cli("document", "add", d["code"], f, "--wait", token=tok)
    doc = json.loads(p.stdout)
    assert doc["state"] == "done" and doc["name"] == "to-khai.pdf", doc
    p = g.cli("document", "show", d["code"], doc["id"], token=tok)
    assert json.loads(p.stdout)["id"] == doc["id"]
    # errors come back as clear messages and non-zero exits
    p = g.cli("document", "add", "NO-SUCH", f, token=tok, check=False)
    assert p.returncode == 1 and b"HTTP 404: no dossier NO-SUCH" in p.stderr, p
    txt = os.path.join(tmp, "note.txt")
    open(txt, "w").write("x")
    p = g.cli("document", "add", d["code"], txt, token=tok, check=False)
    assert p.returncode == 2 and b"--type" in p.stderr, p
    p = g.cli("dossier", "create", "--procedure", "1.1", "--name", "A", "--id-number", "123", token=tok,
              check=False)
    assert p.returncode == 1 and b"HTTP 400" in p.stderr and b"id_number" in p.stderr, p
    p = g.cli("dossier", "list", check=False)
    assert p.returncode == 2 and b"MOTCUA_TOKEN" in p.stderr, p
    p = g.cli("dossier", "list", token="mct_" + "1" * 40, check=False)
    assert p.returncode == 1 and b"HTTP 401" in p.stderr, p
    g.stop()
    p = g.cli("dossier", "list", token=tok, check=False)
    assert p.returncode == 1 and b"cannot reach the gateway" in p.stderr, p


if __name__ == "__main__":
    run(globals())
