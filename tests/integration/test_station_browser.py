# SPDX-License-Identifier: MIT
"""The station's pages in a real browser: Debian's headless Chromium driven by
python3-selenium (through chromium-driver) against the real gateway on
127.0.0.1, with the real plugins (SANE's `test` scanner, Tesseract, the
signer, the archive).

test_pages_served: every page is built in and served with the same headers,
loads without a script error, switches to English and back, and is
photographed at 1366×768 and at a tablet's size.

test_station_end_to_end: the counter's whole day in stages, one function
each, in order:
  kiosk_ticket      a citizen takes a ticket at /station/tickets
  console_signin    an official signs in at /station/console
  console_call      the console calls it (key N) ...
  display_shows     ... and /station/display shows it, announced by voice
  dossier_cccd      a dossier opened from a citizen ID card image with a real QR
  sane_scan         a batch from SANE's `test` device, thumbnails in review
  review_edit       one page deleted, one rotated
  confirm_archive   confirm: signed and archived
  checklist         the procedure's papers: the document assigned to one, the
                    rest shown missing
  receipt_lookup    the receipt PDF (pdftoppm), its QR (zbarimg) is the lookup
                    URL, which the browser opens and shows the status
  rating_once       the ticket is finished; the counter's rating kiosk pressed
                    twice counts once
  supplement_return the missing papers asked for (status 5, the lookup lists
                    them), then the result returned (status 10)
  reuse             the same citizen's next dossier: the archived paper
                    offered and reused
  queue_moves       recall, no-show, start and transfer from the console's keys
A stage whose routes this build does not have fails with "route X not on
this build" (the routes come from GET /api/v1/routes); a stage that needs
an earlier one that failed says so. Every stage runs or says why not; the
test passes only when all have run.

Screenshots of every page go to <build>/meson-logs/station-browser/ (the
path is printed)."""
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import traceback
import unicodedata
import urllib.parse

from gwtest import BUILD_ROOT, SLOW, SOURCE_ROOT, Gateway, run, sane_config

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = os.path.abspath(os.path.join(BUILD_ROOT, "meson-logs", "station-browser"))
WWW = os.path.join(SOURCE_ROOT, "station", "www")
SIGN_TESTS = os.path.join(SOURCE_ROOT, "plugins", "sign-openssl", "tests")
PAGES = ["/station/console", "/station/display", "/station/tickets", "/station/rating"]
DESKTOP, TABLET = (1366, 768), (800, 1280)
CITIZEN = {"id_number": "079203012345", "old_id_number": "025123456", "name": "Trần Thị Ngọc Ánh",
           "birth": "15081990", "sex": "Nữ", "address": "12 Nguyễn Huệ, Phường Bến Nghé, Quận 1, TP. Hồ Chí Minh",
           "issued": "01072021"}


class Missing(AssertionError):
    """A route a stage needs is not on this build."""


class Blocked(AssertionError):
    """An earlier stage this one needs did not pass."""


# ---- the browser ----

_profiles = []


def profile(tmp, name):
    """Chromium's profile, outside the test's folder (whose *.log files the
    harness prints when a test fails); removed when the test ends."""
    d = tempfile.mkdtemp(prefix="motcua-chromium-%s-" % name)
    _profiles.append(d)
    return d


def forget_profiles():
    while _profiles:
        shutil.rmtree(_profiles.pop(), ignore_errors=True)


def browser(tmp, size=DESKTOP, name="chromium"):
    assert os.path.exists(CHROMEDRIVER) and os.path.exists(CHROMIUM), \
        "Debian's chromium and chromium-driver are test dependencies (packaging/install-deps.sh test)"
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=%d,%d" % size, "--autoplay-policy=no-user-gesture-required",
              "--lang=vi", "--user-data-dir=" + profile(tmp, name)]:
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    d.set_window_size(*size)
    return d


def shot(d, name):
    os.makedirs(SHOTS, exist_ok=True)
    path = os.path.join(SHOTS, name + ".png")
    d.save_screenshot(path)
    print("     screenshot %s" % path, flush=True)
    return path


def wait(d, fn, what, timeout=30):
    timeout *= SLOW  # (a gateway under memcheck answers slower)
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)
                             ).until(lambda _: fn())
    except TimeoutException:
        raise AssertionError("the page did not get there within %ss: %s" % (timeout, what)) from None


def click(d, css, timeout=15):
    """Clicks css, again if the page drew it anew in between."""
    end = time.time() + timeout
    while True:
        try:
            d.find_element(By.CSS_SELECTOR, css).click()
            return
        except (StaleElementReferenceException, NoSuchElementException):
            if time.time() > end:
                raise
            time.sleep(0.1)


def attr(d, css, name, timeout=15):
    """An attribute of css, read again if the page drew it anew in between."""
    end = time.time() + timeout
    while True:
        try:
            return d.find_element(By.CSS_SELECTOR, css).get_attribute(name)
        except (StaleElementReferenceException, NoSuchElementException):
            if time.time() > end:
                raise
            time.sleep(0.1)


def text(d, css):
    for _ in range(50):
        try:
            e = d.find_elements(By.CSS_SELECTOR, css)
            return e[0].text if e else None
        except StaleElementReferenceException:
            time.sleep(0.1)
    return None


def visible(d, css):
    for _ in range(50):
        try:
            e = d.find_elements(By.CSS_SELECTOR, css)
            return bool(e) and e[0].is_displayed()
        except StaleElementReferenceException:
            time.sleep(0.1)
    return False


def script_errors(d):
    """Errors of the page's own scripts (not the API's 4xx answers, which the
    page shows itself)."""
    out = []
    for e in d.get_log("browser"):
        if e["level"] != "SEVERE" or e.get("source") == "network":
            continue
        out.append(e["message"])
    return out


# ---- the gateway ----

def routes(g):
    r = g.get("/api/v1/routes", token="admin")
    assert r.status == 200, r
    return {(x["method"], x["path"]): x for x in r.json()["routes"]}


def need(ctx, method, path, role=None):
    rt = ctx["routes"].get((method, path))
    if not rt:
        raise Missing("route %s %s not on this build" % (method, path))
    roles = rt.get("roles") or []
    if role and roles and role not in roles and "public" not in roles:
        raise Missing("route %s %s not for %s tokens on this build (roles %s)" % (method, path, role, roles))


def gateway(tmp):
    pki = os.path.join(tmp, "pki")
    subprocess.run(["sh", os.path.join(SIGN_TESTS, "make-ca.sh"), pki], check=True, capture_output=True)
    procs = os.path.join(tmp, "procedures.txt")
    with open(procs, "w", encoding="utf-8") as f:
        f.write("1.001193;5;Phòng Tư pháp\n")
        if os.path.exists(os.path.join(SOURCE_ROOT, "gateway", "src", "procedures.c")):
            # the procedures file with names and papers (the receipt's part)
            f.write("  name: Đăng ký khai sinh\n  fee: Miễn lệ phí\n  result: Bộ phận Một cửa\n"
                    "  paper: to-khai;Tờ khai đăng ký khai sinh;original;1\n"
                    "  paper: chung-sinh;Giấy chứng sinh;original;1\n"
                    "  paper: cccd;Căn cước công dân của cha, mẹ;copy;2\n")
    plugins = ("[scan-sane]\nenabled = true\ndevice = test\nsource = adf\nmode = gray\nresolution = 200\n"
               "max_pages = 3\ndevice_options = test-picture=Grid\n"
               "[ocr-tesseract]\nenabled = true\n"
               "[sign-openssl]\nenabled = true\nkey = %s/rsa.key\ncert = %s/rsa.pem\ntrust = %s/ca.pem\n"
               "[archive-sqlite]\nenabled = true\nretention_years = 10\n" % (pki, pki, pki))
    env = {"SANE_CONFIG_DIR": sane_config(tmp)}
    g = Gateway(tmp, plugins=plugins, env=env, workers=2)
    # [office] procedures: into the [office] section gwtest wrote
    with open(g.conf, encoding="utf-8") as f:
        conf = f.read()
    with open(g.conf, "w", encoding="utf-8") as f:
        f.write(conf.replace("[office]\n", "[office]\nprocedures = %s\n" % procs, 1))
    return g.start()


def cccd_image(tmp):
    """A citizen ID card's face with its real QR (qrencode), as the card
    holds it: ID|old ID|name|DDMMYYYY|sex|address|DDMMYYYY."""
    from PIL import Image, ImageDraw, ImageFont
    c = CITIZEN
    payload = "|".join([c["id_number"], c["old_id_number"], c["name"], c["birth"], c["sex"], c["address"],
                        c["issued"]])
    qr = os.path.join(tmp, "cccd-qr.png")
    subprocess.run(["qrencode", "-o", qr, "-s", "5", "-m", "2", "-l", "M", payload], check=True)
    card = Image.new("RGB", (1012, 638), (235, 241, 250))
    q = Image.open(qr).convert("RGB")
    card.paste(q, (1012 - q.width - 30, 30))
    font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    dr = ImageDraw.Draw(card)
    f = ImageFont.truetype(font, 26)
    dr.text((40, 40), "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", fill=(20, 20, 120), font=f)
    dr.text((40, 90), "CĂN CƯỚC CÔNG DÂN", fill=(180, 20, 20), font=ImageFont.truetype(font, 34))
    dr.text((40, 160), "Số / No.: " + c["id_number"], fill=(0, 0, 0), font=f)
    dr.text((40, 210), "Họ và tên: " + c["name"], fill=(0, 0, 0), font=f)
    out = os.path.join(tmp, "cccd.png")
    card.save(out)
    return out


def vietnamese(s):
    """Whether s has a letter only Vietnamese writes (a diacritic, đ)."""
    return any(unicodedata.combining(c) or c in "đĐ" for c in unicodedata.normalize("NFD", s))


def api_doc(g, code, doc_id):
    r = g.get("/api/v1/dossiers/%s/documents/%s" % (code, doc_id))
    assert r.status == 200, r
    return r.json()


# ---- the stages of the end-to-end flow ----

def stage_kiosk_ticket(ctx):
    need(ctx, "GET", "/api/v1/services", "kiosk")
    need(ctx, "POST", "/api/v1/tickets", "kiosk")
    d, g = ctx["kiosk"], ctx["g"]
    d.get(ctx["base"] + "/station/tickets#token=" + ctx["kiosk_token"])
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#services button[data-service]"), "the service buttons")
    shot(d, "tickets-services")
    d.find_element(By.CSS_SELECTOR, "#priorities button[data-priority=elderly]").click()
    d.find_elements(By.CSS_SELECTOR, "#services button[data-service]")[0].click()
    wait(d, lambda: visible(d, "#ticket") and text(d, "#t-number"), "the issued ticket")
    number = int(text(d, "#t-number"))
    ticket_id = int(attr(d, "#ticket", "data-ticket"))
    ahead = text(d, "#t-ahead")
    assert ahead.isdigit(), "people ahead: %r" % ahead
    assert text(d, "#t-service"), "no service on the ticket"
    shot(d, "tickets-issued")
    t = [x for x in g.get("/api/v1/tickets").json()["tickets"] if x["id"] == ticket_id][0]
    assert t["number"] == number and t["state"] == "waiting", t
    assert t.get("priority") == "elderly", t
    # the QR to follow the queue (GET /api/v1/tickets/{id}/qr.png), loaded
    wait(d, lambda: d.execute_script(
        "const i = document.querySelector('#t-qr img'); return i && i.complete && i.naturalWidth > 0;"),
        "the ticket's follow QR")
    ctx["ticket"] = {"id": ticket_id, "number": number}


def stage_console_signin(ctx):
    need(ctx, "POST", "/api/v1/session")
    need(ctx, "GET", "/api/v1/session")
    g, d = ctx["g"], ctx["clerk"]
    p = g.cli("user", "add", "--username", "canbo1", "--name", "Nguyễn Văn Bình", "--role", "clerk",
              "--unit", "Phòng Tư pháp", "--counter", "1", "--password-stdin", input=b"mat-khau-1234\n",
              check=False)
    assert p.returncode == 0, "motcua user add: %s" % p.stderr.decode()
    # the address the demo prints: a session opened for the official, in the fragment
    r = g.post("/api/v1/session", {"username": "canbo1", "password": "mat-khau-1234"}, token=None)
    assert r.status == 201, r
    demo = r.json()["token"]
    d.get(ctx["base"] + "/station/console#token=" + demo)
    wait(d, lambda: "Nguyễn Văn Bình" in (text(d, "#who") or ""), "the console signed in from its address")
    assert "token" not in d.current_url, "the token stays in the address bar: " + d.current_url
    # signing out ends that session
    click(d, "#signout")
    wait(d, lambda: visible(d, "#signin"), "the sign-in form after signing out")
    assert g.get("/api/v1/session", token=demo).status == 401, "the session outlived the sign-out"
    d.get(ctx["base"] + "/station/console")
    wait(d, lambda: visible(d, "#signin"), "the sign-in form")
    shot(d, "console-signin")
    d.find_element(By.ID, "username").send_keys("canbo1")
    d.find_element(By.ID, "password").send_keys("sai-mat-khau")
    d.find_element(By.ID, "signin-btn").click()
    wait(d, lambda: text(d, "#signin-error"), "the message for a wrong password")
    d.find_element(By.ID, "password").clear()
    d.find_element(By.ID, "password").send_keys("mat-khau-1234")
    d.find_element(By.ID, "signin-btn").click()
    wait(d, lambda: visible(d, "#app"), "the console after sign-in")
    assert "Nguyễn Văn Bình" in text(d, "#who"), text(d, "#who")
    tok = d.execute_script("return JSON.parse(sessionStorage.getItem('motcua.session')).token")
    assert tok.startswith("mcs_"), tok
    ctx["signed_in"] = True


def open_console(ctx):
    """The console signed in (stage console_signin), or else opened with a
    machine clerk token in its fragment, which it also takes."""
    d = ctx["clerk"]
    if ctx.get("signed_in"):
        return d
    if not ctx.get("console_open"):
        print("     (the console opened with a machine clerk token: the sign-in stage did not pass)")
        d.get(ctx["base"] + "/station/console?counter=1#token=" + ctx["g"].token("clerk"))
        wait(d, lambda: visible(d, "#app"), "the console")
        ctx["console_open"] = True
    return d


def stage_console_call(ctx):
    need(ctx, "POST", "/api/v1/tickets/next")
    need(ctx, "GET", "/api/v1/queue", "kiosk")
    need(ctx, "GET", "/api/v1/events", "kiosk")
    if "ticket" not in ctx:
        raise Blocked("no ticket from the kiosk stage")
    # the display is open before the call: it must follow it live
    disp = ctx["display"]
    disp.get(ctx["base"] + "/station/display#token=" + ctx["kiosk_token"])
    wait(disp, lambda: "ok" in (attr(disp, ".net", "class") or ""),
         "the display following the event stream")
    disp.execute_script("window.__loaded = 1")
    d = open_console(ctx)
    wait(d, lambda: not attr(d, "#btn-next", "disabled"), "the Call next button")
    d.find_element(By.TAG_NAME, "body").send_keys("n")  # the shortcut shown on the button
    want = "%04d" % ctx["ticket"]["number"]
    wait(d, lambda: text(d, "#cur-ticket") == want, "ticket %s called at the console" % want)
    state = attr(d, "#cur-ticket", "data-state")
    if state == "called":
        need(ctx, "POST", "/api/v1/tickets/{id}/start")
        d.find_element(By.ID, "btn-start").click()
        wait(d, lambda: attr(d, "#cur-ticket", "data-state") == "serving",
             "the ticket being served")
    shot(d, "console-called")
    t = [x for x in ctx["g"].get("/api/v1/tickets").json()["tickets"] if x["id"] == ctx["ticket"]["id"]][0]
    assert t["state"] == "serving" and str(t["counter"]) == "1", t
    ctx["called"] = True


def stage_display_shows(ctx):
    need(ctx, "GET", "/api/v1/tickets/{id}/announce.wav", "kiosk")
    if not ctx.get("called"):
        raise Blocked("no ticket was called (stage console_call)")
    disp = ctx["display"]
    want = "%04d" % ctx["ticket"]["number"]
    wait(disp, lambda: text(disp, "#now-number") == want, "the display showing %s" % want)
    wait(disp, lambda: want in (text(disp, "#calls") or ""), "%s among the last calls" % want)
    assert disp.execute_script("return window.__loaded") == 1, "the display was reloaded"
    wait(disp, lambda: ctx["ticket"]["id"] in disp.execute_script("return window.__display.announced"),
         "the call announced (announce.wav played)")
    shot(disp, "display-called")
    # the hall's clock is the office's (Vietnam time), whatever the screen's
    # time zone (the test's browser runs in UTC)
    def vn_clock(t):
        return time.strftime("%H:%M · %d/%m/%Y", time.gmtime(t + 7 * 3600))
    wait(disp, lambda: text(disp, "#clock") in (vn_clock(time.time()), vn_clock(time.time() - 60)),
         "the clock in Vietnam time (%s)" % vn_clock(time.time()))
    # two more calls at once: announced one after the other, never together
    g = ctx["g"]
    for _ in range(2):
        assert g.post("/api/v1/tickets", {}).status in (200, 201)
    ids = []
    for c in ("2", "3"):
        r = g.post("/api/v1/tickets/next", {"counter": c})
        assert r.status == 200, r
        ids.append(r.json()["id"])
    wait(disp, lambda: all(i in disp.execute_script("return window.__display.announced") for i in ids),
         "both calls announced", timeout=60)
    st = disp.execute_script("return window.__display")
    assert st["maxPlaying"] == 1, "two announcements played at once: %r" % st
    assert not st["failed"], st


def stage_dossier_cccd(ctx):
    need(ctx, "POST", "/api/v1/cccd")
    d = open_console(ctx)
    wait(d, lambda: visible(d, "#new-dossier"), "the new dossier form")
    if ("GET", "/api/v1/procedures") in ctx["routes"]:
        wait(d, lambda: [o for o in d.find_elements(By.CSS_SELECTOR, "#proc option") if o.get_attribute("value")],
             "the procedures in the picker")
        click(d, "#proc option[value='1.001193']")
        wait(d, lambda: "Thành phần hồ sơ" in (text(d, "#proc-papers") or ""), "the procedure's papers")
    else:
        # (stage checklist fails for the missing route; the clerk types the procedure)
        d.find_element(By.ID, "proc-code").send_keys("1.001193")
        d.find_element(By.ID, "proc-name").send_keys("Đăng ký khai sinh")
    d.find_element(By.ID, "cccd-file").send_keys(cccd_image(ctx["tmp"]))
    wait(d, lambda: attr(d, "#app-id", "value") == CITIZEN["id_number"],
         "the applicant filled from the ID card")
    name = attr(d, "#app-name", "value")
    assert unicodedata.normalize("NFC", name) == CITIZEN["name"], name
    d.find_element(By.ID, "app-phone").send_keys("0912345678")
    shot(d, "console-new-dossier")
    d.find_element(By.ID, "btn-create").click()
    wait(d, lambda: visible(d, "#dossier") and text(d, "#dossier-code"), "the new dossier opened")
    code = text(d, "#dossier-code")
    dj = ctx["g"].get("/api/v1/dossiers/" + code).json()
    a = dj["applicant"]
    assert a["id_number"] == CITIZEN["id_number"] and a["name"] == CITIZEN["name"], a
    assert a.get("address") == CITIZEN["address"] and a.get("phone") == "0912345678", a
    if ctx.get("ticket"):
        assert dj["ticket_id"] == ctx["ticket"]["id"], dj
    ctx["code"] = code


def stage_sane_scan(ctx):
    need(ctx, "POST", "/api/v1/dossiers/{code}/scan")
    need(ctx, "GET", "/api/v1/dossiers/{code}/documents/{id}/pages/{n}/thumb")
    if "code" not in ctx:
        raise Blocked("no dossier (stage dossier_cccd)")
    d, g, code = open_console(ctx), ctx["g"], ctx["code"]
    d.find_element(By.ID, "scan-name").send_keys("Giấy tờ quét")
    d.find_element(By.ID, "btn-scan").click()
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#documents .doc[data-doc]"), "the scanned document")
    doc_id = attr(d, "#documents .doc[data-doc]", "data-doc")
    doc = g.wait_document(code, doc_id, timeout=240, states=("review", "done", "failed"))
    assert doc["state"] == "review", "the document did not stop for review: %s" % doc["state"]
    assert len(doc["pages"]) == 3, doc["pages"]
    sel = "#documents .doc[data-doc='%s']" % doc_id
    wait(d, lambda: len(d.find_elements(By.CSS_SELECTOR, sel + " .page")) == 3, "three page thumbnails")
    wait(d, lambda: d.execute_script(
        "return [...document.querySelectorAll(arguments[0] + ' .page img')].filter(i => i.complete && i.naturalWidth > 0).length",
        sel) == 3, "the thumbnails drawn")
    for p in doc["pages"]:
        assert "confidence" in p and "low_confidence" in p, p
    lows = sum(1 for p in doc["pages"] if p["low_confidence"])
    wait(d, lambda: len(d.find_elements(By.CSS_SELECTOR, sel + " .page.low")) == lows,
         "the %d low-confidence page(s) marked" % lows)
    wait(d, lambda: visible(d, sel + " button.confirm"), "the confirm button of the document in review")
    shot(d, "console-review")
    d.set_window_size(*TABLET)  # the same at a tablet's size
    time.sleep(0.3)  # (for the picture only: the layout after the resize)
    shot(d, "console-review-tablet")
    d.set_window_size(*DESKTOP)
    ctx["doc"] = doc_id


def stage_review_edit(ctx):
    need(ctx, "DELETE", "/api/v1/dossiers/{code}/documents/{id}/pages/{n}")
    need(ctx, "POST", "/api/v1/dossiers/{code}/documents/{id}/pages/{n}/rotate")
    if "doc" not in ctx:
        raise Blocked("no document in review (stage sane_scan)")
    d, g, code, doc_id = open_console(ctx), ctx["g"], ctx["code"], ctx["doc"]
    sel = "#documents .doc[data-doc='%s']" % doc_id
    click(d, sel + " .page[data-page='2'] button.delete")
    d.switch_to.alert.accept()
    wait(d, lambda: len(d.find_elements(By.CSS_SELECTOR, sel + " .page")) == 2, "two pages left")
    # recognized again after the edit, and back in review: the page actions are live again
    g.wait_document(code, doc_id, timeout=240, states=("review", "done", "failed"))
    wait(d, lambda: visible(d, sel + " button.confirm") and
         not attr(d, sel + " .page[data-page='1'] button.rotate", "disabled"), "the page actions live again")
    before = api_doc(g, code, doc_id)
    click(d, sel + " .page[data-page='1'] button.rotate")
    wait(d, lambda: api_doc(g, code, doc_id) != before, "the rotation recorded")
    # recognized again after the edits, and back in review
    doc = g.wait_document(code, doc_id, timeout=240, states=("review", "done", "failed"))
    assert len(doc["pages"]) == 2 and doc["state"] == "review", doc
    assert doc["pages"][0].get("rotation") in (90, None), doc["pages"][0]
    wait(d, lambda: visible(d, sel + " button.confirm") and len(d.find_elements(By.CSS_SELECTOR, sel + " .page img")) == 2,
         "the edited document back in review, its two pages drawn")
    # page 2 scanned again into its place
    need(ctx, "POST", "/api/v1/dossiers/{code}/scan")
    wait(d, lambda: not attr(d, sel + " .page[data-page='2'] button.rescan", "disabled"), "the rescan button live")
    # (SANE's test device gives the same picture again: the same image, a new scan)
    click(d, sel + " .page[data-page='2'] button.rescan")
    wait(d, lambda: "Đang quét lại trang 2" in (text(d, "#dossier-msg") or "") or text(d, "#dossier-error"),
         "the rescan of page 2 answered")
    assert not text(d, "#dossier-error"), text(d, "#dossier-error")
    doc = g.wait_document(code, doc_id, timeout=240, states=("review", "done", "failed"))
    assert len(doc["pages"]) == 2 and doc["state"] == "review", doc
    wait(d, lambda: visible(d, sel + " button.confirm") and
         not attr(d, sel + " .page[data-page='1'] button.right", "disabled"), "back in review after the rescan")
    shot(d, "console-review-edited")


def stage_confirm_archive(ctx):
    need(ctx, "POST", "/api/v1/dossiers/{code}/documents/{id}/confirm")
    if "doc" not in ctx:
        raise Blocked("no document in review (stage sane_scan)")
    d, g, code, doc_id = open_console(ctx), ctx["g"], ctx["code"], ctx["doc"]
    sel = "#documents .doc[data-doc='%s']" % doc_id
    wait(d, lambda: visible(d, sel + " button.confirm"), "the confirm button")
    # the two pages swapped in the strip: the order goes with the confirm
    shas = [p["sha256"] for p in api_doc(g, code, doc_id)["pages"]]
    click(d, sel + " .page[data-page='1'] button.right")
    wait(d, lambda: [attr(d, sel + " .page:nth-child(%d)" % i, "data-page") for i in (1, 2)] == ["2", "1"],
         "the pages shown swapped")
    click(d, sel + " button.confirm")
    doc = g.wait_document(code, doc_id, timeout=180)
    assert doc["state"] == "done", doc
    assert [p["sha256"] for p in doc["pages"]] == shas[::-1], "the order was not kept: %r" % doc["pages"]
    steps = {s["step"]: s["state"] for s in doc["steps"]}
    assert steps.get("sign") == "done" and steps.get("archive") == "done", steps
    wait(d, lambda: "done" in attr(d, sel, "class"),
         "the document shown signed and archived")
    shot(d, "console-confirmed")


def stage_checklist(ctx):
    need(ctx, "GET", "/api/v1/procedures")
    need(ctx, "GET", "/api/v1/dossiers/{code}/checklist")
    need(ctx, "POST", "/api/v1/dossiers/{code}/documents/{id}/paper")
    if "doc" not in ctx:
        raise Blocked("no scanned document (stage sane_scan)")
    d, g, code, doc_id = open_console(ctx), ctx["g"], ctx["code"], ctx["doc"]
    cl = g.get("/api/v1/dossiers/%s/checklist" % code).json()
    assert cl["papers"], "procedure 1.001193 has no papers: %r" % cl
    first = cl["papers"][0]
    assert str(first["id"]) in [str(m) for m in cl["missing"]], cl
    sel = "#documents .doc[data-doc='%s'] .dtitle select" % doc_id
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, sel), "the paper picker of the document")
    click(d, sel + " option[value='%s']" % first["id"])
    li = "#checklist li[data-paper='%s']" % first["id"]
    wait(d, lambda: "checklist-ok" in (attr(d, li, "class") or ""),
         "the paper shown handed in")
    cl = g.get("/api/v1/dossiers/%s/checklist" % code).json()
    assert str(first["id"]) not in [str(m) for m in cl["missing"]], cl
    ctx["missing"] = cl["missing"]
    shot(d, "console-checklist")


def stage_receipt_lookup(ctx):
    need(ctx, "GET", "/api/v1/dossiers/{code}/receipt.pdf")
    need(ctx, "GET", "/api/v1/dossiers/{code}/receipt.png")
    need(ctx, "GET", "/api/v1/lookup")
    if "code" not in ctx:
        raise Blocked("no dossier (stage dossier_cccd)")
    d, g, code, tmp = open_console(ctx), ctx["g"], ctx["code"], ctx["tmp"]
    d.find_element(By.ID, "btn-receipt").click()
    wait(d, lambda: d.execute_script("const i = document.getElementById('receipt-img');"
                                     " return !!i && i.complete && i.naturalWidth > 0"), "the receipt preview")
    shot(d, "console-receipt")
    click(d, "#btn-print")  # the PDF into the page's print frame (a printer dialog on a real screen)
    wait(d, lambda: d.execute_script("return window.__console.printed") == "/api/v1/dossiers/%s/receipt.pdf"
         % urllib.parse.quote(code), "the receipt PDF sent to print")
    r = g.get("/api/v1/dossiers/%s/receipt.pdf" % code)
    assert r.status == 200 and r.body.startswith(b"%PDF"), r
    pdf = os.path.join(tmp, "receipt.pdf")
    with open(pdf, "wb") as f:
        f.write(r.body)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", pdf, os.path.join(tmp, "receipt")],
                   check=True)
    png = [os.path.join(tmp, f) for f in sorted(os.listdir(tmp)) if f.startswith("receipt-") and f.endswith(".png")][0]
    shutil.copy(png, os.path.join(SHOTS, "receipt-page1.png"))
    z = subprocess.run(["zbarimg", "--quiet", "--raw", "-Sqrcode.enable", png], capture_output=True, text=True)
    assert z.returncode == 0 and z.stdout.strip(), "no QR read on the receipt: %s" % z.stderr
    url = z.stdout.strip().splitlines()[0]
    q = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    key = g.get("/api/v1/dossiers/" + code).json()["lookup_key"]
    assert urllib.parse.urlparse(url).path == "/lookup" and q.get("code") == [code] and q.get("key") == [key], url
    # the citizen opens it (the gateway's own /lookup; the Host is this test's)
    look = ctx["kiosk"]
    u = urllib.parse.urlparse(url)
    look.get(ctx["base"] + u.path + "?" + u.query)
    status = g.get("/api/v1/lookup?code=%s&key=%s" % (code, key), token=None).json()
    wait(look, lambda: status["status_text"] in look.find_element(By.TAG_NAME, "body").text,
         "the lookup page showing %r" % status["status_text"])
    shot(look, "lookup")


def stage_rating_once(ctx):
    need(ctx, "GET", "/api/v1/counters/{n}/rating-session", "kiosk")
    need(ctx, "POST", "/api/v1/counters/{n}/rating", "kiosk")
    if not ctx.get("called"):
        raise Blocked("no ticket being served at counter 1 (stage console_call)")
    d, g, k = open_console(ctx), ctx["g"], ctx["kiosk"]
    k.get(ctx["base"] + "/station/rating?counter=1#token=" + ctx["kiosk_token"])
    wait(k, lambda: attr(k, "body", "data-open") == "false", "the kiosk at rest")
    assert attr(k, "#levels button[data-level='1']", "disabled"), \
        "a button is active with no session open"
    shot(k, "rating-closed")
    d.find_element(By.TAG_NAME, "body").send_keys("x")  # finish the ticket: a session opens
    wait(k, lambda: not attr(k, "#levels button[data-level='1']", "disabled"),
         "the rating buttons active once the counter finished")
    shot(k, "rating-open")
    # pressed twice, quickly: one rating goes out, the buttons rest
    k.execute_script("const b = document.querySelector('#levels button[data-level=\"1\"]'); b.click(); b.click();")
    wait(k, lambda: text(k, "#thanks"), "the thank-you")
    assert attr(k, "#levels button[data-level='2']", "disabled"), \
        "the buttons still active after the rating"
    # the kiosk reloaded in the same moment: nothing open to rate any more
    k.refresh()
    wait(k, lambda: attr(k, "body", "data-open") == "false",
         "the session closed by the counted press")
    # and a press that reaches the gateway anyway is logged, not counted
    r = g.post("/api/v1/counters/1/rating", {"level": 3}, token=ctx["kiosk_token"])
    assert r.status == 200 and r.json() == {"counted": False}, r
    db = sqlite3.connect(os.path.join(g.data, "motcua.db"))
    n = db.execute("SELECT COUNT(*) FROM ratings").fetchone()[0]
    db.close()
    assert n == 1, "%d ratings counted for one session" % n


def stage_supplement_return(ctx):
    need(ctx, "GET", "/api/v1/dossiers/{code}/checklist")
    need(ctx, "GET", "/api/v1/dossiers/{code}/supplement.pdf")
    need(ctx, "GET", "/api/v1/lookup")
    if "missing" not in ctx:
        raise Blocked("no checklist (stage checklist)")
    d, g, code = open_console(ctx), ctx["g"], ctx["code"]
    boxes = wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#missing-box input.missing-paper"),
                 "the papers to ask for")
    checked = sorted(b.get_attribute("value") for b in boxes if b.is_selected())
    assert checked == sorted(str(m) for m in ctx["missing"]), (checked, ctx["missing"])
    d.find_element(By.ID, "status-note").send_keys("Thiếu giấy chứng sinh")
    click(d, "#btn-supplement")
    wait(d, lambda: visible(d, "#btn-print-supplement"), "the supplement request to print")
    dj = g.get("/api/v1/dossiers/" + code).json()
    assert dj["status"] == 5, dj["status"]
    look = g.get("/api/v1/lookup?code=%s&key=%s" % (code, dj["lookup_key"]), token=None).json()
    assert look["missing"], look
    shot(d, "console-supplement")
    click(d, "#btn-returned")
    wait(d, lambda: g.get("/api/v1/dossiers/" + code).json()["status"] == 10, "the result returned")
    wait(d, lambda: "Đã trả kết quả" in (text(d, "#dossier-status") or ""), "the status shown")


def stage_reuse(ctx):
    need(ctx, "GET", "/api/v1/archive/applicants/{id_number}/documents")
    if "doc" not in ctx:
        raise Blocked("nothing archived for the applicant (stage confirm_archive)")
    d, g = open_console(ctx), ctx["g"]
    click(d, "#btn-new")
    wait(d, lambda: visible(d, "#new-dossier"), "the new dossier form")
    if d.find_elements(By.CSS_SELECTOR, "#proc option[value='1.001193']"):
        click(d, "#proc option[value='1.001193']")
    else:
        d.find_element(By.ID, "proc-code").send_keys("1.001193")
    d.find_element(By.ID, "app-name").send_keys(CITIZEN["name"])
    d.find_element(By.ID, "app-id").send_keys(CITIZEN["id_number"])
    click(d, "#btn-create")
    wait(d, lambda: visible(d, "#reuse") and d.find_elements(By.CSS_SELECTOR, "#reuse-list .reuse-item button"),
         "the applicant's archived papers offered for reuse")
    code2 = text(d, "#dossier-code")
    assert code2 != ctx["code"], code2
    shot(d, "console-reuse")
    click(d, "#reuse-list .reuse-item button")
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "#documents .doc[data-doc]"), "the reused document")
    doc_id = attr(d, "#documents .doc[data-doc]", "data-doc")
    doc = g.wait_document(code2, doc_id, timeout=120)
    assert doc["state"] == "done" and doc["reused_from"], doc


def stage_queue_moves(ctx):
    for what in ("recall", "no-show", "start", "transfer"):
        need(ctx, "POST", "/api/v1/tickets/{id}/" + what)
    d, g = open_console(ctx), ctx["g"]
    tickets = [g.post("/api/v1/tickets", {}).json() for _ in range(2)]
    get = lambda tid: [x for x in g.get("/api/v1/tickets").json()["tickets"] if x["id"] == tid][0]
    # a ticket may still be open at this counter (the rating stage finishes it)
    if d.find_element(By.ID, "btn-done").is_enabled():
        click(d, "#btn-done")
    body = d.find_element(By.TAG_NAME, "body")
    wait(d, lambda: d.find_element(By.ID, "btn-next").is_enabled(), "Call next ready")
    body.send_keys("n")
    wait(d, lambda: text(d, "#cur-ticket") == "%04d" % tickets[0]["number"], "the first of them called")
    body.send_keys("l")
    wait(d, lambda: get(tickets[0]["id"])["recalls"] == 1, "the ticket recalled")
    body.send_keys("v")
    wait(d, lambda: get(tickets[0]["id"])["state"] == "no_show", "the ticket a no-show")
    wait(d, lambda: d.find_element(By.ID, "btn-next").is_enabled(), "Call next ready again")
    body.send_keys("n")
    wait(d, lambda: text(d, "#cur-ticket") == "%04d" % tickets[1]["number"], "the second called")
    body.send_keys("b")
    wait(d, lambda: get(tickets[1]["id"])["state"] == "serving", "the second being served")
    opts = d.find_elements(By.CSS_SELECTOR, "#transfer-service option")
    assert len(opts) > 1, "no other service to transfer to"
    opts[1].click()
    shot(d, "console-transfer")
    body.send_keys("c")
    wait(d, lambda: get(tickets[1]["id"])["state"] == "transferred", "the ticket transferred")
    t = get(tickets[1]["id"])
    assert t["transferred_to"], t
    assert get(t["transferred_to"])["service"] == opts[1].get_attribute("value")


STAGES = [stage_kiosk_ticket, stage_console_signin, stage_console_call, stage_display_shows,
          stage_dossier_cccd, stage_sane_scan, stage_review_edit, stage_confirm_archive,
          stage_checklist, stage_receipt_lookup, stage_rating_once, stage_supplement_return, stage_reuse,
          stage_queue_moves]


def test_station_end_to_end(tmp):
    for f in os.listdir(SHOTS) if os.path.isdir(SHOTS) else []:
        if f.startswith("failed-"):
            os.remove(os.path.join(SHOTS, f))  # the pictures of an earlier run's failures
    g = gateway(tmp)
    ctx = {"g": g, "tmp": tmp, "base": "http://127.0.0.1:%d" % g.port, "routes": routes(g),
           "kiosk_token": g.token("kiosk", "Máy lấy số và màn hình (thử)")}
    ctx["kiosk"] = browser(tmp, DESKTOP, "kiosk")
    ctx["display"] = browser(tmp, DESKTOP, "display")
    ctx["clerk"] = browser(tmp, DESKTOP, "clerk")
    results = []
    try:
        for fn in STAGES:
            name = fn.__name__[len("stage_"):]
            t0 = time.time()
            try:
                fn(ctx)
                results.append((name, "ok", ""))
            except Missing as e:
                results.append((name, "MISSING", str(e)))
            except Blocked as e:
                results.append((name, "BLOCKED", str(e)))
            except Exception as e:
                results.append((name, "FAIL", "%s\n%s" % (e, traceback.format_exc(limit=3))))
                for k in ("clerk", "display", "kiosk"):
                    try:
                        shot(ctx[k], "failed-%s-%s" % (name, k))
                    except Exception:
                        pass
            print("  stage %-16s %-8s %.1fs  %s" % (name, results[-1][1], time.time() - t0,
                                                     results[-1][2].splitlines()[0] if results[-1][2] else ""),
                  flush=True)
        for k in ("clerk", "display", "kiosk"):
            errs = script_errors(ctx[k])
            assert not errs, "script errors in the %s browser: %s" % (k, errs)
    finally:
        for k in ("clerk", "display", "kiosk"):
            ctx[k].quit()
        forget_profiles()
    bad = [r for r in results if r[1] != "ok"]
    assert not bad, "stages not passed:\n" + "\n".join("  %s: %s %s" % r for r in bad)


def test_pages_served(tmp):
    g = Gateway(tmp).start()
    # the files as they are in the tree: UTF-8 in NFC, nothing from outside
    for f in sorted(os.listdir(WWW)):
        s = open(os.path.join(WWW, f), encoding="utf-8").read()
        assert unicodedata.normalize("NFC", s) == s, "%s is not NFC" % f
        for bad in ("http://", "https://", "//cdn", "@import"):
            assert bad not in s, "%s names %s: the pages take nothing from outside the gateway" % (f, bad)
    rt = routes(g)
    for p in PAGES + ["/station/station.js", "/station/station.css", "/dashboard"]:
        assert ("GET", p) in rt, "route GET %s not on this build" % p
        r = g.get(p, token=None)
        assert r.status == 200, (p, r)
        h = r.headers
        want = "text/html" if "." not in p.rsplit("/", 1)[-1] else \
            {"js": "text/javascript", "css": "text/css"}[p.rsplit(".", 1)[-1]]
        assert h["Content-Type"].startswith(want) and "charset=utf-8" in h["Content-Type"], (p, h)
        assert h["X-Content-Type-Options"] == "nosniff" and h["Referrer-Policy"] == "no-referrer", h
        csp = h["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "http" not in csp and "*" not in csp, csp
        assert h["Cache-Control"] == "no-cache" and h["ETag"].startswith('"'), h
        again = g.get(p, token=None, headers={"If-None-Match": h["ETag"]})
        assert again.status == 304 and not again.body, again
        if p in PAGES:
            assert "Bộ phận Một cửa".encode() in r.body or "Đánh giá".encode() in r.body, p
    # in the browser: every page loads without a script error, in Vietnamese,
    # and switches to English and back; photographed at both sizes
    token = g.token("supervisor")
    for size, tag in ((DESKTOP, "1366x768"), (TABLET, "tablet")):
        d = browser(tmp, size, "b-" + tag)
        try:
            for p in PAGES:
                name = p.rsplit("/", 1)[-1]
                url = "http://127.0.0.1:%d%s%s#token=%s" % (g.port, p, "?counter=1" if name == "rating" else "",
                                                          token)
                d.get(url)
                wait(d, lambda: d.execute_script("return document.readyState") == "complete", p)
                assert d.execute_script("return typeof Station") == "object", "station.js not loaded on " + p
                assert d.execute_script("return document.documentElement.lang") == "vi"
                langs = d.find_elements(By.CSS_SELECTOR, "button.lang")
                assert langs and langs[0].text == "English", p
                vi_title = d.find_element(By.CSS_SELECTOR, "header h1").text
                langs[0].click()
                assert d.execute_script("return document.documentElement.lang") == "en"
                en_title = d.find_element(By.CSS_SELECTOR, "header h1").text
                assert en_title != vi_title and not vietnamese(en_title), (vi_title, en_title)
                shot(d, "%s-%s-en" % (name, tag))
                d.find_element(By.CSS_SELECTOR, "button.lang").click()
                assert d.find_element(By.CSS_SELECTOR, "header h1").text == vi_title
                time.sleep(0.5)  # (for the picture only: the page's first answers drawn)
                shot(d, "%s-%s" % (name, tag))
                # nothing wider than the screen
                w = d.execute_script("return document.documentElement.scrollWidth")
                assert w <= size[0], "%s is %dpx wide at %s" % (p, w, tag)
            errs = script_errors(d)
            assert not errs, errs
        finally:
            d.quit()
            forget_profiles()
    print("     screenshots in %s" % SHOTS)


if __name__ == "__main__":
    run(globals())
