/* test_responses_store.c: the response store on a real SQLite file in a temporary directory and
 * a real loop: every call's callback is counted, the loop runs dry, and it must close. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>
#include "core/limits.h"
#include "store/responses_store.h"
#include "util/log.h"
#include "temp_db.h"

/* Each test's hard bound (SIGALRM's default action ends the test process; see test_pool.c). */
enum { TEST_BOUND_S = 60, RECS_MAX = 2200 };

struct rec {
    int fired;
    enum cg_err code;
    json_t *value; /* a reference kept past the callback */
};

static struct fixture {
    uv_loop_t loop;
    struct temp_db tmp;
    struct cg_responses_store *s;
    struct cg_responses_store_limits lim;
    struct rec recs[RECS_MAX];
    size_t nrecs;
} fx;

static int64_t clock_now = 1000;

static int64_t test_clock(void)
{
    return clock_now;
}

static void setup(void)
{
    alarm(TEST_BOUND_S);
    cg_log_threshold = CG_LOG_NOTICE; /* the corrupt-file tests log errors on purpose */
    cr_assert_eq(uv_loop_init(&fx.loop), 0);
    temp_db_make(&fx.tmp, "cg-store");
    fx.lim = (struct cg_responses_store_limits){.now_s = test_clock};
    clock_now = 1000;
}

static void run(void)
{
    uv_run(&fx.loop, UV_RUN_DEFAULT);
}

static void close_store(void)
{
    if (fx.s == NULL)
        return;
    cg_responses_store_close(fx.s);
    fx.s = NULL;
    run();
}

static void teardown(void)
{
    close_store();
    cr_assert_eq(uv_loop_close(&fx.loop), 0);
    for (size_t i = 0; i < fx.nrecs; i++)
        json_decref(fx.recs[i].value);
    temp_db_remove(&fx.tmp);
}

TestSuite(responses_store, .init = setup, .fini = teardown);

static void open_store(void)
{
    char err[512];
    int rc = cg_responses_store_open(&fx.loop, fx.tmp.path, &fx.lim, &fx.s, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_not_null(fx.s);
}

static void on_result(const struct cg_store_result *res, void *data)
{
    struct rec *r = data;
    r->fired++;
    r->code = res->code;
    r->value = res->value != NULL ? json_incref(res->value) : NULL;
}

static struct rec *rec_new(void)
{
    cr_assert_lt(fx.nrecs, RECS_MAX);
    return &fx.recs[fx.nrecs++];
}

/* Asserts every callback so far fired exactly once. */
static void assert_all_fired(void)
{
    for (size_t i = 0; i < fx.nrecs; i++)
        cr_assert_eq(fx.recs[i].fired, 1, "callback %zu fired %d times", i, fx.recs[i].fired);
}

/* A response `id` with `n_out` output messages, and its `n_in` input items. */
static json_t *response_new(const char *id, size_t n_out)
{
    json_t *out = json_array();
    for (size_t k = 0; k < n_out; k++) {
        char item_id[64];
        snprintf(item_id, sizeof(item_id), "msg_%s_%zu", id, k);
        json_array_append_new(out,
                              json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:[]}]}", "id", item_id,
                                        "type", "message", "role", "assistant", "content", "type",
                                        "output_text", "text", "an answer", "annotations"));
    }
    return json_pack("{s:s, s:s, s:I, s:s, s:o}", "id", id, "object", "response", "created_at",
                     (json_int_t)clock_now, "status", "completed", "output", out);
}

static json_t *inputs_new(const char *id, size_t n_in)
{
    json_t *in = json_array();
    for (size_t k = 0; k < n_in; k++) {
        char item_id[64];
        snprintf(item_id, sizeof(item_id), "in_%s_%zu", id, k);
        json_array_append_new(in, json_pack("{s:s, s:s, s:s, s:s}", "id", item_id, "type",
                                            "message", "role", "user", "content", "a question"));
    }
    return in;
}

static struct rec *put(const char *key, const char *id, const char *prev, size_t n_in, size_t n_out)
{
    struct rec *r = rec_new();
    cg_responses_store_put(fx.s, key, id, prev, response_new(id, n_out), inputs_new(id, n_in),
                           on_result, r);
    return r;
}

static struct rec *get(const char *key, const char *id)
{
    struct rec *r = rec_new();
    cg_responses_store_get(fx.s, key, id, on_result, r);
    return r;
}

static struct rec *del(const char *key, const char *id)
{
    struct rec *r = rec_new();
    cg_responses_store_delete(fx.s, key, id, on_result, r);
    return r;
}

static struct rec *items(const char *key, const char *id, const char *after, size_t limit, bool asc)
{
    struct rec *r = rec_new();
    struct cg_store_page page = {.after = after, .limit = limit, .ascending = asc};
    cg_responses_store_input_items(fx.s, key, id, &page, on_result, r);
    return r;
}

static struct rec *resolve(const char *key, const char *prev, const char *const *ids, size_t n)
{
    struct rec *r = rec_new();
    cg_responses_store_resolve(fx.s, key, prev, ids, n, on_result, r);
    return r;
}

/* The ids of a list's items, comma-joined. */
static const char *ids_of(json_t *list, char *buf, size_t len)
{
    buf[0] = '\0';
    size_t used = 0;
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "id"));
        int n = snprintf(buf + used, len - used, "%s%s", i > 0 ? "," : "", id ? id : "?");
        cr_assert(n > 0 && (size_t)n < len - used);
        used += (size_t)n;
    }
    return buf;
}

static void assert_page(struct rec *r, const char *ids, const char *first, const char *last,
                        bool has_more)
{
    char buf[512];
    cr_assert_eq(r->code, CG_OK, "%s", cg_err_name(r->code));
    cr_assert_str_eq(json_string_value(json_object_get(r->value, "object")), "list");
    cr_assert_str_eq(ids_of(json_object_get(r->value, "data"), buf, sizeof(buf)), ids);
    json_t *f = json_object_get(r->value, "first_id");
    json_t *l = json_object_get(r->value, "last_id");
    if (first == NULL) {
        cr_assert(json_is_null(f));
        cr_assert(json_is_null(l));
    } else {
        cr_assert_str_eq(json_string_value(f), first);
        cr_assert_str_eq(json_string_value(l), last);
    }
    cr_assert_eq(json_is_true(json_object_get(r->value, "has_more")), has_more);
}

Test(responses_store, put_then_get_returns_the_stored_response)
{
    open_store();
    struct rec *p = put("alice", "resp_1", NULL, 2, 2);
    struct rec *g = get("alice", "resp_1");
    run();
    assert_all_fired();
    cr_assert_eq(p->code, CG_OK);
    cr_assert_null(p->value);
    cr_assert_eq(g->code, CG_OK, "%s", cg_err_name(g->code));
    json_t *want = response_new("resp_1", 2);
    cr_assert(json_equal(g->value, want));
    json_decref(want);
}

Test(responses_store, another_owner_finds_nothing)
{
    open_store();
    put("alice", "resp_1", NULL, 2, 1);
    run();
    const char *const ids[] = {"in_resp_1_0", "msg_resp_1_0"};
    struct rec *g = get("bob", "resp_1");
    struct rec *it = items("bob", "resp_1", NULL, 20, false);
    struct rec *d = del("bob", "resp_1");
    struct rec *rs = resolve("bob", "resp_1", ids, 2);
    struct rec *ri = resolve("bob", NULL, ids, 2);
    struct rec *still = get("alice", "resp_1");
    struct rec *own = resolve("alice", NULL, ids, 2);
    run();
    assert_all_fired();
    cr_assert_eq(g->code, CG_ERR_RESPONSE_NOT_FOUND);
    cr_assert_eq(it->code, CG_ERR_RESPONSE_NOT_FOUND);
    cr_assert_eq(d->code, CG_ERR_RESPONSE_NOT_FOUND);
    cr_assert_eq(rs->code, CG_ERR_PREVIOUS_RESPONSE_NOT_FOUND);
    cr_assert_eq(ri->code, CG_OK);
    cr_assert_eq(json_object_size(json_object_get(ri->value, "items")), 0);
    cr_assert_eq(still->code, CG_OK);
    cr_assert_eq(own->code, CG_OK);
    cr_assert_eq(json_object_size(json_object_get(own->value, "items")), 2);
}

Test(responses_store, deleted_response_is_not_found)
{
    open_store();
    put("k", "resp_1", NULL, 1, 1);
    struct rec *d = del("k", "resp_1");
    struct rec *g = get("k", "resp_1");
    struct rec *it = items("k", "resp_1", NULL, 20, false);
    struct rec *again = del("k", "resp_1");
    const char *const ids[] = {"in_resp_1_0"};
    struct rec *ri = resolve("k", NULL, ids, 1);
    run();
    assert_all_fired();
    cr_assert_eq(d->code, CG_OK);
    cr_assert_eq(g->code, CG_ERR_RESPONSE_NOT_FOUND);
    cr_assert_eq(it->code, CG_ERR_RESPONSE_NOT_FOUND);
    cr_assert_eq(again->code, CG_ERR_RESPONSE_NOT_FOUND);
    cr_assert_eq(json_object_size(json_object_get(ri->value, "items")), 0, "items go with it");
}

Test(responses_store, input_items_pages_in_both_orders)
{
    open_store();
    put("k", "r", NULL, 5, 2);
    struct rec *all = items("k", "r", NULL, 100, false);
    struct rec *d1 = items("k", "r", NULL, 2, false);
    struct rec *d2 = items("k", "r", "in_r_3", 2, false);
    struct rec *d3 = items("k", "r", "in_r_1", 2, false);
    struct rec *a1 = items("k", "r", NULL, 3, true);
    struct rec *a2 = items("k", "r", "in_r_2", 10, true);
    struct rec *exact = items("k", "r", NULL, 5, true);
    struct rec *unknown = items("k", "r", "in_nope", 10, false);
    struct rec *output_id = items("k", "r", "msg_r_0", 10, false);
    struct rec *missing = items("k", "nope", NULL, 10, false);
    run();
    assert_all_fired();
    assert_page(all, "in_r_4,in_r_3,in_r_2,in_r_1,in_r_0", "in_r_4", "in_r_0", false);
    assert_page(d1, "in_r_4,in_r_3", "in_r_4", "in_r_3", true);
    assert_page(d2, "in_r_2,in_r_1", "in_r_2", "in_r_1", true);
    assert_page(d3, "in_r_0", "in_r_0", "in_r_0", false);
    assert_page(a1, "in_r_0,in_r_1,in_r_2", "in_r_0", "in_r_2", true);
    assert_page(a2, "in_r_3,in_r_4", "in_r_3", "in_r_4", false);
    assert_page(exact, "in_r_0,in_r_1,in_r_2,in_r_3,in_r_4", "in_r_0", "in_r_4", false);
    assert_page(unknown, "", NULL, NULL, false);
    assert_page(output_id, "", NULL, NULL, false);
    cr_assert_eq(missing->code, CG_ERR_RESPONSE_NOT_FOUND);
}

Test(responses_store, resolve_replays_the_chain_oldest_first)
{
    open_store();
    put("k", "r1", NULL, 2, 1);
    put("k", "r2", "r1", 1, 2);
    put("k", "r3", "r2", 1, 1);
    const char *const ids[] = {"in_r2_0", "msg_r1_0", "in_missing"};
    struct rec *r = resolve("k", "r3", ids, 3);
    struct rec *mid = resolve("k", "r2", NULL, 0);
    struct rec *none = resolve("k", NULL, ids, 3);
    run();
    assert_all_fired();
    cr_assert_eq(r->code, CG_OK, "%s", cg_err_name(r->code));
    char buf[512];
    cr_assert_str_eq(ids_of(json_object_get(r->value, "chain"), buf, sizeof(buf)),
                     "in_r1_0,in_r1_1,msg_r1_0,in_r2_0,msg_r2_0,msg_r2_1,in_r3_0,msg_r3_0");
    json_t *found = json_object_get(r->value, "items");
    cr_assert_eq(json_object_size(found), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(found, "in_r2_0"), "id")),
                     "in_r2_0");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(found, "msg_r1_0"), "role")),
                     "assistant");
    cr_assert_str_eq(ids_of(json_object_get(mid->value, "chain"), buf, sizeof(buf)),
                     "in_r1_0,in_r1_1,msg_r1_0,in_r2_0,msg_r2_0,msg_r2_1");
    cr_assert(json_is_null(json_object_get(none->value, "chain")));
    cr_assert_eq(json_object_size(json_object_get(none->value, "items")), 2);
}

Test(responses_store, resolve_with_a_missing_link_is_previous_not_found)
{
    open_store();
    put("k", "r1", NULL, 1, 1);
    put("k", "r2", "r1", 1, 1);
    put("k", "r3", "r2", 1, 1);
    put("k", "orphan", "never_stored", 1, 1);
    struct rec *unknown = resolve("k", "resp_unknown", NULL, 0);
    struct rec *orphan = resolve("k", "orphan", NULL, 0);
    struct rec *before = resolve("k", "r3", NULL, 0);
    struct rec *d = del("k", "r2");
    struct rec *after = resolve("k", "r3", NULL, 0);
    run();
    assert_all_fired();
    cr_assert_eq(unknown->code, CG_ERR_PREVIOUS_RESPONSE_NOT_FOUND);
    cr_assert_null(unknown->value);
    cr_assert_eq(orphan->code, CG_ERR_PREVIOUS_RESPONSE_NOT_FOUND);
    cr_assert_eq(before->code, CG_OK);
    cr_assert_eq(d->code, CG_OK);
    cr_assert_eq(after->code, CG_ERR_PREVIOUS_RESPONSE_NOT_FOUND);
}

Test(responses_store, chain_longer_than_the_limit_is_refused)
{
    open_store();
    char id[32];
    char prev[32] = "";
    for (size_t i = 0; i <= CG_RESPONSE_CHAIN_MAX; i++) {
        snprintf(id, sizeof(id), "r%zu", i);
        put("k", id, i > 0 ? prev : NULL, 1, 0);
        memcpy(prev, id, sizeof(id));
    }
    snprintf(id, sizeof(id), "r%d", CG_RESPONSE_CHAIN_MAX - 1);
    struct rec *at_limit = resolve("k", id, NULL, 0);
    struct rec *past = resolve("k", prev, NULL, 0);
    run();
    assert_all_fired();
    cr_assert_eq(at_limit->code, CG_OK, "%s", cg_err_name(at_limit->code));
    cr_assert_eq(json_array_size(json_object_get(at_limit->value, "chain")), CG_RESPONSE_CHAIN_MAX);
    cr_assert_eq(past->code, CG_ERR_CHAIN_TOO_LONG);
    cr_assert_eq(cg_err_status(CG_ERR_CHAIN_TOO_LONG), 400);
    cr_assert_str_eq(cg_err_code(CG_ERR_CHAIN_TOO_LONG), "previous_response_chain_too_long");
}

Test(responses_store, a_failed_statement_fails_its_job_only)
{
    open_store();
    struct rec *first = put("k", "r1", NULL, 1, 1);
    struct rec *dup = put("k", "r1", NULL, 3, 3);
    struct rec *later = put("k", "r2", NULL, 1, 1);
    struct rec *g1 = get("k", "r1");
    struct rec *it = items("k", "r1", NULL, 10, true);
    run();
    assert_all_fired();
    cr_assert_eq(first->code, CG_OK);
    cr_assert_eq(dup->code, CG_ERR_STORE_FAILED);
    cr_assert_eq(later->code, CG_OK);
    cr_assert_eq(g1->code, CG_OK);
    assert_page(it, "in_r1_0", "in_r1_0", "in_r1_0", false);
}

/* The one number `sql` selects, through a connection of our own. */
static int query_int(const char *sql)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(fx.tmp.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static int count_rows(const char *table)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    return query_int(sql);
}

/* Another connection sees the response and its items when the put is reported. */
static void on_put_check_committed(const struct cg_store_result *res, void *data)
{
    on_result(res, data);
    cr_assert_eq(res->code, CG_OK);
    cr_assert_eq(query_int("SELECT count(*) FROM responses WHERE id = 'r1'"), 1);
    cr_assert_eq(query_int("SELECT count(*) FROM items WHERE response_id = 'r1'"), 3);
}

Test(responses_store, a_put_is_reported_once_committed)
{
    open_store();
    for (int i = 0; i < 5; i++)
        get("k", "r0"); /* a batch ahead of it, and one around it */
    struct rec *r = rec_new();
    cg_responses_store_put(fx.s, "k", "r1", NULL, response_new("r1", 1), inputs_new("r1", 2),
                           on_put_check_committed, r);
    for (int i = 0; i < 5; i++)
        get("k", "r1");
    run();
    assert_all_fired();
    cr_assert_eq(r->code, CG_OK);
    cr_assert_eq(fx.recs[fx.nrecs - 1].code, CG_OK);
}

Test(responses_store, rows_past_the_age_limit_are_invisible_then_deleted)
{
    fx.lim.max_age_s = 100;
    open_store();
    clock_now = 1000;
    put("k", "old", NULL, 1, 1);
    run();
    clock_now = 1050;
    put("k", "new", NULL, 1, 1);
    run();
    clock_now = 1120;
    struct rec *g_old = get("k", "old");
    struct rec *g_new = get("k", "new");
    struct rec *r_old = resolve("k", "old", NULL, 0);
    run();
    assert_all_fired();
    cr_assert_eq(g_old->code, CG_ERR_RESPONSE_NOT_FOUND);
    cr_assert_eq(g_new->code, CG_OK);
    cr_assert_eq(r_old->code, CG_ERR_PREVIOUS_RESPONSE_NOT_FOUND);
    close_store();
    cr_assert_eq(count_rows("responses"), 2, "no retention pass has run yet");
    open_store(); /* a pass runs at open */
    close_store();
    cr_assert_eq(count_rows("responses"), 1);
    cr_assert_eq(count_rows("items"), 2);
}

Test(responses_store, expired_rows_are_deleted_after_enough_puts)
{
    fx.lim.max_age_s = 100;
    open_store();
    put("k", "old", NULL, 1, 1);
    run();
    clock_now = 1200;
    /* The store runs retention at least every 256 puts (RETAIN_EVERY_PUTS). */
    char id[32];
    for (size_t i = 0; i < 300; i++) {
        snprintf(id, sizeof(id), "r%zu", i);
        put("k", id, NULL, 0, 1);
    }
    run();
    assert_all_fired();
    cr_assert_eq(query_int("SELECT count(*) FROM responses WHERE id = 'old'"), 0);
    cr_assert_eq(count_rows("responses"), 300);
}

/* The bytes one test response of `n_in` inputs and `n_out` outputs counts for. */
static size_t stored_bytes(const char *id, size_t n_in, size_t n_out)
{
    json_t *parts[] = {response_new(id, n_out), inputs_new(id, n_in)};
    char *text = json_dumps(parts[0], JSON_COMPACT);
    size_t n = strlen(text);
    free(text);
    size_t i;
    json_t *item;
    json_array_foreach(parts[1], i, item)
    {
        text = json_dumps(item, JSON_COMPACT);
        n += strlen(text);
        free(text);
    }
    json_array_foreach(json_object_get(parts[0], "output"), i, item)
    {
        text = json_dumps(item, JSON_COMPACT);
        n += strlen(text);
        free(text);
    }
    json_decref(parts[0]);
    json_decref(parts[1]);
    return n;
}

Test(responses_store, chain_of_more_stored_bytes_than_the_limit_is_refused)
{
    size_t one = stored_bytes("r1", 2, 2);
    fx.lim.max_chain_bytes = 2 * one + one / 2;
    open_store();
    put("k", "r1", NULL, 2, 2);
    put("k", "r2", "r1", 2, 2);
    put("k", "r3", "r2", 2, 2);
    struct rec *two = resolve("k", "r2", NULL, 0);
    struct rec *three = resolve("k", "r3", NULL, 0);
    run();
    assert_all_fired();
    cr_assert_eq(two->code, CG_OK, "%s", cg_err_name(two->code));
    cr_assert_eq(three->code, CG_ERR_CHAIN_TOO_LONG);
    cr_assert_null(three->value);
}

Test(responses_store, oldest_rows_go_first_past_the_byte_limit)
{
    size_t one = stored_bytes("r1", 2, 2);
    fx.lim.max_bytes = 2 * one + one / 2;
    open_store();
    put("k", "r1", NULL, 2, 2);
    put("k", "r2", NULL, 2, 2);
    run();
    struct rec *g1 = get("k", "r1");
    run();
    cr_assert_eq(g1->code, CG_OK, "two fit");
    clock_now++;
    struct rec *p3 = put("k", "r3", NULL, 2, 2);
    run();
    clock_now++;
    struct rec *p4 = put("k", "r4", NULL, 2, 2);
    run(); /* retention runs at the end of the put's batch, which may hold later jobs */
    struct rec *g[4];
    const char *ids[] = {"r1", "r2", "r3", "r4"};
    for (size_t i = 0; i < 4; i++)
        g[i] = get("k", ids[i]);
    run();
    assert_all_fired();
    cr_assert_eq(p3->code, CG_OK);
    cr_assert_eq(p4->code, CG_OK);
    cr_assert_eq(g[0]->code, CG_ERR_RESPONSE_NOT_FOUND);
    cr_assert_eq(g[1]->code, CG_ERR_RESPONSE_NOT_FOUND);
    cr_assert_eq(g[2]->code, CG_OK);
    cr_assert_eq(g[3]->code, CG_OK);
    close_store();
    cr_assert_eq(count_rows("responses"), 2);
    cr_assert_eq(count_rows("items"), 8);
}

static void assert_open_fails(const char *why)
{
    char err[512] = "";
    struct cg_responses_store *s = (struct cg_responses_store *)&fx; /* must be reset */
    int rc = cg_responses_store_open(&fx.loop, fx.tmp.path, &fx.lim, &s, err, sizeof(err));
    cr_assert_neq(rc, 0, "%s", why);
    cr_assert_null(s);
    cr_assert(strstr(err, fx.tmp.path) == err, "names the file: %s", err);
    cr_assert(strlen(err) > strlen(fx.tmp.path) + 2, "gives a reason: %s", err);
    cr_assert_null(strchr(err, '\n'), "one line: %s", err);
    run();
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

Test(responses_store, open_fails_on_a_file_that_is_not_a_database)
{
    char junk[8192];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)('a' + i % 26);
    write_file(fx.tmp.path, junk, sizeof(junk));
    assert_open_fails("garbage");
}

/* A store with enough rows to span many pages, closed. */
static off_t make_database(void)
{
    open_store();
    char id[32];
    for (size_t i = 0; i < 200; i++) {
        snprintf(id, sizeof(id), "r%zu", i);
        put("k", id, NULL, 5, 5);
    }
    run();
    close_store();
    struct stat st;
    cr_assert_eq(stat(fx.tmp.path, &st), 0);
    cr_assert_gt(st.st_size, 64 * 1024);
    return st.st_size;
}

Test(responses_store, open_fails_on_a_truncated_database)
{
    off_t size = make_database();
    cr_assert_eq(truncate(fx.tmp.path, size / 2), 0);
    assert_open_fails("truncated");
}

Test(responses_store, open_fails_on_a_corrupt_database)
{
    off_t size = make_database();
    int fd = open(fx.tmp.path, O_WRONLY);
    cr_assert_geq(fd, 0);
    char junk[4096];
    memset(junk, 0x5a, sizeof(junk));
    /* Pages in the middle of the file, past the schema page. */
    for (off_t at = 8192; at < size - 8192; at += 3 * 4096)
        cr_assert_eq(pwrite(fd, junk, sizeof(junk), at), (ssize_t)sizeof(junk));
    close(fd);
    assert_open_fails("corrupt");
}

static bool dir_is_writable(const char *dir)
{
    char probe[160];
    snprintf(probe, sizeof(probe), "%s/probe", dir);
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return false;
    close(fd);
    unlink(probe);
    return true;
}

Test(responses_store, open_fails_in_an_unwritable_directory)
{
    cr_assert_eq(chmod(fx.tmp.dir, 0500), 0);
    if (dir_is_writable(fx.tmp.dir)) {
        /* root ignores modes; sysfs refuses new files even to root. */
        if (dir_is_writable("/sys"))
            cr_skip_test("no unwritable directory here");
        snprintf(fx.tmp.path, sizeof(fx.tmp.path), "/sys/gateway.db");
    }
    assert_open_fails("unwritable");
}

Test(responses_store, open_fails_on_a_newer_schema)
{
    make_database();
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(fx.tmp.path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_open_fails("newer schema");
}

Test(responses_store, reopened_store_keeps_what_it_stored)
{
    open_store();
    put("k", "r1", NULL, 1, 1);
    put("k", "r2", "r1", 1, 1);
    run();
    close_store();
    open_store();
    struct rec *r = resolve("k", "r2", NULL, 0);
    run();
    assert_all_fired();
    cr_assert_eq(r->code, CG_OK);
    cr_assert_eq(json_array_size(json_object_get(r->value, "chain")), 4);
}

/* In the child: the process dies the moment its put is reported, with no close. */
static void on_put_then_crash(const struct cg_store_result *res, void *data)
{
    _exit(res->code == CG_OK ? 0 : 3);
}

static void crash_after_put(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct cg_responses_store *s = NULL;
    char err[512];
    if (cg_responses_store_open(&loop, fx.tmp.path, &fx.lim, &s, err, sizeof(err)) != 0)
        _exit(2);
    cg_responses_store_put(s, "k", "r1", NULL, response_new("r1", 2), inputs_new("r1", 2),
                           on_put_then_crash, NULL);
    for (int i = 2; i < 50; i++) {
        char id[16];
        snprintf(id, sizeof(id), "r%d", i);
        cg_responses_store_put(s, "k", id, NULL, response_new(id, 2), inputs_new(id, 2),
                               on_put_then_crash, NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    _exit(4); /* the put was never reported */
}

Test(responses_store, a_reported_put_survives_a_crash)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        crash_after_put();
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    open_store();
    struct rec *g = get("k", "r1");
    struct rec *it = items("k", "r1", NULL, 10, true);
    run();
    assert_all_fired();
    cr_assert_eq(g->code, CG_OK, "%s", cg_err_name(g->code));
    assert_page(it, "in_r1_0,in_r1_1", "in_r1_0", "in_r1_1", false);
}

Test(responses_store, close_with_jobs_queued_fires_every_callback_once)
{
    open_store();
    char id[32];
    for (size_t i = 0; i < 300; i++) {
        snprintf(id, sizeof(id), "r%zu", i);
        put("k", id, NULL, 2, 2);
        get("k", id);
    }
    close_store();
    cr_assert_eq(fx.nrecs, 600);
    assert_all_fired();
    for (size_t i = 0; i < fx.nrecs; i++)
        cr_assert_eq(fx.recs[i].code, CG_OK, "job %zu: %s", i, cg_err_name(fx.recs[i].code));
}
