/* pool.h: the Codex workers. A turn goes to the ready worker with the fewest active turns (at
 * most WORKER_MAX_CONCURRENCY each); beyond that it waits in a bounded FIFO queue with a
 * deadline, and then gets 429 with Retry-After. With no ready worker a turn fails at once: 503
 * backend_unavailable with the reason, or codex_login_required with the login instructions. */
#ifndef CG_BACKEND_POOL_H
#define CG_BACKEND_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "backend/sessions.h"
#include "backend/turn.h"
#include "backend/home.h"
#include "backend/worker.h"
#include "core/errors.h"
#include "util/histogram.h"
#include "util/buf.h"

struct cg_pool_config {
    const char *codex_home;
    uint64_t codex_log_max_bytes;
    uint64_t codex_home_check_ms;
    size_t workers;
    size_t max_concurrency;
    size_t queue_max;
    uint64_t queue_timeout_ms;
    const struct cg_worker_config *worker;
};

struct cg_pool_stats {
    uint64_t turns_started;
    uint64_t turns_queued;
    uint64_t turns_rejected;
    uint64_t queue_timeouts;
    struct cg_histogram queue_wait; /* queued turns, from queued to handed to a worker */
};

struct cg_pool {
    uv_loop_t *loop;
    struct cg_pool_config cfg;
    struct cg_worker *workers;
    struct cg_sessions *sessions;
    size_t count;
    struct cg_turn *qhead;
    struct cg_turn *qtail;
    size_t qlen;
    uv_timer_t sweep_timer;
    struct cg_home home;
    struct cg_rate_limits limits; /* the account's, as any worker last reported them */
    bool stopping;
    bool draining; /* drain_queue is on the stack */
    size_t running; /* workers not yet stopped */
    void (*on_stopped)(struct cg_pool *p);
    struct cg_pool_stats stats;
};

void cg_pool_init(struct cg_pool *p, uv_loop_t *loop, const struct cg_pool_config *cfg);
void cg_pool_start(struct cg_pool *p);
/* Stops every worker (queued turns fail with shutting_down); `on_stopped` runs when all are
 * down and the pool's handles are closed. */
void cg_pool_stop(struct cg_pool *p, void (*on_stopped)(struct cg_pool *p));

/* Starts `turn` on a worker or queues it. On failure fills `err` (503 or 429) and the turn is
 * untouched. */
enum cg_err cg_pool_submit(struct cg_pool *p, struct cg_turn *turn, struct cg_error *err)
    CG_MUST_CHECK;
/* Takes a queued turn out of the queue, or cancels a started one. */
void cg_pool_cancel(struct cg_pool *p, struct cg_turn *turn);

/* The worker a new turn goes to: the ready one with the fewest active turns below
 * `max_concurrency` (the first of equals); NULL when none. */
struct cg_worker *cg_pool_choose(struct cg_worker *workers, size_t count, size_t max_concurrency);

/* A worker can take turns now. */
bool cg_pool_ready(const struct cg_pool *p);
/* How many workers are unhealthy (missed a liveness ping); their ids go to `ids[0..max)`. */
size_t cg_pool_unhealthy(const struct cg_pool *p, unsigned *ids, size_t max);
/* Some worker is up or will be retried (false once every worker gave up). */
bool cg_pool_live(const struct cg_pool *p);
/* Why turns cannot run now ("ready" when they can): no_workers, starting,
 * codex_login_required, unhealthy, restarting, failed. */
const char *cg_pool_reason(const struct cg_pool *p);

/* {"ready","reason","workers":[...],"queue":{...}} for /healthz. */
int cg_pool_status_json(const struct cg_pool *p, struct cg_buf *out) CG_MUST_CHECK;

#endif
