/* proc.c: one Codex process per choice (see proc.h). The process ends on its own after its
 * answer (exec), or once its stdin is closed (proto); what outlives the answer, or a
 * cancelled choice, gets SIGTERM to its process group, then SIGKILL after the grace. When the
 * leader exits, whatever is left of its group is killed: no orphan keeps a pipe open. */
#include "backend/proc.h"
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/exec_line.h"
#include "backend/prompt.h"
#include "backend/proto_line.h"
#include "backend/reply_text.h"
#include "core/limits.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"
#define LOG_COMPONENT "proc"

enum {
    READ_CHUNK_BYTES = 64 * 1024,
    LOG_FIELDS_MAX_BYTES = 8192,
    /* After the leader's exit, how long its pipes may still deliver what it wrote. */
    EXIT_DRAIN_MIN_MS = 1000,
};

/* Where the process is in being ended. */
enum wind {
    WIND_NONE,
    WIND_TERM_SENT, /* SIGTERM went to the group; SIGKILL follows after the grace */
    WIND_KILL_SENT,
};

struct cg_proc {
    int refs; /* the creator's, and the running process's */
    unsigned choice;
    cg_proc_event_cb cb;
    void *cb_data;
    char tag[CG_PROC_TAG_BYTES];
    enum cg_backend_kind kind;
    char **argv;
    struct cg_buf input; /* stdin: the prompt (exec) or the submission line (proto) */
    const struct cg_proc_config *cfg;
    cg_proc_gone_cb gone;
    void *gone_data;

    uv_process_t process;
    uv_pipe_t in;
    uv_pipe_t out;
    uv_pipe_t err;
    uv_timer_t timer;
    uv_write_t write_req;
    uv_shutdown_t shutdown_req;
    int handles_open;
    bool in_closed;
    bool out_closed;
    bool err_closed;

    bool spawned;
    bool exited;
    bool released;
    bool ended; /* FINISH or ERROR delivered */
    enum wind wind;
    struct cg_proc_exit exit;
    uint64_t started_ms;

    struct cg_buf line;
    char tail[CG_PROC_STDERR_TAIL_BYTES]; /* ring: the last stderr bytes */
    size_t tail_len;
    size_t tail_pos;
    struct cg_reply_text text;
    bool reasoning_sent;
    struct cg_usage usage;
    struct cg_proc_queue_link link;
};

static size_t live_count;

static void proc_free(struct cg_proc *p)
{
    cg_launch_argv_free(p->argv);
    cg_buf_dispose(&p->input);
    cg_buf_dispose(&p->line);
    cg_reply_text_dispose(&p->text);
    free(p);
    live_count--;
}

static void hold(struct cg_proc *p)
{
    p->refs++;
}

static void put(struct cg_proc *p)
{
    assert(p->refs > 0);
    if (--p->refs == 0)
        proc_free(p);
}

/* --- events ------------------------------------------------------------------------------ */

static void emit(struct cg_proc *p, struct cg_event *ev)
{
    if (p->released || p->ended)
        return;
    if (ev->type == CG_EVENT_FINISH || ev->type == CG_EVENT_ERROR)
        p->ended = true;
    ev->choice = p->choice;
    p->cb(p, ev, p->cb_data);
}

static void emit_text(struct cg_proc *p, enum cg_event_type type, struct cg_str text)
{
    if (text.len == 0)
        return;
    struct cg_event ev = {.type = type, .text = text};
    emit(p, &ev);
}

static void send_text(struct cg_proc *p, struct cg_reply_text_out out)
{
    if (out.diverged)
        cg_log_debug("request %s: Codex's text differs from what was sent", p->tag);
    emit_text(p, CG_EVENT_TEXT, out.sep);
    emit_text(p, CG_EVENT_TEXT, out.text);
}

static void emit_error(struct cg_proc *p, const struct cg_error *err)
{
    struct cg_event ev = {.type = CG_EVENT_ERROR, .error = err};
    emit(p, &ev);
}

static void emit_finish(struct cg_proc *p)
{
    struct cg_event usage = {.type = CG_EVENT_USAGE, .usage = p->usage};
    emit(p, &usage);
    struct cg_event fin = {.type = CG_EVENT_FINISH, .finish = CG_FINISH_STOP};
    emit(p, &fin);
}

/* --- ending the process ------------------------------------------------------------------ */

static void on_closed(uv_handle_t *h)
{
    struct cg_proc *p = h->data;
    if (--p->handles_open > 0)
        return;
    if (p->gone)
        p->gone(p, &p->exit, p->gone_data);
    put(p); /* the process's reference */
}

static void close_handle(struct cg_proc *p, uv_handle_t *h, bool *closed)
{
    if (*closed)
        return;
    *closed = true;
    uv_close(h, on_closed);
}

static void signal_group(struct cg_proc *p, int sig)
{
    if (p->process.pid <= 0)
        return;
    /* The group outlives its leader only through stragglers; its id is not reused while
     * they live. */
    if (kill(-p->process.pid, sig) != 0 && errno != ESRCH)
        cg_log_warn("request %s: kill(-%d, %d): %s", p->tag, p->process.pid, sig, strerror(errno));
}

static void close_stdin(struct cg_proc *p)
{
    close_handle(p, (uv_handle_t *)&p->in, &p->in_closed);
}

static void on_timer(uv_timer_t *t);
static void conclude(struct cg_proc *p);

/* (Re)starts the grace timer. */
static void arm_timer(struct cg_proc *p)
{
    if (!uv_is_closing((uv_handle_t *)&p->timer))
        uv_timer_start(&p->timer, on_timer, p->cfg->kill_grace_ms, 0);
}

/* SIGTERM now, SIGKILL after the grace. */
static void terminate(struct cg_proc *p)
{
    if (p->exited || p->wind != WIND_NONE)
        return;
    p->exit.killed = true;
    p->wind = WIND_TERM_SENT;
    signal_group(p, SIGTERM);
    arm_timer(p);
}

/* The stderr ring in order, into `lin`; returns its length. */
static size_t stderr_tail(const struct cg_proc *p, char lin[CG_PROC_STDERR_TAIL_BYTES])
{
    size_t first =
        (p->tail_pos + CG_PROC_STDERR_TAIL_BYTES - p->tail_len) % CG_PROC_STDERR_TAIL_BYTES;
    for (size_t i = 0; i < p->tail_len; i++)
        lin[i] = p->tail[(first + i) % CG_PROC_STDERR_TAIL_BYTES];
    return p->tail_len;
}

static void on_timer(uv_timer_t *t)
{
    struct cg_proc *p = t->data;
    if (p->exited) {
        /* Something outside the group still holds a pipe: stop listening to it. */
        close_handle(p, (uv_handle_t *)&p->out, &p->out_closed);
        close_handle(p, (uv_handle_t *)&p->err, &p->err_closed);
        conclude(p);
        return;
    }
    if (p->wind == WIND_NONE) {
        cg_log_info("request %s: Codex pid %d still runs %" PRIu64 " ms after its answer: "
                    "SIGTERM",
                    p->tag, p->process.pid, p->cfg->kill_grace_ms);
        p->exit.killed = true;
        p->wind = WIND_TERM_SENT;
        signal_group(p, SIGTERM);
        arm_timer(p);
        return;
    }
    if (p->wind == WIND_TERM_SENT) {
        cg_log_info("request %s: Codex pid %d ignored SIGTERM: SIGKILL", p->tag, p->process.pid);
        p->wind = WIND_KILL_SENT;
        signal_group(p, SIGKILL);
        arm_timer(p);
    }
}

/* The choice is over (answered, failed or released): the process has the grace to end. */
static void wind_down(struct cg_proc *p)
{
    if (!p->spawned || p->exited)
        return;
    if (p->kind == CG_BACKEND_PROTO)
        close_stdin(p); /* EOF: proto's signal to exit */
    if (p->released && !p->ended)
        terminate(p);
    else if (!uv_is_active((uv_handle_t *)&p->timer))
        arm_timer(p);
}

/* Everything Codex will say has been read: a choice that got no end from it ends now. */
static void conclude(struct cg_proc *p)
{
    if (!p->exited || !p->out_closed)
        return;
    close_handle(p, (uv_handle_t *)&p->err, &p->err_closed);
    close_stdin(p);
    if (!uv_is_closing((uv_handle_t *)&p->timer)) {
        uv_timer_stop(&p->timer);
        uv_close((uv_handle_t *)&p->timer, on_closed);
    }
    if (p->ended || p->released)
        return;
    if (p->exit.status == 0 && p->exit.term_signal == 0 && p->text.items > 0) {
        emit_finish(p); /* an answer without turn.completed: what was said stands */
        return;
    }
    p->exit.failed = true;
    /* Its stderr may hold paths or echoed input: it goes to the log (codex_exit), not here. */
    struct cg_error err;
    if (p->exit.term_signal)
        cg_error_set(&err, CG_ERR_BACKEND_ERROR, NULL,
                     "Codex was killed by signal %d before it answered (request %s; its stderr "
                     "is in the gateway's log).",
                     p->exit.term_signal, p->tag);
    else
        cg_error_set(&err, CG_ERR_BACKEND_ERROR, NULL,
                     "Codex exited with status %" PRId64 " before it answered (request %s; its "
                     "stderr is in the gateway's log).",
                     p->exit.status, p->tag);
    emit_error(p, &err);
}

static void log_exit(struct cg_proc *p)
{
    struct cg_buf f;
    cg_buf_init(&f, LOG_FIELDS_MAX_BYTES);
    int err = cg_buf_append_str(&f, "\"request_id\":");
    if (!err)
        err = cg_json_cstring(&f, p->tag);
    if (!err)
        err = cg_buf_appendf(&f,
                             ",\"pid\":%d,\"status\":%" PRId64 ",\"signal\":%d,\"killed\":%s,"
                             "\"ms\":%" PRIu64,
                             p->process.pid, p->exit.status, p->exit.term_signal,
                             p->exit.killed ? "true" : "false", cg_clock_mono_ms() - p->started_ms);
    bool bad = p->exit.status != 0 || (p->exit.term_signal && !p->exit.killed);
    if (!err && bad && p->tail_len > 0) {
        char lin[CG_PROC_STDERR_TAIL_BYTES];
        stderr_tail(p, lin);
        /* The end of stderr, cut on a character boundary: enough to say why. */
        size_t keep = CG_MIN(p->tail_len, (size_t)512);
        const char *from = lin + p->tail_len - keep;
        size_t skip = 0;
        while (skip < keep && ((unsigned char)from[skip] & 0xc0) == 0x80)
            skip++;
        err = cg_buf_append_str(&f, ",\"stderr_tail\":");
        if (!err)
            err = cg_json_string(&f, from + skip, keep - skip);
    }
    if (!err)
        cg_log_event(bad ? CG_LOG_WARN : CG_LOG_DEBUG, LOG_COMPONENT, "codex_exit", f.data);
    cg_buf_dispose(&f);
}

static void on_process_exit(uv_process_t *proc, int64_t status, int term_signal)
{
    struct cg_proc *p = CG_CONTAINER_OF(proc, struct cg_proc, process);
    p->exited = true;
    p->exit.status = status;
    p->exit.term_signal = term_signal;
    signal_group(p, SIGKILL); /* stragglers */
    log_exit(p);
    uv_close((uv_handle_t *)&p->process, on_closed);
    uv_timer_stop(&p->timer);
    if (!p->out_closed && !uv_is_closing((uv_handle_t *)&p->timer))
        uv_timer_start(&p->timer, on_timer, CG_MAX(p->cfg->kill_grace_ms, EXIT_DRAIN_MIN_MS), 0);
    conclude(p);
}

/* --- stdout ------------------------------------------------------------------------------ */

static void on_line(struct cg_proc *p, const char *s, size_t n)
{
    if (p->released || p->ended || n == 0)
        return;
    struct cg_proc_event ev = {0};
    if (p->kind == CG_BACKEND_EXEC)
        cg_exec_line_parse(s, n, &ev);
    else
        cg_proto_line_parse(s, n, &ev);
    switch (ev.kind) {
    case CG_PROC_NOTHING:
        break;
    case CG_PROC_MALFORMED:
        cg_log_debug("request %s: skipped a line that is not a JSON object (%zu bytes)", p->tag, n);
        break;
    case CG_PROC_TEXT_DELTA:
        send_text(p, cg_reply_text_delta(&p->text, NULL, ev.text));
        break;
    case CG_PROC_MESSAGE:
        send_text(p, cg_reply_text_completed(&p->text, ev.item_id, ev.text));
        break;
    case CG_PROC_REASONING_DELTA:
        p->reasoning_sent = p->reasoning_sent || ev.text.len > 0;
        emit_text(p, CG_EVENT_REASONING, ev.text);
        break;
    case CG_PROC_REASONING:
        if (p->reasoning_sent && ev.text.len > 0)
            emit_text(p, CG_EVENT_REASONING, CG_STR("\n\n"));
        p->reasoning_sent = p->reasoning_sent || ev.text.len > 0;
        emit_text(p, CG_EVENT_REASONING, ev.text);
        break;
    case CG_PROC_USAGE:
        p->usage = ev.usage;
        break;
    case CG_PROC_WARNING:
        cg_log_debug("request %s: Codex: %.*s", p->tag, (int)CG_MIN(ev.text.len, (size_t)200),
                     ev.text.ptr);
        break;
    case CG_PROC_RETRY:
        cg_reply_text_retry(&p->text);
        break;
    case CG_PROC_DONE:
        /* task_complete repeats the last message: news only when no message came. */
        if (ev.have_usage)
            p->usage = ev.usage; /* first: the text may end the choice (a stop sequence) */
        if (ev.text.len > 0 && p->text.items == 0)
            send_text(p, cg_reply_text_completed(&p->text, NULL, ev.text));
        emit_finish(p);
        wind_down(p);
        break;
    case CG_PROC_FAILED:
        p->exit.failed = true;
        emit_error(p, &ev.error);
        wind_down(p);
        break;
    }
    cg_proc_event_dispose(&ev);
}

static void fail_line_too_long(struct cg_proc *p)
{
    cg_log_warn("request %s: Codex pid %d wrote a line longer than %zu bytes: ending it", p->tag,
                p->process.pid, p->cfg->max_line_bytes);
    struct cg_error err;
    cg_error_set(&err, CG_ERR_BACKEND_ERROR, NULL,
                 "Codex wrote an output line longer than %zu bytes (WORKER_MAX_LINE_BYTES).",
                 p->cfg->max_line_bytes);
    p->exit.failed = true;
    emit_error(p, &err);
    terminate(p);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    buf->base = cg_xmalloc(READ_CHUNK_BYTES);
    buf->len = READ_CHUNK_BYTES;
}

static void on_out_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct cg_proc *p = s->data;
    if (nread < 0) {
        free(buf->base);
        if (p->line.len > 0)
            on_line(p, p->line.data, p->line.len); /* a last line without its newline */
        cg_buf_reset(&p->line);
        close_handle(p, (uv_handle_t *)&p->out, &p->out_closed);
        /* A process that closed its stdout can tell nothing more: it has the grace to exit. */
        if (!p->exited && !uv_is_active((uv_handle_t *)&p->timer))
            arm_timer(p);
        conclude(p);
        return;
    }
    const char *at = buf->base;
    size_t left = (size_t)nread;
    while (left > 0 && !p->out_closed) {
        const char *nl = memchr(at, '\n', left);
        size_t take = nl ? (size_t)(nl - at) : left;
        if (p->line.len + take > p->cfg->max_line_bytes) {
            cg_buf_reset(&p->line);
            fail_line_too_long(p);
            break;
        }
        if (nl && p->line.len == 0) {
            on_line(p, at, take); /* the whole line is in this read: no copy */
        } else if (cg_buf_append(&p->line, at, take) != 0) {
            cg_buf_reset(&p->line);
            fail_line_too_long(p);
            break;
        } else if (nl) {
            on_line(p, p->line.data, p->line.len);
            cg_buf_reset(&p->line);
        }
        if (!nl)
            break;
        at = nl + 1;
        left -= take + 1;
    }
    free(buf->base);
}

static void on_err_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct cg_proc *p = s->data;
    if (nread < 0) {
        free(buf->base);
        close_handle(p, (uv_handle_t *)&p->err, &p->err_closed);
        return;
    }
    for (ssize_t i = 0; i < nread; i++) {
        p->tail[p->tail_pos] = buf->base[i];
        p->tail_pos = (p->tail_pos + 1) % CG_PROC_STDERR_TAIL_BYTES;
    }
    p->tail_len = CG_MIN(p->tail_len + (size_t)nread, (size_t)CG_PROC_STDERR_TAIL_BYTES);
    free(buf->base);
}

/* --- stdin ------------------------------------------------------------------------------- */

static void on_stdin_shutdown(uv_shutdown_t *req, int status)
{
    struct cg_proc *p = req->data;
    close_stdin(p);
}

static void on_stdin_written(uv_write_t *req, int status)
{
    struct cg_proc *p = req->data;
    if (status != 0) {
        /* The process exited or closed its stdin without reading: its exit tells why. */
        close_stdin(p);
        return;
    }
    if (p->kind != CG_BACKEND_EXEC || p->in_closed)
        return;
    /* exec reads stdin to its end before it starts. */
    p->shutdown_req.data = p;
    if (uv_shutdown(&p->shutdown_req, (uv_stream_t *)&p->in, on_stdin_shutdown) != 0)
        close_stdin(p);
}

/* --- public ------------------------------------------------------------------------------ */

struct cg_proc *cg_proc_new(const char *tag, unsigned choice, cg_proc_event_cb cb, void *data)
{
    struct cg_proc *p = cg_xcalloc(1, sizeof(*p));
    live_count++;
    p->refs = 1;
    p->choice = choice;
    p->cb = cb;
    p->cb_data = data;
    snprintf(p->tag, sizeof(p->tag), "%s", tag ? tag : "-");
    p->exit.status = -1;
    cg_buf_init(&p->input, CG_REQUEST_TEXT_MAX_BYTES);
    cg_reply_text_init(&p->text, CG_ANSWER_TEXT_MAX_BYTES);
    return p;
}

enum cg_err cg_proc_prepare(struct cg_proc *p, const struct cg_launch *launch,
                            const struct cg_request *req, struct cg_error *err)
{
    assert(launch->process_argv);
    p->kind = launch->process_kind;
    enum cg_err rc = CG_OK;
    if (p->kind == CG_BACKEND_EXEC) {
        rc = cg_prompt_render(req, &p->input, err);
    } else {
        struct cg_buf prompt;
        cg_buf_init(&prompt, CG_REQUEST_TEXT_MAX_BYTES);
        rc = cg_prompt_render(req, &prompt, err);
        char id[32];
        snprintf(id, sizeof(id), "%u", p->choice + 1);
        if (rc == CG_OK &&
            cg_proto_line_submission(
                id, (struct cg_str){prompt.data ? prompt.data : "", prompt.len}, &p->input) != 0) {
            cg_error_set(err, CG_ERR_TOO_LARGE, NULL,
                         "The conversation is longer than the %d bytes a prompt may hold.",
                         CG_REQUEST_TEXT_MAX_BYTES);
            rc = err->code;
        }
        cg_buf_dispose(&prompt);
    }
    if (rc != CG_OK)
        return rc;
    p->argv = cg_launch_process_argv(launch, req->model->target,
                                     req->effort ? req->effort : req->model->effort, req->summary);
    return CG_OK;
}

int cg_proc_spawn(struct cg_proc *p, const struct cg_proc_config *cfg, cg_proc_gone_cb gone,
                  void *gone_data)
{
    assert(p->argv && !p->spawned);
    p->cfg = cfg;
    cg_buf_init(&p->line, cfg->max_line_bytes);
    uv_loop_t *loop = cfg->loop;
    uv_pipe_init(loop, &p->in, 0);
    uv_pipe_init(loop, &p->out, 0);
    uv_pipe_init(loop, &p->err, 0);
    uv_timer_init(loop, &p->timer);
    p->in.data = p;
    p->out.data = p;
    p->err.data = p;
    p->timer.data = p;
    p->process.data = p;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&p->in},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->err},
    };
    uv_process_options_t opt = {
        .exit_cb = on_process_exit,
        .file = p->argv[0],
        .args = p->argv,
        .env = (char **)cfg->launch->env,
        .cwd = cfg->cwd,
        .flags = UV_PROCESS_DETACHED, /* a session of its own: the group can be killed */
        .stdio_count = 3,
        .stdio = stdio,
    };
    int rc = uv_spawn(loop, &p->process, &opt);
    hold(p); /* the handles' */
    p->handles_open = 5;
    if (rc != 0) {
        /* libuv has the process handle to close even now. */
        p->exited = true;
        p->out_closed = p->err_closed = p->in_closed = true;
        p->handles_open = 5;
        p->gone = NULL;
        uv_close((uv_handle_t *)&p->process, on_closed);
        uv_close((uv_handle_t *)&p->in, on_closed);
        uv_close((uv_handle_t *)&p->out, on_closed);
        uv_close((uv_handle_t *)&p->err, on_closed);
        uv_close((uv_handle_t *)&p->timer, on_closed);
        return rc;
    }
    p->spawned = true;
    p->gone = gone;
    p->gone_data = gone_data;
    p->started_ms = cg_clock_mono_ms();
    uv_read_start((uv_stream_t *)&p->out, on_alloc, on_out_read);
    uv_read_start((uv_stream_t *)&p->err, on_alloc, on_err_read);
    uv_buf_t b = uv_buf_init(p->input.data ? p->input.data : "", (unsigned)p->input.len);
    p->write_req.data = p;
    if (uv_write(&p->write_req, (uv_stream_t *)&p->in, &b, 1, on_stdin_written) != 0)
        close_stdin(p);
    struct cg_event started = {.type = CG_EVENT_STARTED};
    emit(p, &started);
    return 0;
}

void cg_proc_fail(struct cg_proc *p, const struct cg_error *err)
{
    assert(!p->spawned);
    hold(p); /* the callback may release it */
    emit_error(p, err);
    put(p);
}

void cg_proc_release(struct cg_proc *p)
{
    assert(!p->released);
    p->released = true;
    if (p->spawned && !p->exited) {
        if (!p->ended)
            cg_log_info("request %s: its client is done: killing Codex pid %d", p->tag,
                        p->process.pid);
        wind_down(p);
    }
    put(p);
}

struct cg_usage cg_proc_usage(const struct cg_proc *p)
{
    return p->usage;
}

int cg_proc_pid(const struct cg_proc *p)
{
    return p->spawned ? p->process.pid : 0;
}

struct cg_proc_queue_link *cg_proc_link(struct cg_proc *p)
{
    return &p->link;
}

size_t cg_proc_live(void)
{
    return live_count;
}
