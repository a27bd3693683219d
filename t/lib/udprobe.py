#!/usr/bin/env python3
"""udprobe: a bidirectional constant-rate UDP probe for the failover tests.

  udprobe.py echo ADDR PORT [--tos N] [--max-s S]
      Echo every probe datagram back to its sender (same payload). Keeps per-session counters
      (unique sequence numbers seen, duplicates) and answers a session's STAT request with
      them, so the sender learns the upstream loss apart from the downstream one. Exits after
      --max-s seconds (default 600) or on SIGTERM.

  udprobe.py send ADDR PORT [--rate PPS] [--secs S] [--tos N] [--size B] [--raw FILE]
                 [--grace S] [--ready FILE]
      Send --rate datagrams/s (default 100) for --secs seconds (default 10) with DSCP/TOS
      --tos (default 0xb8 = EF), each carrying a session id, a sequence number and its send
      time, and collect the echoes; wait --grace s (default 1) for late ones. Prints one JSON
      object:
        t0, t_end            wall clock (epoch s) of the first send and of the last one
        sent, received       probes sent, distinct probes echoed back
        lost, loss_pct       round trips lost (either direction)
        dup_replies          echoes received more than once (duplication must stay invisible)
        up_received, up_lost, down_lost   from the echo's own counters (null if unanswered)
        longest_gap_ms       longest time without an echo: between consecutive echoes, from
                             the first send to the first echo, and from the last echo to the
                             last send (a flow that never recovers shows its whole dark time)
        gap_start            wall clock when that gap began
        rtt_p50_ms, rtt_p99_ms, rtt_max_ms
      --ready FILE is created when the first echo arrives.
      --raw FILE writes one line per probe: "seq send_epoch rtt_ms" (rtt "-" when lost).

  udprobe.py stats RAW [--from EPOCH] [--to EPOCH]
      Loss of the probes sent in [from, to) of a --raw file: {"sent", "lost", "loss_pct"}.

  udprobe.py agg KEY FILE...
      p50 and max of KEY over the JSON objects in FILEs (one per trial): {"n","p50","max",
      "values"}.

Bounded in time: the sender never runs longer than secs + grace + 1.5 s.
"""
import json
import os
import select
import signal
import socket
import struct
import sys
import time

MAGIC = b"UDPR"
HDR = struct.Struct("!4sBQIdd")  # magic, kind, session, seq, send wall time, send mono time
K_PROBE, K_STAT, K_STATREPLY = 1, 2, 3


def opt(args, name, default, conv=str):
    if name in args:
        i = args.index(name)
        v = args[i + 1]
        del args[i:i + 2]
        return conv(v)
    return default


def sock_for(addr, tos):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, tos)
    return s


def echo(args):
    tos = opt(args, "--tos", 0xB8, lambda v: int(v, 0))
    max_s = opt(args, "--max-s", 600.0, float)
    addr, port = args[0], int(args[1])
    s = sock_for(addr, tos)
    s.bind((addr, port))
    sessions = {}  # session -> [set of seqs, dups]
    deadline = time.monotonic() + max_s
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 0.5)
        if not r:
            continue
        try:
            data, peer = s.recvfrom(4096)
        except OSError:
            continue
        if len(data) < HDR.size or data[:4] != MAGIC:
            continue
        _, kind, sess, seq, _, _ = HDR.unpack_from(data)
        st = sessions.setdefault(sess, [set(), 0])
        if kind == K_PROBE:
            if seq in st[0]:
                st[1] += 1
            else:
                st[0].add(seq)
            s.sendto(data, peer)
        elif kind == K_STAT:
            body = json.dumps({"received": len(st[0]), "dups": st[1]}).encode()
            s.sendto(HDR.pack(MAGIC, K_STATREPLY, sess, seq, 0.0, 0.0) + body, peer)
        if len(sessions) > 64:  # bounded: forget the oldest sessions
            for k in list(sessions)[:-32]:
                del sessions[k]


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, int(round(p / 100.0 * (len(sorted_vals) - 1))))
    return sorted_vals[k]


def send(args):
    rate = opt(args, "--rate", 100.0, float)
    secs = opt(args, "--secs", 10.0, float)
    tos = opt(args, "--tos", 0xB8, lambda v: int(v, 0))
    size = opt(args, "--size", 160, int)
    raw = opt(args, "--raw", None)
    grace = opt(args, "--grace", 1.0, float)
    ready = opt(args, "--ready", None)
    addr, port = args[0], int(args[1])
    s = sock_for(addr, tos)
    s.connect((addr, port))
    s.setblocking(False)
    sess = int.from_bytes(os.urandom(8), "big")
    pad = b"\0" * max(0, size - HDR.size)
    n_total = int(round(rate * secs))
    interval = 1.0 / rate
    sent_wall = []  # by seq
    sent_mono = []
    rtt = {}  # seq -> rtt (s)
    arrivals = []  # monotonic arrival times of first echoes
    dups = 0
    stat = None

    def drain():
        nonlocal dups, stat
        while True:
            try:
                data = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP unreachable reported on the connected socket
                continue
            now = time.monotonic()
            if len(data) < HDR.size or data[:4] != MAGIC:
                continue
            _, kind, ss, seq, _, mono = HDR.unpack_from(data)
            if ss != sess:
                continue
            if kind == K_PROBE and seq < len(sent_mono):
                if seq in rtt:
                    dups += 1
                else:
                    rtt[seq] = now - sent_mono[seq]
                    arrivals.append(now)
                    if ready and len(arrivals) == 1:
                        open(ready, "w").close()
            elif kind == K_STATREPLY and stat is None:
                try:
                    stat = json.loads(data[HDR.size:].decode())
                except ValueError:
                    pass

    start = time.monotonic()
    hard_end = start + secs + grace + 1.5
    seq = 0
    while seq < n_total:
        due = start + seq * interval
        now = time.monotonic()
        if now < due:
            select.select([s], [], [], due - now)
            drain()
            continue
        sent_wall.append(time.time())
        sent_mono.append(time.monotonic())
        try:
            s.send(HDR.pack(MAGIC, K_PROBE, sess, seq, sent_wall[-1], sent_mono[-1]) + pad)
        except OSError:
            pass  # a local error is a lost probe like any other
        seq += 1
        drain()
    last_send = sent_mono[-1] if sent_mono else start
    end_wait = min(time.monotonic() + grace, hard_end - 0.6)
    while time.monotonic() < end_wait and len(rtt) < len(sent_mono):
        select.select([s], [], [], max(0.0, end_wait - time.monotonic()))
        drain()
    # the echo's counters: a few tries, bounded
    for i in range(5):
        if stat is not None or time.monotonic() > hard_end:
            break
        try:
            s.send(HDR.pack(MAGIC, K_STAT, sess, i, 0.0, 0.0))
        except OSError:
            pass
        t = time.monotonic() + 0.1
        while time.monotonic() < t and stat is None:
            select.select([s], [], [], max(0.0, t - time.monotonic()))
            drain()

    n = len(sent_mono)
    got = len(rtt)
    arr = sorted(arrivals)
    points = [start] + arr + [last_send]
    gap, gap_at = 0.0, start
    for a, b in zip(points, points[1:]):
        if b - a > gap:
            gap, gap_at = b - a, a
    wall_off = (sent_wall[0] - sent_mono[0]) if n else time.time() - time.monotonic()
    rtts = sorted(v * 1000.0 for v in rtt.values())
    res = {
        "t0": round(sent_wall[0], 3) if n else None,
        "t_end": round(sent_wall[-1], 3) if n else None,
        "sent": n,
        "received": got,
        "lost": n - got,
        "loss_pct": round(100.0 * (n - got) / n, 3) if n else None,
        "dup_replies": dups,
        "up_received": stat["received"] if stat else None,
        "up_lost": n - stat["received"] if stat else None,
        "down_lost": stat["received"] - got if stat else None,
        "echo_dups": stat["dups"] if stat else None,
        "longest_gap_ms": round(gap * 1000.0, 1),
        "gap_start": round(gap_at + wall_off, 3),
        "rtt_p50_ms": round(pct(rtts, 50), 2) if rtts else None,
        "rtt_p99_ms": round(pct(rtts, 99), 2) if rtts else None,
        "rtt_max_ms": round(rtts[-1], 2) if rtts else None,
    }
    if raw:
        with open(raw, "w") as f:
            for i in range(n):
                r = rtt.get(i)
                rs = "-" if r is None else "%.2f" % (r * 1000)
                f.write("%d %.4f %s\n" % (i, sent_wall[i], rs))
    print(json.dumps(res))


def stats(args):
    t_from = opt(args, "--from", 0.0, float)
    t_to = opt(args, "--to", float("inf"), float)
    n = lost = 0
    with open(args[0]) as f:
        for line in f:
            _, t, r = line.split()
            if t_from <= float(t) < t_to:
                n += 1
                lost += r == "-"
    print(json.dumps({"sent": n, "lost": lost,
                      "loss_pct": round(100.0 * lost / n, 3) if n else None}))


def agg(args):
    key = args[0]
    vals = []
    for p in args[1:]:
        with open(p) as f:
            v = json.load(f).get(key)
        if v is not None:
            vals.append(v)
    sv = sorted(vals)
    print(json.dumps({"n": len(vals), "p50": pct(sv, 50), "max": sv[-1] if sv else None,
                      "values": vals}))


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("echo", "send", "stats", "agg"):
        sys.stderr.write(__doc__)
        return 2
    args = sys.argv[2:]
    try:
        {"echo": echo, "send": send, "stats": stats, "agg": agg}[sys.argv[1]](args)
    except (IndexError, ValueError) as e:
        sys.stderr.write("udprobe: bad arguments (%s)\n" % e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
