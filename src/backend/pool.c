/* pool.c: gives each turn to the ready worker with the fewest active turns and queues the rest
 * in a bounded FIFO with a deadline. */
#include "backend/pool.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/alloc.h"
#include "util/clock.h"
#include "util/log.h"
#define LOG_COMPONENT "pool"

enum { SWEEP_MS = 200, QUEUE_RETRY_AFTER_S = 1 };

static struct cg_pool *pool_of(struct cg_worker *w)
{
    return w->hooks_data;
}

struct cg_worker *cg_pool_choose(struct cg_worker *workers, size_t count, size_t max_concurrency)
{
    struct cg_worker *best = NULL;
    for (size_t i = 0; i < count; i++) {
        struct cg_worker *w = &workers[i];
        if (!cg_worker_is_ready(w) || w->active >= max_concurrency)
            continue;
        if (best == NULL || w->active < best->active)
            best = w;
    }
    return best;
}

static struct cg_worker *pick(struct cg_pool *p)
{
    return cg_pool_choose(p->workers, p->count, p->cfg.max_concurrency);
}

static void begin_on(struct cg_pool *p, struct cg_worker *w, struct cg_turn *t)
{
    w->active++;
    p->stats.turns_started++;
    cg_turn_begin(t, &p->sessions[w->id]);
}

static void unlink_turn(struct cg_pool *p, struct cg_turn *t)
{
    if (t->qprev)
        t->qprev->qnext = t->qnext;
    else
        p->qhead = t->qnext;
    if (t->qnext)
        t->qnext->qprev = t->qprev;
    else
        p->qtail = t->qprev;
    t->qprev = t->qnext = NULL;
    p->qlen--;
}

/* Starting a turn can end another one at once (and that one's end calls us again): the nested
 * call returns and this loop goes on, so the stack stays flat however long the queue is. Each
 * pass takes one turn off the queue, which bounds the loop. */
static void drain_queue(struct cg_pool *p)
{
    if (p->draining)
        return;
    p->draining = true;
    while (p->qhead && !p->stopping) {
        struct cg_worker *w = pick(p);
        if (w == NULL)
            break;
        struct cg_turn *t = p->qhead;
        unlink_turn(p, t);
        cg_histogram_observe_us(&p->stats.queue_wait, cg_clock_mono_us() - t->queued_us);
        begin_on(p, w, t);
    }
    p->draining = false;
}

static void fail_queued(struct cg_pool *p, const struct cg_error *err)
{
    while (p->qhead) {
        struct cg_turn *t = p->qhead;
        unlink_turn(p, t);
        cg_turn_fail(t, err);
    }
}

/* Fills `err` with why no worker can take a turn now. */
static void unavailable(const struct cg_pool *p, struct cg_error *err)
{
    for (size_t i = 0; i < p->count; i++) {
        const struct cg_worker *w = &p->workers[i];
        if (w->state == CG_WORKER_LOGIN_REQUIRED) {
            cg_error_set(err, CG_ERR_LOGIN_REQUIRED, NULL, "Codex is not logged in. %s",
                         w->cfg->login_hint ? w->cfg->login_hint : "");
            return;
        }
    }
    const struct cg_worker *w = &p->workers[0];
    switch (w->state) {
    case CG_WORKER_STARTING:
    case CG_WORKER_STOPPED:
        cg_error_set(err, CG_ERR_BACKEND_UNAVAILABLE, NULL,
                     "No Codex worker is ready yet: worker %u is starting", w->id);
        break;
    case CG_WORKER_BACKOFF:
        cg_error_set(err, CG_ERR_BACKEND_UNAVAILABLE, NULL,
                     "No Codex worker is ready: worker %u %s; restarting in %" PRIu64 " ms", w->id,
                     w->last_error[0] ? w->last_error : "failed", cg_worker_retry_in_ms(w));
        break;
    case CG_WORKER_UNHEALTHY:
    case CG_WORKER_READY: /* ready in name, but its child is dying */
        cg_error_set(err, CG_ERR_BACKEND_UNAVAILABLE, NULL,
                     "No Codex worker is ready: worker %u %s", w->id,
                     w->last_error[0] ? w->last_error : "is not answering");
        break;
    case CG_WORKER_FAILED:
        cg_error_set(err, CG_ERR_BACKEND_UNAVAILABLE, NULL,
                     "No Codex worker is running: worker %u gave up after %u failures (%s)", w->id,
                     w->consecutive_failures, w->last_error);
        break;
    default:
        cg_error_set(err, CG_ERR_BACKEND_UNAVAILABLE, NULL, "No Codex worker is ready");
        break;
    }
    err->retry_after_s = w->state == CG_WORKER_FAILED ? 0 : QUEUE_RETRY_AFTER_S;
}

/* --- worker hooks ------------------------------------------------------------------------ */

static void on_state_changed(struct cg_worker *w, void *data)
{
    struct cg_pool *p = pool_of(w);
    if (cg_worker_is_ready(w)) {
        drain_queue(p);
        return;
    }
    /* Nothing will ever take the queued turns: tell them now rather than at their deadline. */
    bool hope = false;
    for (size_t i = 0; i < p->count; i++) {
        enum cg_worker_state s = p->workers[i].state;
        hope = hope || s == CG_WORKER_READY || s == CG_WORKER_STARTING || s == CG_WORKER_BACKOFF ||
               s == CG_WORKER_UNHEALTHY;
    }
    if (!hope && p->qhead) {
        struct cg_error err;
        unavailable(p, &err);
        fail_queued(p, &err);
    }
}

static void on_notification(struct cg_worker *w, const char *method, json_t *params, void *data)
{
    cg_sessions_notification(&pool_of(w)->sessions[w->id], method, params);
}

static void on_request(struct cg_worker *w, json_t *id, const char *method, json_t *params,
                       void *data)
{
    cg_sessions_request(&pool_of(w)->sessions[w->id], id, method, params);
}

static void on_lost(struct cg_worker *w, const char *reason, void *data)
{
    cg_sessions_lost(&pool_of(w)->sessions[w->id], reason);
}

static void on_oversized(struct cg_worker *w, const char *head, size_t head_len, const char *tail,
                         size_t tail_len, void *data)
{
    cg_sessions_oversized(&pool_of(w)->sessions[w->id], head, head_len, tail, tail_len);
}

static bool on_wanted(struct cg_worker *w, struct cg_str method, struct cg_str line, void *data)
{
    return cg_sessions_offer(&pool_of(w)->sessions[w->id], method, line);
}

static bool on_take(struct cg_worker *w, struct cg_str method, struct cg_str line, void *data)
{
    return cg_sessions_take(&pool_of(w)->sessions[w->id], method, line);
}

static void on_late(struct cg_worker *w, const char *method, const char *thread_id, json_t *result,
                    void *data)
{
    cg_sessions_late(&pool_of(w)->sessions[w->id], method, thread_id, result);
}

static const struct cg_worker_hooks hooks = {on_state_changed, on_notification, on_request,
                                             on_lost,          on_oversized,    on_wanted,
                                             on_late,          on_take};

static void on_turn_done(struct cg_sessions *s, struct cg_turn *t, void *data)
{
    struct cg_pool *p = data;
    if (s->worker->active > 0)
        s->worker->active--;
    drain_queue(p);
}

static void on_sweep(uv_timer_t *timer)
{
    struct cg_pool *p = timer->data;
    uint64_t now = cg_clock_mono_ms();
    while (p->qhead && p->qhead->queue_deadline_ms <= now) {
        struct cg_turn *t = p->qhead;
        unlink_turn(p, t);
        p->stats.queue_timeouts++;
        struct cg_error err;
        cg_error_set(&err, CG_ERR_QUEUE_FULL, NULL,
                     "Waited %" PRIu64 " ms for a free Codex worker (PROXY_QUEUE_TIMEOUT_MS)",
                     p->cfg.queue_timeout_ms);
        err.retry_after_s = QUEUE_RETRY_AFTER_S;
        cg_turn_fail(t, &err);
    }
    for (size_t i = 0; i < p->count; i++)
        cg_sessions_sweep(&p->sessions[i], now);
}

/* --- public ------------------------------------------------------------------------------ */

void cg_pool_init(struct cg_pool *p, uv_loop_t *loop, const struct cg_pool_config *cfg)
{
    memset(p, 0, sizeof(*p));
    p->loop = loop;
    p->cfg = *cfg;
    p->count = cfg->workers;
    p->workers = cg_xcalloc(p->count, sizeof(*p->workers));
    p->sessions = cg_xcalloc(p->count, sizeof(*p->sessions));
    for (size_t i = 0; i < p->count; i++) {
        cg_worker_init(&p->workers[i], (unsigned)i, loop, cfg->worker, &hooks, p);
        cg_sessions_init(&p->sessions[i], &p->workers[i], cfg->worker->request_timeout_ms);
        p->sessions[i].limits = &p->limits;
        p->sessions[i].turn_done = on_turn_done;
        p->sessions[i].data = p;
    }
    uv_timer_init(loop, &p->sweep_timer);
    p->sweep_timer.data = p;
}

void cg_pool_start(struct cg_pool *p)
{
    for (size_t i = 0; i < p->count; i++)
        cg_worker_start(&p->workers[i]);
    uv_timer_start(&p->sweep_timer, on_sweep, SWEEP_MS, SWEEP_MS);
    cg_home_start(&p->home, p->loop, p->cfg.codex_home, p->cfg.codex_log_max_bytes,
                  p->cfg.codex_home_check_ms);
}

enum cg_err cg_pool_submit(struct cg_pool *p, struct cg_turn *t, struct cg_error *err)
{
    if (p->stopping) {
        cg_error_init(err, CG_ERR_SHUTTING_DOWN);
        return err->code;
    }
    struct cg_worker *w = pick(p);
    if (w) {
        begin_on(p, w, t);
        return CG_OK;
    }
    if (!cg_pool_ready(p)) {
        p->stats.turns_rejected++;
        unavailable(p, err);
        return err->code;
    }
    if (p->qlen >= p->cfg.queue_max) {
        p->stats.turns_rejected++;
        cg_error_set(err, CG_ERR_QUEUE_FULL, NULL,
                     "All Codex workers are busy and %zu requests are already waiting", p->qlen);
        err->retry_after_s = QUEUE_RETRY_AFTER_S;
        return err->code;
    }
    t->state = CG_TURN_QUEUED;
    t->queue_deadline_ms = cg_clock_mono_ms() + p->cfg.queue_timeout_ms;
    t->queued_us = cg_clock_mono_us();
    t->qnext = NULL;
    t->qprev = p->qtail;
    if (p->qtail)
        p->qtail->qnext = t;
    else
        p->qhead = t;
    p->qtail = t;
    p->qlen++;
    p->stats.turns_queued++;
    return CG_OK;
}

void cg_pool_cancel(struct cg_pool *p, struct cg_turn *t)
{
    if (t->state == CG_TURN_QUEUED) {
        unlink_turn(p, t);
        t->state = CG_TURN_DONE;
        return;
    }
    cg_turn_cancel(t);
}

bool cg_pool_ready(const struct cg_pool *p)
{
    for (size_t i = 0; i < p->count; i++) {
        if (cg_worker_is_ready(&p->workers[i]))
            return true;
    }
    return false;
}

size_t cg_pool_unhealthy(const struct cg_pool *p, unsigned *ids, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < p->count; i++) {
        if (p->workers[i].state != CG_WORKER_UNHEALTHY)
            continue;
        if (n < max)
            ids[n] = p->workers[i].id;
        n++;
    }
    return n;
}

bool cg_pool_live(const struct cg_pool *p)
{
    for (size_t i = 0; i < p->count; i++) {
        if (p->workers[i].state != CG_WORKER_FAILED)
            return true;
    }
    return false;
}

const char *cg_pool_reason(const struct cg_pool *p)
{
    if (p->count == 0)
        return "no_workers";
    if (cg_pool_ready(p))
        return "ready";
    bool starting = false;
    bool restarting = false;
    bool unhealthy = false;
    for (size_t i = 0; i < p->count; i++) {
        switch (p->workers[i].state) {
        case CG_WORKER_LOGIN_REQUIRED:
            return "codex_login_required";
        case CG_WORKER_STARTING:
        case CG_WORKER_STOPPED:
            starting = true;
            break;
        case CG_WORKER_BACKOFF:
        case CG_WORKER_READY: /* dying: its exit is being handled */
            restarting = true;
            break;
        case CG_WORKER_UNHEALTHY:
            unhealthy = true;
            break;
        default:
            break;
        }
    }
    if (p->stopping)
        return "shutting_down";
    return unhealthy ? "unhealthy" : starting ? "starting" : restarting ? "restarting" : "failed";
}

int cg_pool_status_json(const struct cg_pool *p, struct cg_buf *out)
{
    int err = cg_buf_appendf(out, "{\"ready\":%s,\"reason\":\"%s\",\"workers\":[",
                             cg_pool_ready(p) ? "true" : "false", cg_pool_reason(p));
    for (size_t i = 0; i < p->count && !err; i++) {
        if (i)
            err = cg_buf_append_char(out, ',');
        if (!err)
            err = cg_worker_status_json(&p->workers[i], out);
    }
    if (!err)
        err = cg_buf_append_str(out, "],\"codex_home\":");
    if (!err)
        err = cg_home_status_json(&p->home, out);
    if (!err)
        err = cg_buf_appendf(
            out,
            ",\"queue\":{\"waiting\":%zu,\"max\":%zu},\"turns\":{\"started\":%" PRIu64
            ",\"queued\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"queue_timeouts\":%" PRIu64 "}}",
            p->qlen, p->cfg.queue_max, p->stats.turns_started, p->stats.turns_queued,
            p->stats.turns_rejected, p->stats.queue_timeouts);
    return err;
}

static void on_home_closed(struct cg_home *h)
{
    struct cg_pool *p = CG_CONTAINER_OF(h, struct cg_pool, home);
    for (size_t i = 0; i < p->count; i++)
        cg_sessions_dispose(&p->sessions[i]);
    free(p->sessions);
    free(p->workers);
    p->sessions = NULL;
    p->workers = NULL;
    if (p->on_stopped)
        p->on_stopped(p);
}

static void on_sweep_closed(uv_handle_t *h)
{
    struct cg_pool *p = h->data;
    cg_home_stop(&p->home, on_home_closed);
}

static void on_worker_stopped(struct cg_worker *w)
{
    struct cg_pool *p = pool_of(w);
    if (--p->running > 0)
        return;
    uv_close((uv_handle_t *)&p->sweep_timer, on_sweep_closed);
}

void cg_pool_stop(struct cg_pool *p, void (*on_stopped)(struct cg_pool *p))
{
    if (p->stopping)
        return;
    p->stopping = true;
    p->on_stopped = on_stopped;
    struct cg_error err;
    cg_error_init(&err, CG_ERR_SHUTTING_DOWN);
    fail_queued(p, &err);
    uv_timer_stop(&p->sweep_timer);
    p->running = p->count;
    if (p->count == 0) {
        uv_close((uv_handle_t *)&p->sweep_timer, on_sweep_closed);
        return;
    }
    for (size_t i = 0; i < p->count; i++)
        cg_worker_stop(&p->workers[i], on_worker_stopped);
}
