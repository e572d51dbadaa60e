/* clock.h: monotonic milliseconds for timers and durations, wall-clock time for logs and the
 * `created` fields of OpenAI objects. */
#ifndef CG_UTIL_CLOCK_H
#define CG_UTIL_CLOCK_H

#include <stddef.h>
#include <stdint.h>

uint64_t cg_clock_mono_ms(void);
uint64_t cg_clock_mono_us(void);
uint64_t cg_clock_wall_ms(void);
int64_t cg_clock_unix_s(void);

/* Writes "2026-11-25T22:48:50.123Z" (24 bytes + NUL); `size` must be at least 25. */
void cg_clock_format_iso(uint64_t wall_ms, char *out, size_t size);

#endif
