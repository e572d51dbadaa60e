/* proc.h: one choice run by a Codex process of its own: the exec and proto backends. The
 * conversation becomes one prompt (backend/prompt.h); the process is spawned in a session of
 * its own (so its whole process group can be killed), with CODEX_HOME and the work directory;
 * exec gets the prompt on stdin and then EOF, proto one submission line. Stdout lines become
 * normalized events (backend/exec_line.h, backend/proto_line.h); stdout lines are bounded,
 * and only the last CG_PROC_STDERR_TAIL_BYTES of stderr are kept, for the log.
 *
 * Lifetime: the creator owns a proc until cg_proc_release; no events after that, and the
 * request is never read after cg_proc_prepare. A running process is then killed (SIGTERM to
 * its group, SIGKILL after the grace); the proc's memory lives until the process has exited
 * and its pipes are closed, and `gone` tells its runner (backend/procs.h) so. */
#ifndef CG_BACKEND_PROC_H
#define CG_BACKEND_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "backend/launch.h"
#include "core/errors.h"
#include "core/events.h"
#include "core/request.h"

enum { CG_PROC_STDERR_TAIL_BYTES = 2048, CG_PROC_TAG_BYTES = 64 };

struct cg_proc;

/* Events for the choice, in order: CG_EVENT_STARTED once its process runs, then the rest; the
 * last is CG_EVENT_FINISH or CG_EVENT_ERROR. The event is valid only during the call, which
 * may release the proc. */
typedef void (*cg_proc_event_cb)(struct cg_proc *p, const struct cg_event *ev, void *data);

struct cg_proc_config {
    uv_loop_t *loop;
    const struct cg_launch *launch; /* argv and env (borrowed, outlives every proc) */
    const char *cwd;                /* PROXY_CODEX_WORKDIR */
    size_t max_line_bytes;          /* longest stdout line */
    uint64_t kill_grace_ms;         /* SIGTERM to SIGKILL */
};

/* How a process ended, for its runner's counters. */
struct cg_proc_exit {
    int64_t status;  /* exit status, or -1 */
    int term_signal; /* 0 when it exited */
    bool killed;     /* we signalled it (cancelled, or it outlived its answer) */
    bool failed;     /* the choice ended in an error the process caused */
};

/* Called once the process has exited and its pipes are closed; the proc may be freed right
 * after. */
typedef void (*cg_proc_gone_cb)(struct cg_proc *p, const struct cg_proc_exit *exit, void *data);

struct cg_proc *cg_proc_new(const char *tag, unsigned choice, cg_proc_event_cb cb, void *data);

/* Renders the request into the prompt and the command line (nothing else of `req` is kept).
 * Fails with what the prompt cannot carry (backend/prompt.h). */
enum cg_err cg_proc_prepare(struct cg_proc *p, const struct cg_launch *launch,
                            const struct cg_request *req, struct cg_error *err) CG_MUST_CHECK;

/* Starts the process and emits CG_EVENT_STARTED (from inside this call). On failure (a
 * negative UV_E*) nothing started, `gone` is never called, and `p` can only be released. */
int cg_proc_spawn(struct cg_proc *p, const struct cg_proc_config *cfg, cg_proc_gone_cb gone,
                  void *gone_data) CG_MUST_CHECK;

/* A proc that never started (queue timeout, shutdown) ends with `err`. */
void cg_proc_fail(struct cg_proc *p, const struct cg_error *err);

/* The creator is done: no more events; a running process is killed. */
void cg_proc_release(struct cg_proc *p);

/* What Codex reported so far (the last usage line). */
struct cg_usage cg_proc_usage(const struct cg_proc *p);
/* The process id, 0 before the spawn. */
int cg_proc_pid(const struct cg_proc *p);

/* For the runner's queue. */
struct cg_proc_queue_link {
    struct cg_proc *prev;
    struct cg_proc *next;
    uint64_t deadline_ms;
    uint64_t queued_us;
    bool queued;
};
struct cg_proc_queue_link *cg_proc_link(struct cg_proc *p);

/* Procs allocated and not yet freed, in this process (for tests and leak checks). */
size_t cg_proc_live(void);

#endif
