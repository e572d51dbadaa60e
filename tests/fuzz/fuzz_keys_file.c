/* fuzz_keys_file.c: keys-file text (PROXY_API_KEYS_FILE) → the keys parser, as a reload reads
 * it. Aborts where a result breaks a rule the router relies on: a failure leaves no table and
 * says why; a table has a bounded count, non-empty labels NUL-terminated within their size,
 * bounded model lists, and matches no token that was never hashed into it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "http/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cg_keys *keys = NULL;
    char err[256];
    if (cg_keys_parse((const char *)data, size, &keys, err, sizeof(err)) != 0) {
        if (keys != NULL || memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0')
            abort(); /* a failure leaves no table and says why */
        return 0;
    }
    if (keys == NULL || keys->count > CG_KEYS_MAX)
        abort();
    for (size_t i = 0; i < keys->count; i++) {
        const struct cg_key_entry *e = &keys->entries[i];
        if (memchr(e->label, '\0', sizeof(e->label)) == NULL || e->label[0] == '\0')
            abort();
        if (e->models != NULL && strlen(e->models) >= CG_KEYS_MODELS_MAX_BYTES)
            abort();
    }
    /* A token no entry was made from matches nothing. */
    if (cg_keys_match(keys, CG_STR("fuzz-token-never-hashed-into-a-file")) != NULL)
        abort();
    cg_keys_free(keys);
    return 0;
}
