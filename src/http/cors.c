/* cors.c: origin allow-list matching and CORS response headers. */
#include "http/cors.h"
#include <stdio.h>
#include <string.h>
#include "core/limits.h"
#include "util/buf.h"

/* What the official OpenAI SDKs send from a browser. */
static const char *const sdk_headers[] = {
    "Authorization", "Content-Type", "Accept", "OpenAI-Organization", "OpenAI-Project",
    "OpenAI-Beta", "OpenAI-Version", "X-Request-Id", "X-No-Keepalive", "X-Stainless-Arch",
    "X-Stainless-Async", "X-Stainless-Helper-Method", "X-Stainless-Lang", "X-Stainless-OS",
    "X-Stainless-Package-Version", "X-Stainless-Poll-Helper", "X-Stainless-Retry-Count",
    "X-Stainless-Runtime", "X-Stainless-Runtime-Version", "X-Stainless-Timeout",
};

/* Splits "scheme://host[:port]" (a trailing "/" is ignored) into lower-case parts. */
static bool parse_origin(struct cg_str s, struct cg_cors_origin *o)
{
    s = cg_str_trim(s);
    if (s.len > 0 && s.ptr[s.len - 1] == '/')
        s.len--;
    const char *sep = NULL;
    for (size_t i = 0; i + 2 < s.len; i++) {
        if (s.ptr[i] == ':' && s.ptr[i + 1] == '/' && s.ptr[i + 2] == '/') {
            sep = s.ptr + i;
            break;
        }
    }
    if (sep == NULL)
        return false;
    size_t slen = (size_t)(sep - s.ptr);
    const char *h = sep + 3;
    size_t rest = s.len - slen - 3;
    if (slen == 0 || slen >= sizeof(o->scheme) || rest == 0 || memchr(h, '/', rest))
        return false;
    /* The port is after the last ':' unless that ':' is inside an IPv6 literal. */
    const char *colon = NULL;
    for (size_t i = rest; i > 0; i--) {
        if (h[i - 1] == ']')
            break;
        if (h[i - 1] == ':') {
            colon = h + i - 1;
            break;
        }
    }
    size_t hlen = colon ? (size_t)(colon - h) : rest;
    size_t plen = colon ? rest - hlen - 1 : 0;
    if (hlen == 0 || hlen >= sizeof(o->host) || plen >= sizeof(o->port) || (colon && plen == 0))
        return false;
    for (size_t i = 0; i < slen; i++)
        o->scheme[i] = cg_ascii_lower(s.ptr[i]);
    o->scheme[slen] = '\0';
    for (size_t i = 0; i < hlen; i++)
        o->host[i] = cg_ascii_lower(h[i]);
    o->host[hlen] = '\0';
    memcpy(o->port, colon ? colon + 1 : "", plen);
    o->port[plen] = '\0';
    return true;
}

int cg_cors_init(struct cg_cors *c, bool enabled, const char *list, char *errbuf, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->enabled = enabled;
    struct cg_str rest = cg_str_from(list);
    while (rest.len > 0) {
        struct cg_str item = cg_str_trim(cg_str_split(&rest, ','));
        if (item.len == 0)
            continue;
        if (cg_str_eq(item, CG_STR("*"))) {
            c->any = true;
            continue;
        }
        if (c->count == CG_CORS_MAX_ORIGINS) {
            snprintf(errbuf, errlen, "PROXY_CORS_ALLOWED_ORIGINS: more than %d origins",
                     CG_CORS_MAX_ORIGINS);
            return -1;
        }
        if (!parse_origin(item, &c->origins[c->count])) {
            snprintf(errbuf, errlen,
                     "PROXY_CORS_ALLOWED_ORIGINS: \"%.*s\" is not scheme://host[:port]",
                     (int)CG_MIN(item.len, 80), item.ptr);
            return -1;
        }
        c->count++;
    }
    return 0;
}

static bool host_matches(const char *pattern, const char *host)
{
    if (pattern[0] == '*' && pattern[1] == '.') {
        size_t plen = strlen(pattern + 1); /* ".example.com" */
        size_t hlen = strlen(host);
        return hlen > plen && strcmp(host + hlen - plen, pattern + 1) == 0;
    }
    return strcmp(pattern, host) == 0;
}

bool cg_cors_allowed(const struct cg_cors *c, struct cg_str origin)
{
    if (!c->enabled || origin.ptr == NULL || origin.len == 0)
        return false;
    struct cg_cors_origin o;
    if (!parse_origin(origin, &o))
        return false; /* "null" and other opaque origins are never allowed */
    if (c->any)
        return true;
    for (size_t i = 0; i < c->count; i++) {
        const struct cg_cors_origin *a = &c->origins[i];
        if (strcmp(a->scheme, o.scheme) != 0 || !host_matches(a->host, o.host))
            continue;
        if (strcmp(a->port, "*") == 0 || strcmp(a->port, o.port) == 0)
            return true;
    }
    return false;
}

bool cg_cors_is_preflight(const struct cg_exchange *ex)
{
    return ex->method == CG_METHOD_OPTIONS && cg_exchange_has_header(ex, "origin") &&
           cg_exchange_has_header(ex, "access-control-request-method");
}

void cg_cors_apply(const struct cg_cors *c, struct cg_exchange *ex)
{
    if (!c->enabled)
        return;
    cg_exchange_add_header(ex, "Vary", "Origin");
    struct cg_str origin = cg_exchange_header(ex, "origin");
    if (!cg_cors_allowed(c, origin))
        return;
    char value[CG_CORS_ORIGIN_MAX_BYTES + 32];
    snprintf(value, sizeof(value), "%.*s", (int)CG_MIN(origin.len, CG_CORS_ORIGIN_MAX_BYTES),
             origin.ptr);
    cg_exchange_add_header(ex, "Access-Control-Allow-Origin", value);
    cg_exchange_add_header(ex, "Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
}

static bool is_token_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

static bool known_header(struct cg_str name)
{
    for (size_t i = 0; i < CG_ARRAY_SIZE(sdk_headers); i++) {
        if (cg_str_ieq(name, cg_str_from(sdk_headers[i])))
            return true;
    }
    return false;
}

void cg_cors_preflight(const struct cg_cors *c, struct cg_exchange *ex, const char *methods)
{
    if (!c->enabled || !cg_cors_allowed(c, cg_exchange_header(ex, "origin")))
        return;
    cg_exchange_add_header(ex, "Access-Control-Allow-Methods", methods);
    struct cg_buf list;
    cg_buf_init(&list, CG_CORS_ECHO_MAX_BYTES + 512);
    int err = 0;
    for (size_t i = 0; i < CG_ARRAY_SIZE(sdk_headers) && !err; i++)
        err = cg_buf_appendf(&list, "%s%s", i ? ", " : "", sdk_headers[i]);
    /* Echo what else the browser asks for, as long as it is a plain header name. */
    struct cg_str rest = cg_exchange_header(ex, "access-control-request-headers");
    size_t echoed = 0;
    while (!err && rest.ptr && rest.len > 0) {
        struct cg_str name = cg_str_trim(cg_str_split(&rest, ','));
        bool ok = name.len > 0 && name.len <= 64;
        for (size_t i = 0; ok && i < name.len; i++)
            ok = is_token_char(name.ptr[i]);
        if (!ok || known_header(name) || echoed + name.len > CG_CORS_ECHO_MAX_BYTES)
            continue;
        echoed += name.len;
        err = cg_buf_appendf(&list, ", %.*s", (int)name.len, name.ptr);
    }
    if (!err)
        cg_exchange_add_header(ex, "Access-Control-Allow-Headers", list.data);
    cg_buf_dispose(&list);
    cg_exchange_add_header(ex, "Access-Control-Max-Age", "600");
}
