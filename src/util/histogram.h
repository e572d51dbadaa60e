/* histogram.h: a fixed-bucket histogram of durations in microseconds, as Prometheus exposes
 * them: per-bucket counts (made cumulative when read), the sum and the count. */
#ifndef CG_UTIL_HISTOGRAM_H
#define CG_UTIL_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

/* Upper bounds in µs, ascending; an observation above the last goes only to +Inf. */
extern const uint64_t cg_histogram_bounds_us[];
enum { CG_HISTOGRAM_BUCKETS = 17 };

struct cg_histogram {
    uint64_t counts[CG_HISTOGRAM_BUCKETS + 1]; /* per bucket, not cumulative; last = +Inf */
    uint64_t sum_us;
    uint64_t count;
};

void cg_histogram_observe_us(struct cg_histogram *h, uint64_t us);

/* Observations <= cg_histogram_bounds_ms[i] (i == CG_HISTOGRAM_BUCKETS: all of them). */
uint64_t cg_histogram_cumulative(const struct cg_histogram *h, size_t i);

#endif
