#!/usr/bin/env python3
"""Abuse mpquicd's control socket the ways a broken or hostile local client could.

    ctlabuse.py SOCKET

Prints one "key value" line per finding (the netns test checks them); every socket operation
is bounded by a timeout, so the script always ends. Exit 0 unless the script itself failed.
"""
import json
import socket
import sys
import threading
import time

PATH = sys.argv[1]
STATUS = b'{"command":"status"}\n'
TIMEOUT = 10


def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(PATH)
    return s


def readline(s):
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(1 << 16)
        if not d:
            break
        buf += d
    return buf


def lines(s):
    """Everything the daemon sends until it hangs up, as parsed JSON objects."""
    buf = b""
    try:
        while True:
            d = s.recv(1 << 16)
            if not d:
                break
            buf += d
    except (ConnectionResetError, socket.timeout):
        pass
    return [json.loads(x) for x in buf.split(b"\n") if x]


def report(key, value):
    print(key, value, flush=True)


t0 = time.monotonic()

# 1000 connections in a row: every other one asks for the status, the rest hang up at once.
good = 0
for i in range(1000):
    s = conn()
    if i % 2:
        s.sendall(STATUS)
        good += json.loads(readline(s)).get("ok") is True
    s.close()
report("sequential_ok", good)

# 40 at once: the daemon serves 32 and turns the rest away with a JSON error.
socks = [conn() for _ in range(40)]
time.sleep(0.5)
busy, held = 0, []
for s in socks:
    s.setblocking(False)
    try:
        d = s.recv(4096)
    except BlockingIOError:
        held.append(s)
        continue
    if json.loads(d) == {"ok": False, "error": "too many clients"}:
        busy += 1
report("concurrent_busy", busy)
report("concurrent_held", len(held))
held[0].settimeout(TIMEOUT)
held[0].sendall(STATUS)
report("held_answers", json.loads(readline(held[0])).get("ok") is True)
for s in socks:
    s.close()
time.sleep(0.2)

# Garbage: every bad line gets a JSON error, an empty line nothing, and the connection lives on.
s = conn()
s.sendall(b"\x00\xff\xfe garbage\n[1,2]\n{\"command\":5}\n{\"command\":\"nope\"}\n"
          b"{\"command\":\"status\",\"command\":\"status\"}\n\n" + STATUS)
buf = b""
while buf.count(b"\n") < 6:
    d = s.recv(1 << 16)
    if not d:
        break
    buf += d
answers = [json.loads(x) for x in buf.split(b"\n") if x]
report("garbage_errors", sum(a.get("ok") is False and bool(a.get("error")) for a in answers[:5]))
report("garbage_then_ok", answers[5].get("ok") is True)
report("garbage_unknown_named", "'nope'" in answers[3].get("error", ""))
s.close()

# Binary noise without a newline: one error, then the daemon hangs up.
s = conn()
try:
    s.sendall(bytes(range(256)).replace(b"\n", b"") * 400)
except (BrokenPipeError, ConnectionResetError):
    pass
got = lines(s)
report("noise_answer", got[0].get("error", "") if got else "none")
s.close()

# A 10 MB request line.
s = conn()
sent = 0
try:
    chunk = b"a" * (1 << 16)
    while sent < 10 << 20:
        s.sendall(chunk)
        sent += len(chunk)
except (BrokenPipeError, ConnectionResetError, socket.timeout):
    pass
got = lines(s)
report("huge_answer", got[0].get("error", "") if got else "none")
report("huge_cut_off", sent < 10 << 20)
s.close()

# A client that pipelines 3000 requests (~9 MB of answers) and reads nothing for 2 s: the
# daemon stops reading from it once 64 KiB of answers wait, so the sender blocks; then the
# client reads and every answer arrives, in order, none lost.
N = 3000
s = conn()
progress = {"sent": 0}


def sender():
    try:
        for _ in range(N):
            s.sendall(STATUS)
            progress["sent"] += 1
    except OSError:
        pass


th = threading.Thread(target=sender)
th.start()
time.sleep(2)
report("nonreader_blocked", progress["sent"] < N)
report("nonreader_sent_before_reading", progress["sent"])
buf, answers, t = b"", 0, time.monotonic()
while answers < N and time.monotonic() - t < 60:
    d = s.recv(1 << 20)
    if not d:
        break
    buf += d
    *done, buf = buf.split(b"\n")
    answers += sum(json.loads(x).get("ok") is True for x in done)
th.join(TIMEOUT)
report("nonreader_answers", answers)
report("nonreader_seconds", round(time.monotonic() - t, 2))
s.close()

# Half-closed after the request (nc -N, socat): the answer still comes.
s = conn()
s.sendall(STATUS)
s.shutdown(socket.SHUT_WR)
got = lines(s)
report("halfclose_ok", len(got) == 1 and got[0].get("ok") is True)
s.close()

report("seconds", round(time.monotonic() - t0, 2))
