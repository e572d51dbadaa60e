/* json.h: JSON output helpers. The per-token SSE path writes JSON by hand with cg_json_string
 * (no DOM); larger bodies are built with jansson and appended with cg_json_dump. Both produce
 * valid UTF-8: invalid input bytes become U+FFFD. */
#ifndef CG_UTIL_JSON_H
#define CG_UTIL_JSON_H

#include <jansson.h>
#include <stdint.h>
#include <string.h>
#include "util/buf.h"
#include "util/common.h"

/* Appends `s` as a quoted JSON string. */
int cg_json_string(struct cg_buf *b, const char *s, size_t n) CG_MUST_CHECK;
int cg_json_cstring(struct cg_buf *b, const char *s) CG_MUST_CHECK; /* NULL → null */

/* Appends the compact serialisation of `v`. */
int cg_json_dump(struct cg_buf *b, const json_t *v) CG_MUST_CHECK;
/* The same bytes as cg_json_dump, written by hand for strings, integers, literals and their
 * containers (a fraction of jansson's cost), by jansson for the rest. */
int cg_json_write(struct cg_buf *b, const json_t *v) CG_MUST_CHECK;

/* The bytes at p[0..8) a JSON string cannot hold as they are, a word at a time: a mask with
 * the high bit of each such byte set (a control byte, a quote, a backslash, or above 0x7f),
 * 0 when all 8 are plain ASCII. (x - k) & ~x flags the bytes of x below k; a borrow can only
 * flag bytes above a true one, so the lowest flag is always exact. */
static inline uint64_t cg_json_unplain8(const char *p)
{
    const uint64_t ones = 0x0101010101010101u;
    const uint64_t high = 0x8080808080808080u;
    uint64_t v = 0;
    memcpy(&v, p, sizeof(v));
    uint64_t quote = v ^ (ones * '"');
    uint64_t backslash = v ^ (ones * '\\');
    uint64_t control = (v - ones * 0x20) & ~v;
    uint64_t any_quote = (quote - ones) & ~quote;
    uint64_t any_backslash = (backslash - ones) & ~backslash;
    return (control | any_quote | any_backslash | v) & high;
}

/* Length of the UTF-8 sequence at s[0..n) (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF; 1 for ASCII), 0 when the bytes there are not one. */
size_t cg_json_utf8_len(const unsigned char *s, size_t n);

/* True when [s, s+n) is valid UTF-8. */
int cg_json_utf8_valid(const char *s, size_t n);

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8 sequence. */
size_t cg_json_utf8_boundary(const char *s, size_t n);

#endif
