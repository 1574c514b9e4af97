# SPDX-License-Identifier: MIT
"""The waiting room's voice: GET /api/v1/tickets/{id}/announce.wav, spoken by
libespeak-ng's Vietnamese voice in the real gateway. The WAV is read back with
Python's wave module: valid PCM, not silent, of a plausible length; the
second fetch is the same bytes from the cache (X-Cache: hit, and one
"synthesized" line in the log); the numbers are read as words."""
import array
import io
import math
import os
import subprocess
import urllib.parse
import wave

from gwtest import GATEWAY, Gateway, run


def call_ticket(g, counter="1", service=None):
    t = g.post("/api/v1/tickets", {"service": service} if service else {})
    assert t.status == 201, t
    r = g.post("/api/v1/tickets/next", {"counter": counter})
    assert r.status == 200, r
    return r.json()


def wav_info(body):
    with wave.open(io.BytesIO(body)) as w:
        ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        frames = w.readframes(n)
    samples = array.array("h", frames)
    rms = math.sqrt(sum(s * s for s in samples) / max(len(samples), 1))
    return ch, width, rate, n / rate, rms


def said(r):
    return urllib.parse.unquote(r.headers["X-Announce-Text"])


def test_announcement_is_a_spoken_wav_then_served_from_the_cache(tmp):
    g = Gateway(tmp).start()
    t = call_ticket(g, counter="1")
    kiosk = g.token("kiosk")
    r = g.get("/api/v1/tickets/%d/announce.wav" % t["id"], token=kiosk)
    assert r.status == 200, r
    assert r.headers["Content-Type"] == "audio/wav", r.headers
    assert r.headers["X-Cache"] == "miss" and float(r.headers["X-Synthesis-Ms"]) >= 0, r.headers
    assert r.body[:4] == b"RIFF" and r.body[8:16] == b"WAVEfmt ", r.body[:16]
    ch, width, rate, seconds, rms = wav_info(r.body)
    assert (ch, width, rate) == (1, 2, 22050), (ch, width, rate)
    # "Mời công dân có số thứ tự một đến quầy số một": some seconds of speech
    assert 1.5 < seconds < 15, seconds
    assert rms > 300, rms
    assert said(r) == "Mời công dân có số thứ tự một đến quầy số một", said(r)
    # The second fetch (another display, a replay) is not synthesized again.
    r2 = g.get("/api/v1/tickets/%d/announce.wav" % t["id"])
    assert r2.status == 200 and r2.headers["X-Cache"] == "hit", r2.headers
    assert "X-Synthesis-Ms" not in r2.headers, r2.headers
    assert r2.body == r.body
    assert g.log().count("synthesized \"") == 1, g.log()
    # a ticket with the same number and counter on another day would say the
    # same: the cache is by the text, so a ticket of another number is new
    t2 = call_ticket(g, counter="1")
    r3 = g.get("/api/v1/tickets/%d/announce.wav" % t2["id"], token=kiosk)
    assert r3.status == 200 and r3.headers["X-Cache"] == "miss", r3.headers
    assert said(r3) == "Mời công dân có số thứ tự hai đến quầy số một", said(r3)
    assert r3.body != r.body
    assert g.log().count("synthesized \"") == 2


def test_numbers_are_read_as_words(tmp):
    g = Gateway(tmp).start()
    for _ in range(105):
        assert g.post("/api/v1/tickets", {}).status == 201
    words = {}
    for n in range(1, 106):
        counter = {21: "Quầy 3", 105: "2"}.get(n, "15")
        r = g.post("/api/v1/tickets/next", {"counter": counter})
        assert r.status == 200, r
        t = r.json()
        assert t["number"] == n, t
        if n in (15, 21, 105):
            a = g.get("/api/v1/tickets/%d/announce.wav" % t["id"])
            assert a.status == 200, a
            words[n] = said(a)
    assert words[15] == "Mời công dân có số thứ tự mười lăm đến quầy số mười lăm", words
    assert words[21] == "Mời công dân có số thứ tự hai mươi mốt đến quầy số Quầy ba", words
    assert words[105] == "Mời công dân có số thứ tự một trăm lẻ năm đến quầy số hai", words


def test_concurrent_fetches_synthesize_once(tmp):
    # Several displays ask at the same moment: whether a request joins the
    # synthesis in flight or finds it cached, espeak-ng runs once.
    import threading
    g = Gateway(tmp).start()
    t = call_ticket(g, counter="7")
    kiosk = g.token("kiosk")
    bodies = []

    def fetch():
        r = g.get("/api/v1/tickets/%d/announce.wav" % t["id"], token=kiosk)
        bodies.append((r.status, r.body))
    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert [b[0] for b in bodies] == [200] * 8, [b[0] for b in bodies]
    assert len({b[1] for b in bodies}) == 1
    assert g.log().count("synthesized \"") == 1, g.log()


def test_no_voice_data_is_a_clear_503(tmp):
    # espeak-ng looks in $ESPEAK_DATA_PATH/espeak-ng-data first: an empty one
    empty = os.path.join(tmp, "espeak", "espeak-ng-data")
    os.makedirs(empty)
    g = Gateway(tmp, env={"ESPEAK_DATA_PATH": os.path.dirname(empty)}).start()
    t = call_ticket(g)
    r = g.get("/api/v1/tickets/%d/announce.wav" % t["id"])
    assert r.status == 503 and r.json()["error"] == "no_voice", r
    assert "espeak-ng" in r.json()["detail"], r
    assert "announcements answer 503" in g.log(), g.log()
    # the rest of the gateway works on
    assert g.post("/api/v1/tickets", {}).status == 201


def test_ticket_states_and_roles(tmp):
    g = Gateway(tmp).start()
    assert g.get("/api/v1/tickets/999/announce.wav").status == 404
    assert g.get("/api/v1/tickets/abc/announce.wav").status == 404
    assert g.get("/api/v1/tickets/0/announce.wav").status == 404
    t = g.post("/api/v1/tickets", {}).json()
    r = g.get("/api/v1/tickets/%d/announce.wav" % t["id"], token=g.token("kiosk"))
    assert r.status == 409 and r.json()["error"] == "not_called", r
    assert g.get("/api/v1/tickets/%d/announce.wav" % t["id"], token=None).status == 401
    g.post("/api/v1/tickets/next", {"counter": "2"})
    for role in ("clerk", "supervisor", "admin", "agency"):
        r = g.get("/api/v1/tickets/%d/announce.wav" % t["id"], token=role)
        assert r.status == 200 and r.headers["Content-Type"] == "audio/wav", (role, r)
    assert g.log().count("synthesized \"") == 1


def test_wording_from_config_and_refused_wordings(tmp):
    g = Gateway(tmp, gateway_extra="", plugins="[station]\nannounce = Xin mời số {number}, quầy {counter}\n").start()
    t = call_ticket(g, counter="4")
    r = g.get("/api/v1/tickets/%d/announce.wav" % t["id"])
    assert r.status == 200, r
    assert said(r) == "Xin mời số một, quầy bốn", said(r)
    g.stop()
    for bad, why in (("Mời số {numbr} đến quầy {counter}", "placeholders"),
                     ("Mời đến quầy {counter}", "{number}"),
                     ("Mời số {number} {", "placeholders"),
                     ("Mời số {number}\x01", "placeholders"),
                     ("{number} " + "x" * 172, "180 bytes")):
        p = subprocess.run([GATEWAY, "--config", g.conf, "-o", "station.announce=" + bad, "--check"],
                           capture_output=True, timeout=60)
        assert p.returncode != 0, (bad, p)
        err = p.stderr.decode()
        assert "[station] announce" in err and why in err, err


run(globals())
