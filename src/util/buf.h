/* buf.h: a growable byte buffer with a hard maximum given at init (curl's dynbuf). An append
 * that would pass the maximum fails with -E2BIG and leaves the contents as they were, so input
 * from outside can never grow memory past a limit we chose. The data is always NUL-terminated. */
#ifndef CG_UTIL_BUF_H
#define CG_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include "util/common.h"

struct cg_buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* largest len this buffer may reach */
};

void cg_buf_init(struct cg_buf *b, size_t max);
void cg_buf_dispose(struct cg_buf *b);

/* Appends; 0 on success, -E2BIG when len would pass max. */
int cg_buf_append(struct cg_buf *b, const void *p, size_t n) CG_MUST_CHECK;
int cg_buf_append_str(struct cg_buf *b, const char *s) CG_MUST_CHECK;
int cg_buf_append_char(struct cg_buf *b, char c) CG_MUST_CHECK;
int cg_buf_appendf(struct cg_buf *b, const char *fmt, ...) CG_PRINTF(2, 3) CG_MUST_CHECK;
int cg_buf_vappendf(struct cg_buf *b, const char *fmt, va_list ap) CG_PRINTF(2, 0) CG_MUST_CHECK;

/* snprintf into out[0..size) (size > 0), with the formatter cg_buf_appendf uses: the same
 * bytes, truncation and return value as snprintf. */
int cg_buf_format(char *out, size_t size, const char *fmt, ...) CG_PRINTF(3, 4);

/* Makes room for `n` more bytes and returns where they go (commit them with cg_buf_commit);
 * NULL when that would pass max. */
char *cg_buf_reserve(struct cg_buf *b, size_t n);
void cg_buf_commit(struct cg_buf *b, size_t n);

/* Empties the buffer but keeps its memory. */
void cg_buf_reset(struct cg_buf *b);

/* Drops every byte past the first `len` (at most b->len): an append sequence that failed half
 * way rolls back to where it began. */
void cg_buf_truncate(struct cg_buf *b, size_t len);

/* Removes the first n bytes. */
void cg_buf_consume(struct cg_buf *b, size_t n);

/* Hands the bytes to the caller (free() them) and leaves the buffer empty. Never NULL. */
char *cg_buf_take(struct cg_buf *b, size_t *len);

#endif
