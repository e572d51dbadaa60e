/* auth.h: client API keys. A request carries `Authorization: Bearer <key>` (scheme in any case);
 * the key is compared in constant time against every configured key, so neither which key
 * matched nor how much of it matched shows in the timing. With no key configured only
 * loopback clients are served. The forward-auth verifier uses the same check. */
#ifndef CG_HTTP_AUTH_H
#define CG_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include "core/errors.h"
#include "http/keys.h"
#include "util/str.h"

struct cg_auth {
    char *const *keys; /* borrowed from the config */
    size_t count;
    /* The keys file's table (PROXY_API_KEYS_FILE), NULL without one; borrowed, replaced
     * whole on reload by its owner. */
    const struct cg_keys *named;
};

/* `named` starts NULL. */
void cg_auth_init(struct cg_auth *a, char *const *keys, size_t count);

/* Keys are required: PROXY_API_KEY has some, or a keys file is in use (even an empty one:
 * emptying the file revokes every key in it, it never opens the gateway to loopback clients). */
bool cg_auth_has_keys(const struct cg_auth *a);

/* CG_OK, CG_ERR_MISSING_API_KEY, CG_ERR_INVALID_API_KEY or CG_ERR_LOOPBACK_ONLY.
 * `authorization` is the header value (ptr NULL when absent). */
enum cg_err cg_auth_check(const struct cg_auth *a, struct cg_str authorization, bool peer_loopback);

/* cg_auth_identify's *key_index for a client admitted without a key (loopback, no keys set). */
#define CG_AUTH_NO_KEY ((size_t)-1)

/* As cg_auth_check, and says who was admitted: on CG_OK `*key_index` is the position (from 0)
 * of the matching key in PROXY_API_KEY, or CG_AUTH_NO_KEY; `*entry` (when not NULL) is the
 * matching keys-file entry, or NULL. Both NO_KEY and no entry: a keyless loopback client.
 * A key in both lists counts as PROXY_API_KEY's. Still constant time over every key, whichever
 * matched. */
enum cg_err cg_auth_identify(const struct cg_auth *a, struct cg_str authorization,
                             bool peer_loopback, size_t *key_index,
                             const struct cg_key_entry **entry);

/* "k_" + the first CG_AUTH_KEY_ID_HEX hex digits of the SHA-256 of `key`, NUL-terminated. */
enum { CG_AUTH_KEY_ID_HEX = 24, CG_AUTH_KEY_ID_BYTES = 2 + CG_AUTH_KEY_ID_HEX + 1 };
void cg_auth_key_id(const char *key, char out[CG_AUTH_KEY_ID_BYTES]);
/* The same id from the key's digest (a keys-file entry holds only that). */
void cg_auth_key_id_of_digest(const uint8_t digest[CG_SHA256_BYTES],
                              char out[CG_AUTH_KEY_ID_BYTES]);

/* Extracts the token of "Bearer <token>"; false for another scheme or an empty token. */
bool cg_auth_parse_bearer(struct cg_str header, struct cg_str *token);

/* Constant time in the length of `key`. */
bool cg_auth_key_equal(struct cg_str key, struct cg_str token);

#endif
