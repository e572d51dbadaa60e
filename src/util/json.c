/* json.c: string escaper (pinned to jansson's output by tests) and a jansson dump adapter. */
#include "util/json.h"
#include <stdbool.h>
#include <string.h>

size_t cg_json_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0; /* overlong or out of range */
    if (cp >= 0xd800 && cp <= 0xdfff)
        return 0; /* surrogates are not characters */
    return len;
}

int cg_json_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t l = cg_json_utf8_len(p + i, n - i);
        if (l == 0)
            return 0;
        i += l;
    }
    return 1;
}

size_t cg_json_utf8_boundary(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    /* Step back over at most 3 continuation bytes to find the last lead byte. */
    size_t back = 0;
    while (back < 4 && back < n && (p[n - 1 - back] & 0xc0) == 0x80)
        back++;
    if (back == n)
        return n;
    size_t lead = n - 1 - back;
    unsigned char c = p[lead];
    size_t want = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return (back + 1 < want) ? lead : n;
}

int cg_json_string(struct cg_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF"; /* as jansson writes them */
    const unsigned char *p = (const unsigned char *)s;
    int err = cg_buf_append_char(b, '"');
    size_t run = 0; /* start of the pending run of bytes that need no escaping */
    size_t i = 0;
    while (!err && i < n) {
        if (n - i >= 8 && cg_json_unplain8(s + i) == 0) {
            i += 8;
            continue;
        }
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = cg_json_utf8_len(p + i, n - i);
            if (l > 0) {
                i += l;
                continue;
            }
        }
        err = cg_buf_append(b, p + run, i - run);
        if (err)
            break;
        char esc[6];
        size_t elen = 2;
        esc[0] = '\\';
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            if (c >= 0x80) {
                err = cg_buf_append(b, "\xef\xbf\xbd", 3); /* U+FFFD for an invalid byte */
                elen = 0;
                break;
            }
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
            break;
        }
        if (!err && elen)
            err = cg_buf_append(b, esc, elen);
        i++;
        run = i;
    }
    if (!err)
        err = cg_buf_append(b, p + run, i - run);
    if (!err)
        err = cg_buf_append_char(b, '"');
    return err;
}

int cg_json_cstring(struct cg_buf *b, const char *s)
{
    if (s == NULL)
        return cg_buf_append(b, "null", 4);
    return cg_json_string(b, s, strlen(s));
}

int cg_json_dump(struct cg_buf *b, const json_t *v)
{
    /* json_dumpb into spare room: jansson's callback form calls back once per token. */
    enum { SPARE_BYTES = 4096 };
    /* 15 significant digits: a number a client wrote (0.7) comes back as written, not as
     * the nearest double's 17 digits (0.69999999999999996). */
    const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15);
    char *room = cg_buf_reserve(b, SPARE_BYTES);
    if (room == NULL)
        return -1;
    size_t n = json_dumpb(v, room, SPARE_BYTES, flags);
    if (n == 0)
        return -1;
    if (n > SPARE_BYTES) {
        room = cg_buf_reserve(b, n);
        if (room == NULL || json_dumpb(v, room, n, flags) != n)
            return -1;
    }
    cg_buf_commit(b, n);
    return 0;
}

/* Past this nesting a value is left to jansson's serialiser. */
#define DUMP_DEPTH_MAX 32

/* jansson refuses a string or key that is not UTF-8; so do we (it then decides). */
static int dump_string(struct cg_buf *b, const char *s, size_t len)
{
    if (!cg_json_utf8_valid(s, len))
        return -1;
    return cg_json_string(b, s, len);
}

/* The compact form jansson writes (members in insertion order, the same string escapes), for
 * the values our calls are made of; -1 for a real (whose digits are jansson's to choose), a
 * string or key that is not UTF-8 or deep nesting, and cg_json_write asks jansson. */
static int dump_fast(struct cg_buf *b, const json_t *v, int depth)
{
    if (depth > DUMP_DEPTH_MAX)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (cg_buf_append_char(b, '{') != 0)
            return -1;
        bool first = true;
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it)) {
            if (!first && cg_buf_append_char(b, ',') != 0)
                return -1;
            first = false;
            if (dump_string(b, json_object_iter_key(it), json_object_iter_key_len(it)) != 0 ||
                cg_buf_append_char(b, ':') != 0 ||
                dump_fast(b, json_object_iter_value(it), depth + 1) != 0)
                return -1;
        }
        return cg_buf_append_char(b, '}');
    }
    case JSON_ARRAY: {
        if (cg_buf_append_char(b, '[') != 0)
            return -1;
        for (size_t i = 0; i < json_array_size(v); i++) {
            if ((i > 0 && cg_buf_append_char(b, ',') != 0) ||
                dump_fast(b, json_array_get(v, i), depth + 1) != 0)
                return -1;
        }
        return cg_buf_append_char(b, ']');
    }
    case JSON_STRING:
        return dump_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return cg_buf_appendf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_TRUE:
        return cg_buf_append(b, "true", 4);
    case JSON_FALSE:
        return cg_buf_append(b, "false", 5);
    case JSON_NULL:
        return cg_buf_append(b, "null", 4);
    default:
        return -1;
    }
}

int cg_json_write(struct cg_buf *b, const json_t *v)
{
    size_t mark = b->len;
    if (dump_fast(b, v, 0) == 0)
        return 0;
    cg_buf_truncate(b, mark);
    return cg_json_dump(b, v);
}
