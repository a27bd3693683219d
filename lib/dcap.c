/* SPDX-License-Identifier: MIT */
#include "dcap.h"
#include "pktsize.h"

_Static_assert(DCAP_MSS == PKTSIZE_UDP_PAYLOAD, "a step is one full-size packet (lib/pktsize.h)");

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

void dcap_init(struct dcap *d, uint64_t target_ns)
{
	*d = (struct dcap){
		.target = target_ns,
		.base_cur = UINT64_MAX,
		.base_prev = UINT64_MAX,
	};
}

uint64_t dcap_update(struct dcap *d, uint64_t now, uint64_t latest_rtt, uint64_t smoothed_rtt,
		     uint64_t cwnd)
{
	uint64_t base, qd;

	if (!d->target || latest_rtt == 0 || smoothed_rtt == 0)
		return UINT64_MAX;
	if (now >= d->rotate) {
		d->base_prev = d->base_cur;
		d->base_cur = UINT64_MAX;
		d->rotate = now + DCAP_BASE_WIN;
	}
	d->base_cur = min64(d->base_cur, latest_rtt);
	base = min64(d->base_cur, d->base_prev);
	if (d->cap == 0) {
		d->cap = min64(max64(cwnd, DCAP_MIN), DCAP_MAX);
		d->next = now + max64(smoothed_rtt, DCAP_PERIOD);
	}
	if (now < d->next)
		return d->cap;
	qd = smoothed_rtt > base ? smoothed_rtt - base : 0;
	if (qd > d->target) {
		/* cap <= 2^26 and RTTs far below 2^37 ns: no overflow */
		uint64_t cut = d->cap * (qd - d->target) / smoothed_rtt;

		d->cap -= min64(cut, d->cap / 2);
	} else if (d->limited) {
		if (qd <= d->target / 2)
			d->cap *= 2;
		else
			d->cap += DCAP_MSS + d->cap * (d->target - qd) / (d->target + base);
	}
	d->cap = max64(min64(d->cap, DCAP_MAX), DCAP_MIN);
	d->limited = false;
	d->next = now + max64(smoothed_rtt, DCAP_PERIOD);
	return d->cap;
}
