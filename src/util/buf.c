/* buf.c: capped growable buffer. */
#include "util/buf.h"
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <sys/types.h>
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

/* Decimal digits of v, written backwards ending at `end`; returns where they start. */
static char *put_decimal(char *end, unsigned long long v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return end;
}

/* What fast_format returns for a conversion it leaves to vsnprintf. */
enum { FORMAT_UNSUPPORTED = 1 };

/* fast_format's pieces, gathered so that a format costs one append, not one per piece. */
struct staged {
    struct cg_buf *b;
    size_t n;
    char bytes[256];
};

static int flush(struct staged *s)
{
    int err = s->n ? cg_buf_append(s->b, s->bytes, s->n) : 0;
    s->n = 0;
    return err;
}

static int stage(struct staged *s, const char *p, size_t n)
{
    if (s->n + n > sizeof(s->bytes)) {
        if (flush(s) != 0)
            return -E2BIG;
        if (n > sizeof(s->bytes))
            return cg_buf_append(s->b, p, n) != 0 ? -E2BIG : 0;
    }
    memcpy(s->bytes + s->n, p, n);
    s->n += n;
    return 0;
}

/* The conversions our formats use (%s, %.*s, %c, %d, %i, %u with no, l, ll or z length, and
 * %%), appended without stdio: vsnprintf costs about a thousand instructions a call, and every
 * response head and body goes through here. FORMAT_UNSUPPORTED (nothing appended that the
 * caller keeps) for anything else: flags, widths, other conversions. */
static int fast_format(struct cg_buf *b, const char *fmt, va_list ap)
{
    struct staged out_bytes = {.b = b, .n = 0};
    const char *p = fmt;
    for (;;) {
        const char *pct = strchr(p, '%');
        size_t lit = pct ? (size_t)(pct - p) : strlen(p);
        if (lit > 0 && stage(&out_bytes, p, lit) != 0)
            return -E2BIG;
        if (pct == NULL)
            return flush(&out_bytes) != 0 ? -E2BIG : 0;
        p = pct + 1;
        int longs = 0;
        bool size = false;
        bool star_precision = false;
        if (p[0] == '.' && p[1] == '*') {
            star_precision = true;
            p += 2;
        }
        while (*p == 'l' && longs < 2) {
            longs++;
            p++;
        }
        if (*p == 'z' && longs == 0) {
            size = true;
            p++;
        }
        char conv = *p++;
        if (star_precision && (conv != 's' || longs || size))
            return FORMAT_UNSUPPORTED;
        char digits[24];
        char *end = digits + sizeof(digits);
        const char *out = NULL;
        size_t n = 0;
        switch (conv) {
        case '%':
            if (longs || size)
                return FORMAT_UNSUPPORTED;
            out = "%";
            n = 1;
            break;
        case 'c':
            if (longs || size)
                return FORMAT_UNSUPPORTED;
            digits[0] = (char)va_arg(ap, int);
            out = digits;
            n = 1;
            break;
        case 's': {
            if (longs || size)
                return FORMAT_UNSUPPORTED;
            int precision = star_precision ? va_arg(ap, int) : -1;
            out = va_arg(ap, const char *);
            if (out == NULL) /* as glibc prints it: whole, or nothing when it does not fit */
                out = precision < 0 || precision >= 6 ? "(null)" : "";
            n = precision < 0 ? strlen(out) : strnlen(out, (size_t)precision);
            break;
        }
        case 'd':
        case 'i': {
            long long v = size         ? (long long)va_arg(ap, ssize_t)
                          : longs == 2 ? va_arg(ap, long long)
                          : longs == 1 ? va_arg(ap, long)
                                       : va_arg(ap, int);
            /* The magnitude as unsigned, so LLONG_MIN does not overflow. */
            unsigned long long mag = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
            char *start = put_decimal(end, mag);
            if (v < 0)
                *--start = '-';
            out = start;
            n = (size_t)(end - start);
            break;
        }
        case 'u': {
            unsigned long long v = size         ? va_arg(ap, size_t)
                                   : longs == 2 ? va_arg(ap, unsigned long long)
                                   : longs == 1 ? va_arg(ap, unsigned long)
                                                : va_arg(ap, unsigned);
            out = put_decimal(end, v);
            n = (size_t)(end - out);
            break;
        }
        default:
            return FORMAT_UNSUPPORTED;
        }
        if (stage(&out_bytes, out, n) != 0)
            return -E2BIG;
    }
}

/* Runs the fast formatter over a copy of ap, so a fallback can still read ap whole. All or
 * nothing, as every append here: on failure the buffer is as it was. */
static int try_fast_format(struct cg_buf *b, const char *fmt, va_list ap)
{
    size_t mark = b->len;
    va_list fast;
    va_copy(fast, ap);
    int r = fast_format(b, fmt, fast);
    va_end(fast);
    if (r != 0)
        cg_buf_truncate(b, mark);
    return r;
}

int cg_buf_vappendf(struct cg_buf *b, const char *fmt, va_list ap)
{
    int r = try_fast_format(b, fmt, ap);
    if (r == 0 && b->data == NULL)
        return cg_buf_append(b, "", 0); /* an empty result still leaves data a string */
    if (r != FORMAT_UNSUPPORTED)
        return r;
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

int cg_buf_format(char *out, size_t size, const char *fmt, ...)
{
    assert(size > 0);
    /* A buffer over the caller's array that can never grow: an append past it fails whole. */
    struct cg_buf b = {out, 0, size, size - 1};
    out[0] = '\0'; /* an empty result appends nothing */
    va_list ap;
    va_start(ap, fmt);
    int r = try_fast_format(&b, fmt, ap);
    int n = r == 0 ? (int)b.len : vsnprintf(out, size, fmt, ap); /* vsnprintf truncates */
    va_end(ap);
    return n;
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
    cg_buf_truncate(b, 0);
}

void cg_buf_truncate(struct cg_buf *b, size_t len)
{
    assert(len <= b->len);
    b->len = len;
    if (b->data)
        b->data[len] = '\0';
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
