/* auth.c: bearer parsing and constant-time key comparison. */
#include "http/auth.h"
#include <string.h>
#include "util/sha256.h"

void cg_auth_init(struct cg_auth *a, char *const *keys, size_t count)
{
    a->keys = keys;
    a->count = count;
    a->named = NULL;
}

bool cg_auth_has_keys(const struct cg_auth *a)
{
    return a->count > 0 || a->named != NULL;
}

void cg_auth_key_id(const char *key, char out[CG_AUTH_KEY_ID_BYTES])
{
    uint8_t d[CG_SHA256_BYTES];
    cg_sha256(key, strlen(key), d);
    cg_auth_key_id_of_digest(d, out);
}

void cg_auth_key_id_of_digest(const uint8_t d[CG_SHA256_BYTES], char out[CG_AUTH_KEY_ID_BYTES])
{
    out[0] = 'k';
    out[1] = '_';
    cg_sha256_hex(d, CG_AUTH_KEY_ID_HEX / 2, out + 2);
}

bool cg_auth_parse_bearer(struct cg_str header, struct cg_str *token)
{
    struct cg_str h = cg_str_trim(header);
    static const char scheme[] = "bearer";
    size_t slen = sizeof(scheme) - 1;
    if (h.len <= slen || !cg_str_ieq((struct cg_str){h.ptr, slen}, CG_STR("bearer")))
        return false;
    if (h.ptr[slen] != ' ' && h.ptr[slen] != '\t')
        return false;
    *token = cg_str_trim((struct cg_str){h.ptr + slen, h.len - slen});
    return token->len > 0;
}

bool cg_auth_key_equal(struct cg_str key, struct cg_str token)
{
    volatile unsigned char diff = 0;
    for (size_t i = 0; i < key.len; i++) {
        unsigned char t = i < token.len ? (unsigned char)token.ptr[i] : 0;
        diff |= (unsigned char)key.ptr[i] ^ t;
    }
    return diff == 0 && key.len == token.len;
}

enum cg_err cg_auth_identify(const struct cg_auth *a, struct cg_str authorization,
                             bool peer_loopback, size_t *key_index,
                             const struct cg_key_entry **entry)
{
    *key_index = CG_AUTH_NO_KEY;
    if (entry)
        *entry = NULL;
    if (!cg_auth_has_keys(a))
        return peer_loopback ? CG_OK : CG_ERR_LOOPBACK_ONLY;
    struct cg_str token;
    if (authorization.ptr == NULL || !cg_auth_parse_bearer(authorization, &token))
        return CG_ERR_MISSING_API_KEY;
    size_t match = 0;
    size_t index = 0;
    for (size_t i = 0; i < a->count; i++) {
        /* Masks instead of branches: the first match is kept without the loop's timing
         * depending on where it was. */
        size_t eq = cg_auth_key_equal(cg_str_from(a->keys[i]), token);
        size_t take = (size_t)0 - (eq & (match ^ 1));
        index = (index & ~take) | (i & take);
        match |= eq;
    }
    const struct cg_key_entry *named = cg_keys_match(a->named, token);
    if (match) {
        *key_index = index;
        return CG_OK;
    }
    if (named == NULL)
        return CG_ERR_INVALID_API_KEY;
    if (entry)
        *entry = named;
    return CG_OK;
}

enum cg_err cg_auth_check(const struct cg_auth *a, struct cg_str authorization, bool peer_loopback)
{
    size_t index;
    return cg_auth_identify(a, authorization, peer_loopback, &index, NULL);
}
