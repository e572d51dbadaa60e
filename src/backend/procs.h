/* procs.h: the per-request backends' runner. It starts a Codex process per choice, at most
 * PROXY_MAX_CONCURRENT_PROCESSES at a time; beyond that a choice waits in a bounded FIFO
 * queue with a deadline (PROXY_QUEUE_MAX, PROXY_QUEUE_TIMEOUT_MS) and then gets 429 with
 * Retry-After, as the app-server pool does. A slot is free again only when its process has
 * exited and its pipes are closed, so the cap counts processes, not requests. */
#ifndef CG_BACKEND_PROCS_H
#define CG_BACKEND_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "backend/home.h"
#include "backend/proc.h"
#include "core/errors.h"
#include "util/buf.h"
#include "util/histogram.h"

struct cg_procs_config {
    const char *codex_home; /* measured, and its log trimmed, as the pool does */
    uint64_t codex_log_max_bytes;
    uint64_t codex_home_check_ms;
    size_t max_running;
    size_t queue_max;
    uint64_t queue_timeout_ms;
    struct cg_proc_config proc;
};

struct cg_procs_stats {
    uint64_t started;
    uint64_t queued;
    uint64_t rejected; /* queue full, or a spawn that failed */
    uint64_t queue_timeouts;
    uint64_t spawn_failures;
    uint64_t exits_failed; /* processes whose choice ended in an error they caused */
    uint64_t killed;       /* processes we signalled */
    struct cg_histogram queue_wait;
};

struct cg_procs {
    struct cg_procs_config cfg;
    size_t running; /* processes not yet gone */
    struct cg_proc *qhead;
    struct cg_proc *qtail;
    size_t qlen;
    uv_timer_t sweep_timer;
    struct cg_home home;
    bool stopping;
    bool stopped;
    void (*on_stopped)(struct cg_procs *ps);
    struct cg_procs_stats stats;
};

/* Ready at once: processes start on demand. */
void cg_procs_init(struct cg_procs *ps, const struct cg_procs_config *cfg);
/* Fails whatever waits with shutting_down, refuses new choices, and calls `on_stopped` once
 * every process is gone and the runner's timer is closed. */
void cg_procs_stop(struct cg_procs *ps, void (*on_stopped)(struct cg_procs *ps));

/* Starts the prepared `p` or queues it. On failure fills `err` (429, or 503 when the process
 * cannot be started) and `p` can only be released. */
enum cg_err cg_procs_submit(struct cg_procs *ps, struct cg_proc *p,
                            struct cg_error *err) CG_MUST_CHECK;
/* Takes a queued `p` out of the queue (nothing for one that runs: releasing it kills it). */
void cg_procs_cancel(struct cg_procs *ps, struct cg_proc *p);

/* Taking requests: not stopping. */
bool cg_procs_ready(const struct cg_procs *ps);
/* "ready", or "shutting_down" once stopping (as cg_pool_reason words it). */
const char *cg_procs_reason(const struct cg_procs *ps);

/* {"ready":..,"reason":..,"processes":{"running","max","queued","queue_max","started",
 * "failed","killed","queue_timeouts","rejected"},"codex_home":{..}} for /healthz. */
int cg_procs_status_json(const struct cg_procs *ps, struct cg_buf *out) CG_MUST_CHECK;

#endif
