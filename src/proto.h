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

#endif
