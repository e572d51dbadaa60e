/* fake_workers.h: for tests that run a real pool of spawned fake Codex workers: a hard bound on
 * the test's time, and no frozen fake left behind when a test fails or runs out of time. */
#ifndef CG_TESTS_FAKE_WORKERS_H
#define CG_TESTS_FAKE_WORKERS_H

#include <signal.h>
#include <unistd.h>
#include "backend/pool.h"
#include "backend/worker.h"

#ifdef CG_FAKE_CODEX /* the fake's path, from the build */

static struct cg_pool *fake_workers_pool;

static const char *const fake_workers_argv[] = {CG_FAKE_CODEX, "app-server", NULL};
static const char *const fake_workers_env[] = {"FAKE_CODEX_THREAD_BYTES=0",
                                               "FAKE_CODEX_UNLOAD_DELAY_MS=50", NULL};

/* A worker running the fake in `cwd`, quick to retry, patient with its answers. */
static inline struct cg_worker_config fake_workers_config(const char *cwd, unsigned restart_max)
{
    return (struct cg_worker_config){
        .argv = fake_workers_argv,
        .env = fake_workers_env,
        .cwd = cwd,
        .handshake_timeout_ms = 10000,
        .request_timeout_ms = 10000,
        .backoff_initial_ms = 20,
        .backoff_max_ms = 200,
        .stable_ms = 60000,
        .shutdown_grace_ms = 2000,
        .restart_max = restart_max,
        .max_line_bytes = 1 << 20,
    };
}

/* SIGKILL to every fake still running (a stopped one would never exit by itself). */
static inline void fake_workers_kill(void)
{
    struct cg_pool *pool = fake_workers_pool;
    if (pool == NULL || pool->workers == NULL)
        return;
    for (size_t i = 0; i < pool->count; i++) {
        if (pool->workers[i].pid > 0 && !pool->workers[i].exited)
            kill(pool->workers[i].pid, SIGKILL);
    }
}

/* Past the bound: no fake may outlive the test, which then dies of SIGALRM (Criterion reports
 * a crash). Not Criterion's .timeout: with parallel jobs its runner leaks an allocation per
 * timed test, which LeakSanitizer reports. */
static inline void fake_workers_on_alarm(int sig)
{
    (void)sig;
    fake_workers_kill();
    signal(SIGALRM, SIG_DFL);
    raise(SIGALRM);
}

/* Watches `pool` for the rest of the test, which may last at most `bound_s` seconds. */
static inline void fake_workers_watch(struct cg_pool *pool, unsigned bound_s)
{
    fake_workers_pool = pool;
    signal(SIGPIPE, SIG_IGN); /* as the gateway does: a dead child's pipe is an error, not death */
    signal(SIGALRM, fake_workers_on_alarm);
    alarm(bound_s);
}

#endif
#endif
