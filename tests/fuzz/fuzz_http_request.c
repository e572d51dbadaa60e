/* fuzz_http_request.c: bytes → request parser (with the access phase) → router → handlers,
 * exactly as a connection drives them, with the response bytes discarded. The input is fed in up
 * to three pieces (the first byte chooses where to cut) so split reads are covered too. Every
 * request the parser accepts is re-read here by an independent, deliberately plain reading of
 * RFC 9112 (one framing: not both Content-Length and Transfer-Encoding, one Content-Length,
 * "chunked" alone, CRLF after every chunk, no folded field, one Host on HTTP/1.1, and exactly
 * the bytes the parser consumed); any disagreement aborts. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "api/api.h"
#include "config.h"
#include "core/catalog.h"
#include "http/auth.h"
#include "http/cors.h"
#include "http/parser.h"
#include "http/router.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void sink_write(void *ctx, char *bytes, size_t len)
{
    free(bytes);
}
static size_t sink_queued(void *ctx)
{
    return 0;
}
static void sink_done(void *ctx, struct cg_exchange *ex)
{
    *(int *)ctx = 1;
}
static const struct cg_sink_ops sink = {sink_write, sink_queued, sink_done, NULL};

static struct cg_router router;
static struct cg_api api;
static struct cg_catalog catalog;
static struct cg_cors cors;
static struct cg_auth auth;
static struct cg_config cfg;
static char *keys[] = {"fuzz-key"};

/* --- the independent reading ------------------------------------------------------------- */

struct span {
    const char *p;
    size_t n;
};

/* Next line ending in LF (a CR before it dropped: RFC 9112 §2.2 lets a head use bare LF). */
static bool next_line(struct span *in, struct span *line)
{
    const char *lf = memchr(in->p, '\n', in->n);
    if (lf == NULL)
        return false;
    size_t n = (size_t)(lf - in->p);
    *line = (struct span){in->p, n && in->p[n - 1] == '\r' ? n - 1 : n};
    in->p += n + 1;
    in->n -= n + 1;
    return true;
}

static struct span trim(struct span s)
{
    while (s.n && (s.p[0] == ' ' || s.p[0] == '\t'))
        s.p++, s.n--;
    while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
        s.n--;
    return s;
}

static bool name_is(struct span name, const char *want)
{
    return name.n == strlen(want) && strncasecmp(name.p, want, name.n) == 0;
}

static void expect(bool ok)
{
    if (!ok)
        abort(); /* the parser accepted what RFC 9112 framing does not allow */
}

/* Skips a chunked body: size line ending in CRLF, data, CRLF; then trailer lines. */
static void skip_chunked(struct span *in)
{
    for (;;) {
        const char *crlf = memmem(in->p, in->n, "\r\n", 2);
        expect(crlf != NULL);
        size_t line = (size_t)(crlf - in->p);
        size_t size = 0;
        size_t digits = 0;
        while (digits < line && strchr("0123456789abcdefABCDEF", in->p[digits]) &&
               in->p[digits] != '\0') {
            char c = in->p[digits];
            unsigned v = c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
            expect(size <= (SIZE_MAX >> 4));
            size = size * 16 + v;
            digits++;
        }
        expect(digits > 0);
        expect(digits == line || in->p[digits] == ';');
        in->p += line + 2;
        in->n -= line + 2;
        if (size == 0)
            break;
        expect(in->n >= size + 2);
        expect(in->p[size] == '\r' && in->p[size + 1] == '\n');
        in->p += size + 2;
        in->n -= size + 2;
    }
    struct span l;
    do
        expect(next_line(in, &l));
    while (l.n > 0);
}

static void check_accepted(const char *raw, size_t len)
{
    struct span in = {raw, len};
    while (in.n && (in.p[0] == '\r' || in.p[0] == '\n'))
        in.p++, in.n--;
    struct span line;
    expect(next_line(&in, &line));
    expect(line.n >= 8 && memcmp(line.p + line.n - 8, "HTTP/1.", 7) == 0);
    char minor = line.p[line.n - 1];
    expect(minor >= '0' && minor <= '9');
    bool http11 = minor >= '1';
    size_t lengths = 0, codings = 0, hosts = 0;
    unsigned long long length = 0;
    for (;;) {
        expect(next_line(&in, &line));
        if (line.n == 0)
            break;
        expect(line.p[0] != ' ' && line.p[0] != '\t'); /* obs-fold */
        const char *colon = memchr(line.p, ':', line.n);
        expect(colon != NULL);
        struct span name = {line.p, (size_t)(colon - line.p)};
        struct span value = trim((struct span){colon + 1, line.n - name.n - 1});
        expect(memchr(name.p, ' ', name.n) == NULL && memchr(name.p, '\t', name.n) == NULL);
        if (name_is(name, "host"))
            hosts++;
        if (name_is(name, "content-length")) {
            lengths++;
            expect(value.n > 0);
            for (size_t i = 0; i < value.n; i++) {
                expect(value.p[i] >= '0' && value.p[i] <= '9');
                expect(length <= UINT32_MAX); /* far above any body limit, no overflow */
                length = length * 10 + (unsigned)(value.p[i] - '0');
            }
        }
        if (name_is(name, "transfer-encoding")) {
            codings++;
            expect(value.n == 7 && strncasecmp(value.p, "chunked", 7) == 0);
        }
    }
    expect(lengths <= 1 && codings <= 1 && !(lengths && codings));
    expect(http11 ? hosts == 1 : hosts <= 1);
    if (codings) {
        expect(http11);
        skip_chunked(&in);
    } else if (lengths) {
        expect(in.n >= length);
        in.n -= (size_t)length;
    }
    expect(in.n == 0); /* exactly the bytes the parser took for this request */
}

/* --- the target ------------------------------------------------------------------------- */

static void setup(void)
{
    static int ready;
    if (ready)
        return;
    ready = 1;
    cg_log_threshold = CG_LOG_ERROR; /* access lines would drown the fuzzer's output */
    char err[256];
    if (cg_config_load(&cfg, NULL, NULL, err, sizeof(err)) != 0)
        abort();
    if (cg_catalog_init(&catalog, "gpt-fuzz") != 0)
        abort();
    if (cg_cors_init(&cors, true, "https://a.example, http://localhost:*", err, sizeof(err)) != 0)
        abort();
    cg_auth_init(&auth, keys, 1);
    api.cfg = &cfg;
    api.catalog = &catalog;
    cg_routes_init(&router, &api);
    router.cors = &cors;
    router.auth = &auth;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    static const struct cg_http_limits limits = {
        .max_url_bytes = 512, .max_header_bytes = 4096, .max_headers = 32, .max_body_bytes = 8192};
    struct cg_client_budget budget = {.used = 0, .max = 16384};
    int done = 0;
    struct cg_parser p;
    cg_parser_init(&p, &limits, &sink, &done, "127.0.0.1", size % 2 == 0);
    cg_parser_set_admission(&p, &router, &budget);
    size_t cut1 = size ? (size_t)data[0] * size / 256 : 0;
    size_t cuts[3] = {cut1, (cut1 + size) / 2, size};
    size_t off = 0;
    size_t request_start = 0;
    for (int piece = 0; piece < 3; piece++) {
        while (off < cuts[piece]) {
            struct cg_parse_result r;
            cg_parser_feed(&p, (const char *)data + off, cuts[piece] - off, &r);
            off += r.consumed;
            if (r.status == CG_PARSE_ERROR) {
                if (r.failed->refusal)
                    cg_exchange_fail(r.failed, r.failed->refusal);
                else if (r.error != CG_ERR_CLIENT_CLOSED)
                    cg_exchange_fail_code(r.failed, r.error);
                cg_exchange_release(r.failed);
                goto out;
            }
            if (r.status == CG_PARSE_REQUEST) {
                check_accepted((const char *)data + request_start, off - request_start);
                request_start = off;
                done = 0;
                cg_router_dispatch(&router, r.exchange);
                if (!done)
                    abort(); /* every route answers synchronously without a backend */
                cg_exchange_release(r.exchange);
                continue;
            }
            break; /* MORE or CONTINUE: everything consumed */
        }
        off = cuts[piece];
    }
    struct cg_parse_result r;
    cg_parser_finish(&p, &r);
    if (r.status == CG_PARSE_ERROR)
        cg_exchange_release(r.failed);
out:
    cg_parser_dispose(&p);
    if (budget.used != 0)
        abort(); /* every body byte counted is given back with its exchange */
    return 0;
}
