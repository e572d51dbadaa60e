/* map.c: linear probing with backward-shift deletion; grows at 3/4 load. */
#include "util/map.h"
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "util/alloc.h"

enum { MAP_MIN_CAP = 16 };

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdu;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53u;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3u;
    }
    return mix(h);
}

void cg_map_init(struct cg_map *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

void cg_map_dispose(struct cg_map *m)
{
    free(m->slots);
    cg_map_init(m);
}

static bool same(const struct cg_map_slot *s, uint64_t hash, const char *key, size_t len)
{
    if (s->hash != hash)
        return false;
    if (key == NULL)
        return s->key == NULL;
    return s->key && s->key_len == len && memcmp(s->key, key, len) == 0;
}

static size_t find(const struct cg_map *m, uint64_t hash, const char *key, size_t len)
{
    if (m->cap == 0)
        return SIZE_MAX;
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const struct cg_map_slot *s = &m->slots[i];
        if (s->value == NULL)
            return SIZE_MAX;
        if (same(s, hash, key, len))
            return i;
    }
}

static void insert_slot(struct cg_map *m, struct cg_map_slot slot)
{
    size_t mask = m->cap - 1;
    size_t i = slot.hash & mask;
    while (m->slots[i].value != NULL)
        i = (i + 1) & mask;
    m->slots[i] = slot;
}

static void grow(struct cg_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : MAP_MIN_CAP;
    struct cg_map_slot *old = m->slots;
    size_t oldcap = m->cap;
    m->slots = cg_xcalloc(cap, sizeof(*m->slots));
    m->cap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].value)
            insert_slot(m, old[i]);
    }
    free(old);
}

static void put(struct cg_map *m, uint64_t hash, const char *key, size_t len, void *value)
{
    size_t i = find(m, hash, key, len);
    if (i != SIZE_MAX) {
        m->slots[i].value = value;
        return;
    }
    if ((m->count + 1) * 4 > m->cap * 3)
        grow(m);
    insert_slot(m, (struct cg_map_slot){hash, key, len, value});
    m->count++;
}

static void *remove_at(struct cg_map *m, size_t i)
{
    void *value = m->slots[i].value;
    size_t mask = m->cap - 1;
    /* Backward shift: pull later members of the probe run into the hole. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->slots[j].value != NULL; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        bool movable = (hole <= j) ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].value = NULL;
    m->slots[hole].key = NULL;
    m->count--;
    return value;
}

void *cg_map_get_int(const struct cg_map *m, uint64_t key)
{
    size_t i = find(m, mix(key), NULL, 0);
    return i == SIZE_MAX ? NULL : m->slots[i].value;
}

void cg_map_put_int(struct cg_map *m, uint64_t key, void *value)
{
    put(m, mix(key), NULL, 0, value);
}

void *cg_map_remove_int(struct cg_map *m, uint64_t key)
{
    size_t i = find(m, mix(key), NULL, 0);
    return i == SIZE_MAX ? NULL : remove_at(m, i);
}

void *cg_map_get_str(const struct cg_map *m, const char *key, size_t len)
{
    size_t i = find(m, hash_str(key, len), key, len);
    return i == SIZE_MAX ? NULL : m->slots[i].value;
}

void cg_map_put_str(struct cg_map *m, const char *key, size_t len, void *value)
{
    put(m, hash_str(key, len), key, len, value);
}

void *cg_map_remove_str(struct cg_map *m, const char *key, size_t len)
{
    size_t i = find(m, hash_str(key, len), key, len);
    return i == SIZE_MAX ? NULL : remove_at(m, i);
}

void *cg_map_next(const struct cg_map *m, size_t *iter)
{
    while (*iter < m->cap) {
        const struct cg_map_slot *s = &m->slots[(*iter)++];
        if (s->value)
            return s->value;
    }
    return NULL;
}
