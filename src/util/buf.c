/* buf.c: capped growable buffer. */
#include "util/buf.h"
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/alloc.h"

enum { BUF_MIN_CAP = 64 };

void cg_buf_init(struct cg_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void cg_buf_dispose(struct cg_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

/* Ensures room for n more bytes plus the NUL terminator. */
static int grow(struct cg_buf *b, size_t n)
{
    size_t need;
    if (__builtin_add_overflow(b->len, n, &need) || need > b->max)
        return -E2BIG;
    if (need + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : BUF_MIN_CAP;
    while (cap < need + 1) {
        if (__builtin_mul_overflow(cap, 2, &cap))
            return -E2BIG;
    }
    /* need <= max, so max + 1 still holds the terminator */
    if (b->max < SIZE_MAX && cap > b->max + 1)
        cap = b->max + 1;
    b->data = cg_xrealloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int cg_buf_append(struct cg_buf *b, const void *p, size_t n)
{
    int err = grow(b, n);
    if (err)
        return err;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int cg_buf_append_str(struct cg_buf *b, const char *s)
{
    return cg_buf_append(b, s, strlen(s));
}

int cg_buf_append_char(struct cg_buf *b, char c)
{
    return cg_buf_append(b, &c, 1);
}

int cg_buf_vappendf(struct cg_buf *b, const char *fmt, va_list ap)
{
    char small[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < sizeof(small))
        return cg_buf_append(b, small, (size_t)n);
    int err = grow(b, (size_t)n);
    if (err)
        return err;
    int m = vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    if (m != n)
        return -EINVAL;
    b->len += (size_t)n;
    return 0;
}

int cg_buf_appendf(struct cg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int err = cg_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return err;
}

char *cg_buf_reserve(struct cg_buf *b, size_t n)
{
    if (grow(b, n))
        return NULL;
    return b->data + b->len;
}

void cg_buf_commit(struct cg_buf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

void cg_buf_reset(struct cg_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void cg_buf_consume(struct cg_buf *b, size_t n)
{
    if (n >= b->len) {
        cg_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *cg_buf_take(struct cg_buf *b, size_t *len)
{
    char *p = b->data;
    if (len)
        *len = b->len;
    if (p == NULL)
        p = cg_xcalloc(1, 1);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
