/* parser.c: llhttp callbacks that build a cg_exchange and enforce the request limits. */
#include "http/parser.h"
#include <stdio.h>
#include <string.h>
#include "core/limits.h"
#include "util/ids.h"

enum { HEADERS_INITIAL_CAP = 16, HEADER_LINE_OVERHEAD = 4 /* ": " and CRLF */ };

/* States of scan_head, the raw-byte view of a head or trailer section. */
enum { SCAN_START, SCAN_LINE, SCAN_CR, SCAN_LF, SCAN_LF_CR, SCAN_DONE };

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
    p->in_trailers = false;
    p->at_chunk_header = false;
    p->crlf_pending = false;
    p->ext_line = 0;
    p->ext_total = 0;
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
    if (p->in_trailers)
        return count_head(p, n); /* RFC 9110 §6.5.1: never merged into the header section */
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
    if (p->in_trailers)
        return count_head(p, n);
    p->in_value = true;
    if (cg_buf_append(&p->value, at, n) != 0)
        return fail(p, CG_ERR_HEADERS_TOO_LARGE);
    return count_head(p, n);
}

static int on_header_value_complete(llhttp_t *ll)
{
    struct cg_parser *p = parser_of(ll);
    struct cg_exchange *ex = p->cur;
    if (p->in_trailers)
        return count_head(p, HEADER_LINE_OVERHEAD);
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
    struct cg_str value =
        cg_str_trim((struct cg_str){p->value.data ? p->value.data : "", p->value.len});
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

static size_t count_headers(const struct cg_exchange *ex, const char *name)
{
    struct cg_str key = cg_str_from(name);
    size_t n = 0;
    for (size_t i = 0; i < ex->header_count; i++)
        n += cg_str_ieq(ex->headers[i].name, key);
    return n;
}

/* RFC 9112 §6: one way to frame a body. Transfer-Encoding must be exactly "chunked" (one coding,
 * once), never next to Content-Length and never on HTTP/1.0; other codings are not implemented
 * here. Content-Length appears at most once (llhttp checks its digits). */
static enum cg_err check_framing(const struct cg_exchange *ex)
{
    size_t lengths = count_headers(ex, "content-length");
    if (lengths > 1)
        return CG_ERR_BAD_REQUEST;
    size_t codings = 0;
    bool unknown = false;
    struct cg_str te_name = CG_STR("transfer-encoding");
    for (size_t i = 0; i < ex->header_count; i++) {
        if (!cg_str_ieq(ex->headers[i].name, te_name))
            continue;
        struct cg_str rest = ex->headers[i].value;
        for (;;) {
            const char *comma = memchr(rest.ptr, ',', rest.len);
            size_t n = comma ? (size_t)(comma - rest.ptr) : rest.len;
            struct cg_str coding = cg_str_trim((struct cg_str){rest.ptr, n});
            if (coding.len == 0)
                return CG_ERR_BAD_REQUEST;
            codings++;
            if (!cg_str_ieq(coding, CG_STR("chunked")))
                unknown = true;
            if (comma == NULL)
                break;
            rest = (struct cg_str){comma + 1, rest.len - n - 1};
        }
    }
    if (codings == 0)
        return CG_OK;
    if (lengths > 0 || ex->http_minor == 0)
        return CG_ERR_BAD_REQUEST;
    if (unknown)
        return CG_ERR_NOT_IMPLEMENTED;
    return codings == 1 ? CG_OK : CG_ERR_BAD_REQUEST; /* "chunked" twice */
}

static bool body_announced(const llhttp_t *ll)
{
    return (ll->flags & F_CHUNKED) || ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > 0);
}

static int on_headers_complete(llhttp_t *ll)
{
    struct cg_parser *p = parser_of(ll);
    struct cg_exchange *ex = p->cur;
    p->in_trailers = true; /* any fields llhttp reports from now on are trailers */
    ex->method_name = llhttp_method_name((llhttp_method_t)llhttp_get_method(ll));
    ex->method = cg_exchange_method_from(ex->method_name);
    if (llhttp_get_http_major(ll) != 1) {
        ex->http_minor = 1; /* answered in the version we speak */
        return fail(p, CG_ERR_HTTP_VERSION);
    }
    ex->http_minor = llhttp_get_http_minor(ll);
    ex->keep_alive = llhttp_should_keep_alive(ll) != 0;
    if (split_target(p, ex))
        return -1;
    struct cg_str rid = cg_exchange_header(ex, "x-request-id");
    if (rid.ptr && cg_parser_request_id_ok(rid.ptr, rid.len))
        memcpy(ex->request_id, rid.ptr, rid.len + 1);
    else
        cg_ids_make(ex->request_id, sizeof(ex->request_id), "req_", 24);
    /* RFC 9112 §3.2: exactly one Host on HTTP/1.1, at most one before. */
    size_t hosts = count_headers(ex, "host");
    if (hosts > 1 || (hosts == 0 && ex->http_minor >= 1))
        return fail(p, CG_ERR_BAD_REQUEST);
    enum cg_err framing = check_framing(ex);
    if (framing != CG_OK)
        return fail(p, framing);
    if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > p->limits.max_body_bytes)
        return fail(p, CG_ERR_TOO_LARGE);
    ex->body.max = p->limits.max_body_bytes;
    bool admitted = true;
    if (p->router) {
        admitted = cg_router_admit(p->router, ex);
        /* Refused with a body on its way: answer now and never read it. Without one, the
         * request completes and dispatch answers it on a connection that stays usable. */
        if (!admitted && body_announced(ll))
            return fail(p, ex->refusal->code);
        /* Admitted without a key (open routes, preflights, an unprotected model list): no
         * route needs a body then, and such a client may hold only a few bytes of ours. */
        if (admitted && ex->key_label == NULL) {
            ex->body.max = CG_MIN(ex->body.max, (size_t)CG_UNAUTHENTICATED_BODY_MAX_BYTES);
            if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > ex->body.max)
                return fail(p, CG_ERR_TOO_LARGE);
        }
    }
    struct cg_str expect = cg_exchange_header(ex, "expect");
    if (admitted && expect.ptr && cg_str_ieq(expect, CG_STR("100-continue")) &&
        ex->http_minor >= 1) {
        ex->expect_continue = true;
        p->want_continue = true;
    }
    return 0;
}

/* Checks the bytes after chunk data against CRLF (llhttp 8.1 skips any two bytes there, which
 * lets a request hide inside another's body). */
static int check_crlf(struct cg_parser *p, const char *from, const char *end)
{
    while (p->crlf_pending && from < end) {
        if (*from != "\r\n"[p->crlf_seen])
            return fail(p, CG_ERR_BAD_REQUEST);
        from++;
        if (++p->crlf_seen == 2)
            p->crlf_pending = false;
    }
    return 0;
}

static int count_extension(struct cg_parser *p, size_t n)
{
    p->ext_line += n;
    p->ext_total += n;
    if (p->ext_line > CG_CHUNK_EXTENSION_MAX_BYTES ||
        p->ext_total + p->cur->body.len > p->limits.max_body_bytes)
        return fail(p, CG_ERR_TOO_LARGE);
    return 0;
}

static int on_chunk_extension(llhttp_t *ll, const char *at, size_t n)
{
    return count_extension(parser_of(ll), n);
}

static int on_chunk_extension_part_complete(llhttp_t *ll)
{
    return count_extension(parser_of(ll), 1); /* the ';' or '=' before it */
}

/* Pauses after every chunk-size line: llhttp 8.1 takes CR plus any byte as its end, so
 * cg_parser_feed checks the two bytes before the pause (and, after the last chunk, scans the
 * trailer section). */
static int on_chunk_header(llhttp_t *ll)
{
    struct cg_parser *p = parser_of(ll);
    p->ext_line = 0;
    p->at_chunk_header = true;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *ll, const char *at, size_t n)
{
    struct cg_parser *p = parser_of(ll);
    struct cg_exchange *ex = p->cur;
    if (n > ex->body.max - CG_MIN(ex->body.max, ex->body.len + p->ext_total))
        return fail(p, CG_ERR_TOO_LARGE);
    if (p->budget) {
        if (!cg_exchange_budget_take(p->budget, n))
            return fail(p, CG_ERR_BUFFERS_FULL);
        ex->budget = p->budget;
        ex->budget_bytes += n;
    }
    if (cg_buf_append(&ex->body, at, n) != 0)
        return fail(p, CG_ERR_TOO_LARGE);
    if ((ll->flags & F_CHUNKED) && ll->content_length == 0) {
        p->crlf_pending = true;
        p->crlf_seen = 0;
        return check_crlf(p, at + n, p->feed_end);
    }
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    struct cg_parser *p = parser_of(ll);
    p->done = true;
    p->head_scan = SCAN_START; /* the next byte fed starts the next request */
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
        s.on_chunk_header = on_chunk_header;
        s.on_chunk_extension_name = on_chunk_extension;
        s.on_chunk_extension_value = on_chunk_extension;
        s.on_chunk_extension_name_complete = on_chunk_extension_part_complete;
        s.on_chunk_extension_value_complete = on_chunk_extension_part_complete;
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

void cg_parser_set_admission(struct cg_parser *p, const struct cg_router *router,
                             struct cg_client_budget *budget)
{
    p->router = router;
    p->budget = budget;
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
    /* A head cut short still answers in the client's version once its request line was read. */
    if (ex->http_minor == 0 && llhttp_get_http_major(&p->ll) == 1)
        ex->http_minor = llhttp_get_http_minor(&p->ll);
    return ex;
}

/* Raw-byte view of the head and the trailer section, which llhttp 8.1 does not give. It accepts
 * obs-fold (a line that starts with SP or HTAB continues the previous field; RFC 9112 §5.2 says
 * reject it) and a CR followed by any byte where CRLF belongs (§2.2: a bare CR is rejected),
 * either of which two parsers can read as two different requests. Returns how many bytes of
 * data[0..len) come before the first such byte (len when there is none). */
static size_t scan_head(struct cg_parser *p, const char *data, size_t len)
{
    for (size_t i = 0; i < len && p->head_scan != SCAN_DONE; i++) {
        char c = data[i];
        switch (p->head_scan) {
        case SCAN_START:
            if (c != '\r' && c != '\n')
                p->head_scan = SCAN_LINE;
            break;
        case SCAN_LINE:
            p->head_scan = c == '\r' ? SCAN_CR : c == '\n' ? SCAN_LF : SCAN_LINE;
            break;
        case SCAN_CR:
            if (c != '\n')
                return i;
            p->head_scan = SCAN_LF;
            break;
        case SCAN_LF:
            if (c == ' ' || c == '\t')
                return i;
            p->head_scan = c == '\r' ? SCAN_LF_CR : c == '\n' ? SCAN_DONE : SCAN_LINE;
            break;
        case SCAN_LF_CR:
            if (c != '\n')
                return i;
            p->head_scan = SCAN_DONE;
            break;
        }
    }
    return len;
}

/* The last two bytes fed, for a chunk-size line that ended right at the start of a read. */
static void keep_tail(struct cg_parser *p, const char *data, size_t len)
{
    if (len >= 2) {
        p->tail[0] = data[len - 2];
        p->tail[1] = data[len - 1];
    } else if (len == 1) {
        p->tail[0] = p->tail[1];
        p->tail[1] = data[0];
    }
}

static bool crlf_before(const struct cg_parser *p, const char *data, size_t pos)
{
    char cr = pos >= 2 ? data[pos - 2] : pos == 1 ? p->tail[1] : p->tail[0];
    char lf = pos >= 1 ? data[pos - 1] : p->tail[1];
    return cr == '\r' && lf == '\n';
}

void cg_parser_feed(struct cg_parser *p, const char *data, size_t len, struct cg_parse_result *res)
{
    memset(res, 0, sizeof(*res));
    if (p->failed || check_crlf(p, data, data + len) != 0) {
        report_error(p, res);
        return;
    }
    size_t pos = 0;
    size_t clean;
    llhttp_errno_t e;
    for (;;) {
        clean = pos + scan_head(p, data + pos, len - pos);
        p->feed_end = data + clean;
        e = llhttp_execute(&p->ll, data + pos, clean - pos);
        p->feed_end = NULL;
        if (e != HPE_PAUSED || !p->at_chunk_header || p->failed)
            break;
        p->at_chunk_header = false;
        pos = (size_t)(llhttp_get_error_pos(&p->ll) - data);
        if (!crlf_before(p, data, pos)) {
            fail(p, CG_ERR_BAD_REQUEST);
            break;
        }
        /* After the last chunk comes the trailer section, scanned like a head from the start
         * of its first line. */
        if (p->ll.content_length == 0)
            p->head_scan = SCAN_LF;
        llhttp_resume(&p->ll);
    }
    if (clean < len)
        fail(p, CG_ERR_BAD_REQUEST); /* the prefix gave llhttp the version to answer in */
    if (e == HPE_OK)
        keep_tail(p, data, len);
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
    /* Framing errors (bad tokens, CL with TE, bad chunk sizes): our own limits were checked in
     * the callbacks, so what is left is a malformed request; the HTTP/2 preface gets 505. */
    fail(p, e == HPE_PAUSED_H2_UPGRADE ? CG_ERR_HTTP_VERSION : CG_ERR_BAD_REQUEST);
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
