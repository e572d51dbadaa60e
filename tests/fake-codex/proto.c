/* proto.c: `fake-codex proto [-c k=v]...`: prints session_configured, then answers each
 * `{"id":..,"op":{"type":"user_input",..}}` line on stdin with a task's events
 * `{"id":<sub>,"msg":{..}}`, one task at a time, and exits 0 on EOF. */
#include "proto.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "exec.h"
#include "out.h"
#include "util.h"

/* A submission longer than this is answered with an error event and skipped. */
#define LINE_MAX_BYTES   (64u * 1024u * 1024u)
#define READ_CHUNK_BYTES (64u * 1024u)
#define ECHO_DELTA_BYTES 16u
#define HUGELINE_MAX     (1024u * 1024u * 1024u)
#define HUGELINE_DEFAULT (1024u * 1024u)
#define FLOOD_MAX        (1024u * 1024u * 1024u)
#define FLOOD_DEFAULT    (1024u * 1024u)
#define SLOW_MS_MAX      3600000u
#define SLOW_DEFAULT_MS  100u
#define SLOW_DEFAULT_N   20u
#define DELTAS_MAX       1000000u
#define MESSAGES_MAX     100000u
#define MESSAGES_DEFAULT 3u
#define MS_MAX           (24ull * 3600ull * 1000ull)

enum usage_shape {
    USAGE_NESTED, /* info.total_token_usage + info.last_token_usage */
    USAGE_FLAT,   /* the counts at the top of the event */
    USAGE_LEGACY, /* prompt_tokens + completion_tokens */
};

/* The whole process: its command line and settings. */
struct proto {
    int argc;
    char **argv;
    char *model;
    enum usage_shape usage_shape;
    uint64_t gap_ms; /* FAKE_CODEX_DELTA_DELAY_MS */
};

/* One running task. */
struct task {
    const struct proto *p;
    const char *sub;
    json_t *submission;
    struct fc_buf answer; /* the agent message so far */
    bool any_delta;
};

static void event(const char *sub, json_t *msg)
{
    json_t *ev = json_pack("{s:o, s:o}", "id", fc_exec_string(sub, strlen(sub)), "msg", msg);
    fc_exec_json(ev);
    json_decref(ev);
}

static void simple(struct task *t, const char *type)
{
    event(t->sub, json_pack("{s:s}", "type", type));
}

static void delta_of(struct task *t, const char *type, const char *s, size_t len)
{
    if (t->any_delta && t->p->gap_ms)
        fc_exec_sleep_ms(t->p->gap_ms);
    t->any_delta = true;
    event(t->sub, json_pack("{s:s, s:o}", "type", type, "delta", fc_exec_string(s, len)));
}

static void delta(struct task *t, const char *s, size_t len)
{
    delta_of(t, "agent_message_delta", s, len);
    fc_buf_append(&t->answer, s, len);
}

/* The agent message made of the deltas so far. */
static void message_end(struct task *t)
{
    event(t->sub, json_pack("{s:s, s:o}", "type", "agent_message", "message",
                            fc_exec_string(t->answer.data ? t->answer.data : "", t->answer.len)));
}

static void words(struct task *t, const char *const *parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        delta(t, parts[i], strlen(parts[i]));
    message_end(t);
}

static void text_answer(struct task *t)
{
    static const char *const parts[] = {"Hello", " from", " fake-codex", "."};
    words(t, parts, sizeof(parts) / sizeof(parts[0]));
}

/* `text` cut into deltas of at most ECHO_DELTA_BYTES on UTF-8 boundaries, then the message. */
static void chunked(struct task *t, const char *text, size_t len)
{
    size_t off = 0;
    while (off < len) {
        size_t n = fc_utf8_prefix(text + off, len - off, ECHO_DELTA_BYTES);
        delta(t, text + off, n);
        off += n;
    }
    message_end(t);
}

static json_t *counts(const struct fc_usage *u)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "input_tokens", (json_int_t)u->input,
                     "cached_input_tokens", (json_int_t)u->cached, "output_tokens",
                     (json_int_t)u->output, "reasoning_output_tokens", (json_int_t)u->reasoning,
                     "total_tokens", (json_int_t)(u->input + u->output));
}

static void token_count(struct task *t, const struct fc_usage *u)
{
    json_t *msg = NULL;
    switch (t->p->usage_shape) {
    case USAGE_NESTED:
        msg = json_pack("{s:s, s:{s:o, s:o}}", "type", "token_count", "info", "total_token_usage",
                        counts(u), "last_token_usage", counts(u));
        break;
    case USAGE_FLAT:
        msg = json_pack("{s:s}", "type", "token_count");
        json_object_update_new(msg, counts(u));
        break;
    case USAGE_LEGACY:
        msg = json_pack("{s:s, s:I, s:I}", "type", "token_count", "prompt_tokens",
                        (json_int_t)u->input, "completion_tokens", (json_int_t)u->output);
        break;
    }
    event(t->sub, msg);
}

static bool arg_u64(const char *arg, uint64_t def, uint64_t max, uint64_t *out)
{
    if (!arg) {
        *out = def;
        return true;
    }
    return fc_parse_u64(arg, strlen(arg), max, out);
}

static bool slow_args(const char *arg, uint64_t *ms, uint64_t *n)
{
    *ms = SLOW_DEFAULT_MS;
    *n = SLOW_DEFAULT_N;
    if (!arg)
        return true;
    const char *comma = strchr(arg, ',');
    size_t ms_len = comma ? (size_t)(comma - arg) : strlen(arg);
    return fc_parse_u64(arg, ms_len, SLOW_MS_MAX, ms) &&
           (!comma || fc_parse_u64(comma + 1, strlen(comma + 1), DELTAS_MAX, n));
}

static char *echo_text(const struct task *t)
{
    json_t *argv = json_array();
    for (int i = 2; i < t->p->argc; i++)
        json_array_append_new(argv, fc_exec_string(t->p->argv[i], strlen(t->p->argv[i])));
    char cwd[4096];
    const char *home = getenv("CODEX_HOME");
    json_t *v = json_pack("{s:o, s:O, s:o, s:o}", "argv", argv, "submission", t->submission, "cwd",
                          getcwd(cwd, sizeof(cwd)) ? fc_exec_string(cwd, strlen(cwd)) : json_null(),
                          "codex_home", home ? fc_exec_string(home, strlen(home)) : json_null());
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return text ? text : fc_xstrdup("{}");
}

/* Runs the scenario after task_started; false when the task ends without task_complete. */
static bool run_scenario(struct task *t, const struct fc_exec_pick *pick)
{
    const char *name = pick->name;
    const char *arg = pick->arg;
    uint64_t n = 0;
    uint64_t ms = 0;
    if (strcmp(name, "text") == 0 && !arg) {
        text_answer(t);
    } else if (strcmp(name, "reasoning") == 0 && !arg) {
        static const char *const summary[] = {"**Plan**", " think", " step one."};
        static const char *const answer[] = {"Reasoned", " answer", "."};
        for (size_t i = 0; i < 3; i++)
            delta_of(t, "agent_reasoning_delta", summary[i], strlen(summary[i]));
        event(t->sub, json_pack("{s:s, s:s}", "type", "agent_reasoning", "text",
                                "**Plan** think step one."));
        words(t, answer, 3);
    } else if (strcmp(name, "slow") == 0 && slow_args(arg, &ms, &n)) {
        for (uint64_t i = 0; i < n; i++) {
            if (i)
                fc_exec_sleep_ms(ms);
            char d[32];
            int len = snprintf(d, sizeof(d), "s%llu ", (unsigned long long)i);
            delta(t, d, (size_t)len);
        }
        message_end(t);
    } else if (strcmp(name, "messages") == 0 && arg_u64(arg, MESSAGES_DEFAULT, MESSAGES_MAX, &n)) {
        for (uint64_t i = 1; i <= n; i++) {
            char d[32];
            int len = snprintf(d, sizeof(d), "m%llu", (unsigned long long)i);
            t->answer.len = 0;
            delta(t, d, (size_t)len);
            message_end(t);
        }
    } else if (strcmp(name, "echo") == 0 && !arg) {
        char *text = echo_text(t);
        chunked(t, text, strlen(text));
        free(text);
    } else if (strcmp(name, "error") == 0 && fc_scenario_error_message(arg ? arg : "server")) {
        delta(t, "partial ", 8);
        event(t->sub, json_pack("{s:s, s:s}", "type", "error", "message",
                                fc_scenario_error_message(arg ? arg : "server")));
        return false;
    } else if (strcmp(name, "retry") == 0 && !arg) {
        static const char *const again[] = {"Hello", " after", " retry."};
        delta(t, "Hel", 3);
        event(t->sub,
              json_pack("{s:s, s:s}", "type", "stream_error", "message", "Reconnecting... 1/5"));
        t->answer.len = 0;
        words(t, again, 3);
    } else if (strcmp(name, "hang") == 0 && (!arg || strcmp(arg, "stubborn") == 0)) {
        fc_exec_hang(arg != NULL);
    } else if (strcmp(name, "family") == 0 && !arg) {
        fc_exec_hang(false); /* the child was forked before task_started */
    } else if (strcmp(name, "crash") == 0 && (!arg || strcmp(arg, "signal") == 0)) {
        fc_exec_crash(arg != NULL);
    } else if (strcmp(name, "garbage") == 0 && !arg) {
        static const char *const lines[] = {"this is not JSON {", "", "[1,2,3]", "{}"};
        for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
            fc_exec_line(lines[i], strlen(lines[i]));
        event(t->sub, json_pack("{s:s}", "type", "fake_unknown"));
        fprintf(stderr, "fake-codex: WARN garbage scenario: junk lines written to stdout\n");
        text_answer(t);
    } else if (strcmp(name, "hugeline") == 0 && arg_u64(arg, HUGELINE_DEFAULT, HUGELINE_MAX, &n)) {
        char *text = fc_xmalloc((size_t)n + 1);
        memset(text, 'a', (size_t)n);
        text[n] = '\0';
        delta(t, text, (size_t)n);
        free(text);
        message_end(t);
    } else if (strcmp(name, "stderrflood") == 0 && arg_u64(arg, FLOOD_DEFAULT, FLOOD_MAX, &n)) {
        fc_exec_stderr_flood(n);
        text_answer(t);
    } else {
        struct fc_buf b = {0};
        fc_buf_appendf(&b, "fake-codex: bad scenario `%s%s%s`", name, arg ? "=" : "",
                       arg ? arg : "");
        fprintf(stderr, "%s\n", b.data);
        chunked(t, b.data, b.len);
        fc_buf_dispose(&b);
    }
    return true;
}

/* The texts of a user_input's text items, joined with newlines; false when `op` is not one. */
static bool submission_text(json_t *msg, struct fc_buf *text)
{
    json_t *op = json_object_get(msg, "op");
    const char *type = json_string_value(json_object_get(op, "type"));
    json_t *items = json_object_get(op, "items");
    if (!json_is_string(json_object_get(msg, "id")) || !type || strcmp(type, "user_input") != 0 ||
        !json_is_array(items))
        return false;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *itype = json_string_value(json_object_get(item, "type"));
        json_t *t = json_object_get(item, "text");
        if (!itype || strcmp(itype, "text") != 0 || !json_is_string(t))
            continue;
        if (text->len)
            fc_buf_appendc(text, '\n');
        fc_buf_append(text, json_string_value(t), json_string_length(t));
    }
    return true;
}

static void handle_line(const struct proto *p, const char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    bool blank = true;
    for (size_t i = 0; i < len && blank; i++)
        blank = line[i] == ' ' || line[i] == '\t';
    if (blank)
        return;
    json_error_t jerr;
    json_t *msg = json_loadb(line, len, 0, &jerr);
    fc_out_log_recv(line, len, msg);
    struct fc_buf text = {0};
    if (!json_is_object(msg) || !submission_text(msg, &text)) {
        const char *id = json_string_value(json_object_get(msg, "id"));
        event(id ? id : "", json_pack("{s:s, s:s}", "type", "error", "message",
                                      "fake-codex: not a user_input submission"));
        fprintf(stderr, "fake-codex: ignoring a line that is not a submission (%zu bytes)\n", len);
        json_decref(msg);
        fc_buf_dispose(&text);
        return;
    }
    struct task t = {
        .p = p,
        .sub = json_string_value(json_object_get(msg, "id")),
        .submission = msg,
    };
    struct fc_exec_pick pick;
    fc_exec_pick(&pick, text.data ? text.data : "", text.len);
    if (strcmp(pick.name, "family") == 0 && !pick.arg)
        fc_exec_fork_child(false);
    simple(&t, "task_started");
    if (run_scenario(&t, &pick)) {
        token_count(&t, &pick.usage);
        event(t.sub, json_pack("{s:s, s:o}", "type", "task_complete", "last_agent_message",
                               fc_exec_string(t.answer.data ? t.answer.data : "", t.answer.len)));
    }
    fc_exec_pick_dispose(&pick);
    fc_buf_dispose(&t.answer);
    fc_buf_dispose(&text);
    json_decref(msg);
}

/* Serves submissions until EOF on stdin. */
static void serve(const struct proto *p)
{
    struct fc_buf buf = {0};
    size_t scan_from = 0;
    bool discarding = false; /* skipping the rest of an over-long line */
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
            break;
        fc_buf_append(&buf, chunk, (size_t)n);
        size_t start = 0;
        for (;;) {
            char *nl = memchr(buf.data + scan_from, '\n', buf.len - scan_from);
            if (!nl)
                break;
            size_t end = (size_t)(nl - buf.data);
            if (!discarding)
                handle_line(p, buf.data + start, end - start);
            discarding = false;
            start = end + 1;
            scan_from = start;
        }
        memmove(buf.data, buf.data + start, buf.len - start);
        buf.len -= start;
        scan_from = buf.len;
        if (buf.len > LINE_MAX_BYTES) {
            fprintf(stderr, "fake-codex: skipping a line longer than %u bytes\n", LINE_MAX_BYTES);
            if (!discarding)
                event("", json_pack("{s:s, s:s}", "type", "error", "message",
                                    "fake-codex: submission too long"));
            discarding = true;
            buf.len = 0;
            scan_from = 0;
        }
    }
    if (buf.len && !discarding)
        handle_line(p, buf.data, buf.len);
    fc_buf_dispose(&buf);
}

int fc_proto_main(int argc, char **argv)
{
    struct proto p = {.argc = argc, .argv = argv};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("Run the Protocol stream via stdin/stdout (fake)\n\nUsage: fake-codex proto "
                   "[-c key=value]...\n");
            free(p.model);
            return 0;
        }
        if ((strcmp(a, "-c") != 0 && strcmp(a, "--config") != 0) || i + 1 >= argc) {
            fprintf(stderr,
                    "error: unexpected argument '%s' found\n"
                    "Usage: fake-codex proto [-c key=value]...\n",
                    a);
            free(p.model);
            return 2;
        }
        char *m = fc_exec_config_value(argv[++i], "model");
        if (m) {
            free(p.model);
            p.model = m;
        }
    }
    if (!p.model)
        p.model = fc_xstrdup("fake-model");
    const char *shape = getenv("FAKE_CODEX_PROTO_USAGE");
    p.usage_shape = USAGE_NESTED;
    if (shape && strcmp(shape, "flat") == 0)
        p.usage_shape = USAGE_FLAT;
    else if (shape && strcmp(shape, "legacy") == 0)
        p.usage_shape = USAGE_LEGACY;
    else if (shape && *shape && strcmp(shape, "nested") != 0)
        fprintf(stderr, "fake-codex: ignoring FAKE_CODEX_PROTO_USAGE=%s\n", shape);
    p.gap_ms = fc_env_u64("FAKE_CODEX_DELTA_DELAY_MS", 0, MS_MAX);

    signal(SIGPIPE, SIG_IGN);
    fc_id_seed();
    fc_out_init(argc, argv);
    fc_exec_sleep_ms(fc_env_u64("FAKE_CODEX_STARTUP_DELAY_MS", 0, MS_MAX));
    char session[FC_ID_MAX];
    fc_id_uuid(session);
    event("", json_pack("{s:s, s:s, s:o}", "type", "session_configured", "session_id", session,
                        "model", fc_exec_string(p.model, strlen(p.model))));
    serve(&p);
    free(p.model);
    fc_out_dispose();
    return 0;
}
