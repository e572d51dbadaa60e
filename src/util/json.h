/* json.h: JSON output helpers. The per-token SSE path writes JSON by hand with cg_json_string
 * (no DOM); larger bodies are built with jansson and appended with cg_json_dump. Both produce
 * valid UTF-8: invalid input bytes become U+FFFD. */
#ifndef CG_UTIL_JSON_H
#define CG_UTIL_JSON_H

#include <jansson.h>
#include <stdint.h>
#include "util/buf.h"
#include "util/common.h"

/* Appends `s` as a quoted JSON string. */
int cg_json_string(struct cg_buf *b, const char *s, size_t n) CG_MUST_CHECK;
int cg_json_cstring(struct cg_buf *b, const char *s) CG_MUST_CHECK; /* NULL → null */

/* Appends the compact serialisation of `v`. */
int cg_json_dump(struct cg_buf *b, const json_t *v) CG_MUST_CHECK;

/* True when [s, s+n) is valid UTF-8. */
int cg_json_utf8_valid(const char *s, size_t n);

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8 sequence. */
size_t cg_json_utf8_boundary(const char *s, size_t n);

#endif
