/* alloc.h: allocation for fixed-size objects; these abort on OOM, because nothing useful can
 * continue without memory. Input-driven growth uses a capped cg_buf instead (util/buf.h). */
#ifndef CG_UTIL_ALLOC_H
#define CG_UTIL_ALLOC_H

#include <stddef.h>

void *cg_xmalloc(size_t n);
void *cg_xcalloc(size_t count, size_t size);
void *cg_xrealloc(void *p, size_t n);
char *cg_xstrdup(const char *s);
char *cg_xstrndup(const char *s, size_t n);

/* Gives freed heap memory back to the system (after a burst of connections has closed), at
 * most once a second. */
void cg_alloc_release_unused(void);

#endif
