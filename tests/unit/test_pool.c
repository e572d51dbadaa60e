/* test_pool.c: the pool with real workers (the fake Codex, spawned) on a real loop: a worker
 * killed with a full queue, a long queue drained after a kill, a frozen worker found by the
 * liveness ping, and one that thaws in time. Every turn's end is counted; the loop must close. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include "backend/turn.h"
#include "backend/pool.h"
#include "backend/worker.h"
#include "core/request.h"
#include "util/log.h"
#include "fake_workers.h"

#ifdef CG_FAKE_CODEX

/* Each test's hard bound. Not Criterion's .timeout: with parallel jobs its runner leaks an
 * allocation per timed test (LeakSanitizer then fails the whole run). SIGALRM's default action
 * ends the test process, which Criterion reports as a crash. */
enum { TURNS_MAX = 2100, POLL_MS = 5, SCENARIOS_MAX = 4, TEST_BOUND_S = 120 };

struct outcome {
    int finishes;
    int errors;
    int deltas;
    unsigned worker; /* the worker it started on */
    char error[CG_ERROR_MESSAGE_BYTES];
};

static struct fixture {
    uv_loop_t loop;
    uv_timer_t poll;
    struct cg_pool pool;
    struct cg_worker_config wcfg;
    struct cg_pool_config pcfg;
    char home[64];
    struct cg_model model;
    struct cg_request req[SCENARIOS_MAX];
    size_t nreq;
    struct cg_turn *turns[TURNS_MAX];
    struct outcome out[TURNS_MAX];
    size_t nturns;
    size_t ended;
    size_t expected; /* turns that must end before the pool is stopped */
    bool started;
    bool finishing;
    bool hold; /* set by a test until what it waits for has happened */
    int pool_stopped;
    /* Test hooks. */
    void (*start)(void);
    void (*on_delta)(size_t turn);
    void (*on_poll)(void);
} fx;

static void setup(void)
{
    memset(&fx, 0, sizeof(fx));
    cg_log_threshold = CG_LOG_ERROR;
    fake_workers_watch(&fx.pool, TEST_BOUND_S);
    cr_assert_eq(uv_loop_init(&fx.loop), 0);
    snprintf(fx.home, sizeof(fx.home), "/tmp/cg-pool-test-XXXXXX");
    cr_assert_not_null(mkdtemp(fx.home));
    snprintf(fx.model.id, sizeof(fx.model.id), "fake-model");
    snprintf(fx.model.target, sizeof(fx.model.target), "fake-model");
    fx.wcfg = fake_workers_config(fx.home, 10);
    fx.pcfg = (struct cg_pool_config){
        .codex_home = fx.home,
        .codex_home_check_ms = 600000,
        .workers = 2,
        .max_concurrency = 2,
        .queue_max = 64,
        .queue_timeout_ms = 60000,
        .worker = &fx.wcfg,
    };
}

static void teardown(void)
{
    /* A failed test may leave a stopped fake behind: never leave it frozen. */
    fake_workers_kill();
    for (size_t i = 0; i < fx.nreq; i++)
        cg_request_dispose(&fx.req[i]);
    rmdir(fx.home);
}

/* A request whose text carries a fake-codex scenario marker. */
static const struct cg_request *scenario(const char *marker)
{
    for (size_t i = 0; i < fx.nreq; i++) {
        const char *text =
            json_string_value(json_object_get(json_array_get(fx.req[i].input, 0), "text"));
        if (strcmp(text, marker) == 0)
            return &fx.req[i];
    }
    cr_assert_lt(fx.nreq, SCENARIOS_MAX);
    struct cg_request *r = &fx.req[fx.nreq++];
    cg_request_init(r);
    r->model = &fx.model;
    r->model_id = strdup("fake-model");
    r->input = json_pack("[{s:s,s:s,s:[]}]", "type", "text", "text", marker, "text_elements");
    return r;
}

static void on_event(struct cg_turn *t, const struct cg_event *ev, void *data)
{
    size_t i = (size_t)(uintptr_t)data;
    struct outcome *o = &fx.out[i];
    switch (ev->type) {
    case CG_EVENT_TEXT:
        if (o->deltas++ == 0 && fx.on_delta)
            fx.on_delta(i);
        return;
    case CG_EVENT_FINISH:
        o->finishes++;
        break;
    case CG_EVENT_ERROR:
        o->errors++;
        snprintf(o->error, sizeof(o->error), "%s", ev->error->message);
        break;
    default:
        return;
    }
    fx.ended++;
}

/* Submits a turn; CG_OK expected. Returns its index. */
static size_t submit(const char *marker)
{
    cr_assert_lt(fx.nturns, TURNS_MAX);
    size_t i = fx.nturns++;
    fx.turns[i] = cg_turn_new(scenario(marker), 0, on_event, (void *)(uintptr_t)i);
    struct cg_error err;
    enum cg_err rc = cg_pool_submit(&fx.pool, fx.turns[i], &err);
    cr_assert_eq(rc, CG_OK, "submit %zu: %s", i, err.message);
    fx.out[i].worker = fx.turns[i]->sess ? fx.turns[i]->sess->worker->id : UINT32_MAX;
    return i;
}

static void on_pool_stopped(struct cg_pool *p)
{
    fx.pool_stopped++;
}

static bool all_ready(void)
{
    for (size_t i = 0; i < fx.pool.count; i++) {
        if (!cg_worker_is_ready(&fx.pool.workers[i]))
            return false;
    }
    return true;
}

static void on_poll(uv_timer_t *t)
{
    if (!fx.started) {
        if (!all_ready())
            return;
        fx.started = true;
        fx.start();
        return;
    }
    if (fx.on_poll)
        fx.on_poll();
    if (fx.finishing || fx.hold || fx.ended < fx.expected)
        return;
    /* Outside every pool callback: release the turns, then stop. */
    fx.finishing = true;
    for (size_t i = 0; i < fx.nturns; i++)
        cg_turn_release(fx.turns[i]);
    cg_pool_stop(&fx.pool, on_pool_stopped);
    uv_close((uv_handle_t *)&fx.poll, NULL);
}

static void run_pool(void)
{
    cg_pool_init(&fx.pool, &fx.loop, &fx.pcfg);
    cg_pool_start(&fx.pool);
    uv_timer_init(&fx.loop, &fx.poll);
    uv_timer_start(&fx.poll, on_poll, POLL_MS, POLL_MS);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    cr_assert_eq(fx.pool_stopped, 1);
    cr_assert_eq(uv_loop_close(&fx.loop), 0);
    for (size_t i = 0; i < fx.nturns; i++)
        cr_assert_eq(fx.out[i].finishes + fx.out[i].errors, 1, "turn %zu ended %d times", i,
                     fx.out[i].finishes + fx.out[i].errors);
}

static void kill_worker(unsigned id, int sig)
{
    struct cg_worker *w = &fx.pool.workers[id];
    cr_assert(w->pid > 0 && !w->exited);
    cr_assert_eq(kill(w->pid, sig), 0);
}

TestSuite(pool_workers, .init = setup, .fini = teardown);

/* --- a worker dies with a full queue ------------------------------------------------------ */

static bool killed;
static size_t running_turns;

static void kill_worker0_on_its_first_delta(size_t i)
{
    if (!killed && fx.out[i].worker == 0) {
        killed = true;
        kill_worker(0, SIGKILL);
    }
}

static void start_busy_then_queue(size_t queued)
{
    for (size_t i = 0; i < running_turns; i++) {
        size_t k = submit("fake:slow=20,10");
        cr_assert_eq(fx.out[k].worker, k % 2, "turns alternate between the two workers");
    }
    for (size_t i = 0; i < queued; i++) {
        size_t k = submit("fake:text");
        cr_assert_eq(fx.turns[k]->state, CG_TURN_QUEUED);
    }
    cr_assert_eq(fx.pool.qlen, queued);
    fx.expected = running_turns + queued;
}

static void start_small_queue(void)
{
    start_busy_then_queue(10);
}

static void assert_queue_survived(void)
{
    for (size_t i = 0; i < fx.nturns; i++) {
        const struct outcome *o = &fx.out[i];
        if (i < running_turns && o->worker == 0) {
            cr_assert_eq(o->errors, 1, "turn %zu on the killed worker fails in-band", i);
            cr_assert(strstr(o->error, "signal 9") != NULL, "turn %zu: %s", i, o->error);
        } else {
            cr_assert_eq(o->finishes, 1, "turn %zu must complete, got: %s", i, o->error);
        }
    }
    cr_assert_geq(fx.pool.stats.turns_started, fx.nturns);
}

Test(pool_workers, killed_worker_leaves_its_queue_to_the_healthy_one)
{
    running_turns = 4;
    fx.start = start_small_queue;
    fx.on_delta = kill_worker0_on_its_first_delta;
    run_pool();
    cr_assert(killed);
    assert_queue_survived();
}

static void start_long_queue(void)
{
    start_busy_then_queue(2000);
}

Test(pool_workers, long_queue_drains_without_recursion_after_a_kill)
{
    running_turns = 8;
    fx.pcfg.max_concurrency = 4;
    fx.pcfg.queue_max = 3000;
    fx.start = start_long_queue;
    fx.on_delta = kill_worker0_on_its_first_delta;
    run_pool();
    cr_assert(killed);
    assert_queue_survived();
}

/* --- a worker that stops reading its stdin ---------------------------------------------- */

static size_t flood_calls;
static size_t flood_settled;
static char flood_reason[CG_WORKER_ERROR_BYTES];

static void on_flood_answer(void *data, json_t *result, const struct cg_rpc_error *err)
{
    flood_settled++;
}

static void start_flood(void)
{
    struct cg_worker *w = &fx.pool.workers[0];
    kill_worker(0, SIGSTOP);
    enum { PAD_BYTES = 256 << 10, CALLS_MAX = 100 };
    char *pad = malloc(PAD_BYTES);
    cr_assert_not_null(pad);
    memset(pad, 'a', PAD_BYTES - 1);
    pad[PAD_BYTES - 1] = '\0';
    for (size_t i = 0; i < CALLS_MAX && w->kill_reason[0] == '\0'; i++) {
        if (cg_worker_call(w, "thread/loaded/list", json_pack("{s:s}", "pad", pad), on_flood_answer,
                           NULL))
            flood_calls++;
    }
    free(pad);
    snprintf(flood_reason, sizeof(flood_reason), "%s", w->kill_reason);
    cr_assert(strstr(flood_reason, "not reading its stdin") != NULL, "kill reason: %s",
              flood_reason);
    cr_assert(!cg_worker_is_ready(w), "a worker being killed takes no turns");
    fx.hold = true;
}

static void wait_for_backoff(void)
{
    struct cg_worker *w = &fx.pool.workers[0];
    if (!fx.hold || w->state != CG_WORKER_BACKOFF)
        return;
    cr_assert_eq(w->last_exit_signal, SIGKILL);
    cr_assert_str_eq(w->last_error, flood_reason, "the reason, not \"exited on signal 9\"");
    fx.hold = false;
}

Test(pool_workers, worker_killed_for_not_reading_its_stdin_keeps_the_reason)
{
    fx.pcfg.workers = 1;
    fx.wcfg.stdin_queue_max_bytes = 4 << 20;
    fx.start = start_flood;
    fx.on_poll = wait_for_backoff;
    run_pool();
    cr_assert_gt(flood_calls, 0);
    cr_assert_eq(flood_settled, flood_calls, "every call settled once (at the exit)");
}

/* --- a frozen worker ---------------------------------------------------------------------- */

static bool frozen;
static bool seen_unhealthy;
static bool thaw;
static bool recovered;
static int frozen_pid;

static void freeze_worker0_on_its_first_delta(size_t i)
{
    if (!frozen && fx.out[i].worker == 0) {
        frozen = true;
        frozen_pid = fx.pool.workers[0].pid;
        kill_worker(0, SIGSTOP);
    }
}

static void start_two_streams(void)
{
    size_t a = submit("fake:slow=50,20");
    size_t b = submit("fake:slow=50,20");
    cr_assert_eq(fx.out[a].worker, 0);
    cr_assert_eq(fx.out[b].worker, 1);
    fx.expected = 3; /* one more is submitted while worker 0 is unhealthy */
}

static void watch_health(void)
{
    struct cg_worker *w0 = &fx.pool.workers[0];
    if (!seen_unhealthy && w0->state == CG_WORKER_UNHEALTHY) {
        seen_unhealthy = true;
        unsigned ids[4];
        cr_assert_eq(cg_pool_unhealthy(&fx.pool, ids, 4), 1);
        cr_assert_eq(ids[0], 0);
        cr_assert(!cg_worker_is_ready(w0));
        size_t k = submit("fake:text");
        cr_assert_eq(fx.out[k].worker, 1, "an unhealthy worker gets no new turns");
        if (thaw)
            kill_worker(0, SIGCONT);
    }
    /* Ready again as the same process: it was not restarted. */
    if (seen_unhealthy && thaw && !recovered && w0->state == CG_WORKER_READY &&
        w0->pid == frozen_pid && !w0->exited)
        recovered = true;
}

Test(pool_workers, frozen_worker_is_found_killed_and_its_turn_fails_in_band)
{
    fx.wcfg.ping_interval_ms = 100;
    fx.wcfg.ping_timeout_ms = 500;
    fx.wcfg.unhealthy_grace_ms = 500;
    fx.start = start_two_streams;
    fx.on_delta = freeze_worker0_on_its_first_delta;
    fx.on_poll = watch_health;
    run_pool();
    cr_assert(frozen);
    cr_assert(seen_unhealthy);
    cr_assert_eq(fx.out[0].errors, 1);
    cr_assert(strstr(fx.out[0].error, "killed by the gateway: unhealthy") != NULL, "%s",
              fx.out[0].error);
    cr_assert_eq(fx.out[1].finishes, 1);
    cr_assert_eq(fx.out[2].finishes, 1);
}

Test(pool_workers, frozen_worker_that_thaws_within_the_grace_takes_turns_again)
{
    fx.wcfg.ping_interval_ms = 100;
    fx.wcfg.ping_timeout_ms = 500;
    fx.wcfg.unhealthy_grace_ms = 5000;
    thaw = true;
    fx.start = start_two_streams;
    fx.on_delta = freeze_worker0_on_its_first_delta;
    fx.on_poll = watch_health;
    run_pool();
    cr_assert(seen_unhealthy);
    cr_assert(recovered);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(fx.out[i].finishes, 1, "turn %zu: %s", i, fx.out[i].error);
}

#endif
