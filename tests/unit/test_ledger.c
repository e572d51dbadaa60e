/* test_ledger.c: the usage ledger on a real SQLite file in a temporary directory and a real loop:
 * reads are counted callbacks, the loop runs dry, and it must close. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include "store/ledger.h"
#include "store/state.h"
#include "util/log.h"
#include "temp_db.h"

enum { TEST_BOUND_S = 60 };

static struct fixture {
    uv_loop_t loop;
    struct temp_db tmp;
    struct cg_ledger *l;
    struct cg_ledger_config cfg;
    int fired;
    enum cg_err code;
    json_t *value;
} fx;

static int64_t clock_now = 1000000;

static int64_t test_clock(void)
{
    return clock_now;
}

static void setup(void)
{
    alarm(TEST_BOUND_S);
    cg_log_threshold = CG_LOG_NOTICE; /* the failing-database test logs on purpose */
    cr_assert_eq(uv_loop_init(&fx.loop), 0);
    temp_db_make(&fx.tmp, "cg-ledger");
    fx.cfg = (struct cg_ledger_config){.now_s = test_clock};
    clock_now = 1000000;
}

static void run(void)
{
    uv_run(&fx.loop, UV_RUN_DEFAULT);
}

static void close_ledger(void)
{
    if (fx.l == NULL)
        return;
    cg_ledger_close(fx.l);
    fx.l = NULL;
    run();
}

static void teardown(void)
{
    close_ledger();
    json_decref(fx.value);
    cr_assert_eq(uv_loop_close(&fx.loop), 0);
    temp_db_remove(&fx.tmp);
}

TestSuite(ledger, .init = setup, .fini = teardown);

static void open_ledger(void)
{
    char err[512];
    int rc = cg_ledger_open(&fx.loop, fx.tmp.path, &fx.cfg, &fx.l, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
}

static void record(const char *key, const char *model, int64_t input, int64_t output)
{
    struct cg_ledger_row row = {
        .request_id = "req_1",
        .key_label = key,
        .key_id = key,
        .route = "chat",
        .model = model,
        .outcome = "completed",
        .stream = true,
        .status = 200,
        .input_tokens = input,
        .cached_tokens = 1,
        .output_tokens = output,
        .reasoning_tokens = 2,
        .ttfb_ms = -1,
        .duration_ms = 7,
        .worker = 0,
    };
    cg_ledger_record(fx.l, &row);
}

static void on_read(enum cg_err code, json_t *value, void *data)
{
    fx.fired++;
    fx.code = code;
    json_decref(fx.value);
    fx.value = value != NULL ? json_incref(value) : NULL;
}

/* Runs one read to its end; its value is fx.value. */
static void read_summary(enum cg_ledger_group group, const char *key_id)
{
    struct cg_ledger_query q = {.start_s = 0, .end_s = INT64_MAX, .group = group, .key_id = key_id};
    int before = fx.fired;
    cg_ledger_summary(fx.l, &q, on_read, NULL);
    run();
    cr_assert_eq(fx.fired, before + 1);
    cr_assert_eq(fx.code, CG_OK);
}

static void read_raw(size_t limit)
{
    struct cg_ledger_query q = {.limit = limit};
    int before = fx.fired;
    cg_ledger_raw(fx.l, &q, on_read, NULL);
    run();
    cr_assert_eq(fx.fired, before + 1);
    cr_assert_eq(fx.code, CG_OK);
}

static json_int_t field(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    cr_assert(json_is_integer(v), "%s is not an integer", name);
    return json_integer_value(v);
}

/* The first column of `sql`'s row, read with a connection of the test's own. */
static int file_int(const char *sql)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(fx.tmp.path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static int file_rows(void)
{
    return file_int("SELECT COUNT(*) FROM usage");
}

Test(ledger, recorded_rows_are_summed_and_listed)
{
    open_ledger();
    record("k_a", "gpt-5.5", 10, 4);
    record("k_a", "gpt-5.5", 20, 6);
    read_summary(CG_LEDGER_GROUP_NONE, NULL);
    cr_assert_eq(field(fx.value, "total_requests"), 2);
    cr_assert_eq(field(fx.value, "prompt_tokens"), 30);
    cr_assert_eq(field(fx.value, "completion_tokens"), 10);
    cr_assert_eq(field(fx.value, "total_tokens"), 40);
    cr_assert_eq(field(fx.value, "cached_tokens"), 2);
    cr_assert_eq(field(fx.value, "reasoning_tokens"), 4);
    cr_assert_null(json_object_get(fx.value, "buckets"));

    read_raw(1);
    cr_assert_eq(field(fx.value, "count"), 1);
    const json_t *e = json_array_get(json_object_get(fx.value, "events"), 0);
    cr_assert_eq(field(e, "prompt_tokens"), 20, "the newest row");
    cr_assert_eq(field(e, "ts"), clock_now);
    cr_assert_str_eq(json_string_value(json_object_get(e, "model")), "gpt-5.5");
    cr_assert_str_eq(json_string_value(json_object_get(e, "outcome")), "completed");
    cr_assert(json_is_true(json_object_get(e, "stream")));
    cr_assert(json_is_null(json_object_get(e, "ttfb_ms")), "-1 is stored as null");
    cr_assert(json_is_null(json_object_get(e, "error")));
    cr_assert_eq(field(e, "worker"), 0);
    cr_assert_eq(field(e, "duration_ms"), 7);
}

Test(ledger, rows_recorded_within_the_flush_interval_share_one_batch)
{
    open_ledger();
    for (int i = 0; i < 10; i++)
        record("k_a", "m", 1, 1);
    struct cg_ledger_stats st;
    cg_ledger_stats(fx.l, &st);
    cr_assert_eq(st.batches, 0, "nothing written before the flush interval");
    cr_assert_eq(st.waiting, 10);
    run(); /* the flush timer fires, the batch commits, the loop has nothing left */
    cg_ledger_stats(fx.l, &st);
    cr_assert_eq(st.written, 10);
    cr_assert_eq(st.batches, 1, "one transaction for the ten");
    cr_assert_eq(st.write_latency.count, 1);
    cr_assert_eq(st.waiting, 0);
    cr_assert_eq(st.lost, 0);
}

Test(ledger, a_full_batch_goes_at_once_and_the_rest_waits_for_the_interval)
{
    fx.cfg.flush_ms = 60000; /* the test would time out if the rest waited for it */
    open_ledger();
    for (int i = 0; i < 256 + 3; i++)
        record("k_a", "m", 1, 1);
    struct cg_ledger_stats st;
    cg_ledger_stats(fx.l, &st);
    for (int i = 0; i < 100 && st.batches == 0; i++) {
        uv_run(&fx.loop, UV_RUN_ONCE); /* returns once the writer's answer came */
        cg_ledger_stats(fx.l, &st);
    }
    cr_assert_eq(st.batches, 1);
    cr_assert_eq(st.written, 256);
    cr_assert_eq(st.waiting, 3, "the rest waits for its interval");
    close_ledger(); /* a clean close writes the three that were still waiting */
    open_ledger();
    read_summary(CG_LEDGER_GROUP_NONE, NULL);
    cr_assert_eq(json_integer_value(json_object_get(fx.value, "total_requests")), 259);
}

Test(ledger, rows_past_the_queue_limit_are_lost)
{
    fx.cfg.queue_max = 4;
    open_ledger();
    for (int i = 0; i < 6; i++)
        record("k_a", "m", 1, 1);
    struct cg_ledger_stats st;
    cg_ledger_stats(fx.l, &st);
    cr_assert_eq(st.waiting, 4);
    cr_assert_eq(st.lost, 2);
    run();
    cg_ledger_stats(fx.l, &st);
    cr_assert_eq(st.written, 4);
    record("k_a", "m", 1, 1); /* room again once written */
    run();
    cg_ledger_stats(fx.l, &st);
    cr_assert_eq(st.written, 5);
    cr_assert_eq(st.lost, 2);
}

Test(ledger, a_failing_database_loses_rows_without_failing)
{
    open_ledger();
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(fx.tmp.path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "DROP TABLE usage", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    record("k_a", "m", 1, 1);
    record("k_a", "m", 1, 1);
    record("k_a", "m", 1, 1);
    run();
    struct cg_ledger_stats st;
    cg_ledger_stats(fx.l, &st);
    cr_assert_eq(st.lost, 3);
    cr_assert_eq(st.written, 0);
    cr_assert_eq(st.waiting, 0);
}

Test(ledger, queued_rows_are_written_on_close)
{
    open_ledger();
    for (int i = 0; i < 300; i++)
        record("k_a", "m", 1, 1);
    close_ledger(); /* the loop has not run since the rows were recorded */
    cr_assert_eq(file_rows(), 300);
}

Test(ledger, rows_past_the_max_age_are_deleted)
{
    fx.cfg.max_age_s = 100;
    open_ledger();
    record("k_a", "m", 1, 1);
    run();
    clock_now += 101;
    record("k_a", "m", 5, 1);
    run();
    read_raw(10);
    cr_assert_eq(field(fx.value, "count"), 1);
    const json_t *e = json_array_get(json_object_get(fx.value, "events"), 0);
    cr_assert_eq(field(e, "prompt_tokens"), 5);
    close_ledger();
    cr_assert_eq(file_rows(), 1);
}

Test(ledger, rows_past_the_max_age_are_not_read_before_a_write_deletes_them)
{
    fx.cfg.max_age_s = 100;
    open_ledger();
    record("k_a", "m", 1, 1);
    run();
    clock_now += 101;
    read_raw(10);
    cr_assert_eq(field(fx.value, "count"), 0);
    read_summary(CG_LEDGER_GROUP_HOUR, NULL);
    cr_assert_eq(field(fx.value, "total_requests"), 0);
    cr_assert_eq(json_array_size(json_object_get(fx.value, "buckets")), 0);
}

Test(ledger, no_max_age_keeps_every_row)
{
    open_ledger();
    record("k_a", "m", 1, 1);
    run();
    clock_now += 100 * 365 * 86400LL;
    record("k_a", "m", 1, 1);
    close_ledger();
    cr_assert_eq(file_rows(), 2);
}

Test(ledger, buckets_by_hour_model_and_key_and_one_key_sees_its_own)
{
    clock_now = 1764547200; /* 2025-12-01T00:00:00Z */
    open_ledger();
    record("k_a", "m1", 10, 1);
    clock_now += 3600 + 5;
    record("k_a", "m2", 20, 2);
    record("k_b", "m1", 40, 4);

    read_summary(CG_LEDGER_GROUP_HOUR, NULL);
    const json_t *b = json_object_get(fx.value, "buckets");
    cr_assert_eq(json_array_size(b), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(b, 0), "ts")),
                     "2025-12-01T00:00:00.000Z");
    cr_assert_eq(field(json_array_get(b, 0), "start"), 1764547200);
    cr_assert_eq(field(json_array_get(b, 0), "requests"), 1);
    cr_assert_eq(field(json_array_get(b, 1), "requests"), 2);
    cr_assert_eq(field(json_array_get(b, 1), "prompt_tokens"), 60);

    read_summary(CG_LEDGER_GROUP_DAY, NULL);
    cr_assert_eq(json_array_size(json_object_get(fx.value, "buckets")), 1);

    read_summary(CG_LEDGER_GROUP_MODEL, NULL);
    b = json_object_get(fx.value, "buckets");
    cr_assert_eq(json_array_size(b), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(b, 0), "model")), "m1");
    cr_assert_eq(field(json_array_get(b, 0), "total_tokens"), 55);

    read_summary(CG_LEDGER_GROUP_KEY, NULL);
    b = json_object_get(fx.value, "buckets");
    cr_assert_eq(json_array_size(b), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(b, 1), "key_id")), "k_b");

    read_summary(CG_LEDGER_GROUP_NONE, "k_b");
    cr_assert_eq(field(fx.value, "total_requests"), 1);
    cr_assert_eq(field(fx.value, "prompt_tokens"), 40);

    struct cg_ledger_query q = {.limit = 10, .key_id = "k_a"};
    cg_ledger_raw(fx.l, &q, on_read, NULL);
    run();
    cr_assert_eq(field(fx.value, "count"), 2);
}

Test(ledger, the_time_range_is_start_inclusive_end_exclusive)
{
    open_ledger();
    record("k_a", "m", 1, 1);
    struct cg_ledger_query q = {.start_s = clock_now, .end_s = clock_now + 1};
    cg_ledger_summary(fx.l, &q, on_read, NULL);
    run();
    cr_assert_eq(field(fx.value, "total_requests"), 1);
    q = (struct cg_ledger_query){.start_s = clock_now + 1, .end_s = clock_now + 2};
    cg_ledger_summary(fx.l, &q, on_read, NULL);
    run();
    cr_assert_eq(field(fx.value, "total_requests"), 0);
    q = (struct cg_ledger_query){.start_s = 0, .end_s = clock_now};
    cg_ledger_summary(fx.l, &q, on_read, NULL);
    run();
    cr_assert_eq(field(fx.value, "total_requests"), 0);
    cr_assert_eq(fx.fired, 3);
}

Test(ledger, a_reopened_ledger_keeps_its_rows)
{
    open_ledger();
    record("k_a", "m", 1, 1);
    close_ledger();
    open_ledger();
    read_summary(CG_LEDGER_GROUP_NONE, NULL);
    cr_assert_eq(field(fx.value, "total_requests"), 1);
}

/* ---- gateway.db shared with the response store (store/state.h) -------------------------- */

static int user_version(void)
{
    return file_int("PRAGMA user_version");
}

static int store_fired;
static enum cg_err store_code;

static void on_store(const struct cg_store_result *res, void *data)
{
    store_fired++;
    store_code = res->code;
    if (data != NULL)
        cr_assert_str_eq(json_string_value(json_object_get(res->value, "id")), data);
}

static struct cg_state *open_state(void)
{
    struct cg_responses_store_limits lim = {.now_s = test_clock};
    struct cg_state *st = NULL;
    char err[512];
    int rc = cg_state_open(&fx.loop, fx.tmp.path, &lim, &fx.cfg, &st, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    fx.l = NULL; /* the state's ledger is closed with the state */
    return st;
}

Test(ledger, shares_gateway_db_with_the_response_store)
{
    struct cg_state *st = open_state();
    struct cg_ledger *l = cg_state_ledger(st);
    struct cg_responses_store *s = cg_state_store(st);
    fx.l = l;
    record("k_a", "m", 3, 1);
    json_t *resp = json_pack("{s:s, s:s, s:[]}", "id", "resp_1", "object", "response", "output");
    cg_responses_store_put(s, "k_a", "resp_1", NULL, resp, json_array(), on_store, NULL);
    run();
    cr_assert_eq(store_fired, 1);
    cr_assert_eq(store_code, CG_OK);
    cg_responses_store_get(s, "k_a", "resp_1", on_store, "resp_1");
    read_summary(CG_LEDGER_GROUP_MODEL, NULL);
    cr_assert_eq(store_fired, 2);
    cr_assert_eq(store_code, CG_OK);
    cr_assert_eq(field(fx.value, "total_requests"), 1);
    for (int i = 0; i < 300; i++)
        record("k_a", "m", 1, 1);
    fx.l = NULL;
    cg_state_close(st); /* the rows are still queued */
    run();
    cr_assert_eq(file_rows(), 301);
    cr_assert_eq(user_version(), 2);
}

Test(ledger, a_gateway_db_of_the_response_store_alone_gains_the_ledger)
{
    struct cg_responses_store_limits lim = {.now_s = test_clock};
    struct cg_responses_store *s = NULL;
    char err[512];
    cr_assert_eq(cg_responses_store_open(&fx.loop, fx.tmp.path, &lim, &s, err, sizeof(err)), 0,
                 "%s", err);
    json_t *resp = json_pack("{s:s, s:s, s:[]}", "id", "resp_1", "object", "response", "output");
    cg_responses_store_put(s, "k_a", "resp_1", NULL, resp, json_array(), on_store, NULL);
    cg_responses_store_close(s);
    run();
    cr_assert_eq(user_version(), 1);

    struct cg_state *st = open_state();
    cr_assert_eq(user_version(), 2);
    fx.l = cg_state_ledger(st);
    record("k_a", "m", 1, 1);
    cg_responses_store_get(cg_state_store(st), "k_a", "resp_1", on_store, "resp_1");
    read_summary(CG_LEDGER_GROUP_NONE, NULL);
    cr_assert_eq(store_fired, 2);
    cr_assert_eq(store_code, CG_OK, "the stored response is still there");
    cr_assert_eq(field(fx.value, "total_requests"), 1);
    fx.l = NULL;
    cg_state_close(st);
    run();
}
