/* fuzz_http_request.c: bytes → request parser → router → handlers, exactly as a connection
 * drives them, with the response bytes discarded. The input is fed in up to three pieces (the
 * first byte chooses where to cut) so split reads are covered too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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
    int done = 0;
    struct cg_parser p;
    cg_parser_init(&p, &limits, &sink, &done, "127.0.0.1", size % 2 == 0);
    size_t cut1 = size ? (size_t)data[0] * size / 256 : 0;
    size_t cuts[3] = {cut1, (cut1 + size) / 2, size};
    size_t off = 0;
    for (int piece = 0; piece < 3; piece++) {
        while (off < cuts[piece]) {
            struct cg_parse_result r;
            cg_parser_feed(&p, (const char *)data + off, cuts[piece] - off, &r);
            off += r.consumed;
            if (r.status == CG_PARSE_ERROR) {
                if (r.error != CG_ERR_CLIENT_CLOSED)
                    cg_exchange_fail_code(r.failed, r.error);
                cg_exchange_release(r.failed);
                goto out;
            }
            if (r.status == CG_PARSE_REQUEST) {
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
    return 0;
}
