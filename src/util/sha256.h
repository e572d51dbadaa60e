/* sha256.h: SHA-256 (FIPS 180-4), for identities derived from secrets: a key's stored id is a
 * digest of it, never the key. */
#ifndef CG_UTIL_SHA256_H
#define CG_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

enum { CG_SHA256_BYTES = 32 };

void cg_sha256(const void *data, size_t len, uint8_t out[CG_SHA256_BYTES]);

/* The first `n` bytes of a digest as 2n lower-case hex digits and a NUL (`out` holds 2n + 1). */
void cg_sha256_hex(const uint8_t *digest, size_t n, char *out);

#endif
