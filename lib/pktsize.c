/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "pktsize.h"

_Static_assert(PKTSIZE_MTU_MIN <= PKTSIZE_MTU_DEFAULT && PKTSIZE_MTU_DEFAULT <= PKTSIZE_MAX_INNER,
	       "the default MTU is one the data path carries");

int pktsize_init(struct pktsize *ret, uint32_t conf_mtu)
{
	uint32_t mtu = conf_mtu ? conf_mtu : PKTSIZE_MTU_DEFAULT;

	if (mtu < PKTSIZE_MTU_MIN || mtu > PKTSIZE_MAX_INNER)
		return -ERANGE;
	ret->mtu = mtu;
	ret->slot = mtu;
	ret->max_inner = PKTSIZE_MAX_INNER;
	ret->udp_payload = PKTSIZE_UDP_PAYLOAD;
	return 0;
}
