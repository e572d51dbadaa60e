/* run.c: one HTTP exchange driven by n backend turns. */
#include "api/run.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "api/quota.h"
#include "backend/job.h"
#include "core/limits.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/log.h"
#define LOG_COMPONENT "api"

struct cg_run {
    uv_timer_t deadline;
    uv_timer_t keepalive;
    int handles_open;
    struct cg_api *api;
    struct cg_exchange *ex;
    struct cg_request req;
    const struct cg_encoder_ops *enc_ops;
    void *enc;
    bool ended[CG_CHOICES_MAX]; /* the choice finished (its job may still be held) */
    unsigned created;
    unsigned open; /* choices that have not ended */
    struct cg_usage usage;
    uint64_t first_output_us; /* 0 until the first model output */
    int worker;               /* of the first choice's job, -1 until one started */
    bool stream;
    bool started; /* response bytes sent */
    bool finished;
    bool sealing;      /* the final bytes wait for the endpoint's seal */
    bool seal_pending; /* the endpoint still holds the run: not freed before cg_run_sealed */
    cg_run_seal_cb seal;
    void *seal_data;
    void (*seal_dispose)(void *data);
    struct cg_buf out;
    /* One per choice, sized at start: most requests have one, and the run is zeroed. */
    struct cg_job jobs[];
};

static void run_free(struct cg_run *r)
{
    if (r->seal_data && r->seal_dispose)
        r->seal_dispose(r->seal_data); /* never sealed */
    r->enc_ops->free(r->enc);
    cg_request_dispose(&r->req);
    cg_buf_dispose(&r->out);
    free(r);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct cg_run *r = h->data;
    if (--r->handles_open == 0 && !r->seal_pending)
        run_free(r);
}

/* No more events from choice `i`; interrupted if still running. */
static void drop_job(struct cg_run *r, unsigned i)
{
    cg_job_drop(&r->jobs[i]);
}

static void report(struct cg_run *r, enum cg_err code)
{
    struct cg_exchange *ex = r->ex;
    struct cg_run_outcome o = {
        .ex = ex,
        .request_id = ex->request_id,
        .route = ex->route,
        .model = r->req.model_id,
        .key_label = ex->key_label,
        .key_id = ex->key_id,
        .usage = r->usage,
        .status = ex->status,
        .error = code,
        .latency_ms = (cg_clock_mono_us() - ex->start_us) / 1000,
        .ttfb_ms = r->first_output_us ? (int64_t)((r->first_output_us - ex->start_us) / 1000) : -1,
        .worker = r->worker,
        .stream = r->stream,
    };
    for (size_t i = 0; i < r->api->consumer_count; i++)
        r->api->consumers[i].cb(&o, r->api->consumers[i].data);
}

/* Ends the run with `code` (CG_OK: answered in full): no more events, turns released (and
 * interrupted if still running), the outcome reported, timers closed; the run itself is freed
 * once they are. Safe to call more than once: only the first call counts. */
static void finish(struct cg_run *r, enum cg_err code)
{
    if (r->finished)
        return;
    r->finished = true;
    if (r->stream)
        r->api->streams_active--;
    for (unsigned i = 0; i < r->created; i++)
        drop_job(r, i);
    report(r, code);
    r->ex->on_abort = NULL;
    r->ex->handler_data = NULL;
    cg_exchange_release(r->ex);
    uv_close((uv_handle_t *)&r->deadline, on_handle_closed);
    uv_close((uv_handle_t *)&r->keepalive, on_handle_closed);
}

static void fail(struct cg_run *r, const struct cg_error *err)
{
    if (r->finished)
        return;
    if (cg_exchange_is_gone(r->ex)) {
        /* nobody to tell */
    } else if (r->started) {
        cg_buf_reset(&r->out);
        if (r->enc_ops->stream_error(r->enc, err, &r->out) == 0)
            cg_exchange_stream_write(r->ex, r->out.data, r->out.len);
        cg_exchange_stream_end(r->ex);
    } else {
        cg_quota_add_headers(r->api, r->ex);
        cg_exchange_fail(r->ex, err);
    }
    finish(r, err->code);
}

static void begin_stream(struct cg_run *r)
{
    if (r->started)
        return;
    r->started = true;
    cg_quota_add_headers(r->api, r->ex);
    cg_exchange_add_header(r->ex, "Cache-Control", "no-cache");
    cg_exchange_add_header(r->ex, "X-Accel-Buffering", "no");
    cg_exchange_stream_begin(r->ex, "text/event-stream");
    cg_buf_reset(&r->out);
    if (r->enc_ops->stream_begin(r->enc, &r->out) == 0)
        cg_exchange_stream_write(r->ex, r->out.data, r->out.len);
}

/* Writes what the encoder produced, unless the client has let more than the per-stream bound
 * pile up unread: then it is cut off (its turns interrupted) rather than buffered without end.
 * The bound is checked before a write, so one large chunk still goes out whole. */
static void flush(struct cg_run *r)
{
    if (r->out.len == 0)
        return;
    size_t queued = cg_exchange_queued(r->ex);
    if (queued > (size_t)r->api->cfg->stream_queue_max_bytes) {
        cg_log_warn("request %s: %zu bytes unsent to a client that stopped reading: closing it",
                    r->ex->request_id, queued);
        struct cg_exchange *ex = r->ex;
        cg_exchange_hold(ex);
        finish(r, CG_ERR_CLIENT_CLOSED);
        cg_exchange_close(ex);
        cg_exchange_release(ex);
        return;
    }
    cg_exchange_stream_write(r->ex, r->out.data, r->out.len);
    cg_buf_reset(&r->out);
}

/* The final bytes go out: the stream's last events or the JSON body. */
static void deliver(struct cg_run *r)
{
    if (r->stream)
        begin_stream(r);
    cg_buf_reset(&r->out);
    int rc =
        r->stream ? r->enc_ops->stream_end(r->enc, &r->out) : r->enc_ops->body(r->enc, &r->out);
    if (rc != 0) {
        struct cg_error err;
        cg_error_set(&err, CG_ERR_INTERNAL, NULL, "The response grew too large to encode.");
        fail(r, &err);
        return;
    }
    if (r->stream) {
        cg_exchange_stream_write(r->ex, r->out.data, r->out.len);
        cg_exchange_stream_end(r->ex);
    } else {
        cg_quota_add_headers(r->api, r->ex);
        cg_exchange_send_json(r->ex, r->out.data, r->out.len);
    }
    finish(r, CG_OK);
}

/* Every choice ended well. With a seal, a stream first gets the events that close its open
 * parts, so that whatever the seal answers, the client's event numbering has no gap. */
static void complete(struct cg_run *r)
{
    if (r->seal == NULL) {
        deliver(r);
        return;
    }
    if (r->stream && r->enc_ops->stream_settle) {
        begin_stream(r);
        cg_buf_reset(&r->out);
        if (r->enc_ops->stream_settle(r->enc, &r->out) != 0) {
            struct cg_error err;
            cg_error_set(&err, CG_ERR_INTERNAL, NULL, "The response grew too large to encode.");
            fail(r, &err);
            return;
        }
        flush(r);
        if (r->finished)
            return; /* a client that stopped reading was cut off */
    }
    r->sealing = true;
    r->seal_pending = true;
    void *data = r->seal_data;
    r->seal_data = NULL; /* the endpoint's again */
    r->seal(r, r->enc, data);
}

/* Choice `i` is over: the run completes with its last choice. */
static void end_choice(struct cg_run *r, unsigned i)
{
    if (r->ended[i])
        return;
    r->ended[i] = true;
    if (--r->open == 0)
        complete(r);
}

static void on_job_event(struct cg_job *j, const struct cg_event *ev, void *data)
{
    struct cg_run *r = data;
    if (r->finished || r->sealing)
        return;
    if (ev->type == CG_EVENT_ERROR) {
        fail(r, ev->error);
        return;
    }
    if (ev->type == CG_EVENT_STARTED) {
        /* A process of its own starts before the first word, and exec sends each message
         * whole: the stream opens now, so the client sees it live from the start. */
        if (r->stream)
            begin_stream(r);
        return;
    }
    if (ev->type == CG_EVENT_USAGE)
        cg_usage_add(&r->usage, &ev->usage);
    if (r->first_output_us == 0 && (ev->type == CG_EVENT_TEXT || ev->type == CG_EVENT_REASONING ||
                                    ev->type == CG_EVENT_TOOL_CALL_START))
        r->first_output_us = cg_clock_mono_us();
    if (r->worker < 0)
        r->worker = cg_job_worker(j);
    if (r->stream && ev->type != CG_EVENT_USAGE)
        begin_stream(r);
    cg_buf_reset(&r->out);
    if (r->enc_ops->event(r->enc, ev, &r->out) != 0) {
        struct cg_error err;
        cg_error_set(&err, CG_ERR_INTERNAL, NULL, "The response grew too large to encode.");
        fail(r, &err);
        return;
    }
    if (r->stream)
        flush(r);
    if (r->finished || ev->choice >= r->created)
        return;
    if (ev->type == CG_EVENT_FINISH) {
        end_choice(r, ev->choice);
    } else if (ev->type == CG_EVENT_TEXT && r->enc_ops->stopped(r->enc, ev->choice) &&
               !cg_job_ends_with_its_text(j)) {
        /* The client has all it will get from this choice: stop paying for the rest. The
         * turn ends before its FINISH, which would have carried its usage: hand that over
         * now (model responses that completed before the match). */
        unsigned choice = ev->choice;
        struct cg_event usage = {
            .type = CG_EVENT_USAGE, .choice = choice, .usage = cg_job_usage(j)};
        on_job_event(j, &usage, r);
        if (r->finished)
            return;
        drop_job(r, choice);
        end_choice(r, choice);
    }
}

static void on_deadline(uv_timer_t *t)
{
    struct cg_run *r = t->data;
    struct cg_error err;
    cg_error_set(&err, CG_ERR_TIMEOUT, NULL,
                 "The request did not finish within %lld ms (PROXY_TIMEOUT_MS).",
                 (long long)r->api->cfg->timeout_ms);
    cg_log_warn("request %s: timed out after %lld ms", r->ex->request_id,
                (long long)r->api->cfg->timeout_ms);
    fail(r, &err);
}

static void on_keepalive(uv_timer_t *t)
{
    struct cg_run *r = t->data;
    if (r->finished || r->sealing)
        return;
    /* Headers go out with the first keepalive: proxies in between see a live response. */
    begin_stream(r);
    static const char ping[] = ": keepalive\n\n";
    cg_buf_reset(&r->out);
    if (cg_buf_append(&r->out, ping, sizeof(ping) - 1) == 0)
        flush(r);
}

static void on_abort(struct cg_exchange *ex, enum cg_err reason)
{
    struct cg_run *r = ex->handler_data;
    if (r == NULL || r->finished)
        return;
    if (reason == CG_ERR_CLIENT_CLOSED) {
        cg_log_info("request %s: client went away: interrupting its turns", ex->request_id);
        finish(r, CG_ERR_CLIENT_CLOSED);
        return;
    }
    struct cg_error err;
    cg_error_init(&err, reason);
    fail(r, &err);
}

enum cg_run_end cg_run_outcome_end(const struct cg_run_outcome *o)
{
    switch (o->error) {
    case CG_OK:
        return CG_RUN_COMPLETED;
    case CG_ERR_CLIENT_CLOSED:
        return CG_RUN_CLIENT_CLOSED;
    case CG_ERR_TIMEOUT:
        return CG_RUN_TIMEOUT;
    default:
        return CG_RUN_ERROR;
    }
}

const char *cg_run_end_name(enum cg_run_end end)
{
    static const char *const names[CG_RUN_ENDS] = {
        [CG_RUN_COMPLETED] = "completed",
        [CG_RUN_CLIENT_CLOSED] = "client_closed",
        [CG_RUN_TIMEOUT] = "timeout",
        [CG_RUN_ERROR] = "error",
    };
    return names[end < CG_RUN_ENDS ? end : CG_RUN_ERROR];
}

const char *cg_run_outcome_name(const struct cg_run_outcome *o)
{
    return cg_run_end_name(cg_run_outcome_end(o));
}

bool cg_run_subscribe(struct cg_api *api, cg_run_outcome_cb cb, void *data)
{
    if (api->consumer_count >= CG_API_CONSUMERS_MAX)
        return false;
    api->consumers[api->consumer_count].cb = cb;
    api->consumers[api->consumer_count].data = data;
    api->consumer_count++;
    return true;
}

void cg_run_sealed(struct cg_run *r, const struct cg_error *err)
{
    assert(r->seal_pending);
    r->seal_pending = false;
    if (r->finished) {
        /* The client left or the deadline passed while the endpoint worked. */
        if (r->handles_open == 0)
            run_free(r);
        return;
    }
    r->sealing = false;
    if (err)
        fail(r, err);
    else
        deliver(r);
}

void cg_run_start(struct cg_run_spec *spec)
{
    unsigned n = spec->req.n < CG_CHOICES_MAX ? spec->req.n : CG_CHOICES_MAX;
    struct cg_run *r = cg_xcalloc(1, sizeof(*r) + n * sizeof(r->jobs[0]));
    r->api = spec->api;
    r->ex = spec->ex;
    r->req = spec->req;
    r->enc_ops = spec->enc_ops;
    r->enc = spec->enc;
    r->stream = r->req.stream;
    if (r->stream)
        r->api->streams_active++;
    r->worker = -1;
    r->seal = spec->seal;
    r->seal_data = spec->seal_data;
    r->seal_dispose = spec->seal_dispose;
    cg_buf_init(&r->out, CG_RESPONSE_OUT_MAX_BYTES);
    cg_exchange_hold(r->ex);
    r->ex->log_access = false; /* the run's outcome writes the line, with its usage */
    r->ex->handler_data = r;
    r->ex->on_abort = on_abort;
    uv_loop_t *loop = r->api->loop;
    uv_timer_init(loop, &r->deadline);
    uv_timer_init(loop, &r->keepalive);
    r->deadline.data = r;
    r->keepalive.data = r;
    r->handles_open = 2;
    uv_timer_start(&r->deadline, on_deadline, (uint64_t)r->api->cfg->timeout_ms, 0);
    uint64_t ka = (uint64_t)r->api->cfg->sse_keepalive_ms;
    if (r->stream && spec->keepalive && ka > 0)
        uv_timer_start(&r->keepalive, on_keepalive, ka, ka);

    r->open = n;
    for (unsigned i = 0; i < n && !r->finished; i++) {
        /* First: the job may deliver events, even its end, from inside its submit. */
        r->created = i + 1;
        struct cg_error err;
        if (cg_job_submit(&r->jobs[i], &r->api->backend, &r->req, i, r->ex->request_id,
                          on_job_event, r, &err) != CG_OK) {
            fail(r, &err);
            return;
        }
    }
}
