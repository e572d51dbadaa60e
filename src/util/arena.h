/* arena.h: a request's memory pool (h2o's h2o_mem_pool_t). Everything a request parses or
 * builds is bump-allocated here and freed in one call; non-memory resources (a json_t, a lease)
 * register a cleanup that runs at dispose, last registered first. Never put a libuv handle here:
 * closing a handle is asynchronous. */
#ifndef CG_UTIL_ARENA_H
#define CG_UTIL_ARENA_H

#include <stddef.h>

struct cg_arena_block;
struct cg_arena_cleanup;

struct cg_arena {
    struct cg_arena_block *blocks;
    struct cg_arena_cleanup *cleanups;
    size_t block_size;
    size_t allocated; /* total bytes handed out, for accounting */
};

void cg_arena_init(struct cg_arena *a, size_t block_size);
void cg_arena_dispose(struct cg_arena *a);

/* 16-byte aligned, never NULL (aborts on OOM like cg_xmalloc). */
void *cg_arena_alloc(struct cg_arena *a, size_t n);
void *cg_arena_calloc(struct cg_arena *a, size_t n);
char *cg_arena_strndup(struct cg_arena *a, const char *s, size_t n);
char *cg_arena_strdup(struct cg_arena *a, const char *s);

/* Runs fn(data) at dispose. */
void cg_arena_on_dispose(struct cg_arena *a, void (*fn)(void *data), void *data);

#endif
