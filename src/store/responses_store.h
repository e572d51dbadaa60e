/* responses_store.h: stored Responses (POST /v1/responses with store: true) in a SQLite file in
 * WAL mode. One writer thread owns the connection and runs every job, reads included, in the
 * order they were queued; the loop thread only queues jobs and hears of their results through a
 * uv_async, so no disk access ever blocks the loop. Every stored row belongs to an owner (the
 * key id of the key that made it, http/auth.h; never the key): another owner sees nothing (not
 * found), whatever it asks. Every string a job takes (ids, owners, a page's `after`) is copied
 * before the call returns.
 *
 * Retention: rows older than max_age_s go, and the oldest go first while the stored bytes pass
 * max_bytes; both are checked after writes and on a timer. A put's callback reports CG_OK only
 * once its transaction has committed (synchronous=FULL), so a response reported as stored
 * survives a crash of the gateway or of the machine. */
#ifndef CG_STORE_RESPONSES_STORE_H
#define CG_STORE_RESPONSES_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "core/errors.h"

struct cg_responses_store; /* opaque */
struct cg_db;

struct cg_responses_store_limits {
    uint64_t max_age_s;       /* PROXY_RESPONSES_MAX_AGE; 0 = no age limit */
    uint64_t max_bytes;       /* PROXY_RESPONSES_MAX_BYTES; 0 = no size limit */
    int64_t (*now_s)(void);   /* the clock, in Unix seconds; NULL = real time (tests set it) */
    uint64_t max_chain_bytes; /* a resolved chain's stored bytes; 0 = CG_RESPONSE_CHAIN_MAX_BYTES */
};

/* What a job reports, on the loop thread. `code` is CG_OK, CG_ERR_RESPONSE_NOT_FOUND (no such
 * id for this key, or deleted, or expired), CG_ERR_PREVIOUS_RESPONSE_NOT_FOUND (resolve only) or
 * CG_ERR_STORE_FAILED (the database failed; the store has logged why). `value` is borrowed for
 * the callback's duration (json_incref it to keep it) and NULL unless the job says otherwise. */
struct cg_store_result {
    enum cg_err code;
    json_t *value;
};

/* Fires exactly once per accepted job, on the loop thread. */
typedef void (*cg_store_cb)(const struct cg_store_result *res, void *data);

/* Opens (creating it and its schema if needed) the database at `path` and starts the writer
 * thread. A file that is not a database, is corrupt (quick_check), or cannot be written is an
 * error: a message naming the path and the reason goes to `errbuf`, and *out stays NULL. */
int cg_responses_store_open(uv_loop_t *loop, const char *path,
                            const struct cg_responses_store_limits *lim,
                            struct cg_responses_store **out, char *errbuf,
                            size_t errlen) CG_MUST_CHECK;

/* Stops taking jobs, lets the writer run what is queued (their callbacks fire on the loop as
 * usual), then closes the database, the thread and the loop handles. The memory is freed once
 * the loop has run the handles' close callbacks; `s` must not be used after this call. An
 * attached store closes only its timer: its memory waits for cg_responses_store_detach too. */
void cg_responses_store_close(struct cg_responses_store *s);

/* A store on a db shared with other modules (store/state.h), which borrows `db`: the db's
 * owner opens it with cg_responses_store_migration, calls cg_responses_store_after_batch and
 * cg_responses_store_rolled_back from its own hooks (ctx: the store), and calls
 * cg_responses_store_detach once the db has closed. *out is set before the store queues its
 * first job. */
void cg_responses_store_attach(uv_loop_t *loop, struct cg_db *db,
                               const struct cg_responses_store_limits *lim,
                               struct cg_responses_store **out);
void cg_responses_store_detach(struct cg_responses_store *s);
extern const char cg_responses_store_migration[]; /* schema version 0 → 1 */
enum cg_err cg_responses_store_after_batch(struct cg_db *db, void *ctx);
void cg_responses_store_rolled_back(void *ctx);

/* Stores response `id` of `owner`. Takes ownership of `response` (the response object as
 * sent to the client, output included) and of `input_items` (this request's own input items as
 * input_items lists them: each with an `id`, newest last; the chain of previous_response_id is
 * not repeated here). `previous_id` (may be NULL) links the chain. Output items are the
 * response's `output`. The writer thread serialises both: after the call the caller must not
 * change them (a reference it keeps for reading is fine). Callback value: NULL. */
void cg_responses_store_put(struct cg_responses_store *s, const char *owner, const char *id,
                            const char *previous_id, json_t *response, json_t *input_items,
                            cg_store_cb cb, void *data);

/* Callback value: the stored response object. */
void cg_responses_store_get(struct cg_responses_store *s, const char *owner, const char *id,
                            cg_store_cb cb, void *data);

/* One page of a response's input items (GET /v1/responses/{id}/input_items). `after` (may be
 * NULL) is an item id: the page starts after it in the chosen order; an unknown `after` gives
 * an empty page. */
struct cg_store_page {
    const char *after;
    size_t limit;   /* 1..100 (the handler checks) */
    bool ascending; /* order=asc; OpenAI's default is desc (newest first) */
};

/* Callback value: OpenAI's list shape {"object":"list","data":[...],"first_id","last_id",
 * "has_more"} (first_id/last_id null on an empty page). */
void cg_responses_store_input_items(struct cg_responses_store *s, const char *owner, const char *id,
                                    const struct cg_store_page *page, cg_store_cb cb, void *data);

/* Deletes the response (its items go with it). Callback value: NULL. */
void cg_responses_store_delete(struct cg_responses_store *s, const char *owner, const char *id,
                               cg_store_cb cb, void *data);

/* What a new request needs from the store before it can be parsed. `previous_id` (may be NULL):
 * the chain that ends with it, oldest response first, each response's input items then its
 * output items, in one array. `item_ids` (`count` of them, may be 0): items of any stored
 * response of this key, for `item_reference`. Callback value: {"chain": [...] or null when no
 * previous_id was asked, "items": {"<id>": item, ...} with only the ids found}. A previous_id
 * that is unknown, or whose chain has a missing link, is CG_ERR_PREVIOUS_RESPONSE_NOT_FOUND; a
 * chain of more than CG_RESPONSE_CHAIN_MAX responses is CG_ERR_CHAIN_TOO_LONG.
 * The strings are copied before the call returns. */
void cg_responses_store_resolve(struct cg_responses_store *s, const char *owner,
                                const char *previous_id, const char *const *item_ids, size_t count,
                                cg_store_cb cb, void *data);

#endif
