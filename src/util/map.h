/* map.h: an open-addressing hash map from a 64-bit integer or a string to a non-NULL pointer.
 * String keys are borrowed: the caller keeps them alive while the entry exists (they normally
 * live in the value itself, e.g. a turn's thread id). */
#ifndef CG_UTIL_MAP_H
#define CG_UTIL_MAP_H

#include <stddef.h>
#include <stdint.h>

struct cg_map_slot {
    uint64_t hash;
    const char *key; /* NULL for integer keys */
    size_t key_len;
    void *value; /* NULL = empty slot */
};

struct cg_map {
    struct cg_map_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t count;
};

void cg_map_init(struct cg_map *m);
void cg_map_dispose(struct cg_map *m);

void *cg_map_get_int(const struct cg_map *m, uint64_t key);
void cg_map_put_int(struct cg_map *m, uint64_t key, void *value); /* replaces */
void *cg_map_remove_int(struct cg_map *m, uint64_t key);

void *cg_map_get_str(const struct cg_map *m, const char *key, size_t len);
void cg_map_put_str(struct cg_map *m, const char *key, size_t len, void *value);
void *cg_map_remove_str(struct cg_map *m, const char *key, size_t len);

/* Iteration: for (size_t i = 0; (v = cg_map_next(m, &i));) — do not modify while iterating. */
void *cg_map_next(const struct cg_map *m, size_t *iter);

#endif
