/* home.c: CODEX_HOME measurement and log-database trimming on libuv's thread pool. */
#include "backend/home.h"
#include <dirent.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "util/alloc.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"
#define LOG_COMPONENT "home"

enum {
    FIRST_CHECK_MS = 2000,
    WALK_DEPTH_MAX = 4,
    WALK_ENTRIES_MAX = 20000,
    BUSY_TIMEOUT_MS = 5000, /* Codex writes to the same database */
};

static const char LOG_DB[] = "logs_2.sqlite";

/* Sums regular file sizes under `path`, bounded in depth and entries. */
static uint64_t walk(const char *path, int depth, size_t *entries)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    uint64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && *entries < WALK_ENTRIES_MAX) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        (*entries)++;
        char child[4096];
        int n = snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
        if (n < 0 || (size_t)n >= sizeof(child))
            continue;
        struct stat st;
        if (lstat(child, &st) != 0)
            continue;
        if (S_ISREG(st.st_mode))
            sum += (uint64_t)st.st_size;
        else if (S_ISDIR(st.st_mode) && depth < WALK_DEPTH_MAX)
            sum += walk(child, depth + 1, entries);
    }
    closedir(d);
    return sum;
}

static uint64_t file_size(const char *dir, const char *name, const char *suffix)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s%s", dir, name, suffix);
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static uint64_t log_size(const char *dir)
{
    return file_size(dir, LOG_DB, "") + file_size(dir, LOG_DB, "-wal");
}

static int count_rows(sqlite3 *db, int64_t *rows, int64_t *max_id)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM logs", -1, &st,
                                NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *rows = sqlite3_column_int64(st, 0);
        *max_id = sqlite3_column_int64(st, 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Keeps the newest rows of Codex's log table, about half the limit's worth, and gives the space
 * back to the file system. */
static void trim(const struct cg_home *h, struct cg_home_result *r)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", h->dir, LOG_DB);
    sqlite3 *db = NULL;
    int64_t rows = 0;
    int64_t max_id = 0;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    if (rc == SQLITE_OK)
        rc = count_rows(db, &rows, &max_id);
    int64_t keep = (int64_t)((double)rows * (double)(h->max_log_bytes / 2) /
                             (double)(r->log_bytes ? r->log_bytes : 1));
    if (rc == SQLITE_OK && rows > keep) {
        char sql[160];
        snprintf(sql, sizeof(sql), "DELETE FROM logs WHERE id <= %lld",
                 (long long)(max_id - keep));
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        /* VACUUM needs a moment without writers; if Codex is busy, the next check retries. */
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;"
                                  "PRAGMA wal_checkpoint(TRUNCATE);",
                              NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            r->trimmed = true;
    } else if (rc == SQLITE_OK) {
        snprintf(r->error, sizeof(r->error),
                 "%s has no rows left to trim but is over PROXY_CODEX_LOG_MAX_BYTES", LOG_DB);
    }
    if (rc != SQLITE_OK)
        snprintf(r->error, sizeof(r->error), "trimming %s: %s", LOG_DB,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
}

static void check(uv_work_t *req)
{
    const struct cg_home *h = req->data;
    struct cg_home_result *r = &((struct cg_home *)req->data)->job;
    memset(r, 0, sizeof(*r));
    r->log_bytes = log_size(h->dir);
    if (h->max_log_bytes && r->log_bytes > h->max_log_bytes) {
        r->log_bytes_before_trim = r->log_bytes;
        trim(h, r);
        r->log_bytes = log_size(h->dir);
    }
    size_t entries = 0;
    r->total_bytes = walk(h->dir, 0, &entries);
}

static void on_timer_closed(uv_handle_t *t)
{
    struct cg_home *h = t->data;
    free(h->dir);
    h->dir = NULL;
    if (h->on_closed)
        h->on_closed(h);
}

static void close_if_idle(struct cg_home *h)
{
    if (h->closing && !h->busy && !uv_is_closing((uv_handle_t *)&h->timer))
        uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}

static void after_check(uv_work_t *req, int status)
{
    struct cg_home *h = req->data;
    const struct cg_home_result *r = &h->job;
    h->busy = false;
    h->total_bytes = r->total_bytes;
    h->log_bytes = r->log_bytes;
    h->trims += r->trimmed;
    h->checks++;
    h->checked_at_ms = cg_clock_wall_ms();
    memcpy(h->last_error, r->error, sizeof(h->last_error));
    if (r->trimmed) {
        char fields[256];
        snprintf(fields, sizeof(fields),
                 "\"log_bytes_before\":%" PRIu64 ",\"log_bytes_after\":%" PRIu64
                 ",\"limit_bytes\":%" PRIu64,
                 r->log_bytes_before_trim, r->log_bytes, h->max_log_bytes);
        cg_log_event(r->error[0] ? CG_LOG_WARN : CG_LOG_INFO, LOG_COMPONENT, "codex_log_trim",
                     fields);
    }
    if (r->error[0])
        cg_log_warn("%s", r->error);
    close_if_idle(h);
}

static void on_timer(uv_timer_t *t)
{
    struct cg_home *h = t->data;
    if (h->busy || h->closing)
        return;
    h->busy = true;
    h->work.data = h;
    if (uv_queue_work(h->loop, &h->work, check, after_check) != 0)
        h->busy = false;
}

void cg_home_start(struct cg_home *h, uv_loop_t *loop, const char *dir, uint64_t max_log_bytes,
                   uint64_t interval_ms)
{
    memset(h, 0, sizeof(*h));
    h->loop = loop;
    h->dir = cg_xstrdup(dir);
    h->max_log_bytes = max_log_bytes;
    h->interval_ms = interval_ms;
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    uv_timer_start(&h->timer, on_timer, CG_MIN(FIRST_CHECK_MS, interval_ms), interval_ms);
}

void cg_home_stop(struct cg_home *h, void (*on_closed)(struct cg_home *h))
{
    h->on_closed = on_closed;
    h->closing = true;
    uv_timer_stop(&h->timer);
    close_if_idle(h);
}

int cg_home_status_json(const struct cg_home *h, struct cg_buf *out)
{
    int err = cg_buf_append_str(out, "{\"path\":");
    if (!err)
        err = cg_json_cstring(out, h->dir);
    if (!err && h->checks == 0)
        return cg_buf_append_str(out, ",\"bytes\":null}");
    char when[32];
    cg_clock_format_iso(h->checked_at_ms, when, sizeof(when));
    if (!err)
        err = cg_buf_appendf(out,
                             ",\"bytes\":%" PRIu64 ",\"log_bytes\":%" PRIu64
                             ",\"log_limit_bytes\":%" PRIu64 ",\"trims\":%" PRIu64
                             ",\"checked_at\":\"%s\",\"last_error\":",
                             h->total_bytes, h->log_bytes, h->max_log_bytes, h->trims, when);
    if (!err)
        err = cg_json_cstring(out, h->last_error[0] ? h->last_error : NULL);
    if (!err)
        err = cg_buf_append_char(out, '}');
    return err;
}
