/* exec.c: `fake-codex exec --json [PROMPT]` as the real CLI behaves (research/codex-runtime.md
 * §5): it reads stdin to EOF whenever stdin is not a TTY, then writes thread.started,
 * turn.started, the scenario's completed items and turn.completed (or turn.failed) as JSONL. */
#include "exec.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "out.h"
#include "util.h"

#define STDIN_MAX_BYTES  (256u * 1024u * 1024u)
#define HUGELINE_MAX     (1024u * 1024u * 1024u)
#define HUGELINE_DEFAULT (1024u * 1024u)
#define FLOOD_MAX        (1024u * 1024u * 1024u)
#define FLOOD_DEFAULT    (1024u * 1024u)
#define SLOW_MS_MAX      3600000u
#define SLOW_DEFAULT_MS  1000u
#define MESSAGES_MAX     100000u
#define MESSAGES_DEFAULT 3u
#define STARTUP_MS_MAX   (24ull * 3600ull * 1000ull)
#define READ_CHUNK_BYTES (64u * 1024u)
#define FLOOD_LINE_BYTES 100u
/* A `family` child that nobody kills goes away on its own after this long. */
#define FAMILY_CHILD_MAX_S 600u

/* Command line of one exec run. */
struct exec_args {
    const char *prompt; /* NULL: absent */
    char *model;
    bool json;
};

/* One exec run's output state. */
struct run {
    const struct exec_args *args;
    int argc;
    char **argv;
    const char *prompt;
    size_t prompt_len;
    size_t stdin_bytes;
    unsigned next_item;
};

static bool write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* An inherited non-blocking pipe: wait until it takes more. */
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, -1);
            continue;
        }
        return false;
    }
    return true;
}

void fc_exec_line(const char *line, size_t len)
{
    struct fc_buf b = {0};
    fc_buf_reserve(&b, len + 1);
    fc_buf_append(&b, line, len);
    fc_buf_appendc(&b, '\n');
    bool ok = write_all(STDOUT_FILENO, b.data, b.len);
    fc_buf_dispose(&b);
    if (!ok) {
        fprintf(stderr, "fake-codex: stdout write failed: %s\n", strerror(errno));
        exit(1);
    }
}

void fc_exec_json(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        fprintf(stderr, "fake-codex: cannot encode an event\n");
        exit(1);
    }
    fc_exec_line(s, strlen(s));
    free(s);
}

json_t *fc_exec_string(const char *s, size_t len)
{
    json_t *v = json_stringn(s, len);
    if (v)
        return v;
    char *copy = fc_xstrndup(s, len);
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)copy[i] >= 0x80)
            copy[i] = '?';
    }
    v = json_stringn(copy, len);
    free(copy);
    return v ? v : json_string("");
}

void fc_exec_sleep_ms(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        continue;
}

void fc_exec_stderr_flood(uint64_t bytes)
{
    char line[FLOOD_LINE_BYTES];
    uint64_t n = 0;
    while (bytes > 0) {
        int len = snprintf(line, sizeof(line), "fake-codex: WARN stderr flood line %08llu ",
                           (unsigned long long)n++);
        memset(line + len, 'x', sizeof(line) - (size_t)len - 1);
        line[sizeof(line) - 1] = '\n';
        size_t take = bytes < sizeof(line) ? (size_t)bytes : sizeof(line);
        if (!write_all(STDERR_FILENO, line, take))
            return;
        bytes -= take;
    }
}

/* Appends {"event":<event>,"pid":<pid>,"ts":...} to FAKE_CODEX_LOG, if set. */
static void log_event(const char *event, pid_t pid)
{
    const char *path = getenv("FAKE_CODEX_LOG");
    if (!path || !*path)
        return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    char line[128];
    int len = snprintf(line, sizeof(line), "{\"event\":\"%s\",\"pid\":%d,\"ts\":%lld}\n", event,
                       (int)pid, (long long)fc_now_ms());
    if (len > 0 && (size_t)len < sizeof(line) && !write_all(fd, line, (size_t)len))
        fprintf(stderr, "fake-codex: FAKE_CODEX_LOG write failed: %s\n", strerror(errno));
    close(fd);
}

void fc_exec_fork_child(bool escape)
{
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "fake-codex: fork: %s\n", strerror(errno));
        return;
    }
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        if (escape)
            setsid();
        alarm(FAMILY_CHILD_MAX_S);
        for (;;)
            pause();
    }
    fprintf(stderr, "fake-codex: family scenario: child pid=%d\n", (int)pid);
    log_event("child", pid);
}

_Noreturn void fc_exec_hang(bool stubborn)
{
    if (stubborn)
        signal(SIGTERM, SIG_IGN);
    log_event("hang", getpid()); /* from here on it waits for a signal */
    for (;;)
        pause();
}

_Noreturn void fc_exec_crash(bool by_signal)
{
    if (by_signal) {
        fprintf(stderr, "fake-codex: crash scenario: SIGKILL\n");
        kill(getpid(), SIGKILL);
    }
    fprintf(stderr, "fake-codex: crash scenario: exit 1\n");
    exit(1);
}

char *fc_exec_config_value(const char *kv, const char *key)
{
    const char *eq = strchr(kv, '=');
    size_t klen = strlen(key);
    if (!eq || (size_t)(eq - kv) != klen || memcmp(kv, key, klen) != 0)
        return NULL;
    const char *v = eq + 1;
    size_t vlen = strlen(v);
    if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
        v++;
        vlen -= 2;
    }
    return fc_xstrndup(v, vlen);
}

void fc_exec_pick(struct fc_exec_pick *p, const char *text, size_t len)
{
    memset(p, 0, sizeof(*p));
    fc_scenario_scan(text, len, true, &p->text_m);
    const char *env = getenv("FAKE_CODEX_SCENARIO");
    if (env && *env)
        fc_scenario_scan(env, strlen(env), false, &p->env_m);
    const struct fc_markers *sm = p->text_m.has_scenario ? &p->text_m : &p->env_m;
    const struct fc_markers *um = p->text_m.has_usage ? &p->text_m : &p->env_m;
    p->name = sm->has_scenario ? sm->name : "text";
    p->arg = sm->has_scenario ? sm->arg : NULL;
    bool reasoning = strcmp(p->name, "reasoning") == 0;
    p->usage = (struct fc_usage){21, 5, reasoning ? 13 : 9, reasoning ? 4 : 0};
    if (um->has_usage && !um->usage_bad)
        p->usage = um->usage;
    else if (um->has_usage)
        fprintf(stderr, "fake-codex: ignoring bad usage marker (want usage=I,C,O[,R])\n");
}

void fc_exec_pick_dispose(struct fc_exec_pick *p)
{
    fc_scenario_markers_dispose(&p->text_m);
    fc_scenario_markers_dispose(&p->env_m);
}

/* ---- one exec run ----------------------------------------------------------------------- */

static void event(json_t *ev)
{
    fc_exec_json(ev);
    json_decref(ev);
}

/* item.completed for `item`, which gets the next id; steals `item`. */
static void item_completed(struct run *r, const char *type, const char *key, json_t *value)
{
    char id[32];
    snprintf(id, sizeof(id), "item_%u", r->next_item++);
    event(json_pack("{s:s, s:{s:s, s:s, s:o}}", "type", "item.completed", "item", "id", id, "type",
                    type, key, value));
}

static void agent_message(struct run *r, const char *text)
{
    item_completed(r, "agent_message", "text", json_string(text));
}

static void turn_completed(const struct fc_usage *u)
{
    event(json_pack("{s:s, s:{s:I, s:I, s:I, s:I, s:I}}", "type", "turn.completed", "usage",
                    "input_tokens", (json_int_t)u->input, "cached_input_tokens",
                    (json_int_t)u->cached, "cache_write_input_tokens", (json_int_t)0,
                    "output_tokens", (json_int_t)u->output, "reasoning_output_tokens",
                    (json_int_t)u->reasoning));
}

static bool arg_u64(const char *arg, uint64_t def, uint64_t max, uint64_t *out)
{
    if (!arg) {
        *out = def;
        return true;
    }
    return fc_parse_u64(arg, strlen(arg), max, out);
}

/* Echo: what the run received, as compact JSON. */
static char *echo_text(const struct run *r)
{
    json_t *argv = json_array();
    for (int i = 2; i < r->argc; i++)
        json_array_append_new(argv, fc_exec_string(r->argv[i], strlen(r->argv[i])));
    char cwd[4096];
    const char *home = getenv("CODEX_HOME");
    json_t *v = json_pack("{s:o, s:o, s:o, s:o, s:o, s:I}", "argv", argv, "prompt",
                          fc_exec_string(r->prompt, r->prompt_len), "cwd",
                          getcwd(cwd, sizeof(cwd)) ? fc_exec_string(cwd, strlen(cwd)) : json_null(),
                          "codex_home", home ? fc_exec_string(home, strlen(home)) : json_null(),
                          "model", fc_exec_string(r->args->model, strlen(r->args->model)),
                          "stdin_bytes", (json_int_t)r->stdin_bytes);
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return text ? text : fc_xstrdup("{}");
}

/* Emits the scenario's items; returns the exit status. */
static int run_scenario(struct run *r, const struct fc_exec_pick *p)
{
    const char *name = p->name;
    const char *arg = p->arg;
    uint64_t n = 0;
    bool bad = false;
    if (strcmp(name, "text") == 0 && !arg) {
        agent_message(r, "Hello from fake-codex.");
    } else if (strcmp(name, "reasoning") == 0 && !arg) {
        item_completed(r, "reasoning", "text", json_string("**Plan** think step one."));
        agent_message(r, "Reasoned answer.");
    } else if (strcmp(name, "messages") == 0 && arg_u64(arg, MESSAGES_DEFAULT, MESSAGES_MAX, &n)) {
        for (uint64_t i = 1; i <= n; i++) {
            char text[32];
            snprintf(text, sizeof(text), "m%llu", (unsigned long long)i);
            agent_message(r, text);
        }
    } else if (strcmp(name, "echo") == 0 && !arg) {
        char *text = echo_text(r);
        agent_message(r, text);
        free(text);
    } else if (strcmp(name, "error") == 0 && fc_scenario_error_message(arg ? arg : "server")) {
        const char *msg = fc_scenario_error_message(arg ? arg : "server");
        event(json_pack("{s:s, s:s}", "type", "error", "message", msg));
        event(json_pack("{s:s, s:{s:s}}", "type", "turn.failed", "error", "message", msg));
        return 1;
    } else if (strcmp(name, "retry") == 0 && !arg) {
        event(json_pack("{s:s, s:s}", "type", "error", "message",
                        "Reconnecting... 1/5 (stream disconnected before completion: mock)"));
        agent_message(r, "Hello after retry.");
    } else if (strcmp(name, "slow") == 0 && arg_u64(arg, SLOW_DEFAULT_MS, SLOW_MS_MAX, &n)) {
        fc_exec_sleep_ms(n);
        agent_message(r, "Hello from fake-codex.");
    } else if (strcmp(name, "hang") == 0 && (!arg || strcmp(arg, "stubborn") == 0)) {
        fc_exec_hang(arg != NULL);
    } else if (strcmp(name, "family") == 0 && !arg) {
        fc_exec_hang(false); /* the child was forked before turn.started */
    } else if (strcmp(name, "family") == 0 && strcmp(arg, "escape") == 0) {
        return 0; /* exits at once, leaving the escaped child with our stdout */
    } else if (strcmp(name, "crash") == 0 && (!arg || strcmp(arg, "signal") == 0)) {
        fc_exec_crash(arg != NULL);
    } else if (strcmp(name, "garbage") == 0 && !arg) {
        static const char *const lines[] = {"this is not JSON {", "", "[1,2,3]", "{}",
                                            "{\"type\":\"fake.unknown\"}"};
        for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
            fc_exec_line(lines[i], strlen(lines[i]));
        fprintf(stderr, "fake-codex: WARN garbage scenario: junk lines written to stdout\n");
        agent_message(r, "Hello from fake-codex.");
    } else if (strcmp(name, "hugeline") == 0 && arg_u64(arg, HUGELINE_DEFAULT, HUGELINE_MAX, &n)) {
        char *text = fc_xmalloc((size_t)n + 1);
        memset(text, 'a', (size_t)n);
        text[n] = '\0';
        agent_message(r, text);
        free(text);
    } else if (strcmp(name, "stderrflood") == 0 && arg_u64(arg, FLOOD_DEFAULT, FLOOD_MAX, &n)) {
        fc_exec_stderr_flood(n);
        agent_message(r, "Hello from fake-codex.");
    } else {
        bad = true;
    }
    if (bad) {
        struct fc_buf b = {0};
        fc_buf_appendf(&b, "fake-codex: bad scenario `%s%s%s`", name, arg ? "=" : "",
                       arg ? arg : "");
        fprintf(stderr, "%s\n", b.data);
        agent_message(r, b.data);
        fc_buf_dispose(&b);
    }
    turn_completed(&p->usage);
    return 0;
}

/* ---- command line and stdin ------------------------------------------------------------- */

/* A clap-style complaint about `arg` (a missing value when `missing_value`); returns 2. */
static int usage_error(bool missing_value, const char *arg)
{
    if (missing_value)
        fprintf(stderr, "error: a value is required for '%s <VALUE>' but none was supplied\n", arg);
    else
        fprintf(stderr, "error: unexpected argument '%s' found\n", arg);
    fprintf(stderr, "Usage: fake-codex exec --json [--ephemeral] [--skip-git-repo-check] "
                    "[-c key=value]... [-m MODEL] [PROMPT]\n");
    return 2;
}

/* Returns 0, or the exit status of a bad command line. */
static int parse_args(int argc, char **argv, struct exec_args *a)
{
    bool options = true;
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        if (options && strcmp(s, "--") == 0) {
            options = false;
            continue;
        }
        if (!options || s[0] != '-' || strcmp(s, "-") == 0) {
            if (a->prompt)
                return usage_error(false, s);
            a->prompt = s;
            continue;
        }
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            printf("Run Codex non-interactively (fake)\n\nUsage: fake-codex exec --json "
                   "[--ephemeral] [--skip-git-repo-check] [-c key=value]... [-m MODEL] "
                   "[PROMPT]\n");
            exit(0);
        }
        if (strcmp(s, "--json") == 0 || strcmp(s, "--experimental-json") == 0) {
            a->json = true;
            continue;
        }
        if (strcmp(s, "--ephemeral") == 0 || strcmp(s, "--skip-git-repo-check") == 0)
            continue;
        bool is_config = strcmp(s, "-c") == 0 || strcmp(s, "--config") == 0;
        bool is_model = strcmp(s, "-m") == 0 || strcmp(s, "--model") == 0;
        if (!is_config && !is_model)
            return usage_error(false, s);
        if (i + 1 >= argc)
            return usage_error(true, s);
        const char *v = argv[++i];
        if (is_model) {
            free(a->model);
            a->model = fc_xstrdup(v);
            continue;
        }
        /* -m wins over -c model=..., as in the real CLI. */
        char *m = fc_exec_config_value(v, "model");
        if (m && !a->model)
            a->model = m;
        else
            free(m);
    }
    if (!a->json) {
        fprintf(stderr, "fake-codex exec: only --json is faked\n");
        return 2;
    }
    return 0;
}

/* Reads stdin to EOF into `b`; false (with a message) when it is larger than we take. */
static bool read_stdin(struct fc_buf *b)
{
    char chunk[READ_CHUNK_BYTES];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
            poll(&pfd, 1, -1);
            continue;
        }
        if (n <= 0)
            return true; /* EOF, or a closed descriptor: nothing more to read */
        if (b->len + (size_t)n > STDIN_MAX_BYTES) {
            fprintf(stderr, "fake-codex exec: stdin is larger than %u bytes\n", STDIN_MAX_BYTES);
            return false;
        }
        fc_buf_append(b, chunk, (size_t)n);
    }
}

int fc_exec_main(int argc, char **argv)
{
    struct exec_args a = {0};
    struct fc_buf in = {0};
    struct fc_buf prompt = {0};
    struct fc_exec_pick pick;
    bool picked = false;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        goto out;
    if (!a.model)
        a.model = fc_xstrdup("fake-model");
    signal(SIGPIPE, SIG_IGN);
    fc_id_seed();
    fc_out_init(argc, argv);
    fc_exec_sleep_ms(fc_env_u64("FAKE_CODEX_STARTUP_DELAY_MS", 0, STARTUP_MS_MAX));

    bool prompt_from_stdin = !a.prompt || strcmp(a.prompt, "-") == 0;
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr, "Reading additional input from stdin...\n");
        if (!read_stdin(&in)) {
            rc = 1;
            goto out;
        }
    } else if (prompt_from_stdin) {
        fprintf(stderr, "No prompt provided. Either specify one as an argument or pipe the "
                        "prompt into stdin.\n");
        rc = 1;
        goto out;
    }
    if (prompt_from_stdin) {
        if (in.len == 0) {
            fprintf(stderr, "No prompt provided via stdin.\n");
            rc = 1;
            goto out;
        }
        fc_buf_append(&prompt, in.data, in.len);
    } else {
        fc_buf_append(&prompt, a.prompt, strlen(a.prompt));
        if (in.len) {
            fc_buf_append(&prompt, "\n\n<stdin>\n", 10);
            fc_buf_append(&prompt, in.data, in.len);
            fc_buf_append(&prompt, "\n</stdin>", 9);
        }
    }

    struct run r = {
        .args = &a,
        .argc = argc,
        .argv = argv,
        .prompt = prompt.data,
        .prompt_len = prompt.len,
        .stdin_bytes = in.len,
        .next_item = 0,
    };
    fc_exec_pick(&pick, prompt.data, prompt.len);
    picked = true;
    char thread_id[FC_ID_MAX];
    fc_id_uuid(thread_id);
    event(json_pack("{s:s, s:s}", "type", "thread.started", "thread_id", thread_id));
    if (strcmp(a.model, "fake-model") != 0 && strcmp(a.model, "fake-mini") != 0) {
        struct fc_buf w = {0};
        fc_buf_appendf(&w,
                       "Model metadata for `%s` not found. Defaulting to fallback metadata; this "
                       "can degrade performance and cause issues.",
                       a.model);
        item_completed(&r, "error", "message", fc_exec_string(w.data, w.len));
        fc_buf_dispose(&w);
    }
    r.next_item = 1;
    if (strcmp(pick.name, "family") == 0 && (!pick.arg || strcmp(pick.arg, "escape") == 0))
        fc_exec_fork_child(pick.arg != NULL);
    event(json_pack("{s:s}", "type", "turn.started"));
    rc = run_scenario(&r, &pick);
out:
    if (picked)
        fc_exec_pick_dispose(&pick);
    fc_buf_dispose(&in);
    fc_buf_dispose(&prompt);
    free(a.model);
    fc_out_dispose();
    return rc;
}
