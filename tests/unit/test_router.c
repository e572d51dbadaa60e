/* test_router.c: the access phase (route, method, key decided on the head alone) and the key
 * label an admitted request carries, without sockets. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "http/parser.h"
#include "http/router.h"

static char out[4096];
static size_t out_len;
static int handled;

static void sink_write(void *ctx, char *data, size_t len)
{
    size_t n = len < sizeof(out) - 1 - out_len ? len : sizeof(out) - 1 - out_len;
    memcpy(out + out_len, data, n);
    out_len += n;
    out[out_len] = '\0';
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

static void on_ok(struct cg_exchange *ex, void *ctx)
{
    handled++;
    cg_exchange_send_json(ex, "{}", 2);
}

static const struct cg_route routes[] = {
    {"/k", false, CG_METHOD_POST | CG_METHOD_GET, CG_ACCESS_KEY, "k", on_ok},
    {"/open", false, CG_METHOD_GET, CG_ACCESS_OPEN, "open", on_ok},
};

static const struct cg_http_limits limits = {
    .max_url_bytes = 256, .max_header_bytes = 2048, .max_headers = 16, .max_body_bytes = 1024};

static struct cg_cors cors;
static struct cg_auth auth;
static struct cg_router router;
static char *three_keys[] = {"alpha", "beta", "alpha"};

static void setup(size_t key_count)
{
    char err[64];
    cr_assert_eq(cg_cors_init(&cors, false, "*", err, sizeof(err)), 0);
    cg_auth_init(&auth, three_keys, key_count);
    router = (struct cg_router){
        .routes = routes, .count = CG_ARRAY_SIZE(routes), .cors = &cors, .auth = &auth};
    out_len = 0;
    out[0] = '\0';
    handled = 0;
}

/* Parses one bodiless request head (no access phase) and returns its exchange. */
static struct cg_exchange *head(const char *req, bool loopback)
{
    struct cg_parser p;
    cg_parser_init(&p, &limits, &sink, NULL, "peer", loopback);
    struct cg_parse_result r;
    cg_parser_feed(&p, req, strlen(req), &r);
    cr_assert_eq(r.status, CG_PARSE_REQUEST, "%s", req);
    cg_parser_dispose(&p);
    return r.exchange;
}

static const char *label_of(const char *req, bool loopback, enum cg_err *refusal)
{
    static char label[32];
    struct cg_exchange *ex = head(req, loopback);
    bool ok = cg_router_admit(&router, ex);
    cr_assert_eq(ok, ex->refusal == NULL);
    *refusal = ok ? CG_OK : ex->refusal->code;
    snprintf(label, sizeof(label), "%s", ex->key_label ? ex->key_label : "(null)");
    cg_exchange_release(ex);
    return label;
}

Test(router, admitted_requests_carry_the_label_of_their_key)
{
    setup(3);
    enum cg_err e;
    cr_assert_str_eq(
        label_of("GET /k HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer alpha\r\n\r\n", false, &e),
        "key1");
    cr_assert_eq(e, CG_OK);
    cr_assert_str_eq(
        label_of("GET /k HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer beta\r\n\r\n", true, &e),
        "key2");
    cr_assert_str_eq(label_of("GET /open HTTP/1.1\r\nHost: h\r\n\r\n", false, &e), "(null)");
    cr_assert_eq(e, CG_OK);
    cr_assert_str_eq(
        label_of("GET /k HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer gamma\r\n\r\n", false, &e),
        "(null)");
    cr_assert_eq(e, CG_ERR_INVALID_API_KEY);
    cr_assert_str_eq(label_of("GET /k HTTP/1.1\r\nHost: h\r\n\r\n", true, &e), "(null)");
    cr_assert_eq(e, CG_ERR_MISSING_API_KEY);
}

static const char *id_of(const char *req)
{
    static char id[CG_AUTH_KEY_ID_BYTES];
    struct cg_exchange *ex = head(req, false);
    cr_assert(cg_router_admit(&router, ex));
    snprintf(id, sizeof(id), "%s", ex->key_id ? ex->key_id : "(null)");
    cg_exchange_release(ex);
    return id;
}

/* Stored responses belong to the key id: it follows the key, not its place in the list. */
Test(router, the_key_id_follows_the_key_not_its_position)
{
    static const char beta[] = "GET /k HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer beta\r\n\r\n";
    setup(3);
    char second[CG_AUTH_KEY_ID_BYTES];
    snprintf(second, sizeof(second), "%s", id_of(beta));
    char want[CG_AUTH_KEY_ID_BYTES];
    cg_auth_key_id("beta", want);
    cr_assert_str_eq(second, want);
    cr_assert_eq(strncmp(want, "k_", 2), 0);
    cr_assert_eq(strlen(want), 2 + CG_AUTH_KEY_ID_HEX);
    /* the first 24 hex digits of sha256("beta") (sha256sum): a digest of the key, never the key */
    cr_assert_str_eq(want, "k_f44e64e75f3948e9f73f8dfa");
    static char *only_beta[] = {"beta"};
    cg_auth_init(&auth, only_beta, 1);
    cr_assert_str_eq(id_of(beta), second, "beta is now the first key: same id");
    cg_auth_key_id("alpha", want);
    cr_assert_str_neq(want, second);
}

Test(router, a_keyless_loopback_client_is_labelled_loopback)
{
    setup(0);
    enum cg_err e;
    cr_assert_str_eq(label_of("GET /k HTTP/1.1\r\nHost: h\r\n\r\n", true, &e), "loopback");
    cr_assert_eq(e, CG_OK);
    label_of("GET /k HTTP/1.1\r\nHost: h\r\n\r\n", false, &e);
    cr_assert_eq(e, CG_ERR_LOOPBACK_ONLY);
}

Test(router, auth_reports_the_first_matching_position)
{
    struct cg_auth a;
    cg_auth_init(&a, three_keys, 3);
    size_t index = 99;
    cr_assert_eq(cg_auth_identify(&a, CG_STR("Bearer alpha"), false, &index, NULL), CG_OK);
    cr_assert_eq(index, 0);
    cr_assert_eq(cg_auth_identify(&a, CG_STR("Bearer beta"), false, &index, NULL), CG_OK);
    cr_assert_eq(index, 1);
    cr_assert_eq(cg_auth_identify(&a, CG_STR("Bearer alph"), false, &index, NULL),
                 CG_ERR_INVALID_API_KEY);
    cr_assert_eq(index, CG_AUTH_NO_KEY);
}

Test(router, unknown_path_and_wrong_method_are_refused_on_the_head)
{
    setup(3);
    enum cg_err e;
    label_of("GET /nope HTTP/1.1\r\nHost: h\r\n\r\n", true, &e);
    cr_assert_eq(e, CG_ERR_NOT_FOUND);
    struct cg_exchange *ex = head("DELETE /open HTTP/1.1\r\nHost: h\r\n\r\n", true);
    cr_assert_not(cg_router_admit(&router, ex));
    cr_assert_eq(ex->refusal->code, CG_ERR_METHOD_NOT_ALLOWED);
    cr_assert_not(cg_router_admit(&router, ex), "the first decision stands");
    cg_router_dispatch(&router, ex);
    cr_assert(strncmp(out, "HTTP/1.1 405 ", 13) == 0, "%s", out);
    cr_assert_not_null(strstr(out, "Allow: GET, HEAD, OPTIONS\r\n"));
    cr_assert_eq(handled, 0);
    cg_exchange_release(ex);
}

Test(router, options_is_admitted_without_a_key)
{
    setup(3);
    struct cg_exchange *ex = head("OPTIONS /k HTTP/1.1\r\nHost: h\r\n\r\n", false);
    cr_assert(cg_router_admit(&router, ex));
    cg_router_dispatch(&router, ex);
    cr_assert(strncmp(out, "HTTP/1.1 204 ", 13) == 0, "%s", out);
    cr_assert_eq(handled, 0);
    cg_exchange_release(ex);
}

/* With the access phase on, a refused request with a body fails at its head (nothing of the
 * body read, no 100 Continue); one without a body completes and dispatch answers it. */
Test(router, the_parser_refuses_a_body_at_its_head)
{
    setup(3);
    struct cg_parser p;
    cg_parser_init(&p, &limits, &sink, NULL, "peer", false);
    cg_parser_set_admission(&p, &router, NULL);
    static const char req[] = "POST /k HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                              "Expect: 100-continue\r\n\r\n";
    struct cg_parse_result r;
    cg_parser_feed(&p, req, sizeof(req) - 1, &r);
    cr_assert_eq(r.status, CG_PARSE_ERROR);
    cr_assert_eq(r.error, CG_ERR_MISSING_API_KEY);
    cr_assert_not_null(r.failed->refusal);
    cr_assert_eq(r.failed->body.len, 0);
    cg_exchange_release(r.failed);
    cg_parser_dispose(&p);

    cg_parser_init(&p, &limits, &sink, NULL, "peer", false);
    cg_parser_set_admission(&p, &router, NULL);
    static const char bodiless[] = "GET /k HTTP/1.1\r\nHost: h\r\n\r\n";
    cg_parser_feed(&p, bodiless, sizeof(bodiless) - 1, &r);
    cr_assert_eq(r.status, CG_PARSE_REQUEST);
    cg_router_dispatch(&router, r.exchange);
    cr_assert(strncmp(out, "HTTP/1.1 401 ", 13) == 0, "%s", out);
    cr_assert_null(strstr(out, "Connection: close"), "a bodiless refusal keeps the connection");
    cg_exchange_release(r.exchange);

    static const char good[] = "POST /k HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer beta\r\n"
                               "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n";
    cg_parser_feed(&p, good, sizeof(good) - 1, &r);
    cr_assert_eq(r.status, CG_PARSE_CONTINUE);
    cg_parser_feed(&p, "{}", 2, &r);
    cr_assert_eq(r.status, CG_PARSE_REQUEST);
    cr_assert_str_eq(r.exchange->key_label, "key2");
    cg_exchange_release(r.exchange);
    cg_parser_dispose(&p);
}

static uint64_t clock_ms;
static uint64_t fake_clock(void)
{
    return clock_ms;
}

/* Admits (or refuses) one request and answers it through dispatch; returns the exchange, still
 * held, so the caller decides when its concurrency slot is given back. */
static struct cg_exchange *answer(const char *req)
{
    out_len = 0;
    out[0] = '\0';
    struct cg_exchange *ex = head(req, false);
    cg_router_dispatch(&router, ex);
    return ex;
}

/* Starts the clock at 0 and puts `rl` (disposed by the test) in front of the router. */
static void limit_with(struct cg_ratelimit *rl, bool enabled, uint64_t window_ms, uint64_t max,
                       uint64_t concurrent, uint64_t auth_failures_max)
{
    clock_ms = 0;
    struct cg_ratelimit_limits d = {.max = max, .window_ms = window_ms, .concurrent = concurrent};
    cg_ratelimit_init(rl, enabled, &d, auth_failures_max, fake_clock);
    router.ratelimit = rl;
}

static void expect_status(const char *req, const char *status)
{
    cg_exchange_release(answer(req));
    char want[16];
    snprintf(want, sizeof(want), "HTTP/1.1 %s ", status);
    cr_assert(strncmp(out, want, strlen(want)) == 0, "want %s: %s", status, out);
}

static const char beta_req[] = "POST /k HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer beta\r\n"
                               "Content-Length: 0\r\n\r\n";

Test(router, a_key_past_its_bucket_gets_429_with_openai_headers_and_recovers)
{
    setup(3);
    struct cg_ratelimit rl;
    limit_with(&rl, true, 2000, 2, 0, 0);
    expect_status(beta_req, "200");
    cr_assert_not_null(strstr(out, "x-ratelimit-limit-requests: 2\r\n"), "%s", out);
    cr_assert_not_null(strstr(out, "x-ratelimit-remaining-requests: 1\r\n"), "%s", out);
    cr_assert_not_null(strstr(out, "x-ratelimit-reset-requests: 1s\r\n"), "%s", out);
    cg_exchange_release(answer(beta_req));
    expect_status(beta_req, "429");
    cr_assert_not_null(strstr(out, "Retry-After: 1\r\n"), "%s", out);
    cr_assert_not_null(strstr(out, "\"code\":\"rate_limit_exceeded\""), "%s", out);
    cr_assert_not_null(strstr(out, "x-ratelimit-remaining-requests: 0\r\n"), "%s", out);
    cr_assert_eq(handled, 2);
    cg_exchange_release(answer("GET /open HTTP/1.1\r\nHost: h\r\n\r\n"));
    cr_assert(strncmp(out, "HTTP/1.1 200 ", 13) == 0, "probes are not limited");
    cr_assert_null(strstr(out, "x-ratelimit-"));
    clock_ms = 1000;
    expect_status(beta_req, "200");
    cg_ratelimit_dispose(&rl);
}

Test(router, a_concurrency_slot_is_held_until_the_exchange_is_freed)
{
    setup(3);
    struct cg_ratelimit rl;
    limit_with(&rl, true, 1000, 100, 1, 0);
    struct cg_exchange *first = answer(beta_req);
    cg_exchange_hold(first); /* a backend turn still holds the answered exchange */
    cg_exchange_release(first);
    expect_status(beta_req, "429");
    cg_exchange_release(first);
    expect_status(beta_req, "200");
    cr_assert_eq(rl.buckets[0].active, 0);
    cg_ratelimit_dispose(&rl);
}

Test(router, a_peer_that_keeps_failing_is_refused_before_its_key_is_compared)
{
    setup(3);
    struct cg_ratelimit rl;
    limit_with(&rl, false, 1000, 1, 0, 2);
    static const char wrong[] = "GET /k HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer nope\r\n\r\n";
    for (int i = 0; i < 3; i++) {
        expect_status(wrong, "401");
    }
    clock_ms = 59000;
    cg_exchange_release(answer(beta_req));
    cr_assert(strncmp(out, "HTTP/1.1 429 ", 13) == 0, "even the right key waits: %s", out);
    cr_assert_not_null(strstr(out, "Retry-After: 1\r\n"), "%s", out);
    cr_assert_null(strstr(out, "x-ratelimit-"), "limits are off");
    clock_ms = 60000;
    expect_status(beta_req, "200");
    cg_ratelimit_dispose(&rl);
}

Test(router, a_keys_file_entry_gives_its_label_id_allow_list_and_limits)
{
    setup(1); /* PROXY_API_KEY: alpha */
    static const char file[] =
        "ci sha256:f44e64e75f3948e9f73f8dfa94721c4ce8cbb4f265c4790c702b2d41cfbf2753 rpm=1 "
        "models=codex-5 admin\n";
    struct cg_keys *keys = NULL;
    char err[128];
    cr_assert_eq(cg_keys_parse(file, sizeof(file) - 1, &keys, err, sizeof(err)), 0, "%s", err);
    auth.named = keys;
    struct cg_ratelimit rl;
    limit_with(&rl, false, 1000, 100, 0, 0);
    struct cg_exchange *ex = answer(beta_req);
    cr_assert(strncmp(out, "HTTP/1.1 200 ", 13) == 0, "%s", out);
    cr_assert_str_eq(ex->key_label, "ci");
    char want[CG_AUTH_KEY_ID_BYTES];
    cg_auth_key_id("beta", want);
    cr_assert_str_eq(ex->key_id, want, "the same id as the key in PROXY_API_KEY would have");
    cr_assert_str_eq(ex->key_models, "codex-5");
    cr_assert(ex->key_admin);
    cr_assert_not_null(strstr(out, "x-ratelimit-limit-requests: 1\r\n"), "rpm= with limits off");
    cr_assert_not_null(strstr(out, "x-ratelimit-reset-requests: 1m0s\r\n"), "%s", out);
    cg_exchange_release(ex);
    /* The table can go (a reload) while the request's copies stay valid: nothing points in. */
    ex = answer(beta_req);
    auth.named = NULL;
    cg_keys_free(keys);
    cr_assert(strncmp(out, "HTTP/1.1 429 ", 13) == 0, "%s", out);
    cr_assert_str_eq(ex->key_label, "ci");
    cg_exchange_release(ex);
    cg_exchange_release(answer(beta_req));
    cr_assert(strncmp(out, "HTTP/1.1 401 ", 13) == 0, "the key went with its file: %s", out);
    cg_ratelimit_dispose(&rl);
}

/* The forward-auth table: the verify route for any method, as the verifier builds it. */
static const struct cg_route verify_routes[] = {
    {"/verify", false,
     CG_METHOD_GET | CG_METHOD_POST | CG_METHOD_OPTIONS | CG_METHOD_PUT | CG_METHOD_DELETE |
         CG_METHOD_PATCH | CG_METHOD_OTHER,
     CG_ACCESS_VERIFY, "verify", on_ok},
};

static void setup_verifier(void)
{
    setup(2);
    router.routes = verify_routes;
    router.count = CG_ARRAY_SIZE(verify_routes);
    router.peer_from_forwarded = true;
}

Test(router, a_verify_route_passes_preflights_to_its_handler_without_a_key)
{
    setup_verifier();
    expect_status("OPTIONS /verify HTTP/1.1\r\nHost: h\r\n\r\n", "200");
    expect_status("GET /verify HTTP/1.1\r\nHost: h\r\nX-Forwarded-Method: OPTIONS\r\n\r\n", "200");
    cr_assert_eq(handled, 2, "the handler answers preflights, not the router's 204");
    expect_status("GET /verify HTTP/1.1\r\nHost: h\r\nX-Forwarded-Method: POST\r\n\r\n", "401");
    expect_status("GET /verify HTTP/1.1\r\nHost: h\r\nX-Forwarded-Method: options\r\n\r\n", "401");
    expect_status("DELETE /verify HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer beta\r\n\r\n",
                  "200");
    cr_assert_eq(handled, 3);
}

Test(router, a_verify_route_spends_no_per_key_limits)
{
    setup_verifier();
    struct cg_ratelimit rl;
    limit_with(&rl, true, 60000, 1, 0, 0);
    static const char post[] = "POST /verify HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer beta\r\n"
                               "Content-Length: 0\r\n\r\n";
    expect_status(post, "200");
    expect_status(post, "200");
    cr_assert_null(strstr(out, "x-ratelimit-"), "%s", out);
    cg_ratelimit_dispose(&rl);
}

/* A verify request with `key` from the client that X-Forwarded-For names; expects `status`. */
static void verify_from(const char *key, const char *forwarded_for, const char *status)
{
    char req[512];
    snprintf(req, sizeof(req),
             "GET /verify HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n"
             "X-Forwarded-For: %s\r\n\r\n",
             key, forwarded_for);
    expect_status(req, status);
}

/* The verifier's TCP peer is always the proxy: one client's wrong keys must not lock out the
 * others behind the same proxy. */
Test(router, the_verifier_slows_down_the_forwarded_client_not_the_proxy)
{
    setup_verifier();
    struct cg_ratelimit rl;
    limit_with(&rl, false, 1000, 1, 0, 1);
    verify_from("nope", "198.51.100.9, 203.0.113.7", "401");
    verify_from("nope", "198.51.100.9, 203.0.113.7", "401");
    verify_from("nope", "198.51.100.9, 203.0.113.7", "429");
    verify_from("beta", "203.0.113.8", "200");
    verify_from("beta", "203.0.113.7", "429");
    /* Not an address: the TCP peer counts, and it has failed nothing yet. */
    verify_from("beta", "203.0.113.7, nonsense", "200");
    /* A proxy that adds its own header line: the client's line comes first and counts not. */
    verify_from("beta", "203.0.113.8\r\nX-Forwarded-For: 203.0.113.7", "429");
    verify_from("beta", "203.0.113.7\r\nX-Forwarded-For: 203.0.113.8", "200");
    cg_ratelimit_dispose(&rl);
}

Test(router, without_forwarded_peers_the_tcp_peer_is_counted)
{
    setup_verifier();
    router.peer_from_forwarded = false;
    struct cg_ratelimit rl;
    limit_with(&rl, false, 1000, 1, 0, 1);
    verify_from("nope", "203.0.113.7", "401");
    verify_from("nope", "203.0.113.7", "401");
    verify_from("beta", "203.0.113.8", "429");
    cg_ratelimit_dispose(&rl);
}

static int done_calls;
static void count_done(const struct cg_exchange *ex, void *data)
{
    cr_assert_not(ex->log_access);
    done_calls++;
}

Test(router, own_access_log_turns_the_exchange_line_off_for_every_routed_request)
{
    setup_verifier();
    router.on_done = count_done;
    router.own_access_log = true;
    done_calls = 0;
    expect_status("GET /nope HTTP/1.1\r\nHost: h\r\n\r\n", "404");
    expect_status("GET /verify HTTP/1.1\r\nHost: h\r\n\r\n", "401");
    expect_status("GET /verify HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer alpha\r\n\r\n", "200");
    cr_assert_eq(done_calls, 3);
}
