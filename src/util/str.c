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
