/* gather.h: the bytes a writer produced in one loop iteration, held to leave in one write. The
 * first piece is kept as it came (most iterations write once: no copy); a second one joins it
 * in a buffer. */
#ifndef CG_UTIL_GATHER_H
#define CG_UTIL_GATHER_H
#include <stdbool.h>
#include <stddef.h>
#include "util/buf.h"

struct cg_gather {
    char *first; /* the only piece so far, owned; or NULL */
    size_t first_len;
    struct cg_buf joined; /* every piece, once there were two */
};

/* `max` caps what the buffer may hold (callers flush long before it). */
void cg_gather_init(struct cg_gather *g, size_t max);
void cg_gather_dispose(struct cg_gather *g);

size_t cg_gather_len(const struct cg_gather *g);
bool cg_gather_is_empty(const struct cg_gather *g);

/* Takes `data` (malloc'd; freed here or kept) and appends it. False when the cap refused it:
 * `data` is freed and what was gathered before stays. */
bool cg_gather_add(struct cg_gather *g, char *data, size_t len) CG_MUST_CHECK;

/* Hands every byte gathered to the caller (free() it) and leaves the gather empty; NULL when
 * it was empty. */
char *cg_gather_take(struct cg_gather *g, size_t *len);

/* Forgets what was gathered. */
void cg_gather_drop(struct cg_gather *g);

#endif
