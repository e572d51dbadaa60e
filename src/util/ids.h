/* ids.h: random identifiers (request ids, chatcmpl-/resp_ ids, call ids). Not for secrets:
 * the generator is seeded once from the kernel and is fast, not cryptographic. */
#ifndef CG_UTIL_IDS_H
#define CG_UTIL_IDS_H

#include <stddef.h>
#include <stdint.h>

/* Writes `prefix` followed by `nrandom` base62 characters and a NUL into out[size];
 * truncates to fit. Returns the length written. */
size_t cg_ids_make(char *out, size_t size, const char *prefix, size_t nrandom);

uint64_t cg_ids_random64(void);

#endif
