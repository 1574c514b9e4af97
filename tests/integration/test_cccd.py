# SPDX-License-Identifier: MIT
"""The applicant from the citizen's ID card: POST /api/v1/cccd in the real
gateway, on card images the test draws (PIL, DejaVu) with a real QR code
(the qrencode CLI, libqrencode's own tool) holding
ID|old ID|name|DDMMYYYY|sex|address|DDMMYYYY: a clean scan, a rotated, noisy,
blurred JPEG photo, a TIFF, text in NFD; a card without a QR, QRs of other
shapes, garbage bodies; ?scan=1 through scan-sane and SANE's pnm device.
Nothing is stored: no dossier, no blob."""
import io
import os
import random
import subprocess
import unicodedata

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from gwtest import Gateway, run, sane_config

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

CARD = {
    "id_number": "001203004567",
    "old_id_number": "012345678",
    "name": "Nguyễn Thị Hồng Nhung",
    "birth_date": "1990-02-28",
    "sex": "Nữ",
    "address": "Số 12 phố Hàng Bạc, phường Hoàn Kiếm, thành phố Hà Nội",
    "issue_date": "2021-07-15",
}


def qr_text(card, nfd=False):
    def dmy(iso):
        y, m, d = iso.split("-")
        return d + m + y
    t = "|".join([card["id_number"], card["old_id_number"] or "", card["name"],
                  dmy(card["birth_date"]), card["sex"], card["address"], dmy(card["issue_date"])])
    return unicodedata.normalize("NFD", t) if nfd else t


def qr_image(text, size=5):
    png = subprocess.run(["qrencode", "-o", "-", "-t", "PNG", "-s", str(size), "-m", "2", "-l", "M",
                          "-8", text.encode("utf-8")], capture_output=True, check=True).stdout
    q = Image.open(io.BytesIO(png)).convert("RGBA")
    white = Image.new("RGBA", q.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, q).convert("RGB")


def card_image(card=CARD, qr=None, with_qr=True):
    """The card's front at ~300 dpi (85.6 x 54 mm): heading, photo box,
    fields and the QR at the top right, like the chip-based CCCD."""
    w, h = 1011, 638
    img = Image.new("RGB", (w, h), (226, 236, 246))
    d = ImageDraw.Draw(img)
    f, fb, fs = ImageFont.truetype(FONT, 26), ImageFont.truetype(FONT_BOLD, 30), ImageFont.truetype(FONT, 20)
    d.text((200, 24), "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", font=fs, fill=(20, 20, 90))
    d.text((250, 52), "Độc lập - Tự do - Hạnh phúc", font=fs, fill=(20, 20, 90))
    d.text((230, 90), "CĂN CƯỚC CÔNG DÂN", font=fb, fill=(180, 20, 20))
    d.rectangle((40, 160, 250, 430), outline=(90, 90, 90), width=3, fill=(200, 200, 210))
    y = 170
    for label, value in (("Số / No.:", card["id_number"]), ("Họ và tên / Full name:", card["name"]),
                         ("Ngày sinh / Date of birth:", card["birth_date"]),
                         ("Giới tính / Sex:", card["sex"]),
                         ("Nơi thường trú / Place of residence:", card["address"][:38])):
        d.text((280, y), label, font=fs, fill=(60, 60, 60))
        d.text((280, y + 24), value, font=f, fill=(0, 0, 0))
        y += 62
    if with_qr:
        q = qr_image(qr if qr is not None else qr_text(card))
        side = 220
        img.paste(q.resize((side, side), Image.NEAREST), (w - side - 30, 24))
    return img


def encode(img, fmt="PNG", **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def post_card(g, body, ctype="image/png", token="clerk"):
    return g.post("/api/v1/cccd", body, headers={"Content-Type": ctype}, token=token)


def stored(g):
    blobs = os.path.join(g.data, "blobs")
    n = sum(len(fs) for _, _, fs in os.walk(blobs)) if os.path.isdir(blobs) else 0
    return g.get("/api/v1/dossiers").json()["total"], n


def test_card_scan_decoded_and_nothing_stored(tmp):
    g = Gateway(tmp).start()
    g.create_dossier()
    before = stored(g)
    r = post_card(g, encode(card_image()))
    assert r.status == 200, r
    assert r.json() == CARD, r.json()
    assert r.headers.get("Cache-Control") == "no-store", r.headers
    for v in r.json().values():
        assert unicodedata.is_normalized("NFC", v), v
    # a screenshot with a transparent background (RGBA PNG)
    rgba = card_image().convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 255))
    framed = Image.new("RGBA", (rgba.width + 200, rgba.height + 200), (0, 0, 0, 0))
    framed.paste(rgba, (100, 100))
    r = post_card(g, encode(framed))
    assert r.status == 200 and r.json() == CARD, r
    # the same from TIFF and from a supervisor's token
    r = post_card(g, encode(card_image(), "TIFF"), "image/tiff", token="supervisor")
    assert r.status == 200 and r.json() == CARD, r
    assert stored(g) == before, (stored(g), before)
    # the citizen's data is not logged
    assert CARD["id_number"] not in g.log() and CARD["name"] not in g.log(), g.log()


def test_rotated_noisy_photo_still_decodes(tmp):
    g = Gateway(tmp).start()
    rnd = random.Random(12)
    img = card_image().rotate(17, expand=True, fillcolor=(90, 80, 70), resample=Image.BICUBIC)
    # a desk around it, then a phone photo's noise, blur and JPEG
    desk = Image.new("RGB", (img.width + 300, img.height + 240), (90, 80, 70))
    desk.paste(img, (150, 120))
    px = desk.load()
    for _ in range(desk.width * desk.height // 25):
        x, y = rnd.randrange(desk.width), rnd.randrange(desk.height)
        v = rnd.choice((0, 255))
        px[x, y] = (v, v, v)
    # (blur 1.6 on modules of ~4.5 px: zbar reads it only after the first
    # pass, on the background-flattened, binarized copy)
    desk = desk.filter(ImageFilter.GaussianBlur(1.6))
    r = post_card(g, encode(desk, "JPEG", quality=60), "image/jpeg")
    assert r.status == 200, r
    assert r.json() == CARD, r.json()


def test_card_upside_down_and_small(tmp):
    g = Gateway(tmp).start()
    img = card_image().rotate(180).resize((505, 319), Image.BILINEAR)
    r = post_card(g, encode(img))
    assert r.status == 200 and r.json() == CARD, r


def test_no_old_id_and_nfd_text(tmp):
    g = Gateway(tmp).start()
    card = dict(CARD, old_id_number=None, name="Trần Văn Đạt", sex="Nam", birth_date="2000-02-29")
    r = post_card(g, encode(card_image(card, qr=qr_text(card, nfd=True))))
    assert r.status == 200, r
    got = r.json()
    assert got == card, got
    assert got["old_id_number"] is None
    assert unicodedata.is_normalized("NFC", got["name"]) and got["name"] == "Trần Văn Đạt"


def test_card_without_qr_and_qrs_of_other_shapes(tmp):
    g = Gateway(tmp).start()
    r = post_card(g, encode(card_image(with_qr=False)))
    assert r.status == 422 and r.json()["error"] == "no_qr", r
    # a blank white page
    r = post_card(g, encode(Image.new("L", (800, 600), 255)))
    assert r.status == 422 and r.json()["error"] == "no_qr", r
    bad = [
        "https://dichvucong.gov.vn/p/home/dvc-tra-cuu-ho-so.html",
        qr_text(dict(CARD, id_number="00120300456")),        # 11 digits
        qr_text(dict(CARD, old_id_number="12345")),          # old ID of 5 digits
        qr_text(dict(CARD, birth_date="1990-02-30")),        # no such day
        qr_text(dict(CARD, birth_date="2001-02-29")),        # not a leap year
        qr_text(dict(CARD, sex="Khác")),
        qr_text(dict(CARD, name=" ")),
        qr_text(dict(CARD, issue_date="1989-01-01")),        # issued before birth
        qr_text(CARD) + "|extra",
        "001203004567|012345678|Nguyễn Thị Hồng Nhung",
    ]
    for text in bad:
        r = post_card(g, encode(card_image(qr=text)))
        assert r.status == 422 and r.json()["error"] == "not_cccd", (text, r)


def test_bodies_that_are_not_images(tmp):
    g = Gateway(tmp, http_extra="max_upload_mb = 1\n").start()
    before = stored(g)
    r = post_card(g, b"this is not an image at all")
    assert r.status == 400 and r.json()["error"] == "bad_image", r
    r = post_card(g, b"\x89PNG\r\n\x1a\n" + os.urandom(3000))
    assert r.status == 400 and r.json()["error"] == "bad_image", r
    r = post_card(g, b"\xff\xd8\xff\xe0" + os.urandom(3000), "image/jpeg")
    assert r.status == 400 and r.json()["error"] == "bad_image", r
    r = post_card(g, b"")
    assert r.status == 400, r
    r = post_card(g, encode(card_image()), "application/pdf")
    assert r.status == 415, r
    r = g.post("/api/v1/cccd", b"x", headers={})
    assert r.status == 415, r
    r = post_card(g, b"\x89PNG\r\n\x1a\n" + b"\0" * (2 << 20))
    assert r.status == 413, r
    r = g.post("/api/v1/cccd?nope=1", encode(card_image()), headers={"Content-Type": "image/png"})
    assert r.status == 400, r
    for role in ("agency", g.token("kiosk")):
        assert post_card(g, encode(card_image()), token=role).status == 403
    assert post_card(g, encode(card_image()), token=None).status == 401
    assert stored(g) == before


def test_scan_takes_one_page_from_the_scanner(tmp):
    # no capture plugin: a clear 503
    os.makedirs(os.path.join(tmp, "none"))
    g0 = Gateway(os.path.join(tmp, "none")).start()
    r = g0.post("/api/v1/cccd?scan=1")
    assert r.status == 503 and r.json()["error"] == "no_scanner", r
    g0.stop()
    # SANE's pnm device "scans" the card, put on a white A6 sheet of the flatbed
    sheet = Image.new("L", (1240, 1748), 255)
    sheet.paste(card_image().convert("L"), (100, 120))
    pnm = os.path.join(tmp, "card.pnm")
    sheet.save(pnm)
    env = {"SANE_CONFIG_DIR": sane_config(tmp)}
    g = Gateway(tmp, env=env, plugins="[scan-sane]\nenabled = true\ndevice = pnm:0\nsource = flatbed\n"
                "mode = gray\nresolution = 300\ndevice_options = filename=%s\n" % pnm).start()
    before = stored(g)
    r = g.post("/api/v1/cccd?scan=1", b"x", headers={"Content-Type": "image/png"})
    assert r.status == 400, r
    r = g.post("/api/v1/cccd?scan=1", timeout=120)
    assert r.status == 200, (r, g.log()[-3000:])
    assert r.json() == CARD, r.json()
    assert stored(g) == before, (stored(g), before)
    assert os.listdir(os.path.join(g.data, "tmp")) == [], os.listdir(os.path.join(g.data, "tmp"))
    # the scanner is free again: a dossier's scan works after it
    code = g.create_dossier()["code"]
    r = g.post("/api/v1/dossiers/%s/scan" % code, {})
    assert r.status == 202, r


def test_scan_shares_the_scanner_with_dossier_scans(tmp):
    # test-capture: pages that are PNG signatures only, a delay each
    g = Gateway(tmp, plugins="[test-capture]\nenabled = true\n").start()
    code = g.create_dossier()["code"]
    r = g.post("/api/v1/dossiers/%s/scan" % code, {"pages": 1, "delay_ms": 3000})
    assert r.status == 202, r
    # the batch holds the scanner until it ends (capture_done on the loop)
    r = g.post("/api/v1/cccd?scan=1")
    assert r.status == 409 and r.json()["error"] == "scanner_busy", r
    g.wait_document(code, g.get("/api/v1/dossiers/%s" % code).json()["documents"][0]["id"],
                    states=("done", "failed", "review"))
    before = stored(g)
    # the page it gives is no image: a clear 400, and no document
    r = g.post("/api/v1/cccd?scan=1")
    assert r.status == 400 and r.json()["error"] == "bad_image", r
    r = g.post("/api/v1/cccd?scan=1", token="supervisor")
    assert r.status == 400, r
    assert stored(g) == before
    assert len(g.get("/api/v1/dossiers/%s" % code).json()["documents"]) == 1


run(globals())
