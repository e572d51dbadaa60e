/* histogram.c: fixed-bucket duration histograms (see histogram.h). */
#include "util/histogram.h"
#include "util/common.h"

/* From 1 ms (a ledger commit, a refused answer) to PROXY_TIMEOUT_MS's default of 5 minutes. */
const uint64_t cg_histogram_bounds_us[] = {
    1000,    2500,    5000,    10000,    25000,    50000,    100000,    250000,   500000,
    1000000, 2500000, 5000000, 10000000, 30000000, 60000000, 120000000, 300000000};
_Static_assert(CG_ARRAY_SIZE(cg_histogram_bounds_us) == CG_HISTOGRAM_BUCKETS,
               "CG_HISTOGRAM_BUCKETS is the bound count");

void cg_histogram_observe_us(struct cg_histogram *h, uint64_t us)
{
    size_t i = 0;
    while (i < CG_HISTOGRAM_BUCKETS && us > cg_histogram_bounds_us[i])
        i++;
    h->counts[i]++;
    h->count++;
    if (__builtin_add_overflow(h->sum_us, us, &h->sum_us))
        h->sum_us = UINT64_MAX;
}

uint64_t cg_histogram_cumulative(const struct cg_histogram *h, size_t i)
{
    uint64_t n = 0;
    for (size_t j = 0; j <= i && j <= CG_HISTOGRAM_BUCKETS; j++)
        n += h->counts[j];
    return n;
}
