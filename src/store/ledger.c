/* ledger.c: the usage ledger on a cg_db: the schema, the batch being filled on the loop, the
 * insert and retention on the writer, and the two reads behind /v1/usage. */
#include "store/ledger.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/limits.h"
#include "store/db.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/log.h"
#define LOG_COMPONENT "ledger"

enum {
    /* Rows of one insert transaction; a full batch goes to the writer without waiting for the
     * one in flight. */
    BATCH_ROWS_MAX = 256,
    BATCH_ROWS_FIRST = 8,
    /* Stored text fields are cut to this (labels, model names, error codes are all shorter). */
    FIELD_BYTES = 128,
    LOSS_LOG_INTERVAL_MS = 60 * 1000,
};

const char cg_ledger_migration[] =
    "CREATE TABLE usage ("
    " id INTEGER PRIMARY KEY,"
    " ts INTEGER NOT NULL,"
    " request_id TEXT NOT NULL,"
    " key_label TEXT,"
    " key_id TEXT,"
    " route TEXT,"
    " model TEXT,"
    " stream INTEGER NOT NULL,"
    " status INTEGER NOT NULL,"
    " outcome TEXT,"
    " error TEXT,"
    " input_tokens INTEGER NOT NULL,"
    " cached_tokens INTEGER NOT NULL,"
    " output_tokens INTEGER NOT NULL,"
    " reasoning_tokens INTEGER NOT NULL,"
    " ttfb_ms INTEGER,"
    " duration_ms INTEGER NOT NULL,"
    " worker INTEGER);"
    "CREATE INDEX usage_by_ts ON usage(ts);"
    "CREATE INDEX usage_by_key ON usage(key_id, ts);";

static const char *const migrations[] = {cg_ledger_migration};

#define SUMS                                                                                       \
    "COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(cached_tokens), 0),"                   \
    " COALESCE(SUM(output_tokens), 0), COALESCE(SUM(reasoning_tokens), 0)"
#define RANGE " FROM usage WHERE ts >= ?1 AND ts < ?2 AND (?3 IS NULL OR key_id = ?3)"

/* Statement slots of the db's cache, after the response store's (they share gateway.db); the
 * summary's follow cg_ledger_group. */
enum { ST_FIRST = 16 };
enum {
    ST_TOTALS = ST_FIRST,
    ST_HOUR,
    ST_DAY,
    ST_MODEL,
    ST_KEY,
    ST_INSERT,
    ST_EXPIRE,
    ST_RAW,
    ST_END,
};
static_assert((int)ST_END <= (int)CG_DB_STMTS_MAX, "the db's statement cache is too small");
static_assert(ST_HOUR - ST_TOTALS == (int)CG_LEDGER_GROUP_HOUR &&
                  ST_KEY - ST_TOTALS == (int)CG_LEDGER_GROUP_KEY,
              "summary slots follow cg_ledger_group");

static const char *const sql[ST_END] = {
    [ST_TOTALS] = "SELECT " SUMS RANGE,
    [ST_HOUR] = "SELECT (ts / 3600) * 3600, " SUMS RANGE " GROUP BY 1 ORDER BY 1",
    [ST_DAY] = "SELECT (ts / 86400) * 86400, " SUMS RANGE " GROUP BY 1 ORDER BY 1",
    [ST_MODEL] = "SELECT model, " SUMS RANGE " GROUP BY model ORDER BY model",
    [ST_KEY] = "SELECT key_id, MAX(key_label), " SUMS RANGE " GROUP BY key_id ORDER BY key_id",
    [ST_INSERT] = "INSERT INTO usage (ts, request_id, key_label, key_id, route, model, stream,"
                  " status, outcome, error, input_tokens, cached_tokens, output_tokens,"
                  " reasoning_tokens, ttfb_ms, duration_ms, worker)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
                  " ?17)",
    [ST_EXPIRE] = "DELETE FROM usage WHERE ts < ?1",
    [ST_RAW] = "SELECT * FROM (SELECT id, ts, request_id, key_label, key_id, route, model, stream,"
               " status, outcome, error, input_tokens, cached_tokens, output_tokens,"
               " reasoning_tokens, ttfb_ms, duration_ms, worker FROM usage"
               " WHERE ts >= ?3 AND (?1 IS NULL OR key_id = ?1) ORDER BY id DESC LIMIT ?2)"
               " ORDER BY id",
};

/* The raw read's columns after the id, as the events name them. */
static const char *const raw_names[] = {
    "ts",      "request_id",    "key",           "key_id",           "route",   "model",
    "stream",  "status",        "outcome",       "error",            "prompt_tokens",
    "cached_tokens", "completion_tokens", "reasoning_tokens", "ttfb_ms", "duration_ms",
    "worker",
};
enum { RAW_STREAM = 6 }; /* raw_names index of `stream`, shown as a boolean */

/* A row as the loop copied it. Empty text with its `has` bit clear is NULL. */
struct row {
    int64_t ts;
    char request_id[FIELD_BYTES];
    char key_label[FIELD_BYTES];
    char key_id[FIELD_BYTES];
    char route[FIELD_BYTES];
    char model[FIELD_BYTES];
    char outcome[FIELD_BYTES];
    char error[FIELD_BYTES];
    unsigned has; /* bit per text field, in the order above */
    bool stream;
    int status;
    int64_t input, cached, output, reasoning, ttfb_ms;
    uint64_t duration_ms;
    int worker;
};

struct batch {
    struct cg_db_job base;
    struct cg_ledger *l;
    uint64_t first_us; /* when its first row was recorded */
    size_t count;
    size_t cap;
    struct row *rows;
};

struct read_job {
    struct cg_db_job base;
    struct cg_ledger *l;
    bool raw;
    struct cg_ledger_query q;
    char key_id[FIELD_BYTES];
    json_t *value;
    cg_ledger_cb cb;
    void *data;
};

struct cg_ledger {
    struct cg_db *db;
    struct cg_ledger_config cfg;
    bool owns_db; /* false: attached to a db another module owns */
    /* Loop thread only. */
    uv_timer_t flush;      /* a batch waits at most flush_ms for more rows */
    bool due;              /* the flush time of `filling` has passed */
    int holds;             /* the db (or its owner, until detach) and the timer; freed at 0 */
    struct batch *filling; /* not yet submitted */
    size_t in_flight;      /* insert batches submitted, not done */
    struct cg_ledger_stats stats;
    uint64_t lost_logged; /* stats.lost at the last log line */
    uint64_t last_log_ms;
    bool logged;
};

static int64_t now_s(const struct cg_ledger *l)
{
    return l->cfg.now_s != NULL ? l->cfg.now_s() : cg_clock_unix_s();
}

/* Copies `s` cut to FIELD_BYTES - 1 on a UTF-8 boundary (a cut name stays valid text). */
static void copy_field(char *dst, const char *s, unsigned *has, unsigned bit)
{
    dst[0] = '\0';
    if (s == NULL)
        return;
    *has |= 1u << bit;
    size_t n = strlen(s);
    if (n >= FIELD_BYTES) {
        n = FIELD_BYTES - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static void log_loss(struct cg_ledger *l)
{
    uint64_t now = cg_clock_mono_ms();
    if (l->logged && now - l->last_log_ms < LOSS_LOG_INTERVAL_MS)
        return;
    cg_log_warn("usage ledger: %llu row(s) lost (%llu in all): the queue was full or the "
                "database failed",
                (unsigned long long)(l->stats.lost - l->lost_logged),
                (unsigned long long)l->stats.lost);
    l->logged = true;
    l->last_log_ms = now;
    l->lost_logged = l->stats.lost;
}

/* ---- writer thread ---------------------------------------------------------------------- */

static void bind_text(sqlite3_stmt *st, int i, const char *s, bool has)
{
    if (has)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_optional(sqlite3_stmt *st, int i, int64_t v)
{
    if (v >= 0)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static enum cg_err run_insert(struct cg_db *db, struct cg_db_job *job)
{
    struct batch *b = CG_CONTAINER_OF(job, struct batch, base);
    sqlite3_stmt *st = cg_db_stmt(db, ST_INSERT, sql[ST_INSERT]);
    if (st == NULL)
        return CG_ERR_STORE_FAILED;
    for (size_t i = 0; i < b->count; i++) {
        const struct row *r = &b->rows[i];
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, r->ts);
        bind_text(st, 2, r->request_id, true);
        bind_text(st, 3, r->key_label, r->has & 1u << 1);
        bind_text(st, 4, r->key_id, r->has & 1u << 2);
        bind_text(st, 5, r->route, r->has & 1u << 3);
        bind_text(st, 6, r->model, r->has & 1u << 4);
        sqlite3_bind_int(st, 7, r->stream);
        sqlite3_bind_int(st, 8, r->status);
        bind_text(st, 9, r->outcome, r->has & 1u << 5);
        bind_text(st, 10, r->error, r->has & 1u << 6);
        sqlite3_bind_int64(st, 11, r->input);
        sqlite3_bind_int64(st, 12, r->cached);
        sqlite3_bind_int64(st, 13, r->output);
        sqlite3_bind_int64(st, 14, r->reasoning);
        bind_optional(st, 15, r->ttfb_ms);
        sqlite3_bind_int64(st, 16, (int64_t)r->duration_ms);
        bind_optional(st, 17, r->worker);
        /* Not cg_db_step_done: a failing disk would log a line per row; the loop logs the loss
         * once a minute. */
        if (sqlite3_step(st) != SQLITE_DONE)
            return CG_ERR_STORE_FAILED;
    }
    return CG_OK;
}

enum cg_err cg_ledger_after_batch(struct cg_db *db, void *ctx)
{
    struct cg_ledger *l = ctx;
    if (l->cfg.max_age_s == 0)
        return CG_OK;
    sqlite3_stmt *st = cg_db_stmt(db, ST_EXPIRE, sql[ST_EXPIRE]);
    if (st == NULL)
        return CG_ERR_STORE_FAILED;
    sqlite3_bind_int64(st, 1, now_s(l) - (int64_t)l->cfg.max_age_s);
    return cg_db_step_done(db, st, "expire usage");
}

/* Sets the five sums starting at column `first`, the count under `count_name`. */
static void put_sums(json_t *obj, sqlite3_stmt *st, int first, const char *count_name)
{
    int64_t input = sqlite3_column_int64(st, first + 1);
    int64_t output = sqlite3_column_int64(st, first + 3);
    json_object_set_new(obj, count_name, json_integer(sqlite3_column_int64(st, first)));
    json_object_set_new(obj, "prompt_tokens", json_integer(input));
    json_object_set_new(obj, "completion_tokens", json_integer(output));
    json_object_set_new(obj, "total_tokens", json_integer(input + output));
    json_object_set_new(obj, "cached_tokens", json_integer(sqlite3_column_int64(st, first + 2)));
    json_object_set_new(obj, "reasoning_tokens",
                        json_integer(sqlite3_column_int64(st, first + 4)));
}

static json_t *column_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    json_t *v = t != NULL ? json_string((const char *)t) : NULL;
    return v != NULL ? v : json_null();
}

static json_t *bucket(sqlite3_stmt *st, enum cg_ledger_group group)
{
    json_t *b = json_object();
    int first = 1;
    if (group == CG_LEDGER_GROUP_HOUR || group == CG_LEDGER_GROUP_DAY) {
        int64_t start = sqlite3_column_int64(st, 0);
        char iso[32];
        cg_clock_format_iso((uint64_t)start * 1000, iso, sizeof(iso));
        json_object_set_new(b, "ts", json_string(iso));
        json_object_set_new(b, "start", json_integer(start));
    } else if (group == CG_LEDGER_GROUP_MODEL) {
        json_object_set_new(b, "model", column_text(st, 0));
    } else {
        json_object_set_new(b, "key", column_text(st, 1));
        json_object_set_new(b, "key_id", column_text(st, 0));
        first = 2;
    }
    put_sums(b, st, first, "requests");
    return b;
}

static void bind_range(sqlite3_stmt *st, const struct read_job *j)
{
    sqlite3_bind_int64(st, 1, j->q.start_s);
    sqlite3_bind_int64(st, 2, j->q.end_s);
    bind_text(st, 3, j->key_id, j->q.key_id != NULL);
}

static enum cg_err run_summary(struct cg_db *db, struct read_job *j)
{
    sqlite3_stmt *st = cg_db_stmt(db, ST_TOTALS, sql[ST_TOTALS]);
    if (st == NULL)
        return CG_ERR_STORE_FAILED;
    bind_range(st, j);
    if (sqlite3_step(st) != SQLITE_ROW)
        return cg_db_fail(db, "usage totals");
    j->value = json_object();
    put_sums(j->value, st, 0, "total_requests");
    if (j->q.group == CG_LEDGER_GROUP_NONE)
        return CG_OK;
    unsigned slot = ST_TOTALS + (unsigned)j->q.group;
    st = cg_db_stmt(db, slot, sql[slot]);
    if (st == NULL)
        return CG_ERR_STORE_FAILED;
    bind_range(st, j);
    json_t *buckets = json_array();
    json_object_set_new(j->value, "buckets", buckets);
    int rc = sqlite3_step(st);
    for (; rc == SQLITE_ROW; rc = sqlite3_step(st))
        json_array_append_new(buckets, bucket(st, j->q.group));
    return rc == SQLITE_DONE ? CG_OK : cg_db_fail(db, "usage buckets");
}

static json_t *raw_event(sqlite3_stmt *st)
{
    json_t *e = json_object();
    for (size_t i = 0; i < CG_ARRAY_SIZE(raw_names); i++) {
        int col = (int)i + 1;
        json_t *v = NULL;
        if (sqlite3_column_type(st, col) == SQLITE_NULL)
            v = json_null();
        else if (i == RAW_STREAM)
            v = json_boolean(sqlite3_column_int(st, col));
        else if (sqlite3_column_type(st, col) == SQLITE_INTEGER)
            v = json_integer(sqlite3_column_int64(st, col));
        else
            v = column_text(st, col);
        json_object_set_new(e, raw_names[i], v);
    }
    json_int_t in = json_integer_value(json_object_get(e, "prompt_tokens"));
    json_int_t out = json_integer_value(json_object_get(e, "completion_tokens"));
    json_object_set_new(e, "total_tokens", json_integer(in + out));
    return e;
}

static enum cg_err run_raw(struct cg_db *db, struct read_job *j)
{
    sqlite3_stmt *st = cg_db_stmt(db, ST_RAW, sql[ST_RAW]);
    if (st == NULL)
        return CG_ERR_STORE_FAILED;
    bind_text(st, 1, j->key_id, j->q.key_id != NULL);
    sqlite3_bind_int64(st, 2, (int64_t)j->q.limit);
    sqlite3_bind_int64(st, 3, j->q.start_s);
    json_t *events = json_array();
    int rc = sqlite3_step(st);
    for (; rc == SQLITE_ROW; rc = sqlite3_step(st))
        json_array_append_new(events, raw_event(st));
    j->value = json_object();
    json_object_set_new(j->value, "count", json_integer((json_int_t)json_array_size(events)));
    json_object_set_new(j->value, "events", events);
    return rc == SQLITE_DONE ? CG_OK : cg_db_fail(db, "usage raw");
}

static enum cg_err run_read(struct cg_db *db, struct cg_db_job *job)
{
    struct read_job *j = CG_CONTAINER_OF(job, struct read_job, base);
    enum cg_err err = j->raw ? run_raw(db, j) : run_summary(db, j);
    if (err != CG_OK) {
        json_decref(j->value);
        j->value = NULL;
    }
    return err;
}

/* ---- loop thread ------------------------------------------------------------------------ */

static void on_read_done(struct cg_db_job *job)
{
    struct read_job *j = CG_CONTAINER_OF(job, struct read_job, base);
    enum cg_err code = job->code;
    if (code == CG_OK && j->value == NULL)
        code = CG_ERR_STORE_FAILED; /* a commit failed after the read ran */
    j->cb(code, code == CG_OK ? j->value : NULL, j->data);
    json_decref(j->value);
    free(j);
}

static void submit_filling(struct cg_ledger *l);

static void on_insert_done(struct cg_db_job *job)
{
    struct batch *b = CG_CONTAINER_OF(job, struct batch, base);
    struct cg_ledger *l = b->l;
    assert(l->in_flight > 0);
    l->in_flight--;
    l->stats.batches++;
    l->stats.waiting -= b->count;
    if (job->code == CG_OK) {
        l->stats.written += b->count;
        cg_histogram_observe_us(&l->stats.write_latency, cg_clock_mono_us() - b->first_us);
    } else {
        l->stats.lost += b->count;
        log_loss(l);
    }
    free(b->rows);
    free(b);
    if (l->in_flight == 0 && l->filling != NULL && l->due && l->db != NULL)
        submit_filling(l);
}

static void submit_filling(struct cg_ledger *l)
{
    struct batch *b = l->filling;
    l->filling = NULL;
    l->due = false;
    uv_timer_stop(&l->flush);
    l->in_flight++;
    cg_db_submit(l->db, &b->base);
}

/* One commit (an fsync) per flush interval rather than per few rows: the batch goes now unless
 * one is still being written, whose end submits it. */
static void on_flush(uv_timer_t *t)
{
    struct cg_ledger *l = CG_CONTAINER_OF(t, struct cg_ledger, flush);
    l->due = true;
    if (l->in_flight == 0 && l->filling != NULL && l->db != NULL)
        submit_filling(l);
}

static void release(struct cg_ledger *l)
{
    assert(l->holds > 0);
    if (--l->holds > 0)
        return;
    assert(l->filling == NULL && l->in_flight == 0);
    free(l);
}

static void on_db_closed(void *data)
{
    release(data);
}

static void on_flush_closed(uv_handle_t *h)
{
    release(CG_CONTAINER_OF((uv_timer_t *)h, struct cg_ledger, flush));
}

static struct cg_ledger *ledger_new(uv_loop_t *loop, const struct cg_ledger_config *cfg)
{
    struct cg_ledger *l = cg_xcalloc(1, sizeof(*l));
    l->cfg = *cfg;
    if (l->cfg.queue_max == 0 || l->cfg.queue_max > CG_LEDGER_QUEUE_MAX)
        l->cfg.queue_max = CG_LEDGER_QUEUE_MAX;
    if (l->cfg.flush_ms == 0)
        l->cfg.flush_ms = CG_LEDGER_FLUSH_MS;
    uv_timer_init(loop, &l->flush);
    l->holds = 2;
    return l;
}

int cg_ledger_open(uv_loop_t *loop, const char *path, const struct cg_ledger_config *cfg,
                   struct cg_ledger **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    struct cg_ledger *l = ledger_new(loop, cfg);
    l->owns_db = true;
    struct cg_db_config dc = {
        .migrations = migrations,
        .migration_count = CG_ARRAY_SIZE(migrations),
        .after_batch = cg_ledger_after_batch,
        .ctx = l,
    };
    if (cg_db_open(loop, path, &dc, &l->db, errbuf, errlen) != 0) {
        l->holds = 1;
        uv_close((uv_handle_t *)&l->flush, on_flush_closed);
        return -1;
    }
    *out = l;
    return 0;
}

struct cg_ledger *cg_ledger_attach(uv_loop_t *loop, struct cg_db *db,
                                   const struct cg_ledger_config *cfg)
{
    struct cg_ledger *l = ledger_new(loop, cfg);
    l->db = db;
    return l;
}

void cg_ledger_close(struct cg_ledger *l)
{
    if (l->filling != NULL)
        submit_filling(l);
    struct cg_db *db = l->db;
    l->db = NULL; /* batches done from here on submit nothing more */
    uv_close((uv_handle_t *)&l->flush, on_flush_closed);
    if (l->owns_db)
        cg_db_close(db, on_db_closed, l);
}

void cg_ledger_detach(struct cg_ledger *l)
{
    assert(!l->owns_db && l->db == NULL);
    release(l);
}

void cg_ledger_record(struct cg_ledger *l, const struct cg_ledger_row *in)
{
    assert(l->db != NULL);
    if (l->stats.waiting >= l->cfg.queue_max) {
        l->stats.lost++;
        log_loss(l);
        return;
    }
    struct batch *b = l->filling;
    if (b == NULL) {
        b = cg_xcalloc(1, sizeof(*b));
        b->base.run = run_insert;
        b->base.done = on_insert_done;
        b->l = l;
        b->first_us = cg_clock_mono_us();
        l->filling = b;
        uv_timer_start(&l->flush, on_flush, l->cfg.flush_ms, 0);
    }
    if (b->count == b->cap) {
        b->cap = b->cap ? b->cap * 2 : BATCH_ROWS_FIRST;
        b->rows = cg_xrealloc(b->rows, b->cap * sizeof(*b->rows));
    }
    struct row *r = &b->rows[b->count++];
    r->has = 0;
    r->ts = now_s(l);
    copy_field(r->request_id, in->request_id != NULL ? in->request_id : "", &r->has, 0);
    copy_field(r->key_label, in->key_label, &r->has, 1);
    copy_field(r->key_id, in->key_id, &r->has, 2);
    copy_field(r->route, in->route, &r->has, 3);
    copy_field(r->model, in->model, &r->has, 4);
    copy_field(r->outcome, in->outcome, &r->has, 5);
    copy_field(r->error, in->error, &r->has, 6);
    r->stream = in->stream;
    r->status = in->status;
    r->input = in->input_tokens;
    r->cached = in->cached_tokens;
    r->output = in->output_tokens;
    r->reasoning = in->reasoning_tokens;
    r->ttfb_ms = in->ttfb_ms;
    r->duration_ms = in->duration_ms;
    r->worker = in->worker;
    l->stats.waiting++;
    if (b->count == BATCH_ROWS_MAX)
        submit_filling(l);
}

void cg_ledger_stats(const struct cg_ledger *l, struct cg_ledger_stats *out)
{
    *out = l->stats;
}

static void submit_read(struct cg_ledger *l, bool raw, const struct cg_ledger_query *q,
                        cg_ledger_cb cb, void *data)
{
    /* A read sees every row recorded before it. */
    if (l->filling != NULL)
        submit_filling(l);
    struct read_job *j = cg_xcalloc(1, sizeof(*j));
    j->base.run = run_read;
    j->base.done = on_read_done;
    j->l = l;
    j->raw = raw;
    j->q = *q;
    if (raw)
        j->q.start_s = INT64_MIN;
    /* Rows past the age limit are invisible before the batch after them deletes them. */
    if (l->cfg.max_age_s > 0)
        j->q.start_s = CG_MAX(j->q.start_s, now_s(l) - (int64_t)l->cfg.max_age_s);
    unsigned unused = 0;
    copy_field(j->key_id, q->key_id, &unused, 0);
    j->q.key_id = q->key_id != NULL ? j->key_id : NULL;
    j->cb = cb;
    j->data = data;
    cg_db_submit(l->db, &j->base);
}

void cg_ledger_summary(struct cg_ledger *l, const struct cg_ledger_query *q, cg_ledger_cb cb,
                       void *data)
{
    submit_read(l, false, q, cb, data);
}

void cg_ledger_raw(struct cg_ledger *l, const struct cg_ledger_query *q, cg_ledger_cb cb,
                   void *data)
{
    submit_read(l, true, q, cb, data);
}
