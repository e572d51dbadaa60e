/* sessions.h: per worker, the turns running on it by thread id. It routes the worker's
 * notifications to their turns, answers the worker's requests (approvals declined, tool calls
 * held, the rest refused so the worker never waits on nobody), fails turns whose worker died or
 * whose message was too long to read, ends turns whose interrupt went unanswered, releases what
 * a late answer created, and keeps the account's rate-limit state for Retry-After.
 *
 * Everything the turns send goes through `ops` to a peer: the worker in the gateway, a
 * scripted JSON-RPC peer in tests. */
#ifndef CG_BACKEND_SESSIONS_H
#define CG_BACKEND_SESSIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "backend/jsonrpc.h"
#include "backend/rate_limits.h"
#include "util/map.h"
#include "util/str.h"

struct cg_turn;
struct cg_worker;
struct cg_sessions;

/* The JSON-RPC calls of turns, as cg_worker_call_want and friends define them: `params`/`result`
 * stolen; `want` as cg_rpc_call_want's (may be NULL); `call` returns 0 when the peer is not
 * there (then `cb` never runs). */
struct cg_sessions_ops {
    uint64_t (*call)(void *peer, const char *method, json_t *params, const char *const *want,
                     cg_rpc_result_cb cb, void *data);
    /* The same with params the caller wrote (cg_rpc_call_raw). */
    uint64_t (*call_raw)(void *peer, const char *method, const struct cg_rpc_raw *params,
                         const char *const *want, cg_rpc_result_cb cb, void *data);
    void (*forget)(void *peer, uint64_t id);
    void (*respond)(void *peer, json_t *id, json_t *result);
    void (*respond_error)(void *peer, json_t *id, int64_t code, const char *message);
};

struct cg_sessions {
    struct cg_worker *worker; /* NULL when driven by cg_sessions_init_peer */
    const struct cg_sessions_ops *ops;
    void *peer;
    unsigned worker_id;
    struct cg_map threads;
    uint64_t interrupt_timeout_ms;
    /* The account's rate-limit windows as last reported: every worker of one CODEX_HOME shares
     * one account, so the pool points all its sessions at one copy (else `own_limits`). */
    struct cg_rate_limits *limits;
    struct cg_rate_limits own_limits;
    unsigned retry_after_default_s; /* PROXY_UPSTREAM_RETRY_AFTER_S */
    /* Called when a turn leaves the worker (its slot is free again). */
    void (*turn_done)(struct cg_sessions *s, struct cg_turn *t, void *data);
    void *data;
};

/* Turns on worker `w`, whose settings give the Retry-After default. */
void cg_sessions_init(struct cg_sessions *s, struct cg_worker *w, uint64_t interrupt_timeout_ms);
/* Turns on any peer (`peer` borrowed). */
void cg_sessions_init_peer(struct cg_sessions *s, const struct cg_sessions_ops *ops, void *peer,
                           unsigned worker_id, uint64_t interrupt_timeout_ms,
                           unsigned retry_after_default_s);
void cg_sessions_dispose(struct cg_sessions *s);

/* From the worker's JSON-RPC reader; `params`, `id` and `result` borrowed. */
void cg_sessions_notification(struct cg_sessions *s, const char *method, json_t *params);
/* Whether cg_sessions_notification could act on a notification, judged from its method and
 * raw line before parsing: false only for methods on a list of those known to be of no use. */
bool cg_sessions_wants(struct cg_str method, struct cg_str line);
/* The worker's `wanted` hook: a notification's method and raw line, before it is parsed. False
 * when nothing more is to be done with it: it is of no use (cg_sessions_wants), or it is one of
 * the hot shapes (text deltas, a finished agent message, a model response's usage, the end of
 * a turn) and was handed to its turn straight from the raw bytes, exactly as
 * cg_sessions_notification would have handed it over. True: parse it and call that. */
bool cg_sessions_offer(struct cg_sessions *s, struct cg_str method, struct cg_str line);
/* The worker's `take` hook (cg_rpc_ops.take): true when the line is a hot notification read whole
 * from its raw bytes and handed to its turn as cg_sessions_offer would (or dropped, for a thread
 * not here); false leaves it to the usual way. */
bool cg_sessions_take(struct cg_sessions *s, struct cg_str method, struct cg_str line);
void cg_sessions_request(struct cg_sessions *s, json_t *id, const char *method, json_t *params);
/* A call answered after its timeout: a thread it started is unsubscribed. */
void cg_sessions_late(struct cg_sessions *s, const char *method, const char *thread_id,
                      json_t *result);
/* A message too long to read was dropped: the turn it belonged to (found by the threadId in
 * the message's first or last bytes) cannot complete and fails now instead of hanging. */
void cg_sessions_oversized(struct cg_sessions *s, const char *head, size_t head_len,
                           const char *tail, size_t tail_len);
/* The worker died: every turn on it fails with `reason`. */
void cg_sessions_lost(struct cg_sessions *s, const char *reason);
/* Ends turns whose interrupt went unanswered past their deadline. */
void cg_sessions_sweep(struct cg_sessions *s, uint64_t now_ms);

/* For turns. */
uint64_t cg_sessions_call(struct cg_sessions *s, const char *method, json_t *params,
                          cg_rpc_result_cb cb, void *data);
/* A call whose callback reads only the result member at `want` (cg_rpc_call_want). */
uint64_t cg_sessions_call_want(struct cg_sessions *s, const char *method, json_t *params,
                               const char *const *want, cg_rpc_result_cb cb, void *data);
/* A call with params written by the caller (cg_rpc_call_raw). */
uint64_t cg_sessions_call_raw(struct cg_sessions *s, const char *method,
                              const struct cg_rpc_raw *params, const char *const *want,
                              cg_rpc_result_cb cb, void *data);
void cg_sessions_forget(struct cg_sessions *s, uint64_t id);
/* Files `t` under its thread id, or takes it out. */
void cg_sessions_add(struct cg_sessions *s, struct cg_turn *t);
void cg_sessions_remove(struct cg_sessions *s, struct cg_turn *t);
/* Retry-After for an upstream 429 now: the account's reported reset, else the default. */
unsigned cg_sessions_retry_after_s(const struct cg_sessions *s);

#endif
