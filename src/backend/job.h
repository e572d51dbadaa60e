/* job.h: one choice of one request on whichever backend is configured: a turn on an
 * app-server worker (backend/pool.h), or a Codex process of its own (backend/procs.h). The
 * run (api/run.c) sees only this, so every endpoint works the same on every backend.
 *
 * A job is embedded in its owner. Events stop at cg_job_drop; after it the job reads nothing
 * of the request. */
#ifndef CG_BACKEND_JOB_H
#define CG_BACKEND_JOB_H

#include <stdbool.h>
#include "core/errors.h"
#include "core/events.h"
#include "core/request.h"

struct cg_pool;
struct cg_procs;
struct cg_launch;
struct cg_turn;
struct cg_proc;

/* Exactly one of pool and procs is set. */
struct cg_job_backend {
    struct cg_pool *pool;
    struct cg_procs *procs;
    const struct cg_launch *launch; /* with procs: how the processes are started */
};

struct cg_job;

/* Events of the job's choice, in order; the last is CG_EVENT_FINISH or CG_EVENT_ERROR. The
 * event is valid only during the call, which may drop the job. */
typedef void (*cg_job_event_cb)(struct cg_job *j, const struct cg_event *ev, void *data);

struct cg_job {
    struct cg_turn *turn;
    struct cg_proc *proc;
    const struct cg_job_backend *backend;
    cg_job_event_cb cb;
    void *data;
};

/* Starts choice `choice` of `req` (borrowed until cg_job_drop). Events may come from inside
 * this call, its end included (the job is already held then, and may be dropped). On failure
 * fills `err` (400 for what the backend cannot do, 429, 503) and the job holds nothing. */
enum cg_err cg_job_submit(struct cg_job *j, const struct cg_job_backend *b,
                          const struct cg_request *req, unsigned choice, const char *tag,
                          cg_job_event_cb cb, void *data, struct cg_error *err) CG_MUST_CHECK;
/* No more events; a running choice is interrupted (turn) or killed (process). */
void cg_job_drop(struct cg_job *j);
/* What the backend reported so far: completed model responses (turn) or the last usage line
 * (process). */
struct cg_usage cg_job_usage(const struct cg_job *j);
/* Whether the choice's text comes in whole messages with its usage right after (exec): one
 * that hit a stop sequence is left to end by itself, which costs nothing more, so that its
 * usage is counted. */
bool cg_job_ends_with_its_text(const struct cg_job *j);
/* The app-server worker that runs it; -1 for a process of its own or none yet. */
int cg_job_worker(const struct cg_job *j);

#endif
