#!/usr/bin/python3
"""An HTTPS proxy in front of pebble for the ACME fault and ARI tests.

  acme-proxy.py --port P --upstream U --cert C --key K --cafile CA --log FILE [options]

Requests are forwarded to https://localhost:U with the client's Host header, so pebble builds its URLs
for the proxy and the JWS "url" checks hold. Options:
  --rule SUBSTR COUNT STATUS RETRY_AFTER [TYPE DETAIL]
        answer the first COUNT requests whose path contains SUBSTR with STATUS (Retry-After when not "-",
        a problem document when TYPE is given) instead of forwarding them
  --ari START END RETRY_AFTER
        add renewalInfo to the directory and answer GET /renewal-info/ID with that window (RFC 9773)
  --hang  accept connections and never answer (no TLS either)
  --order-status STATUS
        rewrite the status of every order fetched (POST /my-order/…) to STATUS ("pending" forever)
  --authz-identifier VALUE
        rewrite the identifier value of every authorization (POST /authZ/…) to VALUE
  --foreign-authz PORT
        rewrite the authorization URLs of new orders to https://localhost:PORT/… (another origin)
  --delay SUBSTR SECONDS
        hold requests whose path contains SUBSTR that long before forwarding them
  --profiles NAME=DESCRIPTION,...
        add meta.profiles to the directory (draft-ietf-acme-profiles; pebble 2.4 has none); a newOrder naming
        a profile that is not among them is refused with invalidProfile
  --caa-identities DOMAIN,...
        add meta.caaIdentities to the directory (RFC 8555 §9.7.6; pebble names none)
  --unauthorized-profile NAME
        refuse a newOrder naming profile NAME with urn:ietf:params:acme:error:unauthorized (HTTP 403)
  --persist ISSUER DNS_PORT
        offer a dns-persist-01 challenge (draft-ietf-acme-dns-persist) in every authorization, with the URL
        of pebble's own dns-01 challenge (run pebble with PEBBLE_VA_ALWAYS_VALID=1). A POST to that URL is
        the client's answer: the proxy itself queries _validation-persist.NAME TXT at 127.0.0.1:DNS_PORT
        (Knot) and forwards the answer to pebble only when a record names ISSUER and the account (the JWS
        kid); otherwise the challenge is answered with an "invalid" status and an unauthorized error.
  --strip-client-auth FLAGFILE CA_CERT CA_KEY
        while FLAGFILE exists, every certificate downloaded (POST /certZ/…) is replaced by one issued here by
        CA_CERT for the CSR of the last finalize, with extendedKeyUsage serverAuth only: what a CA that
        dropped clientAuth (Let's Encrypt since 2026-02-11) sends. pebble 2.4 always puts serverAuth and
        clientAuth in its certificates and has no setting for it; a server cannot take an EKU out of a
        signed certificate, so the proxy has to be the issuer of that one.
Each request is logged as "METHOD PATH -> STATUS" (and "replaces=ID" for a newOrder that has one,
"profile=NAME" or "profile=-" for every newOrder with --profiles, "persist NAME ok|missing|..." for each
dns-persist-01 check).
"""
import argparse
import base64
import subprocess
import http.client
import http.server
import json
import socket
import ssl
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--upstream", type=int)
ap.add_argument("--cert")
ap.add_argument("--key")
ap.add_argument("--cafile")
ap.add_argument("--log", required=True)
ap.add_argument("--rule", nargs="+", action="append", default=[])
ap.add_argument("--ari", nargs=3)
ap.add_argument("--hang", action="store_true")
ap.add_argument("--order-status")
ap.add_argument("--authz-identifier")
ap.add_argument("--foreign-authz", type=int)
ap.add_argument("--delay", nargs=2, action="append", default=[])
ap.add_argument("--profiles")
ap.add_argument("--unauthorized-profile")
ap.add_argument("--caa-identities")
ap.add_argument("--persist", nargs=2)
ap.add_argument("--strip-client-auth", nargs=3)
args = ap.parse_args()

lock = threading.Lock()
rules = [{"substr": r[0], "count": int(r[1]), "status": int(r[2]), "retry_after": r[3],
          "type": r[4] if len(r) > 4 else None, "detail": r[5] if len(r) > 5 else ""} for r in args.rule]


def log(line):
    with lock, open(args.log, "a") as f:
        f.write(line + "\n")


if args.hang:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(64)
    held = []
    while True:
        c, _ = srv.accept()
        held.append(c)  # never read, never answered, never closed
        log("accepted and ignored")

upstream_ctx = ssl.create_default_context(cafile=args.cafile)


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


profiles = dict(p.split("=", 1) for p in args.profiles.split(",")) if args.profiles else None
persist_authz = {}  # challenge URL -> identifier value
last_csr = [None]  # DER of the CSR of the last finalize


def serverauth_only(csr_der):
    """A certificate for the CSR, issued by the proxy's CA, with serverAuth only; PEM leaf + CA."""
    import os
    import tempfile
    flag, ca_cert, ca_key = args.strip_client_auth
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "csr.der"), "wb").write(csr_der)
        open(os.path.join(d, "ext"), "w").write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                                                 "extendedKeyUsage=serverAuth\n")
        subprocess.run(["openssl", "x509", "-req", "-inform", "DER", "-in", os.path.join(d, "csr.der"),
                        "-CA", ca_cert, "-CAkey", ca_key, "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
                        "-days", "6", "-copy_extensions", "copy", "-extfile", os.path.join(d, "ext"),
                        "-out", os.path.join(d, "leaf.pem")], check=True, capture_output=True)
        return open(os.path.join(d, "leaf.pem"), "rb").read() + open(ca_cert, "rb").read()


def problem(handler, status, kind, detail):
    doc = json.dumps({"type": f"urn:ietf:params:acme:error:{kind}", "detail": detail, "status": status}).encode()
    return handler.reply(status, doc, [("Content-Type", "application/problem+json")])


def persist_check(name, account):
    """The dns-persist-01 validation, done here against Knot: a TXT record at _validation-persist.NAME whose
    issue-value names ISSUER and accounturi=ACCOUNT."""
    issuer, port = args.persist
    out = subprocess.run(["dig", "+short", "+time=2", "+tries=2", "-p", port, "@127.0.0.1", "TXT",
                          f"_validation-persist.{name}"], capture_output=True, text=True).stdout
    found = "missing"
    for line in out.splitlines():
        value = "".join(part for part in line.strip().split('"') if part.strip())
        fields = [f.strip() for f in value.split(";")]
        if fields[0].rstrip(".").lower() != issuer.lower():
            continue
        params = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        if params.get("accounturi") == account:
            return "ok"
        found = "other-account"
    return found


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        log(f"{self.command} {self.path} -> {status}")

    def handle_one(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with lock:
            rule = next((r for r in rules if r["substr"] in self.path and r["count"] > 0), None)
            if rule:
                rule["count"] -= 1
        if rule:
            headers = [("Retry-After", rule["retry_after"])] if rule["retry_after"] != "-" else []
            doc = b""
            if rule["type"]:
                doc = json.dumps({"type": rule["type"], "detail": rule["detail"], "status": rule["status"]}).encode()
                headers.append(("Content-Type", "application/problem+json"))
            return self.reply(rule["status"], doc, headers)

        for substr, seconds in args.delay:
            if substr in self.path:
                log(f"holding {self.command} {self.path} for {seconds} s")
                time.sleep(float(seconds))
        host = self.headers.get("Host")
        if args.ari and self.path.startswith("/renewal-info/"):
            start, end, retry = args.ari
            log(f"renewalInfo {self.path[len('/renewal-info/'):]}")
            doc = json.dumps({"suggestedWindow": {"start": start, "end": end}}).encode()
            return self.reply(200, doc, [("Content-Type", "application/json"), ("Retry-After", retry)])
        if self.command == "POST" and "order-plz" in self.path:
            try:
                payload = json.loads(b64d(json.loads(body)["payload"]))
                if "replaces" in payload:
                    log(f"replaces={payload['replaces']}")
            except Exception as e:  # noqa: BLE001
                log(f"cannot decode newOrder: {e}")
                payload = {}
            if profiles is not None:
                prof = payload.get("profile")
                log(f"profile={prof or '-'}")
                if prof and prof == args.unauthorized_profile:
                    return problem(self, 403, "unauthorized", f"account may not use profile {prof}")
                if prof and prof not in profiles:
                    return problem(self, 400, "invalidProfile", f"no profile {prof}")
        if args.strip_client_auth and self.command == "POST" and "/finalize-order/" in self.path:
            try:
                last_csr[0] = b64d(json.loads(b64d(json.loads(body)["payload"]))["csr"])
            except Exception as e:  # noqa: BLE001
                log(f"cannot decode finalize: {e}")
        if args.persist and self.command == "POST" and self.path in persist_authz:
            try:
                jws = json.loads(body)
                protected = json.loads(b64d(jws["protected"]))
                answer = jws["payload"] != ""  # POST-as-GET polls have an empty payload
            except Exception as e:  # noqa: BLE001
                return problem(self, 400, "malformed", f"not a JWS: {e}")
            if answer:
                verdict = persist_check(persist_authz[self.path], protected.get("kid", ""))
                log(f"persist {persist_authz[self.path]} {verdict}")
                if verdict != "ok":
                    return problem(self, 403, "unauthorized",
                                   f"dns-persist-01: _validation-persist.{persist_authz[self.path]}: {verdict}")

        conn = http.client.HTTPSConnection("localhost", args.upstream, context=upstream_ctx, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "content-length")}
        headers["Host"] = host
        conn.request(self.command, self.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        out = [(k, v) for k, v in resp.getheaders()
               if k.lower() not in ("content-length", "transfer-encoding", "connection")]
        if args.ari and self.path == "/dir" and resp.status == 200:
            d = json.loads(data)
            d["renewalInfo"] = f"https://{host}/renewal-info/"
            data = json.dumps(d).encode()
        if args.order_status and "/my-order/" in self.path and resp.status == 200:
            d = json.loads(data)
            d["status"] = args.order_status
            data = json.dumps(d).encode()
        if profiles is not None and self.path == "/dir" and resp.status == 200:
            d = json.loads(data)
            d.setdefault("meta", {})["profiles"] = profiles
            data = json.dumps(d).encode()
        if args.caa_identities and self.path == "/dir" and resp.status == 200:
            d = json.loads(data)
            d.setdefault("meta", {})["caaIdentities"] = args.caa_identities.split(",")
            data = json.dumps(d).encode()
        if args.persist and "/authZ/" in self.path and resp.status == 200:
            d = json.loads(data)
            for ch in list(d.get("challenges", [])):
                if ch.get("type") == "dns-01":
                    with lock:
                        persist_authz[ch["url"].split(host, 1)[-1]] = d["identifier"]["value"]
                    d["challenges"].append({"type": "dns-persist-01", "url": ch["url"], "status": ch["status"],
                                            "issuer-domain-names": [args.persist[0]]})
            data = json.dumps(d).encode()
        if (args.strip_client_auth and "/certZ/" in self.path and resp.status == 200 and last_csr[0]
                and __import__("os").path.exists(args.strip_client_auth[0])):
            data = serverauth_only(last_csr[0])
            out = [(k, v) for k, v in out if k.lower() != "link"]  # no alternates of pebble's
            log("certificate re-issued without clientAuth")
        if args.authz_identifier and "/authZ/" in self.path and resp.status == 200:
            d = json.loads(data)
            d["identifier"]["value"] = args.authz_identifier
            data = json.dumps(d).encode()
        if args.foreign_authz and "/order-plz" in self.path and resp.status == 201:
            d = json.loads(data)
            d["authorizations"] = [u.replace(host, f"localhost:{args.foreign_authz}") for u in d["authorizations"]]
            data = json.dumps(d).encode()
        conn.close()
        self.reply(resp.status, data, out)

    do_GET = do_POST = do_HEAD = handle_one


srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(args.cert, args.key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
log("listening")
srv.serve_forever()
