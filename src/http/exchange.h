/* exchange.h: one HTTP request and its response. The parser fills the request half; a handler
 * answers through the response half: a whole JSON body, or a chunked stream (SSE) with
 * backpressure. The bytes go to a sink (the connection, or a test/fuzz sink), so nothing here
 * touches a socket.
 *
 * Lifetime: an exchange is reference-counted. The connection holds one reference until the
 * response is complete or the connection dies; a handler that answers later (a backend turn)
 * takes its own with cg_exchange_hold and drops it with cg_exchange_release. Memory of the
 * request (its arena) lives until the last release. */
#ifndef CG_HTTP_EXCHANGE_H
#define CG_HTTP_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/errors.h"
#include "core/limits.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/str.h"

enum cg_method {
    CG_METHOD_GET = 1 << 0,
    CG_METHOD_HEAD = 1 << 1,
    CG_METHOD_POST = 1 << 2,
    CG_METHOD_OPTIONS = 1 << 3,
    CG_METHOD_PUT = 1 << 4,
    CG_METHOD_DELETE = 1 << 5,
    CG_METHOD_PATCH = 1 << 6,
    CG_METHOD_OTHER = 1 << 7,
};

struct cg_header {
    struct cg_str name;
    struct cg_str value;
};

struct cg_exchange;
struct cg_route;

/* Bytes held for clients across all connections: request bodies being buffered (counted by the
 * parser, given back when the exchange is freed) and response bytes not yet written (counted by
 * the connection). One per server; it must outlive every exchange that counts against it. */
struct cg_client_budget {
    size_t used;
    size_t max;
};

/* Counts `n` more bytes; false (and nothing counted) when that would pass `max`. */
bool cg_exchange_budget_take(struct cg_client_budget *b, size_t n) CG_MUST_CHECK;
void cg_exchange_budget_give(struct cg_client_budget *b, size_t n);

/* Where response bytes go. `write` takes ownership of a malloc'd buffer. `queued` reports
 * bytes accepted but not yet on the wire. `done` is called once when the response is complete
 * (or abandoned); the sink then drops its reference. `close` (may be NULL) drops the client.
 * Neither `write` nor `close` may free the exchange before returning: a connection that finds
 * itself dead marks itself and closes when the loop unwinds. */
struct cg_sink_ops {
    void (*write)(void *ctx, char *data, size_t len);
    size_t (*queued)(void *ctx);
    void (*done)(void *ctx, struct cg_exchange *ex);
    void (*close)(void *ctx);
};

/* Called when the response can no longer complete normally: `reason` is CG_ERR_CLIENT_CLOSED
 * (the connection is gone; writes are dropped from now on) or CG_ERR_SHUTTING_DOWN (the server
 * stops; the handler should end its response now, in-band for a stream). */
typedef void (*cg_exchange_abort_cb)(struct cg_exchange *ex, enum cg_err reason);

enum cg_exchange_state {
    CG_EXCHANGE_READING,   /* request still arriving */
    CG_EXCHANGE_HANDLING,  /* request complete, no response bytes yet */
    CG_EXCHANGE_STREAMING, /* status line and headers sent, body chunks flowing */
    CG_EXCHANGE_DONE,      /* response complete (or abandoned) */
};

struct cg_exchange;
typedef void (*cg_exchange_done_cb)(const struct cg_exchange *ex, void *data);

/* An access line's fields, as one line has room for them. */
enum { CG_EXCHANGE_ACCESS_LINE_MAX_BYTES = 2048 };

struct cg_exchange {
    struct cg_arena arena;

    /* Request (valid once the parser hands the exchange over). */
    enum cg_method method;
    const char *method_name;
    struct cg_str target; /* as sent: path?query */
    struct cg_str path;
    struct cg_str query;
    struct cg_header *headers;
    size_t header_count;
    struct cg_buf body;
    unsigned http_minor;
    bool keep_alive; /* the client allows another request on this connection */
    bool expect_continue;
    char peer[64]; /* client address, for logs */
    bool peer_loopback;
    char request_id[CG_REQUEST_ID_MAX_BYTES + 1];
    uint64_t start_us;
    /* Who the request was admitted as: the matched key's label (never the key), "loopback"
     * for a keyless loopback client, NULL until admitted. Static or arena storage. */
    const char *key_label;
    /* A stable identity of the key that does not depend on its place in the list: "k_" and
     * the first 24 hex digits of its SHA-256 ("loopback" as key_label). What stored data
     * belongs to; never the key. NULL until admitted. */
    const char *key_id;
    /* The model ids the key may use, comma-separated (a keys-file models= list, arena copy);
     * NULL = any. `key_admin`: the keys file marks the key admin. */
    const char *key_models;
    bool key_admin;
    /* The router's decision on the head (cg_router_admit): the route to run, or why not. */
    const struct cg_route *admitted;
    struct cg_error *refusal;        /* arena */
    struct cg_client_budget *budget; /* body bytes counted against it, given back on free */
    size_t budget_bytes;

    /* Response. */
    enum cg_exchange_state state;
    int status;
    bool chunked;     /* HTTP/1.1 stream; HTTP/1.0 streams are close-delimited */
    bool close_after; /* send Connection: close and close when done */
    bool log_access;  /* false: a handler writes the access line itself (a model run, with its
                       * usage), with cg_exchange_access_fields */
    bool aborted;     /* the client left before the response was complete */
    size_t bytes_out;
    const char *route;           /* route name for the access log */
    const char *model;           /* requested model for the access log (arena string) */
    struct cg_buf extra_headers; /* "Name: value\r\n" lines */
    unsigned refs;

    /* Sink (cleared when the connection goes away). */
    const struct cg_sink_ops *sink;
    void *sink_ctx;

    /* Handler hooks. */
    void *handler_data;
    cg_exchange_abort_cb on_abort;
    /* Called once when the response is complete or its client gone, after the access line
     * (the router sets it on every routed request, for metrics). */
    cg_exchange_done_cb on_done;
    void *on_done_data;
};

/* Creates an exchange with one reference (the creator's). */
struct cg_exchange *cg_exchange_new(const struct cg_sink_ops *sink, void *sink_ctx);
void cg_exchange_hold(struct cg_exchange *ex);
void cg_exchange_release(struct cg_exchange *ex);

/* Appends the access line's fields (req_id, method, path, route, model, key, status, bytes, ms,
 * peer, aborted) as JSON members without braces: the line cg_log_event writes for a request,
 * and the start of the line a handler that took it over writes (`log_access` false). */
int cg_exchange_access_fields(const struct cg_exchange *ex, struct cg_buf *b) CG_MUST_CHECK;

/* Request helpers. */
struct cg_str cg_exchange_header(const struct cg_exchange *ex, const char *name);
/* The handler is done with the body (parsed into its own memory): it is freed and its bytes
 * leave the client budget now, not when a long response ends. */
void cg_exchange_drop_body(struct cg_exchange *ex);
bool cg_exchange_has_header(const struct cg_exchange *ex, const char *name);

/* Adds a response header; name and value must already be valid header text. */
void cg_exchange_add_header(struct cg_exchange *ex, const char *name, const char *value);

/* Whole responses. Each completes the exchange. Bodies are copied. */
void cg_exchange_send(struct cg_exchange *ex, const char *content_type, const char *body,
                      size_t len);
void cg_exchange_send_json(struct cg_exchange *ex, const char *json, size_t len);
void cg_exchange_no_content(struct cg_exchange *ex);
/* A JSON body with the HTTP status of `code` (probes: 503 with their own body, not an error). */
void cg_exchange_send_json_as(struct cg_exchange *ex, enum cg_err code, const char *json,
                              size_t len);

/* An error response: status and JSON body from the error table (with Retry-After,
 * WWW-Authenticate as the error needs). Once a stream has started the status cannot change:
 * a handler with an encoder writes the encoder's error frame itself (cg_exchange_stream_write,
 * then cg_exchange_stream_end); for other streams this writes a generic `data: {"error":...}`
 * event and ends the stream. */
void cg_exchange_fail(struct cg_exchange *ex, const struct cg_error *err);
void cg_exchange_fail_code(struct cg_exchange *ex, enum cg_err code);

/* Streams: status 200 with `content_type`; chunked on HTTP/1.1. */
void cg_exchange_stream_begin(struct cg_exchange *ex, const char *content_type);
/* Queues one chunk (copied). Returns the sink's queued byte count afterwards (0 if the client
 * is gone), which callers compare with their per-stream bound. */
size_t cg_exchange_stream_write(struct cg_exchange *ex, const char *data, size_t len);
void cg_exchange_stream_end(struct cg_exchange *ex);

/* Drops the client's connection (a stream it does not read). Writes are discarded from now on;
 * the exchange is aborted with CG_ERR_CLIENT_CLOSED, as if the client had gone, once the loop
 * has unwound (never inside this call). */
void cg_exchange_close(struct cg_exchange *ex);

/* Bytes queued towards this client and not yet written. */
size_t cg_exchange_queued(const struct cg_exchange *ex);

bool cg_exchange_is_done(const struct cg_exchange *ex);
bool cg_exchange_is_gone(const struct cg_exchange *ex); /* the client went away, or was answered */

/* For the connection and the server: the client is gone, or the server is stopping. */
void cg_exchange_abort(struct cg_exchange *ex, enum cg_err reason);

/* Method name → enum. */
enum cg_method cg_exchange_method_from(const char *name);

#endif
