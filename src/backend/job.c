/* job.c: a choice as an app-server turn or as a process of its own. */
#include "backend/job.h"
#include <string.h>
#include "backend/launch.h"
#include "backend/pool.h"
#include "backend/proc.h"
#include "backend/procs.h"
#include "backend/sessions.h"
#include "backend/turn.h"

static void on_turn_event(struct cg_turn *t, const struct cg_event *ev, void *data)
{
    struct cg_job *j = data;
    j->cb(j, ev, j->data);
}

static void on_proc_event(struct cg_proc *p, const struct cg_event *ev, void *data)
{
    struct cg_job *j = data;
    j->cb(j, ev, j->data);
}

static enum cg_err submit_proc(struct cg_job *j, const struct cg_request *req, unsigned choice,
                               const char *tag, struct cg_error *err)
{
    struct cg_proc *p = cg_proc_new(tag, choice, on_proc_event, j);
    enum cg_err rc = cg_proc_prepare(p, j->backend->launch, req, err);
    if (rc != CG_OK) {
        cg_proc_release(p);
        return rc;
    }
    j->proc = p; /* before the submit: its events may come from inside it */
    rc = cg_procs_submit(j->backend->procs, p, err);
    if (rc != CG_OK && j->proc) {
        j->proc = NULL;
        cg_proc_release(p);
    }
    return rc;
}

enum cg_err cg_job_submit(struct cg_job *j, const struct cg_job_backend *b,
                          const struct cg_request *req, unsigned choice, const char *tag,
                          cg_job_event_cb cb, void *data, struct cg_error *err)
{
    memset(j, 0, sizeof(*j));
    j->backend = b;
    j->cb = cb;
    j->data = data;
    if (b->procs)
        return submit_proc(j, req, choice, tag, err);
    struct cg_turn *t = cg_turn_new(req, choice, on_turn_event, j);
    j->turn = t; /* before the submit: its events may come from inside it */
    enum cg_err rc = cg_pool_submit(b->pool, t, err);
    if (rc != CG_OK && j->turn) {
        j->turn = NULL;
        cg_turn_release(t);
    }
    return rc;
}

void cg_job_drop(struct cg_job *j)
{
    if (j->turn) {
        cg_pool_cancel(j->backend->pool, j->turn);
        cg_turn_release(j->turn);
        j->turn = NULL;
    }
    if (j->proc) {
        cg_procs_cancel(j->backend->procs, j->proc);
        cg_proc_release(j->proc);
        j->proc = NULL;
    }
}

struct cg_usage cg_job_usage(const struct cg_job *j)
{
    if (j->turn)
        return j->turn->usage;
    if (j->proc)
        return cg_proc_usage(j->proc);
    return (struct cg_usage){0};
}

bool cg_job_ends_with_its_text(const struct cg_job *j)
{
    return j->proc != NULL && j->backend->launch->process_kind == CG_BACKEND_EXEC;
}

int cg_job_worker(const struct cg_job *j)
{
    if (j->turn && j->turn->sess)
        return (int)j->turn->sess->worker_id;
    return -1;
}
