/* arena.c: bump allocator in chained blocks; large requests get a block of their own. */
#include "util/arena.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "util/alloc.h"

#define ARENA_ALIGN 16

struct cg_arena_block {
    struct cg_arena_block *next;
    size_t size;
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct cg_arena_cleanup {
    struct cg_arena_cleanup *next;
    void (*fn)(void *data);
    void *data;
};

void cg_arena_init(struct cg_arena *a, size_t block_size)
{
    a->blocks = NULL;
    a->cleanups = NULL;
    a->block_size = block_size < 256 ? 256 : block_size;
    a->allocated = 0;
}

void cg_arena_dispose(struct cg_arena *a)
{
    while (a->cleanups) {
        struct cg_arena_cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->data); /* the record itself lives in a block freed below */
    }
    while (a->blocks) {
        struct cg_arena_block *b = a->blocks;
        a->blocks = b->next;
        free(b);
    }
    a->allocated = 0;
}

static struct cg_arena_block *new_block(size_t size)
{
    struct cg_arena_block *b = cg_xmalloc(sizeof(*b) + size);
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

void *cg_arena_alloc(struct cg_arena *a, size_t n)
{
    size_t need = (n + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < n)
        abort(); /* size overflow: a caller bug, sizes come from capped buffers */
    a->allocated += need;
    struct cg_arena_block *b = a->blocks;
    if (b && b->size - b->used >= need) {
        void *p = b->data + b->used;
        b->used += need;
        return p;
    }
    if (need > a->block_size / 2) {
        /* Large: its own block, linked behind the current one so the current keeps serving. */
        struct cg_arena_block *big = new_block(need);
        big->used = need;
        if (b) {
            big->next = b->next;
            b->next = big;
        } else {
            a->blocks = big;
        }
        return big->data;
    }
    struct cg_arena_block *fresh = new_block(a->block_size);
    fresh->next = a->blocks;
    a->blocks = fresh;
    fresh->used = need;
    return fresh->data;
}

void *cg_arena_calloc(struct cg_arena *a, size_t n)
{
    void *p = cg_arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *cg_arena_strndup(struct cg_arena *a, const char *s, size_t n)
{
    char *p = cg_arena_alloc(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cg_arena_strdup(struct cg_arena *a, const char *s)
{
    return cg_arena_strndup(a, s, strlen(s));
}

void cg_arena_on_dispose(struct cg_arena *a, void (*fn)(void *data), void *data)
{
    struct cg_arena_cleanup *c = cg_arena_alloc(a, sizeof(*c));
    c->fn = fn;
    c->data = data;
    c->next = a->cleanups;
    a->cleanups = c;
}
