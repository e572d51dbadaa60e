/* line_scan.c: a strict recursive-descent JSON reader that builds jansson values directly.
 * Every rule here mirrors jansson's decoder (load.c) for the subset it accepts; anything
 * outside that subset declines so that jansson has the last word. */
#include "util/line_scan.h"
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "util/alloc.h"
#include "util/json.h"

/* Decoded strings shorter than this stay on the stack. */
#define SCRATCH_BYTES 512
/* strtoll's range holds every integer of 18 digits; longer ones are jansson's to judge. */
#define INT_DIGITS_MAX 18

struct reader {
    const char *p;
    const char *end;
    bool allow_nul; /* a \u0000 in a string value is read (else declined, as jansson's flags 0) */
};

static json_t *read_value(struct reader *r, size_t depth);

/* 1 for the bytes a string holds as they are: printable ASCII but the quote and the backslash
 * (control bytes are invalid, the rest start escapes or UTF-8 sequences). */
static const unsigned char plain_byte[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* p moved past the plain bytes before end. */
static const char *skip_plain(const char *p, const char *end)
{
    while (end - p >= 8) {
        uint64_t hit = cg_json_unplain8(p);
        if (hit == 0) {
            p += 8;
            continue;
        }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        return p + (__builtin_ctzll(hit) >> 3); /* the first byte in memory is the lowest */
#else
        break;
#endif
    }
    while (p < end && plain_byte[(unsigned char)*p]) {
        p++;
    }
    return p;
}

static void skip_ws(struct reader *r)
{
    /* Every whitespace byte is at most ' ': most calls stop at the first test. */
    while (r->p < r->end && (unsigned char)*r->p <= ' ' &&
           (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) {
        r->p++;
    }
}

/* After an item of an object or array: SEP_MORE past a ',' (another item follows), SEP_CLOSED
 * past `close`, SEP_BAD for anything else. */
enum sep { SEP_MORE, SEP_CLOSED, SEP_BAD };

static enum sep after_item(struct reader *r, char close)
{
    skip_ws(r);
    if (r->p < r->end && *r->p == ',') {
        r->p++;
        skip_ws(r);
        return SEP_MORE;
    }
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return SEP_CLOSED;
    }
    return SEP_BAD;
}

static int hex4(const char *p, const char *end, uint32_t *out)
{
    if (end - p < 4)
        return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (uint32_t)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (uint32_t)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (uint32_t)(c - 'A' + 10);
        } else {
            return -1;
        }
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* One escape at p (just after the backslash) into out; returns the bytes written (at most 4)
 * and advances *pp past the escape, 0 when jansson would reject it. */
static size_t unescape(const char **pp, const char *end, char *out)
{
    const char *p = *pp;
    if (p == end)
        return 0;
    char c = *p++;
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    const char *hit = c ? memchr(from, c, sizeof(from) - 1) : NULL;
    if (hit) {
        *pp = p;
        out[0] = to[hit - from];
        return 1;
    }
    if (c != 'u')
        return 0;
    uint32_t cp = 0;
    if (hex4(p, end, &cp) != 0)
        return 0;
    p += 4;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return 0; /* a low surrogate with no high one before it */
    if (cp >= 0xd800 && cp <= 0xdbff) {
        uint32_t lo = 0;
        if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo) != 0 ||
            lo < 0xdc00 || lo > 0xdfff)
            return 0;
        p += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    *pp = p;
    return put_utf8(out, cp);
}

/* A string's decoded bytes: in place when it has no escapes, else in `buf` (the stack
 * scratch, or the heap when it is larger: then `heap` is set and the caller frees it). */
struct span {
    const char *ptr;
    size_t len;
    bool nul; /* the bytes hold a NUL (only \u0000 makes one) */
    char *heap;
};

/* Reads the string whose opening quote is at r->p; false when jansson would reject it. With no
 * `scratch` the string is only checked (`out` then holds no bytes). */
static bool read_string(struct reader *r, char *scratch, size_t scratch_len, struct span *out)
{
    const char *start = ++r->p;
    const char *p = start;
    const char *end = r->end;
    bool escaped = false;
    out->heap = NULL;
    out->nul = false;
    for (;;) {
        p = skip_plain(p, end);
        if (p >= end)
            return false;
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (end - p < 2)
                return false; /* the line ends inside an escape */
            escaped = true;
            p += 2; /* checked when decoding; the byte after it is never the closing quote */
            continue;
        }
        if (c >= 0x80) {
            size_t n = cg_json_utf8_len((const unsigned char *)p, (size_t)(end - p));
            if (n == 0)
                return false;
            p += n;
            continue;
        }
        p++;
    }
    size_t raw = (size_t)(p - start);
    r->p = p + 1;
    if (!escaped) {
        out->ptr = start;
        out->len = raw;
        return true;
    }
    if (scratch == NULL) {
        /* Only checked: each escape decodes into a throwaway. */
        for (const char *q = start; q < p;) {
            char tmp[4];
            char c = *q;
            q++;
            if (c != '\\')
                continue;
            if (unescape(&q, p, tmp) == 0)
                return false;
        }
        out->ptr = NULL;
        out->len = 0;
        return true;
    }
    /* An escape never decodes to more bytes than it takes (\uXXXX: 6 → at most 3, a pair:
     * 12 → 4). */
    char *buf = scratch;
    if (raw > scratch_len) {
        buf = cg_xmalloc(raw); /* no more than the line itself */
        out->heap = buf;
    }
    size_t n = 0;
    for (const char *q = start; q < p;) {
        if (*q != '\\') {
            buf[n++] = *q++;
            continue;
        }
        q++;
        size_t k = unescape(&q, p, buf + n);
        if (k == 0) {
            free(out->heap);
            out->heap = NULL;
            return false;
        }
        if (k == 1 && buf[n] == '\0') {
            out->nul = true;
        }
        n += k;
    }
    out->ptr = buf;
    out->len = n;
    return true;
}

static json_t *read_string_value(struct reader *r)
{
    char scratch[SCRATCH_BYTES];
    struct span s = {0};
    if (!read_string(r, scratch, sizeof(scratch), &s))
        return NULL;
    if (s.nul && !r->allow_nul) {
        free(s.heap);
        return NULL;
    }
    json_t *v = json_stringn_nocheck(s.ptr, s.len);
    free(s.heap);
    return v;
}

static json_t *read_object(struct reader *r, size_t depth)
{
    json_t *obj = json_object();
    r->p++;
    skip_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return obj;
    }
    for (;;) {
        char scratch[SCRATCH_BYTES];
        struct span key = {0};
        if (r->p == r->end || *r->p != '"' || !read_string(r, scratch, sizeof(scratch), &key))
            goto fail;
        if (key.nul) {
            free(key.heap);
            goto fail; /* jansson: "NUL byte in object key not supported" */
        }
        skip_ws(r);
        json_t *v = NULL;
        if (r->p < r->end && *r->p == ':') {
            r->p++;
            skip_ws(r);
            v = read_value(r, depth + 1);
        }
        if (v == NULL) {
            free(key.heap);
            goto fail;
        }
        size_t before = json_object_size(obj);
        int err = json_object_setn_new_nocheck(obj, key.ptr, key.len, v);
        free(key.heap);
        if (err != 0 || json_object_size(obj) == before)
            goto fail; /* a repeated key */
        enum sep next = after_item(r, '}');
        if (next == SEP_CLOSED)
            return obj;
        if (next == SEP_BAD)
            goto fail;
    }
fail:
    json_decref(obj);
    return NULL;
}

static json_t *read_array(struct reader *r, size_t depth)
{
    json_t *arr = json_array();
    r->p++;
    skip_ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return arr;
    }
    for (;;) {
        json_t *v = read_value(r, depth + 1);
        if (v == NULL || json_array_append_new(arr, v) != 0)
            goto fail;
        enum sep next = after_item(r, ']');
        if (next == SEP_CLOSED)
            return arr;
        if (next == SEP_BAD)
            goto fail;
    }
fail:
    json_decref(arr);
    return NULL;
}

/* -?(0|[1-9][0-9]*) not followed by a fraction or an exponent (reals are jansson's). */
static bool scan_integer(struct reader *r, int64_t *out)
{
    const char *p = r->p;
    bool neg = false;
    if (p < r->end && *p == '-') {
        neg = true;
        p++;
    }
    const char *digits = p;
    /* Accumulated as read, at most 18 digits (which cannot overflow); a 19th declines. */
    int64_t v = 0;
    while (p < r->end && *p >= '0' && *p <= '9' && p - digits < INT_DIGITS_MAX) {
        v = v * 10 + (*p - '0');
        p++;
    }
    if (p < r->end && *p >= '0' && *p <= '9')
        return false;
    size_t n = (size_t)(p - digits);
    if (n == 0 || (n > 1 && digits[0] == '0'))
        return false;
    if (p < r->end && (*p == '.' || *p == 'e' || *p == 'E'))
        return false;
    r->p = p;
    *out = neg ? -v : v;
    return true;
}

static json_t *read_integer(struct reader *r)
{
    int64_t v = 0;
    if (!scan_integer(r, &v))
        return NULL;
    return json_integer((json_int_t)v);
}

static bool scan_literal(struct reader *r, const char *word, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return false;
    r->p += n;
    /* jansson reads a run of letters as one token: "truex" is not true. */
    return r->p == r->end || !((*r->p >= 'a' && *r->p <= 'z') || (*r->p >= 'A' && *r->p <= 'Z'));
}

static json_t *read_literal(struct reader *r, const char *word, size_t n, json_t *value)
{
    return scan_literal(r, word, n) ? value : NULL;
}

static json_t *read_value(struct reader *r, size_t depth)
{
    if (r->p == r->end || depth > CG_LINE_SCAN_DEPTH_MAX)
        return NULL;
    switch (*r->p) {
    case '"':
        return read_string_value(r);
    case '{':
        return read_object(r, depth);
    case '[':
        return read_array(r, depth);
    case 't':
        return read_literal(r, "true", 4, json_true());
    case 'f':
        return read_literal(r, "false", 5, json_false());
    case 'n':
        return read_literal(r, "null", 4, json_null());
    default:
        return read_integer(r);
    }
}

json_t *cg_line_scan_load(const char *text, size_t len, bool allow_nul)
{
    struct reader r = {text, text + len, allow_nul};
    skip_ws(&r);
    if (r.p == r.end || *r.p != '{')
        return NULL;
    json_t *v = read_value(&r, 1);
    if (v == NULL)
        return NULL;
    skip_ws(&r);
    if (r.p != r.end) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* --- reading fields without building ------------------------------------------------------ */

struct walk {
    struct reader r;
    struct cg_line_scan_field *fields;
    size_t n;
    char *scratch;
    size_t cap;
    size_t used;
    size_t name_len[CG_LINE_SCAN_FIELDS_MAX][CG_LINE_SCAN_PATH_MAX];
    /* Per level, bit k set when some path's name there is k bytes long (k < 64; bit 63 for all
     * longer ones): most keys of a line match no path by their length alone. */
    uint64_t lengths[CG_LINE_SCAN_PATH_MAX];
    /* Per field, the path steps already entered, to catch a repeated key on the way. */
    unsigned visited[CG_LINE_SCAN_FIELDS_MAX];
};

static uint64_t length_bit(size_t len)
{
    return 1ull << (len < 63 ? len : 63);
}

/* Decodes the string at w->r.p into the scratch (when it has escapes). */
static bool walk_string(struct walk *w, struct span *out)
{
    const char *start = w->r.p + 1;
    if (!read_string(&w->r, w->scratch + w->used, w->cap - w->used, out))
        return false;
    if (out->heap) {
        free(out->heap);
        return false; /* too little scratch */
    }
    if (out->ptr != start) {
        w->used += out->len;
    }
    return true;
}

/* The scalar at w->r.p: its type, and its value for a string or an integer. */
static bool walk_scalar(struct walk *w, enum cg_line_scan_type *type, struct span *s,
                        int64_t *integer)
{
    struct reader *r = &w->r;
    switch (*r->p) {
    case '"':
        *type = CG_LINE_SCAN_STRING;
        return walk_string(w, s);
    case 't':
        *type = CG_LINE_SCAN_TRUE;
        return scan_literal(r, "true", 4);
    case 'f':
        *type = CG_LINE_SCAN_FALSE;
        return scan_literal(r, "false", 5);
    case 'n':
        *type = CG_LINE_SCAN_NULL;
        return scan_literal(r, "null", 4);
    default:
        *type = CG_LINE_SCAN_INTEGER;
        return scan_integer(r, integer);
    }
}

static bool walk_value(struct walk *w, size_t depth, unsigned mask, size_t level);

/* Walks a member's value, recording it for the fields in `here` (whose paths end at it). */
static bool walk_member(struct walk *w, size_t depth, unsigned here, unsigned deeper, size_t level)
{
    struct reader *r = &w->r;
    if (here == 0)
        return walk_value(w, depth, deeper, level + 1);
    if (r->p == r->end)
        return false;
    enum cg_line_scan_type type = CG_LINE_SCAN_ABSENT;
    struct span s = {0};
    int64_t integer = 0;
    if (*r->p == '{' || *r->p == '[') {
        type = *r->p == '{' ? CG_LINE_SCAN_OBJECT : CG_LINE_SCAN_ARRAY;
        if (!walk_value(w, depth, deeper, level + 1))
            return false;
    } else if (!walk_scalar(w, &type, &s, &integer)) {
        return false;
    }
    for (size_t i = 0; i < w->n; i++) {
        if ((here & (1u << i)) == 0)
            continue;
        struct cg_line_scan_field *f = &w->fields[i];
        if (f->type != CG_LINE_SCAN_ABSENT)
            return false; /* a repeated key */
        f->type = type;
        f->str = (struct cg_str){s.ptr, s.len};
        f->has_nul = s.nul;
        f->integer = integer;
    }
    return true;
}

static bool walk_object(struct walk *w, size_t depth, unsigned mask, size_t level)
{
    struct reader *r = &w->r;
    r->p++;
    skip_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return true;
    }
    for (;;) {
        struct span key = {0};
        char scratch[SCRATCH_BYTES];
        if (r->p == r->end || *r->p != '"' || !read_string(r, scratch, sizeof(scratch), &key))
            return false;
        if (key.heap) {
            free(key.heap);
            return false; /* a long escaped key: rare enough to leave to jansson */
        }
        if (key.nul)
            return false;
        /* Which fields name this member: `here` end at it, `deeper` go on inside it. */
        unsigned here = 0;
        unsigned deeper = 0;
        unsigned named = mask && (w->lengths[level] & length_bit(key.len)) ? mask : 0;
        for (unsigned m = named; m != 0; m &= m - 1) {
            size_t i = (size_t)__builtin_ctz(m);
            struct cg_line_scan_field *f = &w->fields[i];
            const char *name = f->path[level];
            if (w->name_len[i][level] != key.len ||
                (key.len > 0 && (name[0] != key.ptr[0] || memcmp(name, key.ptr, key.len) != 0)))
                continue;
            if (f->path[level + 1] == NULL) {
                here |= 1u << i;
                continue;
            }
            if (w->visited[i] & (1u << level))
                return false; /* a repeated key on the way */
            w->visited[i] |= 1u << level;
            deeper |= 1u << i;
        }
        skip_ws(r);
        if (r->p == r->end || *r->p != ':')
            return false;
        r->p++;
        skip_ws(r);
        /* Paths go on only through objects: json_object_get on anything else finds nothing. */
        if (r->p < r->end && *r->p != '{') {
            deeper = 0;
        }
        if (!walk_member(w, depth + 1, here, deeper, level))
            return false;
        enum sep next = after_item(r, '}');
        if (next == SEP_CLOSED)
            return true;
        if (next == SEP_BAD)
            return false;
    }
}

static bool walk_array(struct walk *w, size_t depth)
{
    struct reader *r = &w->r;
    r->p++;
    skip_ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return true;
    }
    for (;;) {
        if (!walk_value(w, depth + 1, 0, 0))
            return false;
        enum sep next = after_item(r, ']');
        if (next == SEP_CLOSED)
            return true;
        if (next == SEP_BAD)
            return false;
    }
}

/* Checks one value as read_value would; `mask` holds the fields whose paths have matched
 * `level` steps down to this value. */
static bool walk_value(struct walk *w, size_t depth, unsigned mask, size_t level)
{
    struct reader *r = &w->r;
    if (r->p == r->end || depth > CG_LINE_SCAN_DEPTH_MAX)
        return false;
    switch (*r->p) {
    case '{':
        return walk_object(w, depth, mask, level);
    case '[':
        return walk_array(w, depth);
    case '"': {
        struct span s = {0};
        return read_string(r, NULL, 0, &s);
    }
    default: {
        enum cg_line_scan_type type = CG_LINE_SCAN_ABSENT;
        struct span s = {0};
        int64_t integer = 0;
        return walk_scalar(w, &type, &s, &integer);
    }
    }
}

bool cg_line_scan_fields(const char *line, size_t len, struct cg_line_scan_field *fields, size_t n,
                         char *scratch, size_t cap)
{
    assert(n <= CG_LINE_SCAN_FIELDS_MAX && scratch != NULL);
    unsigned mask = 0;
    for (size_t i = 0; i < n; i++) {
        assert(fields[i].path[0] != NULL);
        fields[i].type = CG_LINE_SCAN_ABSENT;
        fields[i].str = (struct cg_str){NULL, 0};
        fields[i].has_nul = false;
        fields[i].integer = 0;
        mask |= 1u << i;
    }
    struct walk w = {{line, line + len, true}, fields, n, scratch, cap, 0, {{0}}, {0}, {0}};
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < CG_LINE_SCAN_PATH_MAX && fields[i].path[k]; k++) {
            w.name_len[i][k] = strlen(fields[i].path[k]);
            w.lengths[k] |= length_bit(w.name_len[i][k]);
        }
    }
    skip_ws(&w.r);
    if (w.r.p == w.r.end || *w.r.p != '{')
        return false;
    if (!walk_value(&w, 1, mask, 0))
        return false;
    skip_ws(&w.r);
    return w.r.p == w.r.end;
}
