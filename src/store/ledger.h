/* ledger.h: the usage ledger: one row per model request in a SQLite file (gateway.db, shared with
 * the response store through store/state.h, or a file of its own), written in batches by the
 * db's writer thread. The loop only copies a row into the batch being filled; a batch goes to
 * the writer flush_ms after its first row, once none is in flight (at once when it is full or a
 * read comes, which so sees every row recorded before it): one transaction, and one fsync, per
 * interval however many requests end in it. Writing never fails a request: a row that cannot be
 * queued (CG_LEDGER_QUEUE_MAX rows already waiting) or whose batch fails is counted as lost, and
 * the loss is logged at most once a minute. Closing writes every queued row first.
 *
 * Retention: rows older than max_age_s are deleted after every batch, and no read sees them. */
#ifndef CG_STORE_LEDGER_H
#define CG_STORE_LEDGER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "util/histogram.h"
#include "core/errors.h"

struct cg_ledger; /* opaque */
struct cg_db;

struct cg_ledger_config {
    uint64_t max_age_s;     /* PROXY_USAGE_MAX_AGE; 0 = kept for ever */
    size_t queue_max;       /* rows waiting for the writer; 0 = CG_LEDGER_QUEUE_MAX */
    uint64_t flush_ms;      /* longest a row waits for its batch to go; 0 = CG_LEDGER_FLUSH_MS */
    int64_t (*now_s)(void); /* Unix seconds; NULL = real time (tests set it) */
};

/* One model request. Strings are borrowed for the call (copied, cut to the ledger's field size);
 * NULL is stored as NULL. */
struct cg_ledger_row {
    const char *request_id;
    const char *key_label;
    const char *key_id;
    const char *route;
    const char *model;
    const char *outcome; /* cg_run_outcome_name */
    const char *error;   /* the error's code; NULL when none */
    bool stream;
    int status;
    int64_t input_tokens; /* cached included, as OpenAI's prompt_tokens */
    int64_t cached_tokens;
    int64_t output_tokens; /* reasoning included, as OpenAI's completion_tokens */
    int64_t reasoning_tokens;
    int64_t ttfb_ms; /* -1: no model output */
    uint64_t duration_ms;
    int worker; /* -1: none */
};

struct cg_ledger_stats {
    uint64_t written; /* rows committed */
    uint64_t lost;    /* rows dropped: queue full, or their batch failed */
    uint64_t batches; /* insert transactions run */
    size_t waiting;   /* rows recorded, not yet committed or lost */
    /* Per committed batch: from its first row recorded to its commit (the longest wait of
     * any of its rows). */
    struct cg_histogram write_latency;
};

/* Opens or creates a ledger in a file of its own at `path` and starts its writer (the gateway
 * shares gateway.db instead: store/state.h). On failure "<path>: <reason>"
 * goes to `errbuf` and *out stays NULL. */
int cg_ledger_open(uv_loop_t *loop, const char *path, const struct cg_ledger_config *cfg,
                   struct cg_ledger **out, char *errbuf, size_t errlen) CG_MUST_CHECK;

/* Writes the queued rows, answers the queued reads, then frees the ledger; `l` must not be used
 * after this call. An attached ledger queues its last rows only: the db's owner closes the db,
 * then calls cg_ledger_detach. */
void cg_ledger_close(struct cg_ledger *l);

/* A ledger on a db shared with other modules (store/state.h), which borrows `db`: the db's owner
 * opens it with cg_ledger_migration, calls cg_ledger_after_batch from its own hook (ctx: the
 * ledger), and cg_ledger_detach once the db has closed. */
struct cg_ledger *cg_ledger_attach(uv_loop_t *loop, struct cg_db *db,
                                   const struct cg_ledger_config *cfg);
void cg_ledger_detach(struct cg_ledger *l);
extern const char cg_ledger_migration[]; /* the ledger's schema version 0 → 1 */
enum cg_err cg_ledger_after_batch(struct cg_db *db, void *ctx);

/* Queues one row (stamped with the current time). Never fails; see the header comment. */
void cg_ledger_record(struct cg_ledger *l, const struct cg_ledger_row *row);

void cg_ledger_stats(const struct cg_ledger *l, struct cg_ledger_stats *out);

/* What a read reports, on the loop thread: CG_OK with `value` (borrowed for the call), or
 * CG_ERR_STORE_FAILED (logged) with NULL. */
typedef void (*cg_ledger_cb)(enum cg_err code, json_t *value, void *data);

enum cg_ledger_group {
    CG_LEDGER_GROUP_NONE,
    CG_LEDGER_GROUP_HOUR,
    CG_LEDGER_GROUP_DAY,
    CG_LEDGER_GROUP_MODEL,
    CG_LEDGER_GROUP_KEY,
};

struct cg_ledger_query {
    int64_t start_s; /* rows with start_s <= ts < end_s */
    int64_t end_s;
    enum cg_ledger_group group;
    const char *key_id; /* only this key's rows; NULL = every key's. Copied. */
    size_t limit;       /* raw: the newest `limit` rows */
};

/* Sums over the query's rows: {"total_requests","prompt_tokens","completion_tokens",
 * "total_tokens","cached_tokens","reasoning_tokens"} and, when grouped, "buckets": the same sums
 * per hour or day (UTC; "ts" ISO 8601 and "start" Unix seconds, oldest first), per "model", or
 * per key ("key" label and "key_id"), each with its "requests". */
void cg_ledger_summary(struct cg_ledger *l, const struct cg_ledger_query *q, cg_ledger_cb cb,
                       void *data);

/* The newest q->limit rows of q->key_id (start_s and end_s ignored), oldest first:
 * {"count","events":[...]}. */
void cg_ledger_raw(struct cg_ledger *l, const struct cg_ledger_query *q, cg_ledger_cb cb,
                   void *data);

#endif
