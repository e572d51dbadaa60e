/* procs.c: at most max_running Codex processes; the rest wait in a FIFO with a deadline. */
#include "backend/procs.h"
#include <inttypes.h>
#include <string.h>
#include "util/clock.h"
#include "util/common.h"
#include "util/log.h"
#define LOG_COMPONENT "procs"

enum { SWEEP_MS = 200, QUEUE_RETRY_AFTER_S = 1 };

static void unlink_proc(struct cg_procs *ps, struct cg_proc *p)
{
    struct cg_proc_queue_link *l = cg_proc_link(p);
    if (!l->queued)
        return;
    if (l->prev)
        cg_proc_link(l->prev)->next = l->next;
    else
        ps->qhead = l->next;
    if (l->next)
        cg_proc_link(l->next)->prev = l->prev;
    else
        ps->qtail = l->prev;
    l->prev = l->next = NULL;
    l->queued = false;
    ps->qlen--;
}

static void maybe_stopped(struct cg_procs *ps);
static void drain_queue(struct cg_procs *ps);

static void on_gone(struct cg_proc *p, const struct cg_proc_exit *exit, void *data)
{
    struct cg_procs *ps = data;
    ps->running--;
    if (exit->failed)
        ps->stats.exits_failed++;
    if (exit->killed)
        ps->stats.killed++;
    drain_queue(ps);
    maybe_stopped(ps);
}

/* Starts `p` in a free slot; a spawn failure fills `err`. */
static enum cg_err start(struct cg_procs *ps, struct cg_proc *p, struct cg_error *err)
{
    int rc = cg_proc_spawn(p, &ps->cfg.proc, on_gone, ps);
    if (rc != 0) {
        ps->stats.spawn_failures++;
        ps->stats.rejected++;
        cg_log_error("cannot start Codex (%s): %s", ps->cfg.proc.launch->process_argv[0],
                     uv_strerror(rc));
        cg_error_set(err, CG_ERR_BACKEND_UNAVAILABLE, NULL, "Codex could not be started: %s.",
                     uv_strerror(rc));
        return err->code;
    }
    ps->running++;
    ps->stats.started++;
    return CG_OK;
}

/* Hands free slots to the oldest waiters. Each start either takes a slot or fails its proc,
 * so the loop ends. */
static void drain_queue(struct cg_procs *ps)
{
    while (ps->qhead && ps->running < ps->cfg.max_running && !ps->stopping) {
        struct cg_proc *p = ps->qhead;
        unlink_proc(ps, p);
        cg_histogram_observe_us(&ps->stats.queue_wait,
                                cg_clock_mono_us() - cg_proc_link(p)->queued_us);
        struct cg_error err;
        if (start(ps, p, &err) != CG_OK)
            cg_proc_fail(p, &err);
    }
}

static void on_home_closed(struct cg_home *h)
{
    struct cg_procs *ps = CG_CONTAINER_OF(h, struct cg_procs, home);
    ps->stopped = true;
    if (ps->on_stopped)
        ps->on_stopped(ps);
}

static void on_sweep_closed(uv_handle_t *h)
{
    struct cg_procs *ps = h->data;
    cg_home_stop(&ps->home, on_home_closed);
}

static void maybe_stopped(struct cg_procs *ps)
{
    if (!ps->stopping || ps->running > 0 || uv_is_closing((uv_handle_t *)&ps->sweep_timer))
        return;
    uv_close((uv_handle_t *)&ps->sweep_timer, on_sweep_closed);
}

static void on_sweep(uv_timer_t *timer)
{
    struct cg_procs *ps = timer->data;
    uint64_t now = cg_clock_mono_ms();
    while (ps->qhead && cg_proc_link(ps->qhead)->deadline_ms <= now) {
        struct cg_proc *p = ps->qhead;
        unlink_proc(ps, p);
        ps->stats.queue_timeouts++;
        struct cg_error err;
        cg_error_set(&err, CG_ERR_QUEUE_FULL, NULL,
                     "Waited %" PRIu64 " ms for a free Codex process slot "
                     "(PROXY_QUEUE_TIMEOUT_MS)",
                     ps->cfg.queue_timeout_ms);
        err.retry_after_s = QUEUE_RETRY_AFTER_S;
        cg_proc_fail(p, &err);
    }
}

/* --- public ------------------------------------------------------------------------------ */

void cg_procs_init(struct cg_procs *ps, const struct cg_procs_config *cfg)
{
    memset(ps, 0, sizeof(*ps));
    ps->cfg = *cfg;
    uv_timer_init(cfg->proc.loop, &ps->sweep_timer);
    ps->sweep_timer.data = ps;
    uv_timer_start(&ps->sweep_timer, on_sweep, SWEEP_MS, SWEEP_MS);
    cg_home_start(&ps->home, cfg->proc.loop, cfg->codex_home, cfg->codex_log_max_bytes,
                  cfg->codex_home_check_ms);
}

void cg_procs_stop(struct cg_procs *ps, void (*on_stopped)(struct cg_procs *ps))
{
    if (ps->stopping)
        return;
    ps->stopping = true;
    ps->on_stopped = on_stopped;
    while (ps->qhead) {
        struct cg_proc *p = ps->qhead;
        unlink_proc(ps, p);
        struct cg_error err;
        cg_error_init(&err, CG_ERR_SHUTTING_DOWN);
        cg_proc_fail(p, &err);
    }
    if (ps->running > 0)
        cg_log_info("waiting for %zu Codex process(es) to end", ps->running);
    maybe_stopped(ps);
}

enum cg_err cg_procs_submit(struct cg_procs *ps, struct cg_proc *p, struct cg_error *err)
{
    if (ps->stopping) {
        cg_error_init(err, CG_ERR_SHUTTING_DOWN);
        return err->code;
    }
    if (ps->running < ps->cfg.max_running && ps->qhead == NULL)
        return start(ps, p, err);
    if (ps->qlen >= ps->cfg.queue_max) {
        ps->stats.rejected++;
        cg_error_set(err, CG_ERR_QUEUE_FULL, NULL,
                     "All %zu Codex process slots are busy and %zu requests are already waiting "
                     "(PROXY_MAX_CONCURRENT_PROCESSES, PROXY_QUEUE_MAX)",
                     ps->cfg.max_running, ps->qlen);
        err->retry_after_s = QUEUE_RETRY_AFTER_S;
        return err->code;
    }
    struct cg_proc_queue_link *l = cg_proc_link(p);
    l->queued = true;
    l->deadline_ms = cg_clock_mono_ms() + ps->cfg.queue_timeout_ms;
    l->queued_us = cg_clock_mono_us();
    l->next = NULL;
    l->prev = ps->qtail;
    if (ps->qtail)
        cg_proc_link(ps->qtail)->next = p;
    else
        ps->qhead = p;
    ps->qtail = p;
    ps->qlen++;
    ps->stats.queued++;
    return CG_OK;
}

void cg_procs_cancel(struct cg_procs *ps, struct cg_proc *p)
{
    unlink_proc(ps, p);
}

bool cg_procs_ready(const struct cg_procs *ps)
{
    return !ps->stopping;
}

const char *cg_procs_reason(const struct cg_procs *ps)
{
    return ps->stopping ? "shutting_down" : "ready";
}

int cg_procs_status_json(const struct cg_procs *ps, struct cg_buf *out)
{
    const struct cg_procs_stats *st = &ps->stats;
    int err =
        cg_buf_appendf(out,
                       "{\"ready\":%s,\"reason\":\"%s\",\"processes\":{\"running\":%zu,\"max\":%zu,"
                       "\"queued\":%zu,\"queue_max\":%zu,\"started\":%" PRIu64
                       ",\"failed\":%" PRIu64 ",\"killed\":%" PRIu64 ",\"queue_timeouts\":%" PRIu64
                       ",\"rejected\":%" PRIu64 "},\"codex_home\":",
                       cg_procs_ready(ps) ? "true" : "false", cg_procs_reason(ps), ps->running,
                       ps->cfg.max_running, ps->qlen, ps->cfg.queue_max, st->started,
                       st->exits_failed, st->killed, st->queue_timeouts, st->rejected);
    if (!err)
        err = cg_home_status_json(&ps->home, out);
    if (!err)
        err = cg_buf_append_char(out, '}');
    return err;
}
