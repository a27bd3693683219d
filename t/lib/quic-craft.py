#!/usr/bin/env python3
"""Hand-made QUIC v1 packets for the server's stateless answers (RFC 9000, RFC 9001).

    quic-craft.py HOST PORT vn               Initial-sized long header of an unknown version:
                                             prints "vn VERSIONS" (hex, comma-separated)
    quic-craft.py HOST PORT reset LEN        short header of LEN bytes with an unknown DCID:
                                             prints "reply N FIRSTBYTE" or "none"
    quic-craft.py HOST PORT burst N          N short headers at once: prints "replies N"
    quic-craft.py HOST PORT forged           Initial with a forged Retry token: prints the
                                             answer, "close 0xERR" when it could be decrypted
    quic-craft.py HOST PORT retry            Initial without token: checks the Retry (tag),
                                             then returns its token from another UDP port:
                                             prints "retry ok" and the answer to that

Exit status 0 when an answer of the expected kind came, 1 otherwise. The decryption of the
server's CONNECTION_CLOSE needs python3-cryptography; without it "close ?" is printed.
"""
import os
import socket
import sys

V1 = 0x00000001
INITIAL_SALT = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
RETRY_KEY = bytes.fromhex("be0c690b9f66575a1d766b54e368c84e")
RETRY_NONCE = bytes.fromhex("461599d35d632bf2239825bb")

try:
    from cryptography.hazmat.primitives import hashes, hmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    HAVE_CRYPTO = True
except ImportError:
    HAVE_CRYPTO = False


def varint(v):
    if v < 0x40:
        return bytes([v])
    if v < 0x4000:
        return (v | 0x4000).to_bytes(2, "big")
    return (v | 0x80000000).to_bytes(4, "big")


def read_varint(b, i):
    n = 1 << (b[i] >> 6)
    v = int.from_bytes(b[i:i + n], "big") & ((1 << (8 * n - 2)) - 1)
    return v, i + n


def initial(dcid, scid, token=b"", version=V1, size=1200):
    """A long-header Initial of `size` bytes whose payload is random (never decryptable)."""
    head = bytes([0xC3]) + version.to_bytes(4, "big")
    head += bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid
    head += varint(len(token)) + token
    rest = size - len(head) - 2
    return head + varint(rest) + os.urandom(rest)


def hkdf_label(secret, label, length):
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    out, t, i = b"", b"", 1
    while len(out) < length:
        h = hmac.HMAC(secret, hashes.SHA256())
        h.update(t + info + bytes([i]))
        t = h.finalize()
        out += t
        i += 1
    return out[:length]


def server_initial_keys(client_dcid):
    h = hmac.HMAC(INITIAL_SALT, hashes.SHA256())
    h.update(client_dcid)
    secret = hkdf_label(h.finalize(), b"server in", 32)
    return (hkdf_label(secret, b"quic key", 16), hkdf_label(secret, b"quic iv", 12),
            hkdf_label(secret, b"quic hp", 16))


def decrypt_initial(pkt, client_dcid):
    """The frames of the server's Initial protected with keys from client_dcid."""
    key, iv, hp = server_initial_keys(client_dcid)
    i = 5
    i += 1 + pkt[i]
    i += 1 + pkt[i]
    tlen, i = read_varint(pkt, i)
    i += tlen
    length, pn_off = read_varint(pkt, i)
    sample = pkt[pn_off + 4:pn_off + 20]
    enc = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = enc.update(sample) + enc.finalize()
    first = pkt[0] ^ (mask[0] & 0x0F)
    pn_len = (first & 3) + 1
    pn = bytes(a ^ b for a, b in zip(pkt[pn_off:pn_off + pn_len], mask[1:1 + pn_len]))
    header = bytes([first]) + pkt[1:pn_off] + pn
    nonce = bytes(a ^ b for a, b in zip(iv, int.from_bytes(pn, "big").to_bytes(12, "big")))
    return AESGCM(key).decrypt(nonce, pkt[pn_off + pn_len:pn_off + length], header)


def close_code(frames):
    i = 0
    while i < len(frames) and frames[i] == 0:  # PADDING
        i += 1
    if i >= len(frames) or frames[i] != 0x1C:
        return None
    code, _ = read_varint(frames, i + 1)
    return code


def sock(host):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    return s


def recv(s):
    try:
        return s.recv(65536)
    except socket.timeout:
        return None


def describe_close(pkt, dcid, scid):
    if pkt is None:
        return "none"
    if pkt[0] & 0xF0 != 0xC0:
        return "unexpected first byte 0x%02x" % pkt[0]
    if pkt[6:6 + pkt[5]] != scid:
        return "Initial for another DCID"
    if not HAVE_CRYPTO:
        return "close ?"
    code = close_code(decrypt_initial(pkt, dcid))
    return "close 0x%x" % code if code is not None else "Initial without CONNECTION_CLOSE"


def main():
    host, port, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    dst = (host, port)
    s = sock(host)
    if cmd == "vn":
        dcid, scid = os.urandom(8), os.urandom(8)
        s.sendto(initial(dcid, scid, version=0x1A2A3A4A), dst)
        p = recv(s)
        if p is None or not p[0] & 0x80 or p[1:5] != b"\0\0\0\0":
            print("none" if p is None else "not a Version Negotiation packet")
            return 1
        i = 5
        echo_dcid = p[i + 1:i + 1 + p[i]]
        i += 1 + p[i]
        echo_scid = p[i + 1:i + 1 + p[i]]
        i += 1 + p[i]
        if echo_dcid != scid or echo_scid != dcid:
            print("connection IDs not echoed")
            return 1
        vs = [int.from_bytes(p[j:j + 4], "big") for j in range(i, len(p), 4)]
        print("vn " + ",".join("%x" % v for v in vs))
        return 0
    if cmd in ("reset", "burst"):
        n = int(sys.argv[4])
        if cmd == "reset":
            s.sendto(bytes([0x40 | (os.urandom(1)[0] & 0x3F)]) + os.urandom(n - 1), dst)
            p = recv(s)
            print("none" if p is None else "reply %d 0x%02x" % (len(p), p[0]))
            return 0 if p else 1
        for _ in range(n):
            s.sendto(bytes([0x40]) + os.urandom(99), dst)
        s.settimeout(0.5)
        got = 0
        while recv(s) is not None:
            got += 1
        print("replies %d" % got)
        return 0
    if cmd == "forged":
        dcid, scid = os.urandom(8), os.urandom(8)
        token = bytes([0xB7]) + os.urandom(90)
        s.sendto(initial(dcid, scid, token), dst)
        print(describe_close(recv(s), dcid, scid))
        return 0
    if cmd == "retry":
        dcid, scid = os.urandom(8), os.urandom(8)
        s.sendto(initial(dcid, scid), dst)
        p = recv(s)
        if p is None or p[0] & 0xF0 != 0xF0:
            print("no Retry")
            return 1
        i = 5
        if p[i + 1:i + 1 + p[i]] != scid:
            print("Retry for another DCID")
            return 1
        i += 1 + p[i]
        rscid = p[i + 1:i + 1 + p[i]]
        i += 1 + p[i]
        token, tag = p[i:-16], p[-16:]
        if HAVE_CRYPTO:
            pseudo = bytes([len(dcid)]) + dcid + p[:-16]
            if AESGCM(RETRY_KEY).encrypt(RETRY_NONCE, b"", pseudo) != tag:
                print("bad Retry integrity tag")
                return 1
        print("retry ok scid %d bytes, token %d bytes" % (len(rscid), len(token)))
        other = sock(host)  # the token is bound to the first socket's address
        other.sendto(initial(rscid, scid, token), dst)
        print("other port: " + describe_close(recv(other), rscid, scid))
        return 0
    print("unknown command " + cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
