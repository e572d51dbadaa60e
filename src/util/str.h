/* str.h: byte spans that are not NUL-terminated (h2o's iovec), with the few comparisons the
 * HTTP layer needs. A cg_str never owns its bytes. */
#ifndef CG_UTIL_STR_H
#define CG_UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct cg_str {
    const char *ptr;
    size_t len;
};

#define CG_STR(lit) ((struct cg_str){(lit), sizeof(lit) - 1})

static inline struct cg_str cg_str_from(const char *s)
{
    return (struct cg_str){s, s ? strlen(s) : 0};
}

static inline bool cg_str_eq(struct cg_str a, struct cg_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* ASCII case-insensitive equality (header names, schemes, hosts). */
bool cg_str_ieq(struct cg_str a, struct cg_str b);

/* Removes leading and trailing spaces and tabs. */
struct cg_str cg_str_trim(struct cg_str s);

/* Splits `*rest` at the first `sep`: returns the part before it and advances `*rest` past it.
 * When `sep` is absent the whole rest is returned and `*rest` becomes empty. */
struct cg_str cg_str_split(struct cg_str *rest, char sep);

/* Percent-decodes `in` (a path segment or query value) into out[size], NUL-terminated; false
 * when it is malformed, holds a NUL, or does not fit. */
bool cg_str_percent_decode(struct cg_str in, char *out, size_t size, size_t *outlen);

static inline char cg_ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

#endif
