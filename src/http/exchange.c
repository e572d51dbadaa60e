/* exchange.c: builds status lines, headers and bodies (fixed, chunked, SSE) for one request,
 * hands the bytes to the sink, and writes the access log line when the response ends. */
#include "http/exchange.h"
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "util/alloc.h"
#include "util/clock.h"
#include "util/ids.h"
#include "util/json.h"
#include "util/log.h"
#define LOG_COMPONENT "http"

enum {
    ARENA_BLOCK_BYTES = 4096,
    HEAD_RESERVE_BYTES = 1024,
    LOG_PATH_MAX_BYTES = 64,
};

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 501:
        return "Not Implemented";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* "Date: ..." is formatted at most once a second. */
static const char *date_header(void)
{
    static char line[64];
    static time_t last;
    time_t now = time(NULL);
    if (now != last || line[0] == '\0') {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(line, sizeof(line), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        last = now;
    }
    return line;
}

struct cg_exchange *cg_exchange_new(const struct cg_sink_ops *sink, void *sink_ctx)
{
    struct cg_exchange *ex = cg_xcalloc(1, sizeof(*ex));
    cg_arena_init(&ex->arena, ARENA_BLOCK_BYTES);
    cg_buf_init(&ex->body, 0);
    cg_buf_init(&ex->extra_headers, CG_EXTRA_HEADERS_MAX_BYTES);
    ex->sink = sink;
    ex->sink_ctx = sink_ctx;
    ex->refs = 1;
    ex->state = CG_EXCHANGE_READING;
    ex->start_us = cg_clock_mono_us();
    ex->method_name = "";
    ex->log_access = true;
    return ex;
}

void cg_exchange_hold(struct cg_exchange *ex)
{
    ex->refs++;
}

bool cg_exchange_budget_take(struct cg_client_budget *b, size_t n)
{
    size_t sum;
    if (__builtin_add_overflow(b->used, n, &sum) || sum > b->max)
        return false;
    b->used = sum;
    return true;
}

void cg_exchange_budget_give(struct cg_client_budget *b, size_t n)
{
    assert(b->used >= n);
    b->used -= n;
}

void cg_exchange_drop_body(struct cg_exchange *ex)
{
    if (ex->budget)
        cg_exchange_budget_give(ex->budget, ex->budget_bytes);
    ex->budget_bytes = 0;
    cg_buf_dispose(&ex->body);
}

void cg_exchange_release(struct cg_exchange *ex)
{
    assert(ex->refs > 0);
    if (--ex->refs > 0)
        return;
    if (ex->budget)
        cg_exchange_budget_give(ex->budget, ex->budget_bytes);
    cg_arena_dispose(&ex->arena);
    cg_buf_dispose(&ex->body);
    cg_buf_dispose(&ex->extra_headers);
    free(ex);
}

struct cg_str cg_exchange_header(const struct cg_exchange *ex, const char *name)
{
    struct cg_str key = cg_str_from(name);
    for (size_t i = 0; i < ex->header_count; i++) {
        if (cg_str_ieq(ex->headers[i].name, key))
            return ex->headers[i].value;
    }
    return (struct cg_str){NULL, 0};
}

bool cg_exchange_has_header(const struct cg_exchange *ex, const char *name)
{
    return cg_exchange_header(ex, name).ptr != NULL;
}

void cg_exchange_add_header(struct cg_exchange *ex, const char *name, const char *value)
{
    if (cg_buf_appendf(&ex->extra_headers, "%s: %s\r\n", name, value) != 0)
        cg_log_warn("response header %s dropped: extra headers full", name);
}

bool cg_exchange_is_done(const struct cg_exchange *ex)
{
    return ex->state == CG_EXCHANGE_DONE;
}

bool cg_exchange_is_gone(const struct cg_exchange *ex)
{
    return ex->sink == NULL;
}

size_t cg_exchange_queued(const struct cg_exchange *ex)
{
    return ex->sink ? ex->sink->queued(ex->sink_ctx) : 0;
}

static void emit(struct cg_exchange *ex, char *data, size_t len)
{
    if (ex->sink == NULL) {
        free(data);
        return;
    }
    ex->bytes_out += len;
    ex->sink->write(ex->sink_ctx, data, len);
}

static void ensure_request_id(struct cg_exchange *ex)
{
    if (ex->request_id[0] == '\0')
        cg_ids_make(ex->request_id, sizeof(ex->request_id), "req_", 24);
}

int cg_exchange_access_fields(const struct cg_exchange *ex, struct cg_buf *b)
{
    uint64_t us = cg_clock_mono_us() - ex->start_us;
    size_t plen = ex->path.len < LOG_PATH_MAX_BYTES ? ex->path.len : LOG_PATH_MAX_BYTES;
    int err = cg_buf_append_str(b, "\"req_id\":");
    if (!err)
        err = cg_json_cstring(b, ex->request_id);
    if (!err)
        err = cg_buf_append_str(b, ",\"method\":");
    if (!err)
        err = cg_json_cstring(b, ex->method_name ? ex->method_name : "");
    if (!err)
        err = cg_buf_append_str(b, ",\"path\":");
    if (!err)
        err = cg_json_string(b, ex->path.ptr ? ex->path.ptr : "", plen);
    if (!err && ex->route) {
        err = cg_buf_append_str(b, ",\"route\":");
        if (!err)
            err = cg_json_cstring(b, ex->route);
    }
    if (!err && ex->model) {
        err = cg_buf_append_str(b, ",\"model\":");
        if (!err)
            err = cg_json_string(b, ex->model, CG_MIN(strlen(ex->model), LOG_PATH_MAX_BYTES));
    }
    if (!err && ex->key_label) {
        err = cg_buf_append_str(b, ",\"key\":");
        if (!err)
            err = cg_json_cstring(b, ex->key_label);
    }
    if (!err)
        err = cg_buf_appendf(
            b,
            ",\"status\":%d,\"bytes\":%zu,\"ms\":%" PRIu64 ".%03" PRIu64 ",\"peer\":", ex->status,
            ex->bytes_out, us / 1000, us % 1000);
    if (!err)
        err = cg_json_cstring(b, ex->peer);
    if (!err && ex->aborted)
        err = cg_buf_append_str(b, ",\"aborted\":true");
    return err;
}

static void access_log(struct cg_exchange *ex)
{
    if (!ex->log_access || !cg_log_enabled(CG_LOG_INFO))
        return;
    struct cg_buf b;
    cg_buf_init(&b, CG_EXCHANGE_ACCESS_LINE_MAX_BYTES);
    if (cg_exchange_access_fields(ex, &b) == 0)
        cg_log_event(CG_LOG_INFO, LOG_COMPONENT, "access", b.data);
    cg_buf_dispose(&b);
}

static void finish(struct cg_exchange *ex)
{
    if (ex->state == CG_EXCHANGE_DONE)
        return;
    ex->state = CG_EXCHANGE_DONE;
    access_log(ex);
    if (ex->on_done)
        ex->on_done(ex, ex->on_done_data);
    if (ex->sink)
        ex->sink->done(ex->sink_ctx, ex);
    /* The sink has let go: a holder that answers later must find nobody, not a freed
     * connection. */
    ex->sink = NULL;
    ex->sink_ctx = NULL;
}

/* Appends the status line and headers. `length` < 0 means a stream. */
static int append_head(struct cg_exchange *ex, struct cg_buf *out, int status,
                       const char *content_type, int64_t length)
{
    ensure_request_id(ex);
    ex->status = status;
    bool stream = length < 0;
    if (stream && ex->http_minor == 0)
        ex->close_after = true; /* HTTP/1.0 has no chunked encoding: the close ends the body */
    ex->chunked = stream && ex->http_minor >= 1;
    bool keep = ex->keep_alive && !ex->close_after;
    int err = cg_buf_appendf(out, "HTTP/1.%u %d %s\r\n", ex->http_minor >= 1 ? 1u : 0u, status,
                             reason_phrase(status));
    if (!err)
        err = cg_buf_append_str(out, date_header());
    if (!err && content_type)
        err = cg_buf_appendf(out, "Content-Type: %s\r\n", content_type);
    if (!err && !stream)
        err = cg_buf_appendf(out, "Content-Length: %" PRId64 "\r\n", length);
    if (!err && ex->chunked)
        err = cg_buf_append_str(out, "Transfer-Encoding: chunked\r\n");
    if (!err && !keep && ex->http_minor >= 1)
        err = cg_buf_append_str(out, "Connection: close\r\n");
    if (!err && keep && ex->http_minor == 0)
        err = cg_buf_append_str(out, "Connection: keep-alive\r\n");
    if (!err)
        err = cg_buf_appendf(out, "X-Request-Id: %s\r\n", ex->request_id);
    if (!err && ex->extra_headers.len)
        err = cg_buf_append(out, ex->extra_headers.data, ex->extra_headers.len);
    if (!err)
        err = cg_buf_append(out, "\r\n", 2);
    return err;
}

static void send_whole(struct cg_exchange *ex, int status, const char *content_type,
                       const char *body, size_t len)
{
    if (ex->state == CG_EXCHANGE_DONE)
        return;
    assert(ex->state != CG_EXCHANGE_STREAMING);
    bool head = ex->method == CG_METHOD_HEAD;
    struct cg_buf out;
    cg_buf_init(&out, len + HEAD_RESERVE_BYTES + CG_EXTRA_HEADERS_MAX_BYTES);
    int err = append_head(ex, &out, status, content_type, (int64_t)len);
    if (!err && !head && len)
        err = cg_buf_append(&out, body, len);
    assert(err == 0); /* sized above */
    size_t n;
    char *data = cg_buf_take(&out, &n);
    emit(ex, data, n);
    finish(ex);
}

void cg_exchange_send(struct cg_exchange *ex, const char *content_type, const char *body,
                      size_t len)
{
    send_whole(ex, 200, content_type, body, len);
}

void cg_exchange_send_json(struct cg_exchange *ex, const char *json, size_t len)
{
    send_whole(ex, 200, "application/json", json, len);
}

void cg_exchange_no_content(struct cg_exchange *ex)
{
    send_whole(ex, 204, NULL, NULL, 0);
}

void cg_exchange_send_json_as(struct cg_exchange *ex, enum cg_err code, const char *json,
                              size_t len)
{
    send_whole(ex, cg_err_status(code), "application/json", json, len);
}

/* The fallback for a stream whose handler has no error frame of its own (handlers with an
 * encoder write theirs and end the stream themselves): one SSE data event carrying the error
 * object, in no endpoint's dialect, then the end of the stream. */
static void fail_in_band(struct cg_exchange *ex, const struct cg_error *err)
{
    struct cg_buf b;
    cg_buf_init(&b, 2 * CG_ERROR_MESSAGE_BYTES + 512);
    int rc = cg_buf_append_str(&b, "data: ");
    if (!rc)
        rc = cg_error_to_json(err, &b);
    if (!rc)
        rc = cg_buf_append_str(&b, "\n\n");
    if (!rc)
        cg_exchange_stream_write(ex, b.data, b.len);
    cg_buf_dispose(&b);
    cg_exchange_stream_end(ex);
}

void cg_exchange_fail(struct cg_exchange *ex, const struct cg_error *err)
{
    if (ex->state == CG_EXCHANGE_DONE)
        return;
    if (ex->state == CG_EXCHANGE_STREAMING) {
        fail_in_band(ex, err);
        return;
    }
    int status = cg_err_status(err->code);
    if (err->retry_after_s) {
        char v[24];
        snprintf(v, sizeof(v), "%u", err->retry_after_s);
        cg_exchange_add_header(ex, "Retry-After", v);
    }
    if (status == 401)
        cg_exchange_add_header(ex, "WWW-Authenticate", "Bearer realm=\"codex-gateway\"");
    /* A request we could not read to its end leaves the connection unusable. */
    if (ex->state == CG_EXCHANGE_READING)
        ex->close_after = true;
    struct cg_buf body;
    cg_buf_init(&body, 4 * CG_ERROR_MESSAGE_BYTES);
    int rc = cg_error_to_json(err, &body);
    assert(rc == 0);
    (void)rc;
    send_whole(ex, status, "application/json", body.data, body.len);
    cg_buf_dispose(&body);
}

void cg_exchange_fail_code(struct cg_exchange *ex, enum cg_err code)
{
    struct cg_error err;
    cg_error_init(&err, code);
    cg_exchange_fail(ex, &err);
}

void cg_exchange_stream_begin(struct cg_exchange *ex, const char *content_type)
{
    if (ex->state != CG_EXCHANGE_READING && ex->state != CG_EXCHANGE_HANDLING)
        return;
    struct cg_buf out;
    cg_buf_init(&out, HEAD_RESERVE_BYTES + CG_EXTRA_HEADERS_MAX_BYTES);
    int err = append_head(ex, &out, 200, content_type, -1);
    assert(err == 0);
    (void)err;
    size_t n;
    char *data = cg_buf_take(&out, &n);
    ex->state = CG_EXCHANGE_STREAMING;
    emit(ex, data, n);
    if (ex->method == CG_METHOD_HEAD)
        cg_exchange_stream_end(ex);
}

size_t cg_exchange_stream_write(struct cg_exchange *ex, const char *data, size_t len)
{
    if (ex->state != CG_EXCHANGE_STREAMING || ex->sink == NULL || len == 0 ||
        ex->method == CG_METHOD_HEAD)
        return cg_exchange_queued(ex);
    char *copy;
    size_t n;
    if (ex->chunked) {
        /* The chunk's size line, in hex, written by hand: this runs once per streamed token. */
        char size_line[24];
        char *end = size_line + sizeof(size_line);
        char *p = end - 2;
        memcpy(p, "\r\n", 2);
        size_t v = len;
        do {
            *--p = "0123456789abcdef"[v & 15];
            v >>= 4;
        } while (v != 0);
        size_t hl = (size_t)(end - p);
        n = hl + len + 2;
        copy = cg_xmalloc(n);
        memcpy(copy, p, hl);
        memcpy(copy + hl, data, len);
        memcpy(copy + hl + len, "\r\n", 2);
    } else {
        n = len;
        copy = cg_xmalloc(n);
        memcpy(copy, data, len);
    }
    emit(ex, copy, n);
    return cg_exchange_queued(ex);
}

void cg_exchange_stream_end(struct cg_exchange *ex)
{
    if (ex->state != CG_EXCHANGE_STREAMING)
        return;
    if (ex->chunked && ex->method != CG_METHOD_HEAD) {
        static const char last[] = "0\r\n\r\n";
        emit(ex, cg_xstrndup(last, sizeof(last) - 1), sizeof(last) - 1);
    }
    finish(ex);
}

void cg_exchange_abort(struct cg_exchange *ex, enum cg_err reason)
{
    if (ex->state == CG_EXCHANGE_DONE)
        return;
    if (reason == CG_ERR_CLIENT_CLOSED) {
        ex->sink = NULL; /* the connection is gone: later writes are dropped */
        ex->aborted = true;
        if (ex->status == 0)
            ex->status = cg_err_status(CG_ERR_CLIENT_CLOSED);
        if (ex->on_abort)
            ex->on_abort(ex, reason);
        finish(ex);
        return;
    }
    if (ex->on_abort) {
        ex->on_abort(ex, reason);
        return;
    }
    cg_exchange_fail_code(ex, reason);
}

void cg_exchange_close(struct cg_exchange *ex)
{
    if (ex->sink && ex->sink->close)
        ex->sink->close(ex->sink_ctx);
    else
        cg_exchange_abort(ex, CG_ERR_CLIENT_CLOSED);
}

enum cg_method cg_exchange_method_from(const char *name)
{
    static const struct {
        const char *name;
        enum cg_method m;
    } methods[] = {
        {"GET", CG_METHOD_GET},         {"HEAD", CG_METHOD_HEAD}, {"POST", CG_METHOD_POST},
        {"OPTIONS", CG_METHOD_OPTIONS}, {"PUT", CG_METHOD_PUT},   {"DELETE", CG_METHOD_DELETE},
        {"PATCH", CG_METHOD_PATCH},
    };
    for (size_t i = 0; i < CG_ARRAY_SIZE(methods); i++) {
        if (strcmp(name, methods[i].name) == 0)
            return methods[i].m;
    }
    return CG_METHOD_OTHER;
}
