/* db.h: a SQLite file owned by one writer thread. The loop thread queues jobs; the writer runs
 * them in the order queued, those queued together in one transaction (group commit), and hands
 * each back through one uv_async, where its done callback fires on the loop thread. Meant for
 * every store of the gateway (stored responses, the usage ledger). */
#ifndef CG_STORE_DB_H
#define CG_STORE_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>
#include "core/errors.h"

struct cg_db; /* opaque */
struct cg_db_job;

/* Runs on the writer thread inside the batch's transaction, under a savepoint of its own: a job
 * that returns an error has its writes rolled back and the others keep theirs. */
typedef enum cg_err (*cg_db_run_fn)(struct cg_db *db, struct cg_db_job *job);

/* Fires on the loop thread once the job's batch has committed; `job->code` is what run returned,
 * or CG_ERR_STORE_FAILED when the transaction could not begin or commit. */
typedef void (*cg_db_done_fn)(struct cg_db_job *job);

/* Embedded in the caller's job, which owns its memory; the db borrows it from submit to done. */
struct cg_db_job {
    struct cg_db_job *next; /* the db's queue link */
    cg_db_run_fn run;
    cg_db_done_fn done;
    enum cg_err code;
};

struct cg_db_config {
    /* migrations[i] takes the schema (PRAGMA user_version) from version i to i + 1; a file with
     * a newer version than migration_count is refused. */
    const char *const *migrations;
    size_t migration_count;
    /* Writer thread, at the end of every batch, before COMMIT, under a savepoint (may be NULL). */
    enum cg_err (*after_batch)(struct cg_db *db, void *ctx);
    void *ctx;
};

/* Opens or creates the database at `path` (WAL, synchronous=FULL, foreign keys, busy timeout),
 * checks it with PRAGMA quick_check, brings its schema up to date and starts the writer. This
 * blocks (it is called before serving). On failure "<path>: <reason>" goes to `errbuf` and *out
 * stays NULL. */
int cg_db_open(uv_loop_t *loop, const char *path, const struct cg_db_config *cfg,
               struct cg_db **out, char *errbuf, size_t errlen) CG_MUST_CHECK;

/* Queues `job` (its run and done set). Not after cg_db_close. */
void cg_db_submit(struct cg_db *db, struct cg_db_job *job);

/* Takes no more jobs; the writer runs what is queued, their done callbacks fire, the connection
 * and the thread are closed, then `cb` fires (on the loop) after the db is freed. */
typedef void (*cg_db_closed_cb)(void *data);
void cg_db_close(struct cg_db *db, cg_db_closed_cb cb, void *data);

/* The rest is for run and after_batch functions, on the writer thread only. */

/* A prepared statement cached in `slot` (below CG_DB_STMTS_MAX), reset and unbound when the job
 * ends. NULL when it cannot be prepared (logged). */
enum { CG_DB_STMTS_MAX = 32 };
sqlite3_stmt *cg_db_stmt(struct cg_db *db, unsigned slot, const char *sql);

/* Logs the connection's last error once, with `what` (a statement name, never client text),
 * and returns CG_ERR_STORE_FAILED. */
enum cg_err cg_db_fail(struct cg_db *db, const char *what);

/* Steps `st` to its end (an INSERT, UPDATE or DELETE without rows): CG_OK or cg_db_fail. */
enum cg_err cg_db_step_done(struct cg_db *db, sqlite3_stmt *st, const char *what);

#endif
