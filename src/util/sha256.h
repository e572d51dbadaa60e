/* sha256.h: SHA-256 (FIPS 180-4), for identities derived from secrets: a key's stored id is a
 * digest of it, never the key. */
#ifndef CG_UTIL_SHA256_H
#define CG_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

enum { CG_SHA256_BYTES = 32 };

void cg_sha256(const void *data, size_t len, uint8_t out[CG_SHA256_BYTES]);

#endif
