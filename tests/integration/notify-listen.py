#!/usr/bin/env python3
"""A stand-in for systemd's notify socket: bind an AF_UNIX datagram socket at argv[1], append every
message (one line per field, prefixed by a monotonic timestamp and the sender's PID) to argv[2]."""
import os
import socket
import struct
import sys
import time

path, out = sys.argv[1], sys.argv[2]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(path)
with open(out, "a", buffering=1) as f:
    while True:
        msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = 0
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", data[:12])[0]
        for line in msg.decode(errors="replace").splitlines():
            f.write(f"{time.monotonic():.3f} {pid} {line}\n")
