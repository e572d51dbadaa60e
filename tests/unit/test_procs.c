/* test_procs.c: the per-request backends on a real loop with the fake Codex spawned as
 * `exec --json` and as `proto`: answers, usage, the process cap and its queue, a released
 * choice killing its process group (a stubborn one too), crashes, and stopping. Every choice's
 * end and every process's departure is counted; no proc outlives the test; the loop closes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include "backend/launch.h"
#include "backend/proc.h"
#include "backend/procs.h"
#include "core/request.h"
#include "util/log.h"

#ifdef CG_FAKE_CODEX

enum { PROCS_MAX = 64, TEST_BOUND_S = 60, POLL_MS = 5 };

struct outcome {
    int finishes;
    int errors;
    enum cg_err error;
    char text[256];
    size_t text_len;
    int reasoning;
    struct cg_usage usage;
    int pid;
};

static struct fixture {
    uv_loop_t loop;
    uv_timer_t poll;
    struct cg_procs procs;
    struct cg_procs_config cfg;
    struct cg_launch launch;
    char home[64];
    struct cg_model model;
    struct cg_request req[PROCS_MAX];
    struct cg_proc *procs_of[PROCS_MAX];
    struct outcome out[PROCS_MAX];
    size_t n;
    size_t ended;
    size_t peak_running;
    int stopped;
    void (*on_poll)(void);
    void (*on_text)(size_t i);
} fx;

static char *exec_argv[] = {CG_FAKE_CODEX,           "exec", "--json", "--ephemeral",
                            "--skip-git-repo-check", NULL};
static char *proto_argv[] = {CG_FAKE_CODEX, "proto", NULL};
static char log_env[96];
static char *env[] = {"PATH=/usr/bin:/bin", log_env, NULL};

/* Past the bound no fake may be left behind: the whole session's processes are killed. */
static void on_alarm(int sig)
{
    for (size_t i = 0; i < fx.n; i++) {
        if (fx.out[i].pid > 0)
            kill(-fx.out[i].pid, SIGKILL);
    }
    signal(SIGALRM, SIG_DFL);
    raise(SIGALRM);
}

static void setup_kind(enum cg_backend_kind kind)
{
    memset(&fx, 0, sizeof(fx));
    cg_log_threshold = CG_LOG_ERROR;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm(TEST_BOUND_S);
    cr_assert_eq(uv_loop_init(&fx.loop), 0);
    snprintf(fx.home, sizeof(fx.home), "/tmp/cg-procs-test-XXXXXX");
    cr_assert_not_null(mkdtemp(fx.home));
    snprintf(fx.model.id, sizeof(fx.model.id), "fake-model");
    snprintf(fx.model.target, sizeof(fx.model.target), "fake-model");
    fx.launch.process_argv = kind == CG_BACKEND_EXEC ? exec_argv : proto_argv;
    fx.launch.process_argc = kind == CG_BACKEND_EXEC ? 5 : 2;
    fx.launch.process_kind = kind;
    snprintf(log_env, sizeof(log_env), "FAKE_CODEX_LOG=%s/fake.log", fx.home);
    fx.launch.env = env;
    fx.cfg = (struct cg_procs_config){
        .codex_home = fx.home,
        .codex_home_check_ms = 600000,
        .max_running = 2,
        .queue_max = 16,
        .queue_timeout_ms = 60000,
        .proc =
            {
                .loop = &fx.loop,
                .launch = &fx.launch,
                .cwd = fx.home,
                .max_line_bytes = 1 << 20,
                .kill_grace_ms = 100,
            },
    };
}

static void setup_exec(void)
{
    setup_kind(CG_BACKEND_EXEC);
}

static void setup_proto(void)
{
    setup_kind(CG_BACKEND_PROTO);
}

static void teardown(void)
{
    for (size_t i = 0; i < fx.n; i++)
        cg_request_dispose(&fx.req[i]);
    char path[96];
    snprintf(path, sizeof(path), "%s/fake.log", fx.home);
    unlink(path);
    rmdir(fx.home);
    alarm(0);
}

static void on_event(struct cg_proc *p, const struct cg_event *ev, void *data)
{
    size_t i = (size_t)(uintptr_t)data;
    struct outcome *o = &fx.out[i];
    switch (ev->type) {
    case CG_EVENT_TEXT: {
        size_t room = sizeof(o->text) - 1 - o->text_len;
        size_t n = ev->text.len < room ? ev->text.len : room;
        memcpy(o->text + o->text_len, ev->text.ptr, n);
        o->text_len += n;
        if (fx.on_text)
            fx.on_text(i);
        return;
    }
    case CG_EVENT_REASONING:
        o->reasoning++;
        return;
    case CG_EVENT_USAGE:
        o->usage = ev->usage;
        return;
    case CG_EVENT_FINISH:
        o->finishes++;
        break;
    case CG_EVENT_ERROR:
        o->errors++;
        o->error = ev->error->code;
        break;
    default:
        return;
    }
    fx.ended++;
    /* The creator is done with a choice once it ended. */
    cg_procs_cancel(&fx.procs, fx.procs_of[i]);
    cg_proc_release(fx.procs_of[i]);
    fx.procs_of[i] = NULL;
}

/* Prepares and submits a choice whose prompt is `text`; returns its index. */
static size_t submit_rc(const char *text, enum cg_err want)
{
    cr_assert_lt(fx.n, PROCS_MAX);
    size_t i = fx.n++;
    struct cg_request *r = &fx.req[i];
    cg_request_init(r);
    r->model = &fx.model;
    r->model_id = strdup("fake-model");
    r->input = json_pack("[{s:s,s:s,s:[]}]", "type", "text", "text", text, "text_elements");
    struct cg_proc *p = cg_proc_new("test", 0, on_event, (void *)(uintptr_t)i);
    struct cg_error err;
    cr_assert_eq(cg_proc_prepare(p, &fx.launch, r, &err), CG_OK, "%s", err.message);
    enum cg_err rc = cg_procs_submit(&fx.procs, p, &err);
    cr_assert_eq(rc, want, "submit %zu: %s", i, rc ? err.message : "ok");
    if (rc != CG_OK) {
        cg_proc_release(p);
        fx.ended++;
        return i;
    }
    fx.procs_of[i] = p;
    fx.out[i].pid = cg_proc_pid(p);
    return i;
}

static size_t submit(const char *text)
{
    return submit_rc(text, CG_OK);
}

static void on_stopped(struct cg_procs *ps)
{
    fx.stopped++;
}

static void on_poll(uv_timer_t *t)
{
    if (fx.procs.running > fx.peak_running)
        fx.peak_running = fx.procs.running;
    for (size_t i = 0; i < fx.n; i++) {
        if (fx.out[i].pid == 0 && fx.procs_of[i])
            fx.out[i].pid = cg_proc_pid(fx.procs_of[i]);
    }
    if (fx.on_poll)
        fx.on_poll();
    if (fx.ended == fx.n && fx.procs.running == 0 && !fx.procs.stopping) {
        uv_close((uv_handle_t *)&fx.poll, NULL);
        cg_procs_stop(&fx.procs, on_stopped);
    }
}

/* Runs the loop until every choice ended and every process is gone. */
static void run(void)
{
    uv_timer_init(&fx.loop, &fx.poll);
    uv_timer_start(&fx.poll, on_poll, POLL_MS, POLL_MS);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    cr_assert_eq(fx.stopped, 1);
    cr_assert_eq(fx.procs.running, 0);
    cr_assert_eq(cg_proc_live(), 0, "every proc freed");
    cr_assert_eq(uv_loop_close(&fx.loop), 0);
}

/* No such process, or a zombie nobody has reaped yet: either way it runs no more. */
static bool gone(int pid)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    char buf[512];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && paren[2] == 'Z';
}

static void start(void)
{
    cg_procs_init(&fx.procs, &fx.cfg);
}

TestSuite(procs_exec, .init = setup_exec, .fini = teardown);
TestSuite(procs_proto, .init = setup_proto, .fini = teardown);

Test(procs_exec, answers_with_the_whole_message_and_its_usage)
{
    /* Long enough for a fake that runs slowly (under valgrind its exit takes over 100 ms): the
     * point is that nothing kills a process that ends by itself. */
    fx.cfg.proc.kill_grace_ms = 20000;
    start();
    size_t i = submit("hello");
    size_t j = submit("fake:reasoning");
    run();
    cr_assert_eq(fx.out[i].finishes, 1);
    cr_assert_str_eq(fx.out[i].text, "Hello from fake-codex.");
    cr_assert_eq(fx.out[i].usage.input, 21);
    cr_assert_eq(fx.out[i].usage.cached, 5);
    cr_assert_eq(fx.out[i].usage.output, 9);
    cr_assert_str_eq(fx.out[j].text, "Reasoned answer.");
    cr_assert_eq(fx.out[j].reasoning, 1);
    cr_assert_eq(fx.out[j].usage.reasoning, 4);
    cr_assert(gone(fx.out[i].pid) && gone(fx.out[j].pid));
    cr_assert_eq(fx.procs.stats.started, 2);
    cr_assert_eq(fx.procs.stats.killed, 0, "a process that answered ends by itself");
}

Test(procs_exec, separate_messages_are_joined_with_a_blank_line)
{
    start();
    size_t i = submit("fake:messages=3");
    run();
    cr_assert_str_eq(fx.out[i].text, "m1\n\nm2\n\nm3");
}

Test(procs_exec, never_more_processes_than_the_cap_and_the_queue_drains)
{
    start();
    size_t first = fx.n;
    for (int k = 0; k < 7; k++)
        submit("fake:slow=50");
    run();
    cr_assert_leq(fx.peak_running, 2);
    for (size_t i = first; i < fx.n; i++)
        cr_assert_eq(fx.out[i].finishes, 1, "choice %zu", i);
    cr_assert_eq(fx.procs.stats.started, 7);
    cr_assert_geq(fx.procs.stats.queued, 5);
}

Test(procs_exec, a_full_queue_refuses_with_429)
{
    fx.cfg.max_running = 1;
    fx.cfg.queue_max = 1;
    start();
    submit("fake:slow=100");
    submit("fake:slow=10");
    size_t k = submit_rc("x", CG_ERR_QUEUE_FULL);
    run();
    cr_assert_eq(fx.out[0].finishes + fx.out[1].finishes, 2);
    cr_assert_eq(fx.out[k].finishes, 0);
    cr_assert_eq(fx.procs.stats.rejected, 1);
}

Test(procs_exec, a_queue_wait_past_its_deadline_ends_with_429)
{
    fx.cfg.max_running = 1;
    fx.cfg.queue_timeout_ms = 20;
    start();
    submit("fake:slow=600");
    size_t k = submit("x");
    run();
    cr_assert_eq(fx.out[k].errors, 1);
    cr_assert_eq(fx.out[k].error, CG_ERR_QUEUE_FULL);
    cr_assert_eq(fx.procs.stats.queue_timeouts, 1);
}

static size_t release_at; /* the choice released once its fake waits for a signal */

/* The pid of the last {"event":<event>,"pid":N} line of the fake's log; 0 when none. */
static int logged_pid(const char *event)
{
    char path[96];
    snprintf(path, sizeof(path), "%s/fake.log", fx.home);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char want[64];
    snprintf(want, sizeof(want), "\"event\":\"%s\"", event);
    char line[512];
    int pid = 0;
    while (fgets(line, sizeof(line), f)) {
        const char *at = strstr(line, want);
        const char *num = at ? strstr(line, "\"pid\":") : NULL;
        if (num)
            pid = (int)strtol(num + 6, NULL, 10);
    }
    fclose(f);
    return pid;
}

static void release_when_hanging(void)
{
    size_t i = release_at;
    if (fx.procs_of[i] == NULL || logged_pid("hang") == 0)
        return;
    cg_proc_release(fx.procs_of[i]);
    fx.procs_of[i] = NULL;
    fx.ended++;
}

Test(procs_exec, a_released_choice_kills_its_process_at_once)
{
    start();
    release_at = submit("fake:hang");
    fx.on_poll = release_when_hanging;
    run();
    cr_assert_eq(fx.out[release_at].finishes + fx.out[release_at].errors, 0, "no event after");
    cr_assert(gone(fx.out[release_at].pid));
    cr_assert_eq(fx.procs.stats.killed, 1);
}

Test(procs_exec, a_process_deaf_to_sigterm_gets_sigkill)
{
    start();
    release_at = submit("fake:hang=stubborn");
    fx.on_poll = release_when_hanging;
    run();
    cr_assert(gone(fx.out[release_at].pid));
    cr_assert_eq(fx.procs.stats.killed, 1);
}

Test(procs_exec, its_whole_process_group_goes_with_it)
{
    start();
    release_at = submit("fake:family");
    fx.on_poll = release_when_hanging;
    run();
    int child = logged_pid("child");
    cr_assert_gt(child, 0, "the fake logged its child");
    /* SIGKILL went to the group; the orphan's reaper (init or a subreaper) collects it. */
    for (int k = 0; k < 500 && !gone(child); k++)
        usleep(10000);
    cr_assert(gone(child), "no orphan is left");
}

Test(procs_exec, a_pipe_held_past_the_exit_is_let_go)
{
    fx.cfg.proc.kill_grace_ms = 0; /* the drain after the exit has a floor of its own */
    start();
    size_t i = submit("fake:family=escape");
    run();
    int child = logged_pid("child");
    cr_assert_gt(child, 0);
    kill(child, SIGKILL); /* outside the group: the gateway cannot reach it, the test can */
    cr_assert_eq(fx.out[i].errors, 1, "exit 0 with no answer is an error");
    cr_assert_eq(fx.out[i].error, CG_ERR_BACKEND_ERROR);
}

Test(procs_exec, a_crash_is_an_error_that_names_the_exit)
{
    start();
    size_t i = submit("fake:crash");
    size_t j = submit("fake:crash=signal");
    run();
    cr_assert_eq(fx.out[i].errors, 1);
    cr_assert_eq(fx.out[i].error, CG_ERR_BACKEND_ERROR);
    cr_assert_eq(fx.out[j].errors, 1);
    cr_assert_eq(fx.procs.stats.exits_failed, 2);
}

Test(procs_exec, a_failed_turn_is_the_mapped_codex_error)
{
    start();
    size_t i = submit("fake:error=context");
    run();
    cr_assert_eq(fx.out[i].errors, 1);
    cr_assert_eq(fx.out[i].error, CG_ERR_CONTEXT_LENGTH);
}

Test(procs_exec, garbage_lines_are_skipped)
{
    start();
    size_t i = submit("fake:garbage");
    run();
    cr_assert_eq(fx.out[i].finishes, 1);
    cr_assert_str_eq(fx.out[i].text, "Hello from fake-codex.");
}

Test(procs_exec, a_line_past_the_cap_fails_the_choice)
{
    fx.cfg.proc.max_line_bytes = 4096;
    start();
    size_t i = submit("fake:hugeline=100000");
    run();
    cr_assert_eq(fx.out[i].errors, 1);
    cr_assert_eq(fx.out[i].error, CG_ERR_BACKEND_ERROR);
}

Test(procs_exec, stopping_fails_the_waiting_and_waits_for_the_running)
{
    fx.cfg.max_running = 1;
    start();
    size_t run_i = submit("fake:hang");
    size_t wait_i = submit("x");
    fx.on_poll = NULL;
    uv_timer_init(&fx.loop, &fx.poll);
    /* Stop at once: the waiting choice fails, the running one is released by its owner. */
    cg_procs_stop(&fx.procs, on_stopped);
    cr_assert_eq(fx.out[wait_i].errors, 1);
    cr_assert_eq(fx.out[wait_i].error, CG_ERR_SHUTTING_DOWN);
    cr_assert_eq(fx.stopped, 0, "a process still runs");
    cg_proc_release(fx.procs_of[run_i]);
    fx.procs_of[run_i] = NULL;
    uv_close((uv_handle_t *)&fx.poll, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    cr_assert_eq(fx.stopped, 1);
    cr_assert_eq(cg_proc_live(), 0);
    cr_assert_eq(uv_loop_close(&fx.loop), 0);
}

Test(procs_proto, streams_deltas_and_reads_the_usage_line)
{
    start();
    size_t i = submit("hello");
    size_t j = submit("fake:reasoning");
    run();
    cr_assert_eq(fx.out[i].finishes, 1);
    cr_assert_str_eq(fx.out[i].text, "Hello from fake-codex.");
    cr_assert_eq(fx.out[i].usage.input, 21);
    cr_assert_eq(fx.out[i].usage.output, 9);
    cr_assert_str_eq(fx.out[j].text, "Reasoned answer.");
    cr_assert_geq(fx.out[j].reasoning, 3);
    cr_assert(gone(fx.out[i].pid), "EOF on stdin ends proto");
}

Test(procs_proto, an_error_event_fails_the_choice)
{
    start();
    size_t i = submit("fake:error=usage");
    run();
    cr_assert_eq(fx.out[i].errors, 1);
    cr_assert_eq(fx.out[i].error, CG_ERR_QUOTA_EXCEEDED);
}

Test(procs_proto, a_retry_does_not_repeat_text)
{
    start();
    size_t i = submit("fake:retry");
    run();
    cr_assert_eq(fx.out[i].finishes, 1);
    cr_assert_str_eq(fx.out[i].text, "Hello after retry.");
}

Test(procs_exec, the_start_check_wants_the_command_in_this_cli)
{
    char err[512];
    fx.launch.program_argc = 1;
    fx.launch.codex_bin = CG_FAKE_CODEX;
    cr_assert_eq(cg_launch_check_process(&fx.launch, err, sizeof(err)), 0, "%s", err);
    fx.launch.process_kind = CG_BACKEND_PROTO;
    cr_assert_eq(cg_launch_check_process(&fx.launch, err, sizeof(err)), 0, "%s", err);
    /* A CLI that takes the word as a prompt: no usage line of the command. */
    char *echo_argv[] = {"/bin/echo", "exec", NULL};
    fx.launch.process_argv = echo_argv;
    fx.launch.codex_bin = "/bin/echo";
    cr_assert_eq(cg_launch_check_process(&fx.launch, err, sizeof(err)), -1);
    cr_assert(strstr(err, "has no `proto` command") && strstr(err, "PROXY_BACKEND=exec"), "%s",
              err);
    char *false_argv[] = {"/bin/false", NULL};
    fx.launch.process_argv = false_argv;
    fx.launch.process_kind = CG_BACKEND_EXEC;
    cr_assert_eq(cg_launch_check_process(&fx.launch, err, sizeof(err)), -1);
    cr_assert(strstr(err, "exited with status 1"), "%s", err);
    cr_assert_eq(uv_loop_close(&fx.loop), 0);
}

#endif
