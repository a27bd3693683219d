/* SPDX-License-Identifier: MIT */
/*
 * Wire-level constants shared by client and server (see docs/protocol.md).
 */
#ifndef MPQ_PROTO_H
#define MPQ_PROTO_H

/*
 * CONNECT-IP request path: RFC 9484's default URI template with "*" target and protocol, and
 * the tunnel name as a query parameter: /.well-known/masque/ip/STAR/STAR/?tunnel=NAME
 */
#define MPQ_SESSION_PATH_PREFIX "/.well-known/masque/ip/*/*/?tunnel="

/*
 * Default TUN MTU: the largest inner packet one DATAGRAM frame carries in a 1452-byte QUIC
 * packet (1500-byte WAN MTU less IPv6 and UDP headers) with a 20-byte connection ID is 1404
 * bytes; 1400 keeps a round number with headroom.
 */
#define MPQ_DEFAULT_MTU 1400

#endif
