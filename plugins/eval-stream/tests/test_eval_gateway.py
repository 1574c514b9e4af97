# SPDX-License-Identifier: MIT
"""eval-stream in the running gateway: dossiers received through the API are
counted by GET /api/v1/indicators (by office; bad parameters -> 400), every
event reaches a real mosquitto broker on 127.0.0.1 (mosquitto_sub sees
<prefix>/events/<type> and the periodic <prefix>/indicators snapshot), and a
restart of the gateway resumes without counting anything twice."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("MOTCUA_SOURCE_ROOT", "."), "tests", "integration"))
from gwtest import Gateway, run, free_port  # noqa: E402
import gwtest  # noqa: E402

# These tests expect documents to go on to signing and archiving by
# themselves: without the clerk's review (test_review.py has it).
gwtest.REVIEW = False

MOSQUITTO = os.environ.get("EVAL_MOSQUITTO") or "/usr/sbin/mosquitto"
MOSQUITTO_SUB = os.environ.get("EVAL_MOSQUITTO_SUB") or "mosquitto_sub"
PREFIX = "motcua/000.00.12.H50"


def start_broker(tmp):
    import pwd
    port = free_port()
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("user %s\nlistener %d 127.0.0.1\nallow_anonymous true\n"
                % (pwd.getpwuid(os.getuid()).pw_name, port))
    log = open(os.path.join(tmp, "mosquitto.log"), "wb")
    p = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=log, stderr=log)
    import socket
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return p, port


def wait_for(fn, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    return fn()


def test_indicators_and_mqtt(tmp):
    broker, port = start_broker(tmp)
    out_path = os.path.join(tmp, "sub.txt")
    out = open(out_path, "wb")
    sub = subprocess.Popen([MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-v",
                            "-t", "motcua/#"], stdout=out, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.3)
        g = Gateway(tmp, plugins="[eval-stream]\nenabled = true\nmqtt_host = 127.0.0.1\n"
                    "mqtt_port = %d\nsnapshot_interval_s = 1\n" % port).start()
        a = g.create_dossier(channel=1)
        b = g.create_dossier(channel=2, id_number="001203004568")

        def office():
            r = g.get("/api/v1/indicators?by=office", token="supervisor")
            assert r.status == 200, r
            return r.json()
        j = wait_for(lambda: office()["groups"][0]["dossiers"] == 2 and office())
        assert j, office()
        grp = j["groups"][0]
        assert grp["key"] == "office" and grp["online_rate"] == 50, grp
        assert j["targets"]["waiting_avg_min"] == 30 and j["targets"]["satisfaction"] == 70, j
        # the plugin route answers the same
        r = g.get("/api/v1/plugins/eval-stream/indicators?by=office", token="admin")
        assert r.status == 200 and r.json()["groups"][0]["dossiers"] == 2, r
        # bad parameters
        for q in ("by=team", "from=2026-02-30", "from=2026-12-01&to=2026-11-01", "x=1"):
            r = g.get("/api/v1/indicators?" + q, token="clerk")
            assert r.status == 400 and "error" in r.body.decode(), (q, r)

        # the stream: both dossier.created events and a snapshot reach the broker
        def lines():
            with open(out_path, "rb") as f:
                return f.read().decode("utf-8", "replace").splitlines()

        def seen():
            ls = lines()
            created = [l for l in ls if l.startswith(PREFIX + "/events/dossier.created ")]
            snaps = [l for l in ls if l.startswith(PREFIX + "/indicators ")]
            return len(created) >= 2 and snaps and (created, snaps)
        got = wait_for(seen, 20)
        assert got, "broker did not get the stream:\n" + "\n".join(lines()) + g.log()[-3000:]
        created, snaps = got
        codes = []
        for l in created:
            ev = json.loads(l.split(" ", 1)[1])
            assert ev["type"] == "dossier.created" and ev["at"].endswith("+07:00"), ev
            assert ev["office"] == "000.00.12.H50" and isinstance(ev["event_id"], int), ev
            codes.append(ev["code"])
        assert codes == [a["code"], b["code"]], codes
        snap = json.loads(snaps[-1].split(" ", 1)[1])
        assert snap["type"] == "indicators.snapshot" and snap["at"].endswith("+07:00"), snap
        assert snap["groups"][0]["dossiers"] == 2, snap
        st = g.get("/api/v1/plugins/eval-stream/status", token="admin").json()
        assert st["mqtt"]["connected"] is True, st

        # restart: nothing counted twice
        assert g.stop() == 0
        g.start()
        time.sleep(0.5)
        assert office()["groups"][0]["dossiers"] == 2, office()
        assert g.stop() == 0
    finally:
        sub.terminate()
        sub.wait()
        broker.terminate()
        broker.wait()


if __name__ == "__main__":
    run(globals())
