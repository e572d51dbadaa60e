/* responses_store.c: stored Responses on a cg_db: the schema, one job per header call, the chain
 * walk of previous_response_id, and retention by age and by bytes. */
#include "store/responses_store.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/limits.h"
#include "store/db.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/log.h"
#define LOG_COMPONENT "store"

enum {
    /* With an age limit, retention also runs after this many puts, so that expired rows do not
     * pile up between timer ticks; a byte limit is checked after every batch (it is a sum kept
     * in memory). */
    RETAIN_EVERY_PUTS = 256,
    /* The retention timer: rows expire by the second, but an hour late is harmless since
     * expired rows are already invisible to every read. */
    RETAIN_INTERVAL_MS = 3600 * 1000,
};

const char cg_responses_store_migration[] =
    "CREATE TABLE responses ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " owner TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " previous_id TEXT,"
    " response TEXT NOT NULL,"
    " bytes INTEGER NOT NULL);"
    "CREATE INDEX responses_by_age ON responses(created_at);"
    "CREATE TABLE items ("
    " response_id TEXT NOT NULL REFERENCES responses(id) ON DELETE CASCADE,"
    " position INTEGER NOT NULL,"
    " item_id TEXT,"
    " output INTEGER NOT NULL,"
    " item TEXT NOT NULL,"
    " PRIMARY KEY (response_id, position)) WITHOUT ROWID;"
    "CREATE INDEX items_by_item_id ON items(item_id) WHERE item_id IS NOT NULL;";

static const char *const migrations[] = {cg_responses_store_migration};

/* Statement slots of the db's cache. */
enum {
    ST_INSERT_RESPONSE,
    ST_INSERT_ITEM,
    ST_SET_BYTES,
    ST_GET,
    ST_EXISTS,
    ST_ITEM_POSITION,
    ST_PAGE_ASC,
    ST_PAGE_DESC,
    ST_DELETE,
    ST_PREVIOUS,
    ST_CHAIN_ITEMS,
    ST_ITEM_BY_ID,
    ST_TOTAL_BYTES,
    ST_EXPIRE,
    ST_OLDEST,
    ST_DELETE_UPTO,
    ST_COUNT,
};
/* The usage ledger's slots follow on a shared db (store/state.c). */
static_assert(ST_COUNT <= 16, "the usage ledger's statement slots start at 16");

enum op { OP_RETAIN, OP_PUT, OP_GET, OP_INPUT_ITEMS, OP_DELETE, OP_RESOLVE };

struct cg_responses_store {
    struct cg_db *db;
    struct cg_responses_store_limits lim;
    uv_timer_t timer;
    int open_handles; /* the timer and the db; freed when both are closed */
    bool owns_db;     /* false: attached to a db another module owns */
    /* Writer thread only. */
    int64_t total_bytes; /* of all rows, once a retention job has summed them */
    bool total_known;
    size_t puts_since_retain;
    int64_t now_s; /* the clock of the newest job run */
};

struct job {
    struct cg_db_job base;
    struct cg_responses_store *s;
    enum op op;
    cg_store_cb cb;
    void *data;
    int64_t now_s;
    char *owner;
    char *id;
    char *previous_id;
    json_t *response;    /* put */
    json_t *input_items; /* put */
    char *after;         /* input_items */
    size_t limit;
    bool ascending;
    char **item_ids; /* resolve */
    size_t item_count;
    json_t *value; /* the result, made on the writer thread */
};

static int64_t now_s(const struct cg_responses_store *s)
{
    return s->lim.now_s != NULL ? s->lim.now_s() : cg_clock_unix_s();
}

/* The oldest created_at a read still sees. */
static int64_t visible_from(const struct cg_responses_store *s, int64_t now)
{
    if (s->lim.max_age_s == 0 || s->lim.max_age_s > (uint64_t)INT64_MAX / 2)
        return INT64_MIN;
    return now - (int64_t)s->lim.max_age_s;
}

static char *dup_or_null(const char *str)
{
    return str != NULL ? cg_xstrdup(str) : NULL;
}

static void bind_text(sqlite3_stmt *st, int i, const char *str)
{
    if (str != NULL)
        sqlite3_bind_text(st, i, str, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Binds ?1 id, ?2 key label, ?3 visible_from. */
static void bind_owner(sqlite3_stmt *st, const struct job *j)
{
    bind_text(st, 1, j->id);
    bind_text(st, 2, j->owner);
    sqlite3_bind_int64(st, 3, visible_from(j->s, j->now_s));
}

static enum cg_err load_json(struct cg_db *db, sqlite3_stmt *st, int col, json_t **out)
{
    const void *text = sqlite3_column_blob(st, col);
    size_t len = (size_t)sqlite3_column_bytes(st, col);
    json_error_t jerr;
    *out = json_loadb(text != NULL ? text : "", len, JSON_ALLOW_NUL, &jerr);
    if (*out != NULL)
        return CG_OK;
    /* jansson's text quotes the stored bytes, which are client text: the position only. */
    cg_log_error("stored JSON unreadable at byte %d", jerr.position);
    return CG_ERR_STORE_FAILED;
}

/* Steps `st` to its end, appending each row's column 0, parsed, to `list`; rows past `max` are
 * not parsed, only noted in *more (may be NULL). Resets `st`. */
static enum cg_err append_rows(struct cg_db *db, sqlite3_stmt *st, json_t *list, size_t max,
                               bool *more, const char *what)
{
    enum cg_err code = CG_OK;
    int rc = sqlite3_step(st);
    for (; rc == SQLITE_ROW && code == CG_OK; rc = sqlite3_step(st)) {
        if (json_array_size(list) == max) {
            *more = true;
            continue;
        }
        json_t *item = NULL;
        code = load_json(db, st, 0, &item);
        if (code == CG_OK)
            json_array_append_new(list, item);
    }
    if (code == CG_OK && rc != SQLITE_DONE)
        code = cg_db_fail(db, what);
    sqlite3_reset(st);
    return code;
}

/* --- retention (writer thread) ------------------------------------------------------------ */

static enum cg_err sum_bytes(struct cg_db *db, sqlite3_stmt *st, int64_t *sum, const char *what)
{
    int rc = sqlite3_step(st);
    for (; rc == SQLITE_ROW; rc = sqlite3_step(st))
        *sum += sqlite3_column_int64(st, 0);
    return rc == SQLITE_DONE ? CG_OK : cg_db_fail(db, what);
}

/* Deletes the oldest rows until the stored bytes are within the limit: finds the newest row that
 * must go by walking the age index from the oldest, then deletes up to it in one statement. */
static enum cg_err retain_bytes(struct cg_db *db, struct cg_responses_store *s)
{
    int64_t excess = s->total_bytes - (int64_t)s->lim.max_bytes;
    sqlite3_stmt *st = cg_db_stmt(db, ST_OLDEST,
                                  "SELECT created_at, rowid, bytes FROM responses"
                                  " ORDER BY created_at, rowid");
    if (st == NULL)
        return CG_ERR_STORE_FAILED;
    int64_t freed = 0;
    int64_t last_at = 0;
    int64_t last_rowid = 0;
    int rc = SQLITE_ROW;
    while (freed < excess) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            break;
        last_at = sqlite3_column_int64(st, 0);
        last_rowid = sqlite3_column_int64(st, 1);
        freed += sqlite3_column_int64(st, 2);
    }
    sqlite3_reset(st); /* before the delete changes the rows under it */
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return cg_db_fail(db, "retention scan");
    if (freed == 0)
        return CG_OK;
    sqlite3_stmt *del = cg_db_stmt(db, ST_DELETE_UPTO,
                                   "DELETE FROM responses WHERE (created_at, rowid) <= (?1, ?2)"
                                   " RETURNING bytes");
    if (del == NULL)
        return CG_ERR_STORE_FAILED;
    sqlite3_bind_int64(del, 1, last_at);
    sqlite3_bind_int64(del, 2, last_rowid);
    int64_t deleted = 0;
    enum cg_err code = sum_bytes(db, del, &deleted, "retention by bytes");
    if (code == CG_OK)
        s->total_bytes -= deleted;
    return code;
}

static enum cg_err retain(struct cg_db *db, struct cg_responses_store *s)
{
    s->puts_since_retain = 0;
    if (s->lim.max_age_s != 0) {
        int64_t from = visible_from(s, s->now_s);
        sqlite3_stmt *st = cg_db_stmt(
            db, ST_EXPIRE, "DELETE FROM responses WHERE created_at < ?1 RETURNING bytes");
        if (st == NULL)
            return CG_ERR_STORE_FAILED;
        sqlite3_bind_int64(st, 1, from);
        int64_t deleted = 0;
        enum cg_err code = sum_bytes(db, st, &deleted, "retention by age");
        if (code != CG_OK)
            return code;
        s->total_bytes -= deleted;
    }
    if (s->lim.max_bytes != 0 && s->total_bytes > (int64_t)s->lim.max_bytes)
        return retain_bytes(db, s);
    return CG_OK;
}

/* The stored bytes summed afresh (the running sum is only kept while writes succeed). */
static enum cg_err sum_total(struct cg_db *db, struct cg_responses_store *s)
{
    sqlite3_stmt *st = cg_db_stmt(db, ST_TOTAL_BYTES, "SELECT total(bytes) FROM responses");
    if (st == NULL)
        return CG_ERR_STORE_FAILED;
    if (sqlite3_step(st) != SQLITE_ROW)
        return cg_db_fail(db, "sum of bytes");
    s->total_bytes = (int64_t)sqlite3_column_double(st, 0);
    s->total_known = true;
    return CG_OK;
}

void cg_responses_store_rolled_back(void *ctx)
{
    struct cg_responses_store *s = ctx;
    s->total_known = false;
}

enum cg_err cg_responses_store_after_batch(struct cg_db *db, void *ctx)
{
    struct cg_responses_store *s = ctx;
    if (!s->total_known) {
        enum cg_err code = sum_total(db, s);
        if (code != CG_OK)
            return code;
    }
    bool over = s->lim.max_bytes != 0 && s->total_bytes > (int64_t)s->lim.max_bytes;
    bool due = s->lim.max_age_s != 0 && s->puts_since_retain >= RETAIN_EVERY_PUTS;
    return over || due ? retain(db, s) : CG_OK;
}

/* The timer's pass (and the first, at open) sums the bytes afresh. */
static enum cg_err run_retain(struct cg_db *db, struct job *j)
{
    enum cg_err code = sum_total(db, j->s);
    return code == CG_OK ? retain(db, j->s) : code;
}

/* --- the jobs (writer thread) ------------------------------------------------------------- */

static enum cg_err insert_item(struct cg_db *db, const char *response_id, int64_t position,
                               json_t *item, bool output, int64_t *bytes)
{
    char *text = json_dumps(item, JSON_COMPACT);
    if (text == NULL) {
        cg_log_error("an item of a response to store cannot be serialised");
        return CG_ERR_STORE_FAILED;
    }
    enum cg_err code = CG_ERR_STORE_FAILED;
    sqlite3_stmt *st = cg_db_stmt(db, ST_INSERT_ITEM,
                                  "INSERT INTO items (response_id, position, item_id, output, item)"
                                  " VALUES (?1, ?2, ?3, ?4, ?5)");
    if (st == NULL)
        goto out;
    size_t len = strlen(text);
    bind_text(st, 1, response_id);
    sqlite3_bind_int64(st, 2, position);
    bind_text(st, 3, json_string_value(json_object_get(item, "id")));
    sqlite3_bind_int(st, 4, output ? 1 : 0);
    sqlite3_bind_text64(st, 5, text, len, SQLITE_STATIC, SQLITE_UTF8);
    code = cg_db_step_done(db, st, "insert item");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    *bytes += (int64_t)len;
out:
    free(text);
    return code;
}

static enum cg_err run_put(struct cg_db *db, struct job *j)
{
    char *text = json_dumps(j->response, JSON_COMPACT);
    enum cg_err code = CG_ERR_STORE_FAILED;
    if (text == NULL) {
        cg_log_error("a response to store cannot be serialised");
        goto out;
    }
    int64_t bytes = (int64_t)strlen(text);
    sqlite3_stmt *st = cg_db_stmt(db, ST_INSERT_RESPONSE,
                                  "INSERT INTO responses"
                                  " (id, owner, created_at, previous_id, response, bytes)"
                                  " VALUES (?1, ?2, ?3, ?4, ?5, 0)");
    if (st == NULL)
        goto out;
    bind_text(st, 1, j->id);
    bind_text(st, 2, j->owner);
    sqlite3_bind_int64(st, 3, j->now_s);
    bind_text(st, 4, j->previous_id);
    sqlite3_bind_text64(st, 5, text, (sqlite3_uint64)bytes, SQLITE_STATIC, SQLITE_UTF8);
    code = cg_db_step_done(db, st, "insert response");
    /* The binding borrows `text`, freed below. */
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (code != CG_OK)
        goto out;
    int64_t position = 0;
    size_t i;
    json_t *item;
    json_array_foreach(j->input_items, i, item)
    {
        code = insert_item(db, j->id, position++, item, false, &bytes);
        if (code != CG_OK)
            goto out;
    }
    json_array_foreach(json_object_get(j->response, "output"), i, item)
    {
        code = insert_item(db, j->id, position++, item, true, &bytes);
        if (code != CG_OK)
            goto out;
    }
    st = cg_db_stmt(db, ST_SET_BYTES, "UPDATE responses SET bytes = ?2 WHERE id = ?1");
    if (st == NULL) {
        code = CG_ERR_STORE_FAILED;
        goto out;
    }
    bind_text(st, 1, j->id);
    sqlite3_bind_int64(st, 2, bytes);
    code = cg_db_step_done(db, st, "set response bytes");
    if (code == CG_OK) {
        j->s->total_bytes += bytes;
        j->s->puts_since_retain++;
    }
out:
    free(text);
    return code;
}

/* Steps `sql`, bound with bind_owner, to its first row: CG_OK with `*row` on it,
 * CG_ERR_RESPONSE_NOT_FOUND, or CG_ERR_STORE_FAILED (logged as `what`). */
static enum cg_err owned_row(struct cg_db *db, struct job *j, unsigned slot, const char *sql,
                             const char *what, sqlite3_stmt **row)
{
    sqlite3_stmt *st = cg_db_stmt(db, slot, sql);
    if (st == NULL)
        return CG_ERR_STORE_FAILED;
    bind_owner(st, j);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return CG_ERR_RESPONSE_NOT_FOUND;
    if (rc != SQLITE_ROW)
        return cg_db_fail(db, what);
    *row = st;
    return CG_OK;
}

static enum cg_err run_get(struct cg_db *db, struct job *j)
{
    sqlite3_stmt *st = NULL;
    enum cg_err code = owned_row(db, j, ST_GET,
                                 "SELECT response FROM responses"
                                 " WHERE id = ?1 AND owner = ?2 AND created_at >= ?3",
                                 "get response", &st);
    return code == CG_OK ? load_json(db, st, 0, &j->value) : code;
}

/* CG_OK when response j->id is visible to its key. */
static enum cg_err check_exists(struct cg_db *db, struct job *j)
{
    sqlite3_stmt *st = NULL;
    return owned_row(db, j, ST_EXISTS,
                     "SELECT 1 FROM responses"
                     " WHERE id = ?1 AND owner = ?2 AND created_at >= ?3",
                     "find response", &st);
}

static json_t *list_id(json_t *data, size_t index)
{
    json_t *id = json_object_get(json_array_get(data, index), "id");
    return json_is_string(id) ? json_incref(id) : json_null();
}

static enum cg_err run_input_items(struct cg_db *db, struct job *j)
{
    enum cg_err code = check_exists(db, j);
    if (code != CG_OK)
        return code;
    json_t *data = json_array();
    bool has_more = false;
    bool empty = false;
    int64_t from = j->ascending ? -1 : INT64_MAX;
    if (j->after != NULL) {
        sqlite3_stmt *st = cg_db_stmt(db, ST_ITEM_POSITION,
                                      "SELECT position FROM items WHERE response_id = ?1"
                                      " AND output = 0 AND item_id = ?2 ORDER BY position LIMIT 1");
        if (st == NULL)
            goto fail;
        bind_text(st, 1, j->id);
        bind_text(st, 2, j->after);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            from = sqlite3_column_int64(st, 0);
        else if (rc == SQLITE_DONE)
            empty = true;
        else
            goto sqlfail;
    }
    if (!empty) {
        sqlite3_stmt *st =
            j->ascending ? cg_db_stmt(db, ST_PAGE_ASC,
                                      "SELECT item FROM items WHERE response_id = ?1 AND output = 0"
                                      " AND position > ?2 ORDER BY position ASC LIMIT ?3")
                         : cg_db_stmt(db, ST_PAGE_DESC,
                                      "SELECT item FROM items WHERE response_id = ?1 AND output = 0"
                                      " AND position < ?2 ORDER BY position DESC LIMIT ?3");
        if (st == NULL)
            goto fail;
        bind_text(st, 1, j->id);
        sqlite3_bind_int64(st, 2, from);
        /* One more than asked tells whether there is more. */
        sqlite3_bind_int64(st, 3, (int64_t)j->limit + 1);
        if (append_rows(db, st, data, j->limit, &has_more, "list input items") != CG_OK)
            goto fail;
    }
    size_t n = json_array_size(data);
    j->value = json_pack("{s:s, s:o, s:o, s:o, s:b}", "object", "list", "data", data, "first_id",
                         n > 0 ? list_id(data, 0) : json_null(), "last_id",
                         n > 0 ? list_id(data, n - 1) : json_null(), "has_more", has_more);
    return j->value != NULL ? CG_OK : CG_ERR_STORE_FAILED;
sqlfail:
    cg_db_fail(db, "list input items");
fail:
    json_decref(data);
    return CG_ERR_STORE_FAILED;
}

static enum cg_err run_delete(struct cg_db *db, struct job *j)
{
    sqlite3_stmt *st = NULL;
    enum cg_err code = owned_row(db, j, ST_DELETE,
                                 "DELETE FROM responses WHERE id = ?1 AND owner = ?2"
                                 " AND created_at >= ?3 RETURNING bytes",
                                 "delete response", &st);
    if (code != CG_OK)
        return code;
    int64_t deleted = sqlite3_column_int64(st, 0);
    code = cg_db_step_done(db, st, "delete response");
    if (code == CG_OK)
        j->s->total_bytes -= deleted;
    return code;
}

/* Appends the items of response `id` (inputs then outputs) to `chain`. */
static enum cg_err append_items(struct cg_db *db, const char *id, json_t *chain)
{
    sqlite3_stmt *st = cg_db_stmt(
        db, ST_CHAIN_ITEMS, "SELECT item FROM items WHERE response_id = ?1 ORDER BY position");
    if (st == NULL)
        return CG_ERR_STORE_FAILED;
    bind_text(st, 1, id);
    return append_rows(db, st, chain, SIZE_MAX, NULL, "read chain items");
}

/* The chain ending with j->previous_id, oldest first, into *out. */
static enum cg_err walk_chain(struct cg_db *db, struct job *j, json_t **out)
{
    char **ids = cg_xcalloc(CG_RESPONSE_CHAIN_MAX, sizeof(*ids));
    size_t n = 0;
    enum cg_err code = CG_OK;
    json_t *chain = NULL;
    sqlite3_stmt *st = cg_db_stmt(db, ST_PREVIOUS,
                                  "SELECT previous_id, bytes FROM responses"
                                  " WHERE id = ?1 AND owner = ?2 AND created_at >= ?3");
    uint64_t max_bytes = j->s->lim.max_chain_bytes ? j->s->lim.max_chain_bytes
                                                   : (uint64_t)CG_RESPONSE_CHAIN_MAX_BYTES;
    uint64_t bytes = 0;
    if (st == NULL) {
        code = CG_ERR_STORE_FAILED;
        goto out;
    }
    const char *cur = j->previous_id;
    while (cur != NULL) {
        if (n == CG_RESPONSE_CHAIN_MAX) {
            code = CG_ERR_CHAIN_TOO_LONG;
            goto out;
        }
        ids[n++] = cg_xstrdup(cur);
        sqlite3_reset(st);
        bind_text(st, 1, ids[n - 1]);
        bind_text(st, 2, j->owner);
        sqlite3_bind_int64(st, 3, visible_from(j->s, j->now_s));
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
            code = CG_ERR_PREVIOUS_RESPONSE_NOT_FOUND;
            goto out;
        }
        if (rc != SQLITE_ROW) {
            code = cg_db_fail(db, "walk chain");
            goto out;
        }
        bytes += (uint64_t)sqlite3_column_int64(st, 1);
        if (bytes > max_bytes) {
            code = CG_ERR_CHAIN_TOO_LONG;
            goto out;
        }
        cur = (const char *)sqlite3_column_text(st, 0);
    }
    chain = json_array();
    for (size_t i = n; i-- > 0;) {
        code = append_items(db, ids[i], chain);
        if (code != CG_OK)
            goto out;
    }
    *out = chain;
    chain = NULL;
out:
    json_decref(chain);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return code;
}

static enum cg_err find_items(struct cg_db *db, struct job *j, json_t *items)
{
    sqlite3_stmt *st = cg_db_stmt(db, ST_ITEM_BY_ID,
                                  "SELECT i.item FROM items AS i JOIN responses AS r"
                                  " ON r.id = i.response_id WHERE i.item_id = ?1"
                                  " AND r.owner = ?2 AND r.created_at >= ?3"
                                  " ORDER BY r.created_at DESC, r.rowid DESC, i.position DESC"
                                  " LIMIT 1");
    if (st == NULL)
        return CG_ERR_STORE_FAILED;
    for (size_t k = 0; k < j->item_count; k++) {
        sqlite3_reset(st);
        bind_text(st, 1, j->item_ids[k]);
        bind_text(st, 2, j->owner);
        sqlite3_bind_int64(st, 3, visible_from(j->s, j->now_s));
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            continue;
        if (rc != SQLITE_ROW)
            return cg_db_fail(db, "find item");
        json_t *item = NULL;
        enum cg_err code = load_json(db, st, 0, &item);
        if (code != CG_OK)
            return code;
        json_object_set_new(items, j->item_ids[k], item);
    }
    return CG_OK;
}

static enum cg_err run_resolve(struct cg_db *db, struct job *j)
{
    json_t *chain = NULL;
    if (j->previous_id != NULL) {
        enum cg_err code = walk_chain(db, j, &chain);
        if (code != CG_OK)
            return code;
    }
    json_t *items = json_object();
    enum cg_err code = find_items(db, j, items);
    if (code != CG_OK) {
        json_decref(chain);
        json_decref(items);
        return code;
    }
    j->value =
        json_pack("{s:o, s:o}", "chain", chain != NULL ? chain : json_null(), "items", items);
    return j->value != NULL ? CG_OK : CG_ERR_STORE_FAILED;
}

static enum cg_err on_run(struct cg_db *db, struct cg_db_job *base)
{
    struct job *j = CG_CONTAINER_OF(base, struct job, base);
    if (j->now_s > j->s->now_s)
        j->s->now_s = j->now_s;
    switch (j->op) {
    case OP_RETAIN:
        return run_retain(db, j);
    case OP_PUT:
        return run_put(db, j);
    case OP_GET:
        return run_get(db, j);
    case OP_INPUT_ITEMS:
        return run_input_items(db, j);
    case OP_DELETE:
        return run_delete(db, j);
    case OP_RESOLVE:
        return run_resolve(db, j);
    }
    return CG_ERR_INTERNAL;
}

/* --- the loop side ------------------------------------------------------------------------ */

static void job_free(struct job *j)
{
    free(j->owner);
    free(j->id);
    free(j->previous_id);
    free(j->after);
    for (size_t k = 0; k < j->item_count; k++)
        free(j->item_ids[k]);
    free(j->item_ids);
    json_decref(j->response);
    json_decref(j->input_items);
    json_decref(j->value);
    free(j);
}

static void on_done(struct cg_db_job *base)
{
    struct job *j = CG_CONTAINER_OF(base, struct job, base);
    if (j->cb != NULL) {
        struct cg_store_result res = {
            .code = base->code,
            .value = base->code == CG_OK ? j->value : NULL,
        };
        j->cb(&res, j->data);
    }
    job_free(j);
}

static struct job *job_new(struct cg_responses_store *s, enum op op, const char *owner,
                           const char *id, cg_store_cb cb, void *data)
{
    struct job *j = cg_xcalloc(1, sizeof(*j));
    j->base.run = on_run;
    j->base.done = on_done;
    j->s = s;
    j->op = op;
    j->cb = cb;
    j->data = data;
    j->now_s = now_s(s);
    j->owner = cg_xstrdup(owner != NULL ? owner : "");
    j->id = dup_or_null(id);
    return j;
}

static void submit(struct job *j)
{
    cg_db_submit(j->s->db, &j->base);
}

static void on_retain_timer(uv_timer_t *t)
{
    struct cg_responses_store *s = CG_CONTAINER_OF(t, struct cg_responses_store, timer);
    submit(job_new(s, OP_RETAIN, NULL, NULL, NULL, NULL));
}

static void release_handle(struct cg_responses_store *s)
{
    if (--s->open_handles == 0)
        free(s);
}

static void on_timer_closed(uv_handle_t *h)
{
    release_handle(CG_CONTAINER_OF((uv_timer_t *)h, struct cg_responses_store, timer));
}

static void on_db_closed(void *data)
{
    release_handle(data);
}

static struct cg_responses_store *store_new(const struct cg_responses_store_limits *lim)
{
    struct cg_responses_store *s = cg_xcalloc(1, sizeof(*s));
    s->lim = *lim;
    s->now_s = INT64_MIN;
    return s;
}

static void store_start(struct cg_responses_store *s, uv_loop_t *loop)
{
    uv_timer_init(loop, &s->timer);
    uv_timer_start(&s->timer, on_retain_timer, RETAIN_INTERVAL_MS, RETAIN_INTERVAL_MS);
    uv_unref((uv_handle_t *)&s->timer);
    s->open_handles = 2;
    submit(job_new(s, OP_RETAIN, NULL, NULL, NULL, NULL));
}

int cg_responses_store_open(uv_loop_t *loop, const char *path,
                            const struct cg_responses_store_limits *lim,
                            struct cg_responses_store **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    struct cg_responses_store *s = store_new(lim);
    s->owns_db = true;
    struct cg_db_config cfg = {
        .migrations = migrations,
        .migration_count = CG_ARRAY_SIZE(migrations),
        .after_batch = cg_responses_store_after_batch,
        .rolled_back = cg_responses_store_rolled_back,
        .ctx = s,
    };
    if (cg_db_open(loop, path, &cfg, &s->db, errbuf, errlen) != 0) {
        free(s);
        return -1;
    }
    store_start(s, loop);
    *out = s;
    return 0;
}

void cg_responses_store_close(struct cg_responses_store *s)
{
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
    if (s->owns_db)
        cg_db_close(s->db, on_db_closed, s);
}

void cg_responses_store_attach(uv_loop_t *loop, struct cg_db *db,
                               const struct cg_responses_store_limits *lim,
                               struct cg_responses_store **out)
{
    struct cg_responses_store *s = store_new(lim);
    s->db = db;
    *out = s; /* before the first job: the db owner's hooks read it on the writer */
    store_start(s, loop);
}

void cg_responses_store_detach(struct cg_responses_store *s)
{
    assert(!s->owns_db);
    release_handle(s);
}

void cg_responses_store_put(struct cg_responses_store *s, const char *owner, const char *id,
                            const char *previous_id, json_t *response, json_t *input_items,
                            cg_store_cb cb, void *data)
{
    struct job *j = job_new(s, OP_PUT, owner, id, cb, data);
    j->previous_id = dup_or_null(previous_id);
    j->response = response;
    j->input_items = input_items;
    submit(j);
}

void cg_responses_store_get(struct cg_responses_store *s, const char *owner, const char *id,
                            cg_store_cb cb, void *data)
{
    submit(job_new(s, OP_GET, owner, id, cb, data));
}

void cg_responses_store_input_items(struct cg_responses_store *s, const char *owner, const char *id,
                                    const struct cg_store_page *page, cg_store_cb cb, void *data)
{
    struct job *j = job_new(s, OP_INPUT_ITEMS, owner, id, cb, data);
    j->after = dup_or_null(page->after);
    j->limit = page->limit;
    j->ascending = page->ascending;
    submit(j);
}

void cg_responses_store_delete(struct cg_responses_store *s, const char *owner, const char *id,
                               cg_store_cb cb, void *data)
{
    submit(job_new(s, OP_DELETE, owner, id, cb, data));
}

void cg_responses_store_resolve(struct cg_responses_store *s, const char *owner,
                                const char *previous_id, const char *const *item_ids, size_t count,
                                cg_store_cb cb, void *data)
{
    struct job *j = job_new(s, OP_RESOLVE, owner, NULL, cb, data);
    j->previous_id = dup_or_null(previous_id);
    if (count > 0) {
        j->item_ids = cg_xcalloc(count, sizeof(*j->item_ids));
        for (size_t k = 0; k < count; k++)
            j->item_ids[k] = cg_xstrdup(item_ids[k]);
        j->item_count = count;
    }
    submit(j);
}
