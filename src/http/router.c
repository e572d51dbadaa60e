/* router.c: route lookup, method and access checks. */
#include "http/router.h"
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "util/buf.h"

enum { ALLOW_HEADER_BYTES = 96 };

static unsigned effective_methods(unsigned methods)
{
    if (methods & CG_METHOD_GET)
        methods |= CG_METHOD_HEAD;
    return methods | CG_METHOD_OPTIONS;
}

static void allow_value(unsigned methods, char *out, size_t size)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{CG_METHOD_GET, "GET"},        {CG_METHOD_HEAD, "HEAD"},
                 {CG_METHOD_POST, "POST"},      {CG_METHOD_PUT, "PUT"},
                 {CG_METHOD_PATCH, "PATCH"},    {CG_METHOD_DELETE, "DELETE"},
                 {CG_METHOD_OPTIONS, "OPTIONS"}};
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < CG_ARRAY_SIZE(names); i++) {
        if (!(methods & names[i].bit))
            continue;
        int w = snprintf(out + n, size - n, "%s%s", n ? ", " : "", names[i].name);
        if (w < 0 || (size_t)w >= size - n)
            break;
        n += (size_t)w;
    }
}

/* "/v1/models/" matches the route "/v1/models": one trailing slash is forgiven. */
static struct cg_str normalised_path(const struct cg_exchange *ex)
{
    struct cg_str p = ex->path;
    if (p.len > 1 && p.ptr[p.len - 1] == '/')
        p.len--;
    return p;
}

static const struct cg_route *find(const struct cg_router *r, struct cg_str path)
{
    for (size_t i = 0; i < r->count; i++) {
        const struct cg_route *rt = &r->routes[i];
        struct cg_str rp = cg_str_from(rt->path);
        if (cg_str_eq(path, rp))
            return rt;
        if (rt->prefix && path.len > rp.len + 1 && memcmp(path.ptr, rp.ptr, rp.len) == 0 &&
            path.ptr[rp.len] == '/')
            return rt;
    }
    return NULL;
}

struct cg_str cg_router_tail(const struct cg_exchange *ex, const char *prefix)
{
    size_t plen = strlen(prefix);
    struct cg_str p = normalised_path(ex);
    if (p.len <= plen + 1)
        return (struct cg_str){p.ptr + p.len, 0};
    return (struct cg_str){p.ptr + plen + 1, p.len - plen - 1};
}

enum { KEY_LABEL_BYTES = 24 };

/* Scrapers are not API clients: an API key does not open /metrics, and the token opens
 * nothing else. */
static enum cg_err check_metrics_access(const struct cg_router *r, const struct cg_exchange *ex)
{
    if (ex->peer_loopback)
        return CG_OK;
    if (r->metrics_token == NULL || r->metrics_token[0] == '\0')
        return CG_ERR_LOOPBACK_ONLY;
    struct cg_str header = cg_exchange_header(ex, "authorization");
    if (header.ptr == NULL)
        return CG_ERR_MISSING_API_KEY;
    struct cg_str token;
    if (!cg_auth_parse_bearer(header, &token) ||
        !cg_auth_key_equal(cg_str_from(r->metrics_token), token))
        return CG_ERR_INVALID_API_KEY;
    return CG_OK;
}

static void on_exchange_freed(void *slot)
{
    cg_ratelimit_leave(slot);
}

static unsigned retry_after_s(uint64_t ms)
{
    uint64_t s = ms / 1000 + (ms % 1000 != 0);
    return (unsigned)CG_MAX(s, 1);
}

static void add_u64_header(struct cg_exchange *ex, const char *name, uint64_t v)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRIu64, v);
    cg_exchange_add_header(ex, name, text);
}

/* A keys-file rpm= is per minute, whatever PROXY_RATE_LIMIT_WINDOW_MS says. */
enum { RPM_WINDOW_MS = 60000 };

/* x-ratelimit-limit-<what>, -remaining-<what>, -reset-<what>, as OpenAI sends them. */
static void add_view_headers(struct cg_exchange *ex, const char *what,
                             const struct cg_ratelimit_view *v)
{
    if (v->limit == 0)
        return;
    char name[48];
    snprintf(name, sizeof(name), "x-ratelimit-limit-%s", what);
    add_u64_header(ex, name, v->limit);
    snprintf(name, sizeof(name), "x-ratelimit-remaining-%s", what);
    add_u64_header(ex, name, v->remaining);
    char reset[32];
    cg_ratelimit_format_duration(v->reset_ms, reset, sizeof(reset));
    snprintf(name, sizeof(name), "x-ratelimit-reset-%s", what);
    cg_exchange_add_header(ex, name, reset);
}

static enum cg_err apply_limits(struct cg_ratelimit *rl, struct cg_exchange *ex,
                                const struct cg_key_entry *entry, unsigned *retry_s)
{
    if (rl == NULL)
        return CG_OK;
    struct cg_ratelimit_limits own = {0};
    if (entry) {
        own = (struct cg_ratelimit_limits){.max = entry->rpm,
                                           .window_ms = entry->rpm ? RPM_WINDOW_MS : 0,
                                           .concurrent = entry->concurrent,
                                           .tpm = entry->tpm};
    }
    struct cg_ratelimit_verdict v;
    cg_ratelimit_enter(rl, ex->key_id, &own, &v);
    add_view_headers(ex, "requests", &v.requests);
    add_view_headers(ex, "tokens", &v.tokens);
    if (v.slot)
        cg_arena_on_dispose(&ex->arena, on_exchange_freed, v.slot);
    if (v.err != CG_OK)
        *retry_s = retry_after_s(v.retry_after_ms);
    return v.err;
}

static void label_request(const struct cg_router *r, struct cg_exchange *ex, size_t index,
                          const struct cg_key_entry *entry)
{
    if (entry) {
        ex->key_label = cg_arena_strdup(&ex->arena, entry->label);
        char *id = cg_arena_alloc(&ex->arena, CG_AUTH_KEY_ID_BYTES);
        cg_auth_key_id_of_digest(entry->digest, id);
        ex->key_id = id;
        ex->key_models = entry->models ? cg_arena_strdup(&ex->arena, entry->models) : NULL;
        ex->key_admin = entry->admin;
        return;
    }
    if (index == CG_AUTH_NO_KEY) {
        ex->key_label = "loopback";
        ex->key_id = "loopback";
        return;
    }
    char *label = cg_arena_alloc(&ex->arena, KEY_LABEL_BYTES);
    snprintf(label, KEY_LABEL_BYTES, "key%zu", index + 1);
    ex->key_label = label;
    char *id = cg_arena_alloc(&ex->arena, CG_AUTH_KEY_ID_BYTES);
    cg_auth_key_id(r->auth->keys[index], id);
    ex->key_id = id;
}

const char *cg_router_client_addr(const struct cg_router *r, const struct cg_exchange *ex,
                                  char *buf, size_t size)
{
    if (!r->peer_from_forwarded)
        return ex->peer;
    struct cg_str rest = {NULL, 0};
    for (size_t i = 0; i < ex->header_count; i++) {
        if (cg_str_ieq(ex->headers[i].name, CG_STR("x-forwarded-for")))
            rest = ex->headers[i].value;
    }
    struct cg_str last = {NULL, 0};
    while (rest.len > 0)
        last = cg_str_trim(cg_str_split(&rest, ','));
    if (last.len == 0 || last.len >= size)
        return ex->peer;
    memcpy(buf, last.ptr, last.len);
    buf[last.len] = '\0';
    unsigned char addr[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, buf, addr) != 1 && inet_pton(AF_INET6, buf, addr) != 1)
        return ex->peer;
    return buf;
}

/* OPTIONS itself, or exactly one X-Forwarded-Method line saying OPTIONS: a proxy that appends
 * rather than replaces would pass a client's own line on too, so two lines prove nothing. */
static bool is_preflight_check(const struct cg_exchange *ex)
{
    if (ex->method == CG_METHOD_OPTIONS)
        return true;
    size_t lines = 0;
    struct cg_str fwd = {NULL, 0};
    for (size_t i = 0; i < ex->header_count; i++) {
        if (cg_str_ieq(ex->headers[i].name, CG_STR("x-forwarded-method"))) {
            lines++;
            fwd = cg_str_trim(ex->headers[i].value);
        }
    }
    return lines == 1 && cg_str_eq(fwd, CG_STR("OPTIONS"));
}

/* `*retry_s` is set for a 429. */
static enum cg_err check_access(const struct cg_router *r, const struct cg_route *rt,
                                struct cg_exchange *ex, unsigned *retry_s)
{
    if (rt->access == CG_ACCESS_OPEN)
        return CG_OK;
    if (rt->access == CG_ACCESS_METRICS)
        return check_metrics_access(r, ex);
    bool keys = cg_auth_has_keys(r->auth);
    if (rt->access == CG_ACCESS_MODELS && keys && !r->protect_models)
        return CG_OK;
    if (rt->access == CG_ACCESS_VERIFY && is_preflight_check(ex))
        return CG_OK;
    char peer_buf[CG_RATELIMIT_ID_MAX_BYTES];
    const char *peer = cg_router_client_addr(r, ex, peer_buf, sizeof(peer_buf));
    uint64_t wait_ms;
    if (keys && r->ratelimit && cg_ratelimit_peer_blocked(r->ratelimit, peer, &wait_ms)) {
        *retry_s = retry_after_s(wait_ms);
        return CG_ERR_AUTH_THROTTLED;
    }
    size_t index;
    const struct cg_key_entry *entry;
    enum cg_err err = cg_auth_identify(r->auth, cg_exchange_header(ex, "authorization"),
                                       ex->peer_loopback, &index, &entry);
    if (err == CG_ERR_INVALID_API_KEY && r->ratelimit)
        cg_ratelimit_peer_failed(r->ratelimit, peer);
    if (err != CG_OK)
        return err;
    label_request(r, ex, index, entry);
    /* Model requests are the POSTs (as in the Node system): probes and reads of stored
     * responses do not spend a key's budget. */
    if (rt->access != CG_ACCESS_KEY || ex->method != CG_METHOD_POST)
        return CG_OK;
    return apply_limits(r->ratelimit, ex, entry, retry_s);
}

static struct cg_error *refuse(struct cg_exchange *ex)
{
    ex->refusal = cg_arena_alloc(&ex->arena, sizeof(*ex->refusal));
    return ex->refusal;
}

static void allow_for(const struct cg_route *rt, char *out, size_t size)
{
    allow_value(effective_methods(rt->methods), out, size);
}

bool cg_router_admit(const struct cg_router *r, struct cg_exchange *ex)
{
    if (ex->admitted)
        return true;
    if (ex->refusal)
        return false;
    ex->on_done = r->on_done;
    ex->on_done_data = r->on_done_data;
    if (r->own_access_log)
        ex->log_access = false;
    cg_cors_apply(r->cors, ex);
    const struct cg_route *rt = find(r, normalised_path(ex));
    if (rt == NULL) {
        cg_error_set(refuse(ex), CG_ERR_NOT_FOUND, NULL, "Unknown request URL: %s %.*s",
                     ex->method_name, (int)CG_MIN(ex->path.len, 200), ex->path.ptr);
        return false;
    }
    ex->route = rt->name;
    if (ex->method == CG_METHOD_OPTIONS && rt->access != CG_ACCESS_VERIFY) {
        ex->admitted = rt;
        return true;
    }
    if (!(effective_methods(rt->methods) & ex->method)) {
        char allow[ALLOW_HEADER_BYTES];
        allow_for(rt, allow, sizeof(allow));
        cg_exchange_add_header(ex, "Allow", allow);
        cg_error_set(refuse(ex), CG_ERR_METHOD_NOT_ALLOWED, NULL,
                     "%s is not allowed for %s; use %s", ex->method_name, rt->path, allow);
        return false;
    }
    unsigned retry_s = 0;
    enum cg_err access = check_access(r, rt, ex, &retry_s);
    if (access == CG_ERR_LOOPBACK_ONLY && rt->access == CG_ACCESS_METRICS) {
        cg_error_set(refuse(ex), access, NULL,
                     "No PROXY_METRICS_TOKEN is configured, so only loopback clients may read "
                     "%s.",
                     rt->path);
        return false;
    }
    if (access != CG_OK) {
        struct cg_error *e = refuse(ex);
        cg_error_init(e, access);
        e->retry_after_s = retry_s;
        return false;
    }
    ex->admitted = rt;
    return true;
}

void cg_router_dispatch(const struct cg_router *r, struct cg_exchange *ex)
{
    if (!cg_router_admit(r, ex)) {
        cg_exchange_fail(ex, ex->refusal);
        return;
    }
    const struct cg_route *rt = ex->admitted;
    if (ex->method == CG_METHOD_OPTIONS && rt->access != CG_ACCESS_VERIFY) {
        char allow[ALLOW_HEADER_BYTES];
        allow_for(rt, allow, sizeof(allow));
        if (cg_cors_is_preflight(ex))
            cg_cors_preflight(r->cors, ex, allow);
        cg_exchange_add_header(ex, "Allow", allow);
        cg_exchange_no_content(ex);
        return;
    }
    rt->handler(ex, r->ctx);
}
