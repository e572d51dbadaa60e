/* samples.h: what the benchmark tools share: latency samples (a growable array of microsecond
 * values, capped, overflow counted), the monotonic clock they are taken from, nearest-rank
 * percentiles, and option-value parsing. Header-only: each bench C file is its own program. */
#ifndef CG_BENCH_SAMPLES_H
#define CG_BENCH_SAMPLES_H

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { SAMPLES_MAX = 1 << 26 }; /* per series and round; more are dropped (and counted) */

struct samples {
    uint32_t *v; /* µs */
    size_t len;
    size_t cap;
    size_t dropped;
};

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL) {
        fprintf(stderr, "bench: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return q;
}

static inline void samples_add(struct samples *s, uint64_t ns)
{
    if (s->len == s->cap) {
        if (s->cap >= SAMPLES_MAX) {
            s->dropped++;
            return;
        }
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    uint64_t us = ns / 1000u;
    s->v[s->len++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static inline int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a;
    uint32_t y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static inline void samples_sort(struct samples *s)
{
    qsort(s->v, s->len, sizeof(*s->v), cmp_u32);
}

/* Nearest-rank percentile of sorted samples; 0 when there are none. */
static inline uint32_t pct(const struct samples *s, double p)
{
    if (s->len == 0)
        return 0;
    size_t rank = (size_t)ceil(p / 100.0 * (double)s->len);
    if (rank < 1)
        rank = 1;
    if (rank > s->len)
        rank = s->len;
    return s->v[rank - 1];
}

/* An option value: an integer in min..max, or seconds in 0..86400. */
static inline bool parse_size(const char *s, size_t min, size_t max, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min || v > max)
        return false;
    *out = (size_t)v;
    return true;
}

static inline bool parse_secs(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(v >= 0.0) || v > 86400.0)
        return false;
    *out = v;
    return true;
}

/* `file` in `dir`, or in a fresh directory made from `tmpl` (mkdtemp) when `dir` is NULL;
 * writes the path to `path` and returns the directory. Exits when it cannot be made. */
static inline const char *db_path_in(const char *dir, char *tmpl, const char *file, char *path,
                                     size_t size)
{
    if (dir == NULL)
        dir = mkdtemp(tmpl);
    if (dir == NULL) {
        fprintf(stderr, "bench: cannot create a temporary directory\n");
        exit(1);
    }
    snprintf(path, size, "%s/%s", dir, file);
    return dir;
}

/* Removes an SQLite database at `path` with its WAL and shared-memory files, then `dir`. */
static inline void remove_db_dir(const char *dir, const char *path)
{
    char side[4200];
    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
    rmdir(dir);
}

/* A field of /proc/self/status in kB ("VmRSS", "VmHWM"); 0 when absent. */
static inline long proc_status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t n = strlen(field);
    long kb = 0;
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            kb = strtol(line + n + 1, NULL, 10);
    }
    if (f)
        fclose(f);
    return kb;
}

#endif
