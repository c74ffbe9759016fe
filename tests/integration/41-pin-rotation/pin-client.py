#!/usr/bin/env python3
"""A pinning client, as an operator would write one: every INTERVAL seconds, re-read the published
PIN_JSON (docs/pins.md), then connect once with
`curl --cacert CA --pinnedpubkey "sha256//PIN;sha256//NEXT" URL`.

pin-client.py PIN_JSON CA URL STATUS LOG [INTERVAL]

STATUS is rewritten (atomically) after every attempt: "SUCCESSES FAILURES ATTEMPTS PIN", PIN being the
pin_sha256 the last attempt trusted. Every failure (curl's exit code and message, the pins it trusted) is
a line in LOG. A connection failure that is not a pin failure counts as a failure too: nginx's reload is
graceful, a client should never see one. A failure logs the serial curl was served. SIGTERM ends the loop after writing STATUS."""
import json
import os
import signal
import subprocess
import sys
import time

pin_json, ca, url, status, log = sys.argv[1:6]
interval = float(sys.argv[6]) if len(sys.argv) > 6 else 0.05
ok = failed = attempts = 0
pin = "-"
running = True


def stop(*_):
    global running
    running = False


def write_status():
    tmp = status + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{ok} {failed} {attempts} {pin}\n")
    os.replace(tmp, status)


signal.signal(signal.SIGTERM, stop)
with open(log, "a", buffering=1) as lf:
    while running:
        attempts += 1
        try:
            with open(pin_json) as f:
                doc = json.load(f)
            pin = doc["pin_sha256"]
            pins = "sha256//" + pin
            if doc.get("next_pin_sha256"):
                pins += ";sha256//" + doc["next_pin_sha256"]
        except (OSError, ValueError, KeyError) as e:
            failed += 1
            lf.write(f"{time.time():.3f} cannot read {pin_json}: {e!r}\n")
            write_status()
            time.sleep(interval)
            continue
        # -w %{certs}: the chain curl was served, even when the pin check rejects it
        p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "5", "--cacert", ca,
                            "--pinnedpubkey", pins, "-w", "%{certs}", url], capture_output=True, text=True)
        if p.returncode == 0:
            ok += 1
        else:
            failed += 1
            served = [l.split(":", 1)[1] for l in p.stdout.splitlines() if l.startswith("Serial Number:")]
            lf.write(f"{time.time():.3f} curl exit {p.returncode} trusting {pins}, served serial "
                     f"{served[0] if served else '?'}: {p.stderr.strip()}\n")
        write_status()
        time.sleep(interval)
write_status()
