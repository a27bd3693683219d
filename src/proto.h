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
 * mpquic's extensions to CONNECT-IP, both of which a plain RFC 9484 peer ignores
 * (docs/protocol.md, "Extensions"):
 *
 * Probe datagrams: HTTP Datagrams with context ID MPQ_PROBE_CONTEXT (even: allocated by the
 * client) and an 8-byte payload. RFC 9484 receivers drop datagrams of unknown context IDs; the
 * point is only that QUIC acknowledges them, so that a quiet tunnel's path is still measured.
 *
 * PATH_ROLE capsule (type MPQ_CAPSULE_PATH_ROLE, value: one varint role): what the client uses
 * a tunnel for right now within its class. RFC 9297 receivers skip unknown capsule types.
 */
#define MPQ_PROBE_CONTEXT     0x4d50
#define MPQ_PROBE_LEN	      8
#define MPQ_CAPSULE_PATH_ROLE 0x4d5051

enum mpq_path_role {
	MPQ_ROLE_STANDBY = 0,	/* not carrying the class now */
	MPQ_ROLE_ACTIVE = 1,	/* the class's tunnel: return traffic goes here */
	MPQ_ROLE_DUPLICATE = 2, /* carries a copy of every packet of a duplicate class */
	MPQ_ROLE__MAX = 2,
};

#endif
