/* histogram.c: fixed-bucket duration histograms (see histogram.h). */
#include "util/histogram.h"
#include "util/common.h"

/* From 5 ms (a refused or cached answer) to PROXY_TIMEOUT_MS's default of 5 minutes. */
const uint64_t cg_histogram_bounds_ms[] = {5,    10,   25,    50,    100,   250,   500,  1000,
                                           2500, 5000, 10000, 30000, 60000, 120000, 300000};
_Static_assert(CG_ARRAY_SIZE(cg_histogram_bounds_ms) == CG_HISTOGRAM_BUCKETS,
               "CG_HISTOGRAM_BUCKETS is the bound count");

void cg_histogram_observe(struct cg_histogram *h, uint64_t ms)
{
    size_t i = 0;
    while (i < CG_HISTOGRAM_BUCKETS && ms > cg_histogram_bounds_ms[i])
        i++;
    h->counts[i]++;
    h->count++;
    if (__builtin_add_overflow(h->sum_ms, ms, &h->sum_ms))
        h->sum_ms = UINT64_MAX;
}

uint64_t cg_histogram_cumulative(const struct cg_histogram *h, size_t i)
{
    uint64_t n = 0;
    for (size_t j = 0; j <= i && j <= CG_HISTOGRAM_BUCKETS; j++)
        n += h->counts[j];
    return n;
}
