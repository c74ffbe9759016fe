#!/usr/bin/env python3
"""A TLS server for tests/unit/test-notify.c: notify-fake-server.py PORT MODE CERT KEY SNI_CERT SNI_KEY

Listens on 127.0.0.1:PORT. MODE "postgres": expects PostgreSQL's 8-byte SSLRequest first and answers 'S',
then TLS; "refuse": answers the SSLRequest with 'N' and closes (a server with ssl = off); "plain": TLS at
once. Serves CERT, or SNI_CERT to a client that sends the server name "localhost"."""
import socket
import ssl
import struct
import sys

port, mode = int(sys.argv[1]), sys.argv[2]
default = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
default.load_cert_chain(sys.argv[3], sys.argv[4])
by_name = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
by_name.load_cert_chain(sys.argv[5], sys.argv[6])


def pick(sslobj, name, ctx):
    if name == "localhost":
        sslobj.context = by_name


default.sni_callback = pick
SSL_REQUEST = struct.pack("!II", 8, 80877103)

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)
while True:
    conn, _ = srv.accept()
    conn.settimeout(5)
    try:
        if mode in ("postgres", "refuse"):
            got = b""
            while len(got) < 8:
                chunk = conn.recv(8 - len(got))
                if not chunk:
                    break
                got += chunk
            if got != SSL_REQUEST:
                continue
            conn.sendall(b"N" if mode == "refuse" else b"S")
            if mode == "refuse":
                continue
        tls = default.wrap_socket(conn, server_side=True)
        tls.close()
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()
