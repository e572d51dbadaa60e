/* parser.h: turns bytes from a connection into exchanges, with llhttp doing the framing and this
 * file enforcing our limits (URL 414, head 431, body 413) and the RFC 9112 strictness llhttp 8.1
 * lacks: whitespace before a header colon, obs-fold, anything but CRLF after chunk data, a
 * missing or repeated Host, Transfer-Encoding with Content-Length or an empty one (400), a
 * transfer coding other than chunked (501), a version other than 1.x (505), and unbounded chunk
 * extensions (413). Trailer fields are read and dropped. One request at a time: after a complete
 * request the parser stops and the caller resumes it once the response is done (pipelining). A
 * parser that failed stays failed.
 *
 * With a router set, each head is put through cg_router_admit as soon as it is complete: a
 * refused request that announced a body fails here (CG_PARSE_ERROR, `failed->refusal` set) so
 * the body is never read; a refused request without a body is handed over as usual and
 * dispatch answers it. 100-continue is asked for only for admitted requests. */
#ifndef CG_HTTP_PARSER_H
#define CG_HTTP_PARSER_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/errors.h"
#include "http/exchange.h"
#include "http/router.h"
#include "util/buf.h"

struct cg_http_limits {
    size_t max_url_bytes;
    size_t max_header_bytes; /* request line + all header lines */
    size_t max_headers;
    size_t max_body_bytes;
};

enum cg_parse_status {
    CG_PARSE_MORE,     /* everything consumed; feed more bytes */
    CG_PARSE_REQUEST,  /* a complete request is in `exchange`; the rest is unconsumed */
    CG_PARSE_CONTINUE, /* headers asked for 100-continue: send it, then keep feeding */
    CG_PARSE_ERROR,    /* `error` says which; answer it (`failed->refusal` when the access phase
                        * refused it) and close */
};

struct cg_parse_result {
    enum cg_parse_status status;
    size_t consumed;
    struct cg_exchange *exchange; /* CG_PARSE_REQUEST: ownership passes to the caller */
    enum cg_err error;
    struct cg_exchange *failed; /* CG_PARSE_ERROR: the exchange to answer on (caller owns) */
};

struct cg_parser {
    llhttp_t ll;
    struct cg_http_limits limits;
    const struct cg_sink_ops *sink;
    void *sink_ctx;
    struct cg_exchange *cur; /* the request being parsed */
    struct cg_buf field;
    struct cg_buf value;
    struct cg_buf url;
    size_t head_bytes;
    size_t header_cap;
    bool in_value;
    bool done;          /* a complete request is waiting to be taken */
    bool want_continue; /* headers complete with Expect: 100-continue */
    bool failed;
    bool in_trailers;  /* fields after the last chunk: counted, then dropped */
    bool crlf_pending; /* chunk data ended: the next bytes must be CRLF */
    bool at_chunk_header; /* paused after a chunk-size line */
    char tail[2];         /* the last two bytes of the previous feed */
    unsigned crlf_seen;
    unsigned head_scan; /* raw-byte state of the head (obs-fold detection) */
    size_t ext_line;    /* chunk-extension bytes on the current chunk line */
    size_t ext_total;   /* ... in the whole request, counted with the body */
    const char *feed_end;
    enum cg_err error;
    char peer[64];
    bool peer_loopback;
    const struct cg_router *router; /* NULL: no access phase */
    struct cg_client_budget *budget; /* NULL: bodies are not counted */
};

/* The sink and peer are stamped on each exchange the parser creates. */
void cg_parser_init(struct cg_parser *p, const struct cg_http_limits *limits,
                    const struct cg_sink_ops *sink, void *sink_ctx, const char *peer,
                    bool peer_loopback);
void cg_parser_dispose(struct cg_parser *p);

/* Turns on the access phase at headers-complete (`router`) and counting of body bytes against
 * `budget` (CG_ERR_BUFFERS_FULL when a chunk would pass it). Either may be NULL. Both are
 * borrowed and must outlive the parser and its exchanges. */
void cg_parser_set_admission(struct cg_parser *p, const struct cg_router *router,
                             struct cg_client_budget *budget);

/* Parses as much of data[0..len) as it can. */
void cg_parser_feed(struct cg_parser *p, const char *data, size_t len,
                    struct cg_parse_result *res);

/* The connection ended (EOF). Returns CG_PARSE_ERROR when a request was cut short, else
 * CG_PARSE_MORE (nothing pending). */
void cg_parser_finish(struct cg_parser *p, struct cg_parse_result *res);

/* True when some bytes of a next request have been seen. */
bool cg_parser_mid_request(const struct cg_parser *p);

/* Takes the error exchange for a failure that happened outside feed (timeouts). */
struct cg_exchange *cg_parser_take_current(struct cg_parser *p);

/* X-Request-Id rule: a caller's id is echoed when it is 1..128 characters of [A-Za-z0-9._:-]. */
bool cg_parser_request_id_ok(const char *id, size_t len);

#endif
