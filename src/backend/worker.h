/* worker.h: one supervised `codex app-server` process. It spawns the child with the model-mode
 * overrides, runs the handshake (`initialize` + `initialized`, then `account/read`) within a
 * deadline, and is ready only after it. When the child exits or the handshake fails it logs the
 * exit and the last stderr lines, tells its owner (so in-flight turns fail in-band), and
 * restarts after an exponential backoff; after WORKER_RESTART_MAX consecutive failures it gives
 * up. A worker that stayed ready for WORKER_STABLE_MS starts counting failures from zero again.
 * A worker quiet for WORKER_PING_INTERVAL_MS gets a cheap call (`thread/loaded/list`); one that
 * does not answer it within WORKER_PING_TIMEOUT_MS is unhealthy (no new turns), and one still
 * silent WORKER_UNHEALTHY_GRACE_MS later is killed and restarted like a crashed one.
 * Its stderr goes to our log, line by line, tagged with the worker id. */
#ifndef CG_BACKEND_WORKER_H
#define CG_BACKEND_WORKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "backend/jsonrpc.h"
#include "core/limits.h"
#include "util/buf.h"
#include "util/gather.h"

enum cg_worker_state {
    CG_WORKER_STOPPED,        /* not started yet, or stopped on shutdown */
    CG_WORKER_STARTING,       /* spawned; handshake in progress */
    CG_WORKER_READY,          /* takes turns */
    CG_WORKER_UNHEALTHY,      /* missed a liveness ping: no new turns; killed after the grace */
    CG_WORKER_LOGIN_REQUIRED, /* up, but Codex has no login: turns would only fail */
    CG_WORKER_BACKOFF,        /* exited or failed; restarting at next_retry */
    CG_WORKER_FAILED,         /* restart cap reached; stays down */
    CG_WORKER_STOPPING,       /* shutdown: SIGTERM sent, SIGKILL after the grace period */
};

/* Everything a worker needs to start a child; shared by all workers of a pool. */
struct cg_worker_config {
    const char *const *argv; /* NULL-terminated: program and arguments */
    const char *const *env;  /* NULL-terminated "NAME=value" */
    const char *cwd;
    uint64_t handshake_timeout_ms;
    uint64_t request_timeout_ms;
    uint64_t backoff_initial_ms;
    uint64_t backoff_max_ms;
    uint64_t stable_ms;
    uint64_t shutdown_grace_ms;
    uint64_t ping_interval_ms; /* 0 = no liveness pings */
    uint64_t ping_timeout_ms;
    uint64_t unhealthy_grace_ms;
    unsigned restart_max;
    size_t max_line_bytes;
    /* A child with more than this queued for its stdin is not reading it and is killed;
     * 0 = CG_WORKER_STDIN_QUEUE_MAX_BYTES. */
    size_t stdin_queue_max_bytes;
    const char *login_hint; /* how to log in, for logs and errors */
    const char *auth_path;  /* when this file appears, a worker without login restarts */
    /* Retry-After of an upstream 429 when Codex reported no reset time. */
    unsigned upstream_retry_after_s;
};

struct cg_worker;

/* How a worker reports to its owner (the pool). All are called on the loop thread. */
struct cg_worker_hooks {
    void (*state_changed)(struct cg_worker *w, void *data);
    void (*notification)(struct cg_worker *w, const char *method, json_t *params, void *data);
    void (*request)(struct cg_worker *w, json_t *id, const char *method, json_t *params,
                    void *data);
    /* The child is gone (exit, or a failed handshake): in-flight work must fail now. */
    void (*lost)(struct cg_worker *w, const char *reason, void *data);
    /* A message too long to read was dropped (see cg_rpc_ops.oversized). */
    void (*oversized)(struct cg_worker *w, const char *head, size_t head_len, const char *tail,
                      size_t tail_len, void *data);
    /* Whether a notification is to be parsed and given to `notification` (see
     * cg_rpc_ops.wanted): false when it is of no use, or the owner already acted on it from the
     * raw line. NULL = all. */
    bool (*wanted)(struct cg_worker *w, struct cg_str method, struct cg_str line, void *data);
    /* A call answered after it timed out (see cg_rpc_ops.late); may be NULL. */
    void (*late)(struct cg_worker *w, const char *method, const char *thread_id, json_t *result,
                 void *data);
    /* A notification read whole from its raw line and acted on (see cg_rpc_ops.take); may be
     * NULL. */
    bool (*take)(struct cg_worker *w, struct cg_str method, struct cg_str line, void *data);
};

enum { CG_WORKER_STDERR_KEEP = 8, CG_WORKER_ERROR_BYTES = 256 };

struct cg_worker {
    unsigned id;
    char name[16];
    uv_loop_t *loop;
    const struct cg_worker_config *cfg;
    const struct cg_worker_hooks *hooks;
    void *hooks_data;

    uv_process_t proc;
    uv_pipe_t stdin_pipe;
    uv_pipe_t stdout_pipe;
    uv_pipe_t stderr_pipe;
    uv_timer_t state_timer; /* handshake deadline, backoff, login re-check, stop grace */
    uv_timer_t rpc_timer;   /* call deadlines */
    uv_timer_t ping_timer;  /* liveness */
    int child_handles;      /* process and pipes not yet closed */
    uv_prepare_t out_prepare; /* send stdin_out before the loop polls (calls from timers) */
    uv_check_t out_check;     /* and after the I/O callbacks ran */
    struct cg_gather stdin_out; /* calls written this loop iteration, to leave in one write */
    int own_handles_open;     /* the timers and the two above */
    bool own_handles_closing;

    struct cg_rpc rpc;
    bool rpc_live;
    enum cg_worker_state state;
    int pid;
    bool exited; /* exit callback seen for the current child */
    bool stdout_eof;
    uint64_t started_at_ms; /* wall clock (compared with file times) */
    uint64_t started_mono_ms;
    uint64_t ready_at_ms; /* wall clock, 0 when not ready */
    uint64_t ready_mono_ms;
    uint64_t state_since_ms;        /* wall clock, for display */
    uint64_t next_retry_mono_ms;    /* monotonic, when in backoff */
    uint64_t heard_mono_ms;         /* last bytes from the child's stdout */
    uint64_t ping_call;             /* the liveness call in flight, 0 = none */
    uint64_t ping_sent_mono_ms;     /* when it was sent */
    uint64_t ping_streak_mono_ms;   /* when the first of the pings still unanswered was sent; 0:
                                     * the last one was answered */
    uint64_t ping_answered_mono_ms; /* when a ping was last answered */
    unsigned restarts;
    unsigned consecutive_failures;
    bool planned_restart; /* the next exit is ours, not a failure */
    int64_t last_exit_code;
    int last_exit_signal;
    uint64_t last_exit_at_ms; /* wall clock, 0 = never exited */
    /* Why the gateway is killing the current child; empty when it is not. It becomes
     * last_error on exit, so the log says why rather than "signal 9". */
    char kill_reason[CG_WORKER_ERROR_BYTES];
    /* The newest problem, kept across restarts until a newer one replaces it. */
    char last_error[CG_WORKER_ERROR_BYTES];
    uint64_t last_error_at_ms; /* wall clock, 0 = none */
    struct cg_buf stderr_line;
    char stderr_tail[CG_WORKER_STDERR_KEEP][160];
    unsigned stderr_next;

    void (*on_stopped)(struct cg_worker *w);
    size_t active;  /* turns on this worker (kept by the pool) */
    void *sessions; /* the owner's per-worker turn table */
};

void cg_worker_init(struct cg_worker *w, unsigned id, uv_loop_t *loop,
                    const struct cg_worker_config *cfg, const struct cg_worker_hooks *hooks,
                    void *hooks_data);
void cg_worker_start(struct cg_worker *w);

/* Stops the child (SIGTERM, SIGKILL after the grace period) and closes every handle;
 * `on_stopped` runs once all are closed. */
void cg_worker_stop(struct cg_worker *w, void (*on_stopped)(struct cg_worker *w));

/* Ready and its child alive with no kill pending: a turn given to it now can start. */
bool cg_worker_is_ready(const struct cg_worker *w);
/* Milliseconds until the next restart (0 when not in backoff or already due). */
uint64_t cg_worker_retry_in_ms(const struct cg_worker *w);
const char *cg_worker_state_name(enum cg_worker_state s);

/* JSON-RPC towards the child; valid only while the child runs. `params` stolen. Returns the call
 * id, or 0 when the child is not there (then `cb` is not called). */
uint64_t cg_worker_call(struct cg_worker *w, const char *method, json_t *params,
                        cg_rpc_result_cb cb, void *data);
/* As cg_worker_call, for a callback that reads only the result member at `want`
 * (cg_rpc_call_want). */
uint64_t cg_worker_call_want(struct cg_worker *w, const char *method, json_t *params,
                             const char *const *want, cg_rpc_result_cb cb, void *data);
/* As cg_worker_call_want, with params the caller wrote (cg_rpc_call_raw). */
uint64_t cg_worker_call_raw(struct cg_worker *w, const char *method,
                            const struct cg_rpc_raw *params, const char *const *want,
                            cg_rpc_result_cb cb, void *data);
void cg_worker_forget(struct cg_worker *w, uint64_t id);
void cg_worker_notify(struct cg_worker *w, const char *method, json_t *params);
void cg_worker_respond(struct cg_worker *w, json_t *id, json_t *result);
void cg_worker_respond_error(struct cg_worker *w, json_t *id, int64_t code, const char *message);

/* Appends this worker's /healthz object. */
int cg_worker_status_json(const struct cg_worker *w, struct cg_buf *out) CG_MUST_CHECK;

/* The restart delay after `failures` consecutive failures (1-based): initial·2^(n-1), capped. */
uint64_t cg_worker_backoff_ms(const struct cg_worker_config *cfg, unsigned failures);

#endif
