/* str.c: span helpers. */
#include "util/str.h"

bool cg_str_ieq(struct cg_str a, struct cg_str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++) {
        if (cg_ascii_lower(a.ptr[i]) != cg_ascii_lower(b.ptr[i]))
            return false;
    }
    return true;
}

struct cg_str cg_str_trim(struct cg_str s)
{
    while (s.len > 0 && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

struct cg_str cg_str_split(struct cg_str *rest, char sep)
{
    const char *p = rest->len ? memchr(rest->ptr, sep, rest->len) : NULL;
    struct cg_str head;
    if (p == NULL) {
        head = *rest;
        rest->ptr += rest->len;
        rest->len = 0;
        return head;
    }
    head.ptr = rest->ptr;
    head.len = (size_t)(p - rest->ptr);
    rest->len -= head.len + 1;
    rest->ptr = p + 1;
    return head;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool cg_str_percent_decode(struct cg_str in, char *out, size_t size, size_t *outlen)
{
    size_t n = 0;
    for (size_t i = 0; i < in.len; i++) {
        char c = in.ptr[i];
        if (c == '%') {
            if (i + 2 >= in.len)
                return false;
            int hi = hex_value(in.ptr[i + 1]);
            int lo = hex_value(in.ptr[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (n + 1 >= size || c == '\0')
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    *outlen = n;
    return true;
}
