/* clock.c: clock_gettime wrappers. */
#include "util/clock.h"
#include <stdio.h>
#include <time.h>

uint64_t cg_clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t cg_clock_mono_ms(void)
{
    return cg_clock_mono_us() / 1000u;
}

uint64_t cg_clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t cg_clock_unix_s(void)
{
    return (int64_t)(cg_clock_wall_ms() / 1000u);
}

void cg_clock_format_iso(uint64_t wall_ms, char *out, size_t size)
{
    time_t secs = (time_t)(wall_ms / 1000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(wall_ms % 1000u));
}
