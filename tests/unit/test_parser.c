/* test_parser.c: the request parser's limits, strictness and pipelining, without sockets. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "http/parser.h"

static void sink_write(void *ctx, char *data, size_t len)
{
    free(data);
}
static size_t sink_queued(void *ctx)
{
    return 0;
}
static void sink_done(void *ctx, struct cg_exchange *ex)
{
}
static const struct cg_sink_ops sink = {sink_write, sink_queued, sink_done, NULL};

static const struct cg_http_limits limits = {
    .max_url_bytes = 64, .max_header_bytes = 512, .max_headers = 8, .max_body_bytes = 32};

static struct cg_parse_result feed_all(struct cg_parser *p, const char *s)
{
    struct cg_parse_result r;
    cg_parser_feed(p, s, strlen(s), &r);
    return r;
}

static enum cg_err error_of(const char *req)
{
    struct cg_parser p;
    cg_parser_init(&p, &limits, &sink, NULL, "127.0.0.1", true);
    struct cg_parse_result r = feed_all(&p, req);
    enum cg_err e = CG_OK;
    if (r.status == CG_PARSE_ERROR) {
        e = r.error;
        cg_exchange_release(r.failed);
    } else if (r.status == CG_PARSE_REQUEST) {
        cg_exchange_release(r.exchange);
    }
    cg_parser_dispose(&p);
    return e;
}

Test(parser, parses_a_request_and_stops_before_the_next)
{
    struct cg_parser p;
    cg_parser_init(&p, &limits, &sink, NULL, "10.0.0.1", false);
    const char *two = "POST /v1/x?a=b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                      "X-Request-Id: abc\r\n\r\nxyzGET /y HTTP/1.1\r\nHost: h\r\n\r\n";
    struct cg_parse_result r = feed_all(&p, two);
    cr_assert_eq(r.status, CG_PARSE_REQUEST);
    struct cg_exchange *ex = r.exchange;
    cr_assert_eq(ex->method, CG_METHOD_POST);
    cr_assert(cg_str_eq(ex->path, CG_STR("/v1/x")));
    cr_assert(cg_str_eq(ex->query, CG_STR("a=b")));
    cr_assert_eq(ex->body.len, 3);
    cr_assert_str_eq(ex->body.data, "xyz");
    cr_assert_str_eq(ex->request_id, "abc");
    cr_assert(cg_str_eq(cg_exchange_header(ex, "HOST"), CG_STR("h")));
    cr_assert_str_eq(ex->peer, "10.0.0.1");
    cr_assert(ex->keep_alive);
    cg_exchange_release(ex);
    const char *rest = two + r.consumed;
    cr_assert_str_eq(rest, "GET /y HTTP/1.1\r\nHost: h\r\n\r\n");
    r = feed_all(&p, rest);
    cr_assert_eq(r.status, CG_PARSE_REQUEST);
    cr_assert(cg_str_eq(r.exchange->path, CG_STR("/y")));
    cg_exchange_release(r.exchange);
    cg_parser_dispose(&p);
}

Test(parser, byte_at_a_time_gives_the_same_request)
{
    struct cg_parser p;
    cg_parser_init(&p, &limits, &sink, NULL, "", true);
    const char *req = "POST /z HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n";
    struct cg_parse_result r = {0};
    size_t n = strlen(req);
    for (size_t i = 0; i < n; i++) {
        cg_parser_feed(&p, req + i, 1, &r);
        if (r.status == CG_PARSE_REQUEST)
            break;
        cr_assert_eq(r.status, CG_PARSE_MORE);
    }
    cr_assert_eq(r.status, CG_PARSE_REQUEST);
    cr_assert_str_eq(r.exchange->body.data, "ab");
    cg_exchange_release(r.exchange);
    cg_parser_dispose(&p);
}

Test(parser, limits_map_to_their_statuses)
{
    char url[200] = "GET /";
    memset(url + 5, 'u', 100);
    strcpy(url + 105, " HTTP/1.1\r\nHost: h\r\n\r\n");
    cr_assert_eq(error_of(url), CG_ERR_URI_TOO_LONG);
    char hdrs[1024] = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < 10; i++)
        strcat(hdrs, "A: b\r\n");
    strcat(hdrs, "\r\n");
    cr_assert_eq(error_of(hdrs), CG_ERR_HEADERS_TOO_LARGE);
    char big[1024] = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
    memset(big + strlen(big), 'v', 600);
    strcat(big, "\r\n\r\n");
    cr_assert_eq(error_of(big), CG_ERR_HEADERS_TOO_LARGE);
    cr_assert_eq(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 33\r\n\r\n"), CG_ERR_TOO_LARGE);
    cr_assert_eq(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "21\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n0\r\n\r\n"),
                 CG_ERR_TOO_LARGE);
}

Test(parser, strict_framing)
{
    cr_assert_eq(error_of("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked"
                          "\r\n\r\n"),
                 CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("BREW / HTTP/1.1\r\n\r\n"), CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("GET nopath HTTP/1.1\r\n\r\n"), CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), CG_OK);
    cr_assert_eq(error_of("GET http://h.example/a?b HTTP/1.1\r\nHost: h.example\r\n\r\n"), CG_OK);
}

/* Every framing llhttp 8.1 lets through and RFC 9112 forbids (each one a smuggling primitive). */
Test(parser, framing_llhttp_is_lenient_about_is_refused)
{
    /* anything but CRLF after chunk data; the "request" behind it must not be parsed */
    cr_assert_eq(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "2\r\nabXY0\r\n\r\n"),
                 CG_ERR_BAD_REQUEST);
    /* obs-fold, in Transfer-Encoding, Content-Length and any other field */
    cr_assert_eq(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"
                          "0\r\n\r\n"),
                 CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\t1\r\n\r\nx"),
                 CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n"),
                 CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("GET / HTTP/1.1\r\n Host: h\r\n\r\n"), CG_ERR_BAD_REQUEST);
    /* a CR followed by anything but LF: after a chunk size, in the head, after the trailers */
    cr_assert_eq(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "1\rXx\r\n0\r\n\r\n"),
                 CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "1\r\nx\r\n0\rX\r\n"),
                 CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("GET / HTTP/1.1\r\nHost: h\r\n\rX"), CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"), CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "0\r\n\rX"),
                 CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "0\r\nT: 1\r\n t\r\n\r\n"),
                 CG_ERR_BAD_REQUEST);
    /* an empty Transfer-Encoding next to Content-Length, or alone */
    cr_assert_eq(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n"
                          "Content-Length: 1\r\n\r\nx"),
                 CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n"),
                 CG_ERR_BAD_REQUEST);
    /* codings other than chunked */
    cr_assert_eq(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                          "0\r\n\r\n"),
                 CG_ERR_NOT_IMPLEMENTED);
    cr_assert_eq(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                 CG_ERR_NOT_IMPLEMENTED);
    cr_assert_eq(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n"
                          "\r\n0\r\n\r\n"),
                 CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                 CG_ERR_BAD_REQUEST);
    /* versions */
    cr_assert_eq(error_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), CG_ERR_HTTP_VERSION);
    cr_assert_eq(error_of("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), CG_ERR_HTTP_VERSION);
    /* Host: one on HTTP/1.1, at most one on HTTP/1.0 */
    cr_assert_eq(error_of("GET / HTTP/1.1\r\n\r\n"), CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("GET / HTTP/1.0\r\n\r\n"), CG_OK);
    cr_assert_eq(error_of("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"), CG_ERR_BAD_REQUEST);
    cr_assert_eq(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"
                          "1;a=b\r\nx\r\n0\r\n\r\n"),
                 CG_OK);
}

Test(parser, chunk_crlf_is_checked_across_reads)
{
    const char *req = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab";
    for (int tail = 0; tail < 2; tail++) {
        struct cg_parser p;
        cg_parser_init(&p, &limits, &sink, NULL, "", true);
        struct cg_parse_result r = feed_all(&p, req);
        cr_assert_eq(r.status, CG_PARSE_MORE);
        r = feed_all(&p, tail ? "\r" : "\n");
        if (tail) {
            cr_assert_eq(r.status, CG_PARSE_MORE);
            r = feed_all(&p, "X0\r\n\r\n");
        }
        cr_assert_eq(r.status, CG_PARSE_ERROR);
        cr_assert_eq(r.error, CG_ERR_BAD_REQUEST);
        cg_exchange_release(r.failed);
        cg_parser_dispose(&p);
    }
}

Test(parser, unbounded_chunk_extensions_are_413)
{
    static char req[4096];
    int n = snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: h\r\n"
                                       "Transfer-Encoding: chunked\r\n\r\n1");
    n += snprintf(req + n, sizeof(req) - (size_t)n, ";name=");
    for (int i = 0; i < 2000; i++)
        req[n++] = 'v';
    snprintf(req + n, sizeof(req) - (size_t)n, "\r\nx\r\n0\r\n\r\n");
    struct cg_http_limits big = limits;
    big.max_body_bytes = 1 << 20;
    struct cg_parser p;
    cg_parser_init(&p, &big, &sink, NULL, "", true);
    struct cg_parse_result r = feed_all(&p, req);
    cr_assert_eq(r.status, CG_PARSE_ERROR);
    cr_assert_eq(r.error, CG_ERR_TOO_LARGE, "%s", cg_err_name(r.error));
    cg_exchange_release(r.failed);
    cg_parser_dispose(&p);
}

Test(parser, trailer_fields_are_not_headers)
{
    struct cg_parser p;
    cg_parser_init(&p, &limits, &sink, NULL, "", true);
    struct cg_parse_result r = feed_all(&p, "POST / HTTP/1.1\r\nHost: h\r\n"
                                            "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n"
                                            "Authorization: Bearer k\r\nX-Request-Id: t\r\n\r\n");
    cr_assert_eq(r.status, CG_PARSE_REQUEST);
    cr_assert_not(cg_exchange_has_header(r.exchange, "authorization"));
    cr_assert_str_neq(r.exchange->request_id, "t");
    cr_assert_eq(r.exchange->header_count, 2);
    cg_exchange_release(r.exchange);
    cg_parser_dispose(&p);
}

Test(parser, head_errors_answer_in_the_clients_version)
{
    struct cg_parser p;
    cg_parser_init(&p, &limits, &sink, NULL, "", true);
    struct cg_parse_result r = feed_all(&p, "GET / HTTP/1.1\r\nHost: h\r\nX: 1\r\n 2\r\n\r\n");
    cr_assert_eq(r.status, CG_PARSE_ERROR);
    cr_assert_eq(r.failed->http_minor, 1);
    cg_exchange_release(r.failed);
    cg_parser_dispose(&p);
}

Test(parser, expect_continue_is_reported_once)
{
    struct cg_parser p;
    cg_parser_init(&p, &limits, &sink, NULL, "", true);
    struct cg_parse_result r =
        feed_all(&p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    cr_assert_eq(r.status, CG_PARSE_CONTINUE);
    r = feed_all(&p, "ok");
    cr_assert_eq(r.status, CG_PARSE_REQUEST);
    cg_exchange_release(r.exchange);
    cg_parser_dispose(&p);
}

Test(parser, request_ids)
{
    cr_assert(cg_parser_request_id_ok("a", 1));
    cr_assert(cg_parser_request_id_ok("A-b_c.d:9", 9));
    cr_assert_not(cg_parser_request_id_ok("", 0));
    cr_assert_not(cg_parser_request_id_ok("a b", 3));
    cr_assert_not(cg_parser_request_id_ok("a\"b", 3));
    char long_id[130];
    memset(long_id, 'a', sizeof(long_id));
    cr_assert(cg_parser_request_id_ok(long_id, 128));
    cr_assert_not(cg_parser_request_id_ok(long_id, 129));
}
