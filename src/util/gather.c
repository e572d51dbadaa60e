/* gather.c: a loop iteration's writes held to leave in one (see gather.h). */
#include "util/gather.h"
#include <stdlib.h>

void cg_gather_init(struct cg_gather *g, size_t max)
{
    g->first = NULL;
    g->first_len = 0;
    cg_buf_init(&g->joined, max);
}

void cg_gather_dispose(struct cg_gather *g)
{
    cg_gather_drop(g);
    cg_buf_dispose(&g->joined);
}

size_t cg_gather_len(const struct cg_gather *g)
{
    return g->first ? g->first_len : g->joined.len;
}

bool cg_gather_is_empty(const struct cg_gather *g)
{
    return g->first == NULL && g->joined.len == 0;
}

bool cg_gather_add(struct cg_gather *g, char *data, size_t len)
{
    if (cg_gather_is_empty(g)) {
        g->first = data;
        g->first_len = len;
        return true;
    }
    size_t mark = g->joined.len;
    int err = 0;
    if (g->first)
        err = cg_buf_append(&g->joined, g->first, g->first_len);
    if (err == 0)
        err = cg_buf_append(&g->joined, data, len);
    free(data);
    if (err != 0) {
        cg_buf_truncate(&g->joined, mark); /* the first piece, if it was one, stays as it was */
        return false;
    }
    free(g->first);
    g->first = NULL;
    return true;
}

char *cg_gather_take(struct cg_gather *g, size_t *len)
{
    *len = 0;
    if (cg_gather_is_empty(g))
        return NULL;
    if (g->first) {
        char *p = g->first;
        *len = g->first_len;
        g->first = NULL;
        return p;
    }
    /* Exactly its bytes: a write that waits on a slow reader holds this allocation, and the
     * budgets count only the bytes. */
    char *p = cg_buf_take(&g->joined, len);
    char *fit = realloc(p, *len);
    return fit ? fit : p;
}

void cg_gather_drop(struct cg_gather *g)
{
    free(g->first);
    g->first = NULL;
    cg_buf_reset(&g->joined);
}
