/* worker.c: spawn, handshake, stderr capture, exit handling and backoff for one app-server. */
#include "backend/worker.h"
#include <assert.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "util/alloc.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"
#define LOG_COMPONENT "worker"

enum {
    RPC_TICK_MS = 100,
    LOGIN_RECHECK_MS = 15000,
    STDERR_LINE_MAX_BYTES = 4096,
    STDERR_LOG_BYTES = 512,
    STDOUT_EOF_GRACE_MS = 1000,
};

struct write_req {
    uv_write_t req;
    char *data;
};

static void on_state_timer(uv_timer_t *t);
static void spawn_child(struct cg_worker *w);
static void start_ping(struct cg_worker *w, uint64_t timeout_ms);

const char *cg_worker_state_name(enum cg_worker_state s)
{
    switch (s) {
    case CG_WORKER_STOPPED:
        return "stopped";
    case CG_WORKER_STARTING:
        return "starting";
    case CG_WORKER_READY:
        return "ready";
    case CG_WORKER_UNHEALTHY:
        return "unhealthy";
    case CG_WORKER_LOGIN_REQUIRED:
        return "login_required";
    case CG_WORKER_BACKOFF:
        return "backoff";
    case CG_WORKER_FAILED:
        return "failed";
    case CG_WORKER_STOPPING:
        return "stopping";
    }
    return "unknown";
}

uint64_t cg_worker_backoff_ms(const struct cg_worker_config *cfg, unsigned failures)
{
    uint64_t d = cfg->backoff_initial_ms;
    for (unsigned i = 1; i < failures && d < cfg->backoff_max_ms; i++)
        d *= 2;
    return d < cfg->backoff_max_ms ? d : cfg->backoff_max_ms;
}

static bool child_alive(const struct cg_worker *w)
{
    return w->pid > 0 && !w->exited;
}

static void set_state(struct cg_worker *w, enum cg_worker_state s)
{
    if (w->state == s)
        return;
    enum cg_worker_state old = w->state;
    w->state = s;
    w->state_since_ms = cg_clock_wall_ms();
    char fields[256];
    snprintf(fields, sizeof(fields), "\"worker\":%u,\"from\":\"%s\",\"to\":\"%s\",\"pid\":%d",
             w->id, cg_worker_state_name(old), cg_worker_state_name(s), w->pid);
    cg_log_event(s == CG_WORKER_FAILED      ? CG_LOG_ERROR
                 : s == CG_WORKER_UNHEALTHY ? CG_LOG_WARN
                                            : CG_LOG_INFO,
                 LOG_COMPONENT, "worker_state", fields);
    if (w->hooks->state_changed)
        w->hooks->state_changed(w, w->hooks_data);
}

static void set_error(struct cg_worker *w, const char *fmt, ...) CG_PRINTF(2, 3);

static void set_error(struct cg_worker *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->last_error, sizeof(w->last_error), fmt, ap);
    va_end(ap);
    w->last_error_at_ms = cg_clock_wall_ms();
}

static void kill_child(struct cg_worker *w, int sig)
{
    if (!child_alive(w))
        return;
    /* The child leads its own process group (a node launcher and its native binary). */
    if (uv_kill(-w->pid, sig) != 0)
        uv_kill(w->pid, sig);
}

/* Something is wrong with this child: record why and kill it; the exit path fails its turns
 * and restarts it. The first reason given for a child is the one kept. */
static void fail_child(struct cg_worker *w, const char *why)
{
    if (!child_alive(w))
        return;
    if (w->kill_reason[0] == '\0')
        snprintf(w->kill_reason, sizeof(w->kill_reason), "%s", why);
    cg_log_error("%s: %s: killing it", w->name, why);
    kill_child(w, SIGKILL);
}

/* --- RPC plumbing ------------------------------------------------------------------------ */

/* A loop iteration's calls to a worker leave in one write, up to this much; a longer call (a
 * long conversation's history) goes straight out after what was gathered. */
#define STDIN_GATHER_MAX_BYTES (64 * 1024)

static void on_stdin_written(uv_write_t *req, int status)
{
    struct write_req *wr = CG_CONTAINER_OF(req, struct write_req, req);
    struct cg_worker *w = req->data;
    free(wr->data);
    free(wr);
    if (status < 0 && status != UV_ECANCELED && child_alive(w)) {
        char why[CG_WORKER_ERROR_BYTES];
        snprintf(why, sizeof(why), "writing to its stdin failed: %s", uv_strerror(status));
        fail_child(w, why);
    }
}

/* Writes `line` (owned) to the child's stdin now: what the pipe takes at once, the rest through
 * uv_write. */
static void write_stdin_now(struct cg_worker *w, char *line, size_t len)
{
    uv_buf_t buf = uv_buf_init(line, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&w->stdin_pipe, &buf, 1);
    if (n == (int)len) {
        free(line);
        return;
    }
    size_t off = n > 0 ? (size_t)n : 0;
    if (n < 0 && n != UV_EAGAIN) {
        free(line);
        char why[CG_WORKER_ERROR_BYTES];
        snprintf(why, sizeof(why), "writing to its stdin failed: %s", uv_strerror(n));
        fail_child(w, why);
        return;
    }
    struct write_req *wr = cg_xmalloc(sizeof(*wr));
    wr->data = line;
    wr->req.data = w;
    buf = uv_buf_init(line + off, (unsigned)(len - off));
    int err = uv_write(&wr->req, (uv_stream_t *)&w->stdin_pipe, &buf, 1, on_stdin_written);
    if (err != 0) {
        free(line);
        free(wr);
        char why[CG_WORKER_ERROR_BYTES];
        snprintf(why, sizeof(why), "writing to its stdin failed: %s", uv_strerror(err));
        fail_child(w, why);
    }
}

/* Sends the calls gathered in this loop iteration, in the order they were made. */
static void flush_stdin(struct cg_worker *w)
{
    if (cg_gather_is_empty(&w->stdin_out))
        return;
    if (!child_alive(w) || uv_is_closing((uv_handle_t *)&w->stdin_pipe)) {
        cg_gather_drop(&w->stdin_out);
        return;
    }
    size_t len = 0;
    char *data = cg_gather_take(&w->stdin_out, &len);
    write_stdin_now(w, data, len);
}

static void stop_flush_handles(struct cg_worker *w)
{
    uv_prepare_stop(&w->out_prepare);
    uv_check_stop(&w->out_check);
}

static void on_out_prepare(uv_prepare_t *h)
{
    struct cg_worker *w = h->data;
    stop_flush_handles(w);
    flush_stdin(w);
}

static void on_out_check(uv_check_t *h)
{
    struct cg_worker *w = h->data;
    stop_flush_handles(w);
    flush_stdin(w);
}

static void rpc_send(void *owner, char *line, size_t len)
{
    struct cg_worker *w = owner;
    if (!child_alive(w) || uv_is_closing((uv_handle_t *)&w->stdin_pipe)) {
        free(line);
        return;
    }
    size_t max = w->cfg->stdin_queue_max_bytes ? w->cfg->stdin_queue_max_bytes
                                               : CG_WORKER_STDIN_QUEUE_MAX_BYTES;
    size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&w->stdin_pipe) +
                    cg_gather_len(&w->stdin_out);
    if (queued > max) {
        free(line);
        char why[CG_WORKER_ERROR_BYTES];
        snprintf(why, sizeof(why), "not reading its stdin (more than %zu bytes queued)", max);
        fail_child(w, why);
        return;
    }
    if (len > STDIN_GATHER_MAX_BYTES - cg_gather_len(&w->stdin_out)) {
        flush_stdin(w);
        if (w->kill_reason[0] != '\0') {
            free(line); /* the flush failed and the child is being killed */
            return;
        }
        if (len > STDIN_GATHER_MAX_BYTES) {
            write_stdin_now(w, line, len);
            return;
        }
    }
    if (!cg_gather_add(&w->stdin_out, line, len)) {
        fail_child(w, "a call could not be queued"); /* cannot happen: the cap is above */
        return;
    }
    uv_prepare_start(&w->out_prepare, on_out_prepare);
    uv_check_start(&w->out_check, on_out_check);
}

static void rpc_notification(void *owner, const char *method, json_t *params)
{
    struct cg_worker *w = owner;
    if (w->hooks->notification)
        w->hooks->notification(w, method, params, w->hooks_data);
}

static void rpc_request(void *owner, json_t *id, const char *method, json_t *params)
{
    struct cg_worker *w = owner;
    if (w->hooks->request)
        w->hooks->request(w, id, method, params, w->hooks_data);
    else
        cg_rpc_respond_error(&w->rpc, id, -32601, "not supported");
}

static void rpc_oversized(void *owner, const char *head, size_t head_len, const char *tail,
                          size_t tail_len)
{
    struct cg_worker *w = owner;
    if (w->hooks->oversized)
        w->hooks->oversized(w, head, head_len, tail, tail_len, w->hooks_data);
}

static bool rpc_wanted(void *owner, struct cg_str method, struct cg_str line)
{
    struct cg_worker *w = owner;
    return w->hooks->wanted == NULL || w->hooks->wanted(w, method, line, w->hooks_data);
}

static void rpc_late(void *owner, const char *method, const char *thread_id, json_t *result)
{
    struct cg_worker *w = owner;
    if (w->hooks->late)
        w->hooks->late(w, method, thread_id, result, w->hooks_data);
}

static bool rpc_take(void *owner, struct cg_str method, struct cg_str line)
{
    struct cg_worker *w = owner;
    return w->hooks->take && w->hooks->take(w, method, line, w->hooks_data);
}

static const struct cg_rpc_ops rpc_ops = {rpc_send,   rpc_notification, rpc_request, rpc_oversized,
                                          rpc_wanted, rpc_late,         rpc_take};

static void on_rpc_tick(uv_timer_t *t)
{
    struct cg_worker *w = t->data;
    if (w->rpc_live)
        cg_rpc_expire(&w->rpc, cg_clock_mono_ms());
    if (!w->rpc_live || cg_rpc_pending(&w->rpc) == 0)
        uv_timer_stop(t);
}

/* Sends a call with params as a value (json) or as bytes (raw); 0 when the child is not there. */
static uint64_t call_within(struct cg_worker *w, const char *method, json_t *json,
                            const struct cg_rpc_raw *raw, uint64_t timeout_ms,
                            const char *const *want, cg_rpc_result_cb cb, void *data)
{
    if (!w->rpc_live || !child_alive(w)) {
        json_decref(json);
        return 0;
    }
    uint64_t now = cg_clock_mono_ms();
    uint64_t id = raw ? cg_rpc_call_raw(&w->rpc, method, raw, timeout_ms, now, want, cb, data)
                      : cg_rpc_call_want(&w->rpc, method, json, timeout_ms, now, want, cb, data);
    if (!uv_is_active((uv_handle_t *)&w->rpc_timer))
        uv_timer_start(&w->rpc_timer, on_rpc_tick, RPC_TICK_MS, RPC_TICK_MS);
    return id;
}

static uint64_t call_timeout_ms(const struct cg_worker *w)
{
    return w->state == CG_WORKER_STARTING ? w->cfg->handshake_timeout_ms
                                          : w->cfg->request_timeout_ms;
}

uint64_t cg_worker_call_want(struct cg_worker *w, const char *method, json_t *params,
                             const char *const *want, cg_rpc_result_cb cb, void *data)
{
    return call_within(w, method, params, NULL, call_timeout_ms(w), want, cb, data);
}

uint64_t cg_worker_call_raw(struct cg_worker *w, const char *method,
                            const struct cg_rpc_raw *params, const char *const *want,
                            cg_rpc_result_cb cb, void *data)
{
    return call_within(w, method, NULL, params, call_timeout_ms(w), want, cb, data);
}

uint64_t cg_worker_call(struct cg_worker *w, const char *method, json_t *params,
                        cg_rpc_result_cb cb, void *data)
{
    return cg_worker_call_want(w, method, params, NULL, cb, data);
}

void cg_worker_forget(struct cg_worker *w, uint64_t id)
{
    if (w->rpc_live && id)
        cg_rpc_forget(&w->rpc, id);
}

void cg_worker_notify(struct cg_worker *w, const char *method, json_t *params)
{
    if (!w->rpc_live || !child_alive(w)) {
        json_decref(params);
        return;
    }
    cg_rpc_notify(&w->rpc, method, params);
}

void cg_worker_respond(struct cg_worker *w, json_t *id, json_t *result)
{
    if (!w->rpc_live || !child_alive(w)) {
        json_decref(result);
        return;
    }
    cg_rpc_respond(&w->rpc, id, result);
}

void cg_worker_respond_error(struct cg_worker *w, json_t *id, int64_t code, const char *message)
{
    if (w->rpc_live && child_alive(w))
        cg_rpc_respond_error(&w->rpc, id, code, message);
}

/* --- handshake --------------------------------------------------------------------------- */

static void on_account(void *data, json_t *result, const struct cg_rpc_error *err);

static void check_login(struct cg_worker *w)
{
    cg_worker_call(w, "account/read", json_pack("{s:b}", "refreshToken", 0), on_account, w);
}

static void on_account(void *data, json_t *result, const struct cg_rpc_error *err)
{
    struct cg_worker *w = data;
    if (!child_alive(w) || w->state == CG_WORKER_STOPPING)
        return;
    bool needs_login = false;
    if (err == NULL) {
        json_t *account = json_object_get(result, "account");
        needs_login = json_is_true(json_object_get(result, "requiresOpenaiAuth")) &&
                      (account == NULL || json_is_null(account));
    } else if (err->code == CG_RPC_ETIMEOUT || err->code == CG_RPC_ECLOSED) {
        if (w->state == CG_WORKER_STARTING)
            fail_child(w, "handshake failed: account/read did not answer");
        return;
    }
    if (needs_login) {
        if (w->state != CG_WORKER_LOGIN_REQUIRED)
            cg_log_warn("%s: Codex is not logged in; requests will get 503 codex_login_required. "
                        "%s",
                        w->name, w->cfg->login_hint ? w->cfg->login_hint : "");
        w->ready_at_ms = 0;
        set_state(w, CG_WORKER_LOGIN_REQUIRED);
        uv_timer_start(&w->state_timer, on_state_timer, LOGIN_RECHECK_MS, 0);
        return;
    }
    if (w->state != CG_WORKER_READY) {
        w->ready_at_ms = cg_clock_wall_ms();
        w->ready_mono_ms = cg_clock_mono_ms();
        char fields[160];
        snprintf(fields, sizeof(fields), "\"worker\":%u,\"pid\":%d,\"startup_ms\":%" PRIu64, w->id,
                 w->pid, w->ready_mono_ms - w->started_mono_ms);
        cg_log_event(CG_LOG_INFO, LOG_COMPONENT, "worker_ready", fields);
        set_state(w, CG_WORKER_READY);
    }
}

/* --- liveness ---------------------------------------------------------------------------- */

static bool pinging(const struct cg_worker *w)
{
    return w->state == CG_WORKER_READY || w->state == CG_WORKER_UNHEALTHY;
}

static void on_ping(void *data, json_t *result, const struct cg_rpc_error *err)
{
    struct cg_worker *w = data;
    w->ping_call = 0;
    w->ping_streak_mono_ms = 0;
    if (!child_alive(w) || !pinging(w) || w->kill_reason[0])
        return;
    if (err && err->code == CG_RPC_ECLOSED)
        return;
    if (err == NULL || err->code != CG_RPC_ETIMEOUT) {
        /* Any answer, an error included, shows the child reads and writes again. */
        w->ping_streak_mono_ms = 0;
        w->ping_answered_mono_ms = cg_clock_mono_ms();
        if (w->state == CG_WORKER_UNHEALTHY) {
            cg_log_info("%s: answers again: taking turns again", w->name);
            set_state(w, CG_WORKER_READY);
        }
        return;
    }
    uint64_t allowed =
        w->state == CG_WORKER_READY ? w->cfg->ping_timeout_ms : w->cfg->unhealthy_grace_ms;
    if (w->heard_mono_ms > w->ping_sent_mono_ms &&
        cg_clock_mono_ms() - w->ping_streak_mono_ms < allowed) {
        /* It kept writing: the answer waits behind a long message (or our own loop was too
         * busy to read it in time). Ask again, within the same allowance: a worker that writes
         * but no longer reads its stdin must not pass for alive for as long as it writes. */
        start_ping(w, allowed - (cg_clock_mono_ms() - w->ping_streak_mono_ms));
        return;
    }
    if (w->state == CG_WORKER_READY) {
        set_error(w, "did not answer a liveness ping within %" PRIu64 " ms",
                  w->cfg->ping_timeout_ms);
        cg_log_warn("%s: %s: no new turns; killed if still silent in %" PRIu64 " ms", w->name,
                    w->last_error, w->cfg->unhealthy_grace_ms);
        set_state(w, CG_WORKER_UNHEALTHY);
        w->ping_streak_mono_ms = 0; /* the grace is an allowance of its own */
        start_ping(w, w->cfg->unhealthy_grace_ms);
        return;
    }
    char why[CG_WORKER_ERROR_BYTES];
    snprintf(why, sizeof(why), "unhealthy: no answer to a liveness ping for %" PRIu64 " ms",
             w->cfg->ping_timeout_ms + w->cfg->unhealthy_grace_ms);
    fail_child(w, why);
}

/* A cheap call both Codex and the fake answer from memory, without touching the network. */
static void start_ping(struct cg_worker *w, uint64_t timeout_ms)
{
    w->ping_sent_mono_ms = cg_clock_mono_ms();
    if (w->ping_streak_mono_ms == 0)
        w->ping_streak_mono_ms = w->ping_sent_mono_ms;
    static const char *const nothing[] = {NULL}; /* on_ping reads no result */
    w->ping_call = call_within(w, "thread/loaded/list", json_pack("{s:i}", "limit", 1), NULL,
                               timeout_ms, nothing, on_ping, w);
}

/* Pinged once it has answered none for the interval, however much it writes meanwhile: a
 * worker that writes but no longer reads its stdin looks busy, not frozen. */
static void on_ping_timer(uv_timer_t *t)
{
    struct cg_worker *w = t->data;
    if (!pinging(w) || w->ping_call || !child_alive(w))
        return;
    uint64_t since = CG_MAX(w->ping_answered_mono_ms, w->ready_mono_ms);
    if (cg_clock_mono_ms() - since < w->cfg->ping_interval_ms)
        return;
    start_ping(w, w->cfg->ping_timeout_ms);
}

static void on_initialize(void *data, json_t *result, const struct cg_rpc_error *err)
{
    struct cg_worker *w = data;
    if (!child_alive(w) || w->state != CG_WORKER_STARTING)
        return;
    if (err) {
        char why[CG_WORKER_ERROR_BYTES];
        snprintf(why, sizeof(why), "handshake failed: initialize: %.200s", err->message);
        fail_child(w, why);
        return;
    }
    cg_worker_notify(w, "initialized", NULL);
    check_login(w);
}

static void send_initialize(struct cg_worker *w)
{
    /* Notifications we never use, so the child does not spend time sending them
     * (account/rateLimits/updated is used: it dates an upstream 429's Retry-After). */
    json_t *opt_out = json_pack("[s,s,s,s,s,s]", "thread/status/changed", "thread/started",
                                "remoteControl/status/changed", "turn/diff/updated",
                                "turn/plan/updated", "thread/settings/updated");
    json_t *params =
        json_pack("{s:{s:s,s:s,s:s},s:{s:b,s:o}}", "clientInfo", "name", "codex-gateway", "title",
                  "codex-gateway", "version", CG_VERSION, "capabilities", "experimentalApi", 1,
                  "optOutNotificationMethods", opt_out);
    cg_worker_call(w, "initialize", params, on_initialize, w);
}

/* --- child I/O --------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char shared[64 * 1024]; /* consumed (or copied) before the next read */
    buf->base = shared;
    buf->len = sizeof(shared);
}

static void on_stdout(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct cg_worker *w = s->data;
    if (nread > 0) {
        w->heard_mono_ms = cg_clock_mono_ms();
        cg_rpc_feed(&w->rpc, buf->base, (size_t)nread);
        return;
    }
    if (nread < 0) {
        uv_read_stop(s);
        /* Usually the child is exiting and its exit callback follows at once; one that stays
         * alive without stdout is useless and is killed after a moment. */
        w->stdout_eof = true;
        if (child_alive(w) && w->state != CG_WORKER_STOPPING)
            uv_timer_start(&w->state_timer, on_state_timer, STDOUT_EOF_GRACE_MS, 0);
    }
}

static void stderr_line(struct cg_worker *w, const char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len == 0)
        return;
    size_t keep = cg_json_utf8_boundary(line, CG_MIN(len, sizeof(w->stderr_tail[0]) - 1));
    char *slot = w->stderr_tail[w->stderr_next++ % CG_WORKER_STDERR_KEEP];
    memcpy(slot, line, keep);
    slot[keep] = '\0';
    /* Codex writes "<time> ERROR <target>: ..."; keep its severity visible in ours. */
    size_t probe = CG_MIN(len, 64);
    enum cg_log_level level = memmem(line, probe, " ERROR ", 7) ? CG_LOG_WARN : CG_LOG_INFO;
    if (!cg_log_enabled(level))
        return;
    struct cg_buf f;
    cg_buf_init(&f, STDERR_LOG_BYTES * 2 + 64);
    int err = cg_buf_appendf(&f, "\"worker\":%u,\"line\":", w->id);
    if (!err)
        err = cg_json_string(&f, line, cg_json_utf8_boundary(line, CG_MIN(len, STDERR_LOG_BYTES)));
    if (!err)
        cg_log_event(level, LOG_COMPONENT, "worker_stderr", f.data);
    cg_buf_dispose(&f);
}

static void on_stderr(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct cg_worker *w = s->data;
    if (nread < 0) {
        uv_read_stop(s);
        if (w->stderr_line.len)
            stderr_line(w, w->stderr_line.data, w->stderr_line.len);
        cg_buf_reset(&w->stderr_line);
        return;
    }
    const char *p = buf->base;
    size_t n = (size_t)nread;
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (cg_buf_append(&w->stderr_line, p, take) != 0) {
            /* An endless line: log what we have and start over. */
            stderr_line(w, w->stderr_line.data, w->stderr_line.len);
            cg_buf_reset(&w->stderr_line);
        }
        if (nl) {
            stderr_line(w, w->stderr_line.data ? w->stderr_line.data : "", w->stderr_line.len);
            cg_buf_reset(&w->stderr_line);
            take++;
        }
        p += take;
        n -= take;
    }
}

/* --- exit and restart -------------------------------------------------------------------- */

static void maybe_stopped(struct cg_worker *w);

static void on_child_handle_closed(uv_handle_t *h)
{
    struct cg_worker *w = h->data;
    w->child_handles--;
    if (w->child_handles > 0)
        return;
    if (w->state == CG_WORKER_STOPPING) {
        maybe_stopped(w);
        return;
    }
    /* A restart that came due while handles were closing starts now. */
    if (w->state == CG_WORKER_BACKOFF && w->next_retry_mono_ms <= cg_clock_mono_ms())
        spawn_child(w);
}

static void close_child_handles(struct cg_worker *w)
{
    cg_gather_drop(&w->stdin_out); /* for the child that is gone */
    uv_handle_t *hs[] = {(uv_handle_t *)&w->proc, (uv_handle_t *)&w->stdin_pipe,
                         (uv_handle_t *)&w->stdout_pipe, (uv_handle_t *)&w->stderr_pipe};
    for (size_t i = 0; i < CG_ARRAY_SIZE(hs); i++) {
        if (!uv_is_closing(hs[i]))
            uv_close(hs[i], on_child_handle_closed);
    }
}

static void log_exit(struct cg_worker *w)
{
    struct cg_buf f;
    cg_buf_init(&f, 8192);
    int err =
        w->last_exit_signal
            ? cg_buf_appendf(&f, "\"worker\":%u,\"pid\":%d,\"code\":null,\"signal\":%d", w->id,
                             w->pid, w->last_exit_signal)
            : cg_buf_appendf(&f, "\"worker\":%u,\"pid\":%d,\"code\":%" PRId64 ",\"signal\":null",
                             w->id, w->pid, w->last_exit_code);
    bool ours = w->kill_reason[0] != '\0';
    const char *why = ours ? w->kill_reason : w->state == CG_WORKER_STOPPING ? NULL : w->last_error;
    if (!err)
        err = cg_buf_appendf(&f, ",\"killed_by_gateway\":%s", ours ? "true" : "false");
    if (!err && why && why[0]) {
        err = cg_buf_append_str(&f, ",\"reason\":");
        if (!err)
            err = cg_json_cstring(&f, why);
    }
    if (!err)
        err = cg_buf_append_str(&f, ",\"stderr_tail\":[");
    unsigned first =
        w->stderr_next > CG_WORKER_STDERR_KEEP ? w->stderr_next - CG_WORKER_STDERR_KEEP : 0;
    for (unsigned i = first; i < w->stderr_next && !err; i++) {
        if (i > first)
            err = cg_buf_append_char(&f, ',');
        if (!err)
            err = cg_json_cstring(&f, w->stderr_tail[i % CG_WORKER_STDERR_KEEP]);
    }
    if (!err)
        err = cg_buf_append_char(&f, ']');
    if (!err)
        cg_log_event(w->state == CG_WORKER_STOPPING ? CG_LOG_INFO : CG_LOG_ERROR, LOG_COMPONENT,
                     "worker_exit", f.data);
    cg_buf_dispose(&f);
}

static void schedule_restart(struct cg_worker *w)
{
    uint64_t now = cg_clock_mono_ms();
    if (w->planned_restart) {
        w->planned_restart = false;
        w->next_retry_mono_ms = now;
        set_state(w, CG_WORKER_BACKOFF);
        uv_timer_start(&w->state_timer, on_state_timer, 0, 0);
        return;
    }
    if (w->ready_mono_ms && now - w->ready_mono_ms >= w->cfg->stable_ms)
        w->consecutive_failures = 0; /* it had been fine for a while: this is a fresh problem */
    w->consecutive_failures++;
    w->ready_at_ms = 0;
    w->ready_mono_ms = 0;
    if (w->consecutive_failures > w->cfg->restart_max) {
        cg_log_error("%s: %u consecutive failures: giving up (WORKER_RESTART_MAX=%u)", w->name,
                     w->consecutive_failures, w->cfg->restart_max);
        w->next_retry_mono_ms = 0;
        set_state(w, CG_WORKER_FAILED);
        return;
    }
    uint64_t delay = cg_worker_backoff_ms(w->cfg, w->consecutive_failures);
    w->next_retry_mono_ms = now + delay;
    set_state(w, CG_WORKER_BACKOFF);
    uv_timer_start(&w->state_timer, on_state_timer, delay, 0);
}

static void on_child_exit(uv_process_t *proc, int64_t status, int term_signal)
{
    struct cg_worker *w = proc->data;
    w->exited = true;
    w->last_exit_code = status;
    w->last_exit_signal = term_signal;
    w->last_exit_at_ms = cg_clock_wall_ms();
    uv_timer_stop(&w->ping_timer);
    w->ping_call = 0;
    w->ping_streak_mono_ms = 0;
    bool ours = w->kill_reason[0] != '\0';
    if (w->state != CG_WORKER_STOPPING) {
        if (ours)
            set_error(w, "%s", w->kill_reason);
        else if (term_signal)
            set_error(w, "exited on signal %d", term_signal);
        else
            set_error(w, "exited with code %" PRId64, status);
    }
    log_exit(w);
    char reason[CG_WORKER_ERROR_BYTES + 64];
    if (ours)
        snprintf(reason, sizeof(reason), "Codex worker %u was killed by the gateway: %s", w->id,
                 w->kill_reason);
    else
        snprintf(reason, sizeof(reason), "Codex worker %u %s", w->id,
                 w->state == CG_WORKER_STOPPING ? "stopped" : w->last_error);
    /* Pending calls first (their callbacks see the error), then every turn still open. */
    if (w->rpc_live) {
        cg_rpc_fail_all(&w->rpc, CG_RPC_ECLOSED, reason);
        if (w->hooks->lost)
            w->hooks->lost(w, reason, w->hooks_data);
        w->rpc_live = false;
        cg_rpc_dispose(&w->rpc);
    }
    uv_timer_stop(&w->rpc_timer);
    close_child_handles(w);
    if (w->state == CG_WORKER_STOPPING)
        return;
    w->restarts++;
    schedule_restart(w);
}

static void spawn_child(struct cg_worker *w)
{
    assert(w->child_handles == 0);
    w->exited = false;
    w->stdout_eof = false;
    w->pid = 0;
    w->kill_reason[0] = '\0';
    w->ping_call = 0;
    w->ping_streak_mono_ms = 0;
    w->stderr_next = 0;
    cg_buf_reset(&w->stderr_line);
    uv_pipe_init(w->loop, &w->stdin_pipe, 0);
    uv_pipe_init(w->loop, &w->stdout_pipe, 0);
    uv_pipe_init(w->loop, &w->stderr_pipe, 0);
    w->stdin_pipe.data = w;
    w->stdout_pipe.data = w;
    w->stderr_pipe.data = w;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&w->stdin_pipe},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&w->stdout_pipe},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&w->stderr_pipe},
    };
    uv_process_options_t opt = {
        .exit_cb = on_child_exit,
        .file = w->cfg->argv[0],
        .args = (char **)w->cfg->argv,
        .env = (char **)w->cfg->env,
        .cwd = w->cfg->cwd,
        .flags = UV_PROCESS_DETACHED, /* own process group: signals reach a launcher's child */
        .stdio_count = 3,
        .stdio = stdio,
    };
    w->proc.data = w;
    w->started_at_ms = cg_clock_wall_ms();
    w->started_mono_ms = cg_clock_mono_ms();
    int err = uv_spawn(w->loop, &w->proc, &opt);
    w->child_handles = 4;
    if (err) {
        set_error(w, "cannot start %s: %s", w->cfg->argv[0], uv_strerror(err));
        cg_log_error("%s: %s", w->name, w->last_error);
        w->exited = true;
        w->last_exit_code = -1;
        w->last_exit_signal = 0;
        w->last_exit_at_ms = cg_clock_wall_ms();
        close_child_handles(w);
        w->restarts++;
        schedule_restart(w);
        return;
    }
    w->pid = w->proc.pid;
    w->heard_mono_ms = w->started_mono_ms;
    cg_rpc_init(&w->rpc, &rpc_ops, w, w->cfg->max_line_bytes, w->name);
    w->rpc_live = true;
    char fields[128];
    snprintf(fields, sizeof(fields), "\"worker\":%u,\"pid\":%d", w->id, w->pid);
    cg_log_event(CG_LOG_INFO, LOG_COMPONENT, "worker_spawned", fields);
    set_state(w, CG_WORKER_STARTING);
    /* A child we cannot read is no worker: kill it, and the exit path restarts it. */
    err = uv_read_start((uv_stream_t *)&w->stdout_pipe, on_alloc, on_stdout);
    const char *which = "stdout";
    if (err == 0) {
        err = uv_read_start((uv_stream_t *)&w->stderr_pipe, on_alloc, on_stderr);
        which = "stderr";
    }
    if (err != 0) {
        char why[CG_WORKER_ERROR_BYTES];
        snprintf(why, sizeof(why), "cannot read its %s: %s", which, uv_strerror(err));
        fail_child(w, why);
        return;
    }
    if (w->cfg->ping_interval_ms > 0)
        uv_timer_start(&w->ping_timer, on_ping_timer, w->cfg->ping_interval_ms,
                       w->cfg->ping_interval_ms);
    send_initialize(w);
}

static void on_state_timer(uv_timer_t *t)
{
    struct cg_worker *w = t->data;
    if (w->stdout_eof && child_alive(w) && w->state != CG_WORKER_STOPPING) {
        fail_child(w, "closed its stdout but kept running");
        return;
    }
    switch (w->state) {
    case CG_WORKER_BACKOFF:
        if (w->child_handles == 0)
            spawn_child(w);
        /* else: on_child_handle_closed starts it once the old handles are gone */
        return;
    case CG_WORKER_LOGIN_REQUIRED: {
        /* Codex reads its login at start: a new auth.json needs a new process. */
        struct stat st;
        if (w->cfg->auth_path && stat(w->cfg->auth_path, &st) == 0 &&
            (uint64_t)st.st_mtime * 1000 >= w->started_at_ms) {
            cg_log_info("%s: %s changed: restarting to use it", w->name, w->cfg->auth_path);
            w->planned_restart = true;
            fail_child(w, "restarting to pick up a new login");
            return;
        }
        check_login(w);
        uv_timer_start(&w->state_timer, on_state_timer, LOGIN_RECHECK_MS, 0);
        return;
    }
    case CG_WORKER_STOPPING:
        if (child_alive(w)) {
            snprintf(w->kill_reason, sizeof(w->kill_reason),
                     "still running %" PRIu64 " ms after SIGTERM at stop: SIGKILL",
                     w->cfg->shutdown_grace_ms);
            cg_log_warn("%s: %s", w->name, w->kill_reason);
            kill_child(w, SIGKILL);
        }
        return;
    default:
        return;
    }
}

/* --- lifecycle --------------------------------------------------------------------------- */

void cg_worker_init(struct cg_worker *w, unsigned id, uv_loop_t *loop,
                    const struct cg_worker_config *cfg, const struct cg_worker_hooks *hooks,
                    void *hooks_data)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    snprintf(w->name, sizeof(w->name), "worker %u", id);
    w->loop = loop;
    w->cfg = cfg;
    w->hooks = hooks;
    w->hooks_data = hooks_data;
    w->state = CG_WORKER_STOPPED;
    cg_buf_init(&w->stderr_line, STDERR_LINE_MAX_BYTES);
    cg_gather_init(&w->stdin_out, 2 * STDIN_GATHER_MAX_BYTES);
    uv_timer_init(loop, &w->state_timer);
    uv_timer_init(loop, &w->rpc_timer);
    uv_timer_init(loop, &w->ping_timer);
    uv_prepare_init(loop, &w->out_prepare);
    uv_check_init(loop, &w->out_check);
    w->state_timer.data = w;
    w->rpc_timer.data = w;
    w->ping_timer.data = w;
    w->out_prepare.data = w;
    w->out_check.data = w;
    w->own_handles_open = 5;
}

void cg_worker_start(struct cg_worker *w)
{
    if (w->state == CG_WORKER_STOPPED)
        spawn_child(w);
}

bool cg_worker_is_ready(const struct cg_worker *w)
{
    /* From its exit callback on (or once we decided to kill it) a child takes no new turns,
     * even before the state leaves READY: its own dying turns must not hand queued ones back
     * to it. */
    return w->state == CG_WORKER_READY && !w->exited && w->kill_reason[0] == '\0';
}

uint64_t cg_worker_retry_in_ms(const struct cg_worker *w)
{
    uint64_t now = cg_clock_mono_ms();
    if (w->state != CG_WORKER_BACKOFF || w->next_retry_mono_ms <= now)
        return 0;
    return w->next_retry_mono_ms - now;
}

static void on_own_handle_closed(uv_handle_t *h)
{
    struct cg_worker *w = h->data;
    if (--w->own_handles_open > 0)
        return;
    cg_buf_dispose(&w->stderr_line);
    cg_gather_dispose(&w->stdin_out);
    if (w->on_stopped)
        w->on_stopped(w);
}

static void maybe_stopped(struct cg_worker *w)
{
    if (w->child_handles > 0 || w->own_handles_closing)
        return;
    w->own_handles_closing = true;
    uv_close((uv_handle_t *)&w->state_timer, on_own_handle_closed);
    uv_close((uv_handle_t *)&w->rpc_timer, on_own_handle_closed);
    uv_close((uv_handle_t *)&w->ping_timer, on_own_handle_closed);
    uv_close((uv_handle_t *)&w->out_prepare, on_own_handle_closed);
    uv_close((uv_handle_t *)&w->out_check, on_own_handle_closed);
}

void cg_worker_stop(struct cg_worker *w, void (*on_stopped)(struct cg_worker *w))
{
    w->on_stopped = on_stopped;
    enum cg_worker_state was = w->state;
    if (was == CG_WORKER_STOPPING)
        return;
    w->state = CG_WORKER_STOPPING;
    w->state_since_ms = cg_clock_wall_ms();
    uv_timer_stop(&w->state_timer);
    uv_timer_stop(&w->ping_timer);
    if (child_alive(w)) {
        snprintf(w->kill_reason, sizeof(w->kill_reason), "shutting down (SIGTERM)");
        char fields[96];
        snprintf(fields, sizeof(fields), "\"worker\":%u,\"pid\":%d", w->id, w->pid);
        cg_log_event(CG_LOG_INFO, LOG_COMPONENT, "worker_stopping", fields);
        /* EOF on stdin is Codex's own signal to finish; SIGTERM makes sure. The calls made
         * in this iteration go first. */
        flush_stdin(w);
        if (!uv_is_closing((uv_handle_t *)&w->stdin_pipe))
            uv_close((uv_handle_t *)&w->stdin_pipe, on_child_handle_closed);
        kill_child(w, SIGTERM);
        uv_timer_start(&w->state_timer, on_state_timer, w->cfg->shutdown_grace_ms, 0);
        return;
    }
    maybe_stopped(w);
}

static int append_time(struct cg_buf *out, const char *key, uint64_t wall_ms)
{
    if (wall_ms == 0)
        return cg_buf_appendf(out, ",\"%s\":null", key);
    char iso[32];
    cg_clock_format_iso(wall_ms, iso, sizeof(iso));
    return cg_buf_appendf(out, ",\"%s\":\"%s\"", key, iso);
}

int cg_worker_status_json(const struct cg_worker *w, struct cg_buf *out)
{
    int err = cg_buf_appendf(out, "{\"id\":%u,\"state\":\"%s\",\"pid\":", w->id,
                             cg_worker_state_name(w->state));
    if (!err)
        err = child_alive(w) ? cg_buf_appendf(out, "%d", w->pid) : cg_buf_append_str(out, "null");
    if (!err)
        err = append_time(out, "state_since", w->state_since_ms);
    if (!err)
        err = append_time(out, "ready_since", w->ready_at_ms);
    if (!err)
        err =
            cg_buf_appendf(out, ",\"active_turns\":%zu,\"restarts\":%u,\"consecutive_failures\":%u",
                           w->active, w->restarts, w->consecutive_failures);
    if (!err && w->last_exit_at_ms) {
        err = w->last_exit_signal
                  ? cg_buf_appendf(out, ",\"last_exit\":{\"code\":null,\"signal\":%d",
                                   w->last_exit_signal)
                  : cg_buf_appendf(out, ",\"last_exit\":{\"code\":%" PRId64 ",\"signal\":null",
                                   w->last_exit_code);
        if (!err)
            err = append_time(out, "at", w->last_exit_at_ms);
        if (!err)
            err = cg_buf_append_char(out, '}');
    } else if (!err) {
        err = cg_buf_append_str(out, ",\"last_exit\":null");
    }
    if (!err)
        err = cg_buf_append_str(out, ",\"last_error\":");
    if (!err)
        err = cg_json_cstring(out, w->last_error[0] ? w->last_error : NULL);
    if (!err)
        err = append_time(out, "last_error_at", w->last_error_at_ms);
    /* Scheduled on the monotonic clock; shown as wall time. */
    uint64_t retry_at =
        w->state == CG_WORKER_BACKOFF ? cg_clock_wall_ms() + cg_worker_retry_in_ms(w) : 0;
    if (!err)
        err = append_time(out, "next_retry", retry_at);
    if (!err && w->rpc_live)
        err = cg_buf_appendf(out,
                             ",\"rpc\":{\"pending\":%zu,\"lines\":%" PRIu64
                             ",\"skipped_lines\":%" PRIu64 ",\"bad_lines\":%" PRIu64
                             ",\"oversized_lines\":%" PRIu64 "}",
                             cg_rpc_pending(&w->rpc), w->rpc.stats.lines, w->rpc.stats.skipped,
                             w->rpc.stats.invalid, w->rpc.stats.oversized);
    if (!err)
        err = cg_buf_append_char(out, '}');
    return err;
}
