/* parser.c: llhttp callbacks that build a cg_exchange and enforce the request limits. */
#include "http/parser.h"
#include <stdio.h>
#include <string.h>
#include "util/ids.h"

enum { HEADERS_INITIAL_CAP = 16, HEADER_LINE_OVERHEAD = 4 /* ": " and CRLF */ };

static struct cg_parser *parser_of(llhttp_t *ll)
{
    return ll->data;
}

/* Records the first error and stops llhttp (a failed parser stays failed). */
static int fail(struct cg_parser *p, enum cg_err e)
{
    if (!p->failed) {
        p->failed = true;
        p->error = e;
    }
    return -1;
}

static int count_head(struct cg_parser *p, size_t n)
{
    p->head_bytes += n;
    if (p->head_bytes > p->limits.max_header_bytes)
        return fail(p, CG_ERR_HEADERS_TOO_LARGE);
    return 0;
}

static int on_message_begin(llhttp_t *ll)
{
    struct cg_parser *p = parser_of(ll);
    if (p->cur)
        cg_exchange_release(p->cur); /* cannot happen: the previous one was taken */
    p->cur = cg_exchange_new(p->sink, p->sink_ctx);
    memcpy(p->cur->peer, p->peer, sizeof(p->cur->peer));
    p->cur->peer_loopback = p->peer_loopback;
    cg_buf_reset(&p->url);
    cg_buf_reset(&p->field);
    cg_buf_reset(&p->value);
    p->head_bytes = 0;
    p->header_cap = 0;
    p->in_value = false;
    return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t n)
{
    struct cg_parser *p = parser_of(ll);
    if (cg_buf_append(&p->url, at, n) != 0)
        return fail(p, CG_ERR_URI_TOO_LONG);
    return count_head(p, n);
}

static int on_header_field(llhttp_t *ll, const char *at, size_t n)
{
    struct cg_parser *p = parser_of(ll);
    /* llhttp accepts "Host : x" and hands us "Host "; RFC 9112 §5.1 says such a request must be
     * rejected, since proxies disagree on what it means (request smuggling). */
    if (memchr(at, ' ', n) || memchr(at, '\t', n))
        return fail(p, CG_ERR_BAD_REQUEST);
    if (cg_buf_append(&p->field, at, n) != 0)
        return fail(p, CG_ERR_HEADERS_TOO_LARGE);
    return count_head(p, n);
}

static int on_header_value(llhttp_t *ll, const char *at, size_t n)
{
    struct cg_parser *p = parser_of(ll);
    p->in_value = true;
    if (cg_buf_append(&p->value, at, n) != 0)
        return fail(p, CG_ERR_HEADERS_TOO_LARGE);
    return count_head(p, n);
}

static int on_header_value_complete(llhttp_t *ll)
{
    struct cg_parser *p = parser_of(ll);
    struct cg_exchange *ex = p->cur;
    if (ex->header_count >= p->limits.max_headers)
        return fail(p, CG_ERR_HEADERS_TOO_LARGE);
    if (count_head(p, HEADER_LINE_OVERHEAD))
        return -1;
    if (ex->header_count == p->header_cap) {
        /* Grow by doubling inside the arena; the old array is left there, it is small. */
        size_t cap = p->header_cap ? p->header_cap * 2 : HEADERS_INITIAL_CAP;
        struct cg_header *grown = cg_arena_alloc(&ex->arena, cap * sizeof(*grown));
        if (ex->header_count)
            memcpy(grown, ex->headers, ex->header_count * sizeof(*grown));
        ex->headers = grown;
        p->header_cap = cap;
    }
    struct cg_header *h = &ex->headers[ex->header_count++];
    struct cg_str value = cg_str_trim((struct cg_str){p->value.data ? p->value.data : "",
                                                      p->value.len});
    h->name.ptr = cg_arena_strndup(&ex->arena, p->field.data ? p->field.data : "", p->field.len);
    h->name.len = p->field.len;
    h->value.ptr = cg_arena_strndup(&ex->arena, value.ptr, value.len);
    h->value.len = value.len;
    cg_buf_reset(&p->field);
    cg_buf_reset(&p->value);
    p->in_value = false;
    return 0;
}

bool cg_parser_request_id_ok(const char *id, size_t len)
{
    if (len == 0 || len > CG_REQUEST_ID_MAX_BYTES)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Splits the request target into path and query. Origin-form ("/x?y"), asterisk-form ("*")
 * and absolute-form ("http://host/x") are accepted. */
static int split_target(struct cg_parser *p, struct cg_exchange *ex)
{
    const char *t = cg_arena_strndup(&ex->arena, p->url.data ? p->url.data : "", p->url.len);
    size_t n = p->url.len;
    ex->target = (struct cg_str){t, n};
    size_t start = 0;
    if (n >= 1 && t[0] == '*' && n == 1) {
        ex->path = (struct cg_str){t, 1};
        ex->query = (struct cg_str){t + 1, 0};
        return 0;
    }
    if (n == 0)
        return fail(p, CG_ERR_BAD_REQUEST);
    if (t[0] != '/') {
        const char *scheme_end = strstr(t, "://");
        if (scheme_end == NULL)
            return fail(p, CG_ERR_BAD_REQUEST);
        const char *slash = strchr(scheme_end + 3, '/');
        if (slash == NULL) {
            ex->path = CG_STR("/");
            ex->query = (struct cg_str){t + n, 0};
            return 0;
        }
        start = (size_t)(slash - t);
    }
    const char *q = memchr(t + start, '?', n - start);
    size_t end = q ? (size_t)(q - t) : n;
    ex->path = (struct cg_str){t + start, end - start};
    ex->query = q ? (struct cg_str){q + 1, n - end - 1} : (struct cg_str){t + n, 0};
    return 0;
}

static int on_headers_complete(llhttp_t *ll)
{
    struct cg_parser *p = parser_of(ll);
    struct cg_exchange *ex = p->cur;
    ex->method_name = llhttp_method_name((llhttp_method_t)llhttp_get_method(ll));
    ex->method = cg_exchange_method_from(ex->method_name);
    ex->http_minor = llhttp_get_http_major(ll) == 1 ? llhttp_get_http_minor(ll) : 0;
    ex->keep_alive = llhttp_should_keep_alive(ll) != 0;
    if (split_target(p, ex))
        return -1;
    struct cg_str rid = cg_exchange_header(ex, "x-request-id");
    if (rid.ptr && cg_parser_request_id_ok(rid.ptr, rid.len))
        memcpy(ex->request_id, rid.ptr, rid.len + 1);
    else
        cg_ids_make(ex->request_id, sizeof(ex->request_id), "req_", 24);
    if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > p->limits.max_body_bytes)
        return fail(p, CG_ERR_TOO_LARGE);
    ex->body.max = p->limits.max_body_bytes;
    struct cg_str expect = cg_exchange_header(ex, "expect");
    if (expect.ptr && cg_str_ieq(expect, CG_STR("100-continue")) && ex->http_minor >= 1) {
        ex->expect_continue = true;
        p->want_continue = true;
    }
    return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t n)
{
    struct cg_parser *p = parser_of(ll);
    if (cg_buf_append(&p->cur->body, at, n) != 0)
        return fail(p, CG_ERR_TOO_LARGE);
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    struct cg_parser *p = parser_of(ll);
    p->done = true;
    return HPE_PAUSED;
}

static const llhttp_settings_t *settings(void)
{
    static llhttp_settings_t s;
    static bool ready;
    if (!ready) {
        llhttp_settings_init(&s);
        s.on_message_begin = on_message_begin;
        s.on_url = on_url;
        s.on_header_field = on_header_field;
        s.on_header_value = on_header_value;
        s.on_header_value_complete = on_header_value_complete;
        s.on_headers_complete = on_headers_complete;
        s.on_body = on_body;
        s.on_message_complete = on_message_complete;
        ready = true;
    }
    return &s;
}

void cg_parser_init(struct cg_parser *p, const struct cg_http_limits *limits,
                    const struct cg_sink_ops *sink, void *sink_ctx, const char *peer,
                    bool peer_loopback)
{
    memset(p, 0, sizeof(*p));
    llhttp_init(&p->ll, HTTP_REQUEST, settings());
    p->ll.data = p;
    p->limits = *limits;
    p->sink = sink;
    p->sink_ctx = sink_ctx;
    cg_buf_init(&p->url, limits->max_url_bytes);
    cg_buf_init(&p->field, limits->max_header_bytes);
    cg_buf_init(&p->value, limits->max_header_bytes);
    snprintf(p->peer, sizeof(p->peer), "%s", peer ? peer : "");
    p->peer_loopback = peer_loopback;
}

void cg_parser_dispose(struct cg_parser *p)
{
    if (p->cur) {
        cg_exchange_release(p->cur);
        p->cur = NULL;
    }
    cg_buf_dispose(&p->url);
    cg_buf_dispose(&p->field);
    cg_buf_dispose(&p->value);
}

static void report_error(struct cg_parser *p, struct cg_parse_result *res)
{
    res->status = CG_PARSE_ERROR;
    res->error = p->error;
    res->failed = cg_parser_take_current(p);
}

struct cg_exchange *cg_parser_take_current(struct cg_parser *p)
{
    struct cg_exchange *ex = p->cur;
    p->cur = NULL;
    if (ex == NULL) {
        ex = cg_exchange_new(p->sink, p->sink_ctx);
        memcpy(ex->peer, p->peer, sizeof(ex->peer));
        ex->peer_loopback = p->peer_loopback;
    }
    ex->keep_alive = false;
    return ex;
}

void cg_parser_feed(struct cg_parser *p, const char *data, size_t len,
                    struct cg_parse_result *res)
{
    memset(res, 0, sizeof(*res));
    if (p->failed) {
        report_error(p, res);
        return;
    }
    llhttp_errno_t e = llhttp_execute(&p->ll, data, len);
    if (p->failed) {
        report_error(p, res);
        return;
    }
    if (e == HPE_OK) {
        res->consumed = len;
        res->status = CG_PARSE_MORE;
        if (p->want_continue) {
            p->want_continue = false;
            res->status = CG_PARSE_CONTINUE;
        }
        return;
    }
    if ((e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) && p->done) {
        res->consumed = (size_t)(llhttp_get_error_pos(&p->ll) - data);
        res->status = CG_PARSE_REQUEST;
        res->exchange = p->cur;
        p->cur->state = CG_EXCHANGE_HANDLING;
        p->cur = NULL;
        p->done = false;
        p->want_continue = false;
        if (e == HPE_PAUSED_UPGRADE) {
            /* We speak no other protocol: answer this request, then close. */
            res->exchange->keep_alive = false;
            llhttp_resume_after_upgrade(&p->ll);
            fail(p, CG_ERR_BAD_REQUEST);
        } else {
            llhttp_resume(&p->ll);
        }
        return;
    }
    /* Framing errors (bad tokens, CL with TE, bad chunk sizes, an HTTP/2 preface): our own
     * limits were checked in the callbacks, so what is left is a malformed request. */
    fail(p, CG_ERR_BAD_REQUEST);
    report_error(p, res);
}

void cg_parser_finish(struct cg_parser *p, struct cg_parse_result *res)
{
    memset(res, 0, sizeof(*res));
    res->status = CG_PARSE_MORE;
    if (!p->failed && p->cur == NULL)
        return;
    fail(p, CG_ERR_CLIENT_CLOSED);
    report_error(p, res);
}

bool cg_parser_mid_request(const struct cg_parser *p)
{
    return p->cur != NULL;
}
