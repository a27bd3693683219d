#!/usr/bin/env python3
# t/lib/rawpkt.py: craft inner IP packets and watch a TUN device, for the netns tests.
#
#   rawpkt.py send IFACE SRC DST COUNT TAG
#       write COUNT UDP packets (IPv4 or IPv6, from the address family of SRC) with any SRC
#       straight into IFACE through an AF_PACKET socket: on a TUN device they go to the
#       daemon that reads it, whatever the routing table or rp_filter say. Checksums are
#       complete. The payload is "MPQT:TAG:SEQ".
#   rawpkt.py sniff IFACE OUT SECONDS
#       count the packets IFACE receives (the ones its daemon writes into the kernel; never
#       the outgoing ones) by the TAG of their payload, rewriting OUT as a JSON object
#       {"TAG": n, ...} after each one; OUT is written ("{}") once the socket is bound, so
#       `wait_until 5 test -s OUT` says it is ready. Exits after SECONDS.
#   rawpkt.py count OUT TAG
#       print the count of TAG in OUT (0 if absent).
import json
import os
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
PACKET_OUTGOING = 4
MARK = b"MPQT:"


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_packet(src, dst, sport, dport, payload):
    if ":" in src:
        s = socket.inet_pton(socket.AF_INET6, src)
        d = socket.inet_pton(socket.AF_INET6, dst)
        ulen = 8 + len(payload)
        pseudo = s + d + struct.pack("!IxxxB", ulen, 17)
        udp = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
        c = csum(pseudo + udp) or 0xFFFF
        udp = udp[:6] + struct.pack("!H", c) + udp[8:]
        hdr = struct.pack("!IHBB", 6 << 28, ulen, 17, 64) + s + d
        return ETH_P_IPV6, hdr + udp
    s = socket.inet_aton(src)
    d = socket.inet_aton(dst)
    ulen = 8 + len(payload)
    pseudo = s + d + struct.pack("!xBH", 17, ulen)
    udp = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    c = csum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0x4000, 64, 17, 0, s, d)
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return ETH_P_IP, hdr + udp


def send(iface, src, dst, count, tag):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM)
    for i in range(count):
        proto, pkt = udp_packet(src, dst, 40000 + i % 1000, 9, MARK + tag.encode() + b":%d" % i)
        sock.sendto(pkt, (iface, proto))
        if i % 50 == 49:
            time.sleep(0.005)  # stay far below the tunnel's queue length
    sock.close()


def write_counts(out, counts):
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(counts, f)
    os.replace(tmp, out)


def sniff(iface, out, seconds):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((iface, 0))
    counts = {}
    write_counts(out, counts)
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data, addr = sock.recvfrom(65536)
        except socket.timeout:
            break
        except OSError:  # the device went away with its daemon
            break
        if addr[2] == PACKET_OUTGOING:
            continue
        i = data.find(MARK)
        if i < 0:
            continue
        tag = data[i + len(MARK):].split(b":", 1)[0].decode(errors="replace")
        counts[tag] = counts.get(tag, 0) + 1
        write_counts(out, counts)


def count(out, tag):
    try:
        with open(out) as f:
            print(json.load(f).get(tag, 0))
    except (OSError, ValueError):
        print(0)


def main(argv):
    if len(argv) == 7 and argv[1] == "send":
        send(argv[2], argv[3], argv[4], int(argv[5]), argv[6])
    elif len(argv) == 5 and argv[1] == "sniff":
        sniff(argv[2], argv[3], float(argv[4]))
    elif len(argv) == 4 and argv[1] == "count":
        count(argv[2], argv[3])
    else:
        sys.stderr.write("usage: rawpkt.py send IFACE SRC DST COUNT TAG | "
                         "sniff IFACE OUT SECONDS | count OUT TAG\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
