/* db.c: the writer thread of a SQLite file, its job queue (mutex + condvar) and the uv_async
 * that hands finished jobs back to the loop. */
#include "store/db.h"
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/alloc.h"
#include "util/log.h"
#define LOG_COMPONENT "db"

enum {
    /* Jobs run in one transaction: one fsync for all of them, while a put still waits for no
     * more than a batch of others. */
    BATCH_MAX = 64,
    /* Finished jobs whose callbacks run per loop wakeup, so a burst does not starve the loop. */
    DRAIN_MAX = 64,
    /* How long a statement waits for a lock held by another process on the same file. */
    BUSY_TIMEOUT_MS = 5000,
};

struct cg_db {
    uv_loop_t *loop;
    sqlite3 *conn;
    struct cg_db_config cfg;
    uv_thread_t thread;
    uv_async_t async;
    uv_mutex_t mu;
    uv_cond_t cond;
    /* Under mu: jobs waiting for the writer, jobs done waiting for the loop. */
    struct cg_db_job *todo_head, *todo_tail;
    struct cg_db_job *done_head, *done_tail;
    bool closing;
    bool writer_exited;
    /* Loop thread only. */
    size_t pending; /* submitted, done callback not yet fired; the async is ref'd while > 0 */
    bool close_started;
    cg_db_closed_cb closed_cb;
    void *closed_data;
    /* Writer thread only. */
    sqlite3_stmt *stmts[CG_DB_STMTS_MAX];
    uint32_t stmts_used; /* bit per slot used by the current job */
};

static void queue_append(struct cg_db_job **head, struct cg_db_job **tail, struct cg_db_job *job)
{
    job->next = NULL;
    if (*tail != NULL)
        (*tail)->next = job;
    else
        *head = job;
    *tail = job;
}

static int exec_sql(sqlite3 *conn, const char *sql)
{
    return sqlite3_exec(conn, sql, NULL, NULL, NULL);
}

/* "<path>: <sqlite message>[ (<errno text>)]" */
static void open_error(sqlite3 *conn, const char *path, const char *what, char *errbuf,
                       size_t errlen)
{
    int sys = conn != NULL ? sqlite3_system_errno(conn) : 0;
    const char *msg = what != NULL ? what : conn != NULL ? sqlite3_errmsg(conn) : "out of memory";
    if (sys != 0)
        snprintf(errbuf, errlen, "%s: %s (%s)", path, msg, strerror(sys));
    else
        snprintf(errbuf, errlen, "%s: %s", path, msg);
    /* quick_check's report spans lines; the caller prints one. */
    for (char *p = errbuf; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }
}

/* The first row of a one-row PRAGMA as text into `out`; SQLite's result code. */
static int pragma_text(sqlite3 *conn, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    int rc = sqlite3_prepare_v2(conn, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, outlen, "%s", t != NULL ? (const char *)t : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int migrate(sqlite3 *conn, const struct cg_db_config *cfg, const char *path, char *errbuf,
                   size_t errlen)
{
    char text[64];
    if (pragma_text(conn, "PRAGMA user_version", text, sizeof(text)) != SQLITE_OK) {
        open_error(conn, path, NULL, errbuf, errlen);
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long long version = strtoll(text, &end, 10);
    if (errno != 0 || end == text || version < 0) {
        open_error(conn, path, "unreadable schema version", errbuf, errlen);
        return -1;
    }
    if ((unsigned long long)version > cfg->migration_count) {
        snprintf(errbuf, errlen, "%s: schema version %lld is newer than this gateway's (%zu)", path,
                 version, cfg->migration_count);
        return -1;
    }
    if ((size_t)version == cfg->migration_count)
        return 0;
    if (exec_sql(conn, "BEGIN IMMEDIATE") != SQLITE_OK) {
        open_error(conn, path, NULL, errbuf, errlen);
        return -1;
    }
    for (size_t v = (size_t)version; v < cfg->migration_count; v++) {
        char set[64];
        snprintf(set, sizeof(set), "PRAGMA user_version = %zu", v + 1);
        if (exec_sql(conn, cfg->migrations[v]) != SQLITE_OK || exec_sql(conn, set) != SQLITE_OK)
            goto fail;
    }
    if (exec_sql(conn, "COMMIT") != SQLITE_OK)
        goto fail;
    return 0;
fail:
    open_error(conn, path, NULL, errbuf, errlen);
    exec_sql(conn, "ROLLBACK");
    return -1;
}

static int open_conn(const char *path, const struct cg_db_config *cfg, sqlite3 **out, char *errbuf,
                     size_t errlen)
{
    sqlite3 *conn = NULL;
    char text[256];
    int rc = sqlite3_open_v2(
        path, &conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        goto sqlfail;
    sqlite3_extended_result_codes(conn, 1);
    sqlite3_busy_timeout(conn, BUSY_TIMEOUT_MS);
    /* The first statement reads the file: a file that is not a database fails here. */
    rc = pragma_text(conn, "PRAGMA journal_mode = WAL", text, sizeof(text));
    if (rc != SQLITE_OK)
        goto sqlfail;
    if (sqlite3_db_readonly(conn, "main") == 1) {
        open_error(conn, path, "the database is read-only", errbuf, errlen);
        goto out;
    }
    if (strcmp(text, "wal") != 0) {
        open_error(conn, path, "cannot switch the journal to WAL mode", errbuf, errlen);
        goto out;
    }
    if (exec_sql(conn, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON") != SQLITE_OK)
        goto sqlfail;
    rc = pragma_text(conn, "PRAGMA quick_check(1)", text, sizeof(text));
    if (rc != SQLITE_OK)
        goto sqlfail;
    if (strcmp(text, "ok") != 0) {
        char what[300];
        snprintf(what, sizeof(what), "the database is corrupt (quick_check: %s)", text);
        open_error(conn, path, what, errbuf, errlen);
        goto out;
    }
    if (migrate(conn, cfg, path, errbuf, errlen) != 0)
        goto out;
    /* WAL needs a -wal and a -shm file beside the database: a first write proves the directory
     * takes them, before we report the store as open. */
    if (exec_sql(conn, "BEGIN IMMEDIATE; COMMIT") != SQLITE_OK)
        goto sqlfail;
    *out = conn;
    return 0;
sqlfail:
    open_error(conn, path, NULL, errbuf, errlen);
out:
    sqlite3_close(conn);
    return -1;
}

static void reset_stmts(struct cg_db *db)
{
    for (unsigned i = 0; i < CG_DB_STMTS_MAX; i++) {
        if ((db->stmts_used & (1u << i)) == 0)
            continue;
        sqlite3_reset(db->stmts[i]);
        sqlite3_clear_bindings(db->stmts[i]);
    }
    db->stmts_used = 0;
}

/* Runs `run` (a job or the after-batch hook) under a savepoint, so its failure undoes only its
 * own writes. */
static enum cg_err run_savepoint(struct cg_db *db, enum cg_err (*run)(struct cg_db *, void *),
                                 void *arg)
{
    if (exec_sql(db->conn, "SAVEPOINT job") != SQLITE_OK)
        return cg_db_fail(db, "savepoint");
    enum cg_err code = run(db, arg);
    reset_stmts(db);
    if (code != CG_OK && exec_sql(db->conn, "ROLLBACK TO job") != SQLITE_OK)
        code = cg_db_fail(db, "rollback to savepoint");
    if (exec_sql(db->conn, "RELEASE job") != SQLITE_OK)
        return cg_db_fail(db, "release savepoint");
    return code;
}

static enum cg_err run_job(struct cg_db *db, void *arg)
{
    struct cg_db_job *job = arg;
    return job->run(db, job);
}

static enum cg_err run_after_batch(struct cg_db *db, void *arg)
{
    return db->cfg.after_batch(db, db->cfg.ctx);
}

static void run_batch(struct cg_db *db, struct cg_db_job *batch)
{
    bool ok = exec_sql(db->conn, "BEGIN IMMEDIATE") == SQLITE_OK;
    if (!ok)
        cg_db_fail(db, "begin");
    for (struct cg_db_job *j = batch; j != NULL; j = j->next)
        j->code = ok ? run_savepoint(db, run_job, j) : CG_ERR_STORE_FAILED;
    if (!ok)
        return;
    if (db->cfg.after_batch != NULL)
        run_savepoint(db, run_after_batch, NULL);
    if (exec_sql(db->conn, "COMMIT") == SQLITE_OK)
        return;
    cg_db_fail(db, "commit");
    exec_sql(db->conn, "ROLLBACK");
    /* Nothing of the batch is stored, and a read may have seen a write that is now undone. */
    for (struct cg_db_job *j = batch; j != NULL; j = j->next)
        j->code = CG_ERR_STORE_FAILED;
}

static void writer_main(void *arg)
{
    struct cg_db *db = arg;
    uv_mutex_lock(&db->mu);
    for (;;) {
        while (db->todo_head == NULL && !db->closing)
            uv_cond_wait(&db->cond, &db->mu);
        if (db->todo_head == NULL)
            break;
        struct cg_db_job *batch = db->todo_head;
        struct cg_db_job *last = batch;
        for (size_t n = 1; n < BATCH_MAX && last->next != NULL; n++)
            last = last->next;
        db->todo_head = last->next;
        if (db->todo_head == NULL)
            db->todo_tail = NULL;
        last->next = NULL;
        uv_mutex_unlock(&db->mu);

        run_batch(db, batch);

        uv_mutex_lock(&db->mu);
        if (db->done_tail != NULL)
            db->done_tail->next = batch;
        else
            db->done_head = batch;
        db->done_tail = last;
        uv_mutex_unlock(&db->mu);
        uv_async_send(&db->async);
        uv_mutex_lock(&db->mu);
    }
    uv_mutex_unlock(&db->mu);
    for (unsigned i = 0; i < CG_DB_STMTS_MAX; i++)
        sqlite3_finalize(db->stmts[i]);
    if (sqlite3_close(db->conn) != SQLITE_OK)
        cg_db_fail(db, "close");
    db->conn = NULL;
    uv_mutex_lock(&db->mu);
    db->writer_exited = true;
    uv_mutex_unlock(&db->mu);
    uv_async_send(&db->async);
}

static void on_async_closed(uv_handle_t *h)
{
    struct cg_db *db = CG_CONTAINER_OF((uv_async_t *)h, struct cg_db, async);
    cg_db_closed_cb cb = db->closed_cb;
    void *data = db->closed_data;
    uv_cond_destroy(&db->cond);
    uv_mutex_destroy(&db->mu);
    free(db);
    if (cb != NULL)
        cb(data);
}

static void on_async(uv_async_t *a)
{
    struct cg_db *db = CG_CONTAINER_OF(a, struct cg_db, async);
    uv_mutex_lock(&db->mu);
    struct cg_db_job *jobs = db->done_head;
    struct cg_db_job *last = jobs;
    size_t n = 0;
    if (jobs != NULL) {
        for (n = 1; n < DRAIN_MAX && last->next != NULL; n++)
            last = last->next;
        db->done_head = last->next;
        if (db->done_head == NULL)
            db->done_tail = NULL;
        last->next = NULL;
    }
    bool more = db->done_head != NULL;
    bool finished = db->writer_exited && !more;
    uv_mutex_unlock(&db->mu);

    while (jobs != NULL) {
        struct cg_db_job *j = jobs;
        jobs = j->next;
        j->next = NULL;
        assert(db->pending > 0);
        db->pending--;
        j->done(j); /* may free j */
    }
    if (more)
        uv_async_send(&db->async);
    if (db->pending == 0 && !db->close_started)
        uv_unref((uv_handle_t *)&db->async);
    if (finished && db->close_started) {
        uv_thread_join(&db->thread);
        uv_close((uv_handle_t *)&db->async, on_async_closed);
    }
}

int cg_db_open(uv_loop_t *loop, const char *path, const struct cg_db_config *cfg,
               struct cg_db **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    sqlite3 *conn = NULL;
    if (open_conn(path, cfg, &conn, errbuf, errlen) != 0)
        return -1;
    struct cg_db *db = cg_xcalloc(1, sizeof(*db));
    db->loop = loop;
    db->conn = conn;
    db->cfg = *cfg;
    int err = uv_mutex_init(&db->mu);
    if (err == 0) {
        err = uv_cond_init(&db->cond);
        if (err != 0)
            uv_mutex_destroy(&db->mu);
    }
    if (err != 0) {
        snprintf(errbuf, errlen, "%s: %s", path, uv_strerror(err));
        sqlite3_close(conn);
        free(db);
        return -1;
    }
    uv_async_init(loop, &db->async, on_async);
    uv_unref((uv_handle_t *)&db->async);
    err = uv_thread_create(&db->thread, writer_main, db);
    if (err != 0) {
        snprintf(errbuf, errlen, "%s: cannot start the writer thread: %s", path, uv_strerror(err));
        sqlite3_close(conn);
        db->conn = NULL;
        db->close_started = true;
        /* Freed by the loop, as the async is a handle; nobody hears of it. */
        uv_close((uv_handle_t *)&db->async, on_async_closed);
        return -1;
    }
    *out = db;
    return 0;
}

void cg_db_submit(struct cg_db *db, struct cg_db_job *job)
{
    assert(!db->close_started);
    assert(job->run != NULL && job->done != NULL);
    if (db->pending++ == 0)
        uv_ref((uv_handle_t *)&db->async);
    job->code = CG_OK;
    uv_mutex_lock(&db->mu);
    queue_append(&db->todo_head, &db->todo_tail, job);
    uv_cond_signal(&db->cond);
    uv_mutex_unlock(&db->mu);
}

void cg_db_close(struct cg_db *db, cg_db_closed_cb cb, void *data)
{
    assert(!db->close_started);
    db->close_started = true;
    db->closed_cb = cb;
    db->closed_data = data;
    /* Ref'd until it is closed: the loop must live to hear the writer's last batch and exit. */
    uv_ref((uv_handle_t *)&db->async);
    uv_mutex_lock(&db->mu);
    db->closing = true;
    uv_cond_signal(&db->cond);
    uv_mutex_unlock(&db->mu);
}

sqlite3_stmt *cg_db_stmt(struct cg_db *db, unsigned slot, const char *sql)
{
    assert(slot < CG_DB_STMTS_MAX);
    if (db->stmts[slot] == NULL && sqlite3_prepare_v3(db->conn, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                                      &db->stmts[slot], NULL) != SQLITE_OK) {
        cg_db_fail(db, "prepare");
        return NULL;
    }
    db->stmts_used |= 1u << slot;
    return db->stmts[slot];
}

enum cg_err cg_db_fail(struct cg_db *db, const char *what)
{
    cg_log_error("%s: %s (%d)", what, sqlite3_errmsg(db->conn), sqlite3_extended_errcode(db->conn));
    return CG_ERR_STORE_FAILED;
}

enum cg_err cg_db_step_done(struct cg_db *db, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? CG_OK : cg_db_fail(db, what);
}
