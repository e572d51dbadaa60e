/* main.c: entry point of fake-codex, a deterministic stand-in for `codex app-server` (v2
 * protocol, JSON-RPC lines on stdio) used by the gateway's black-box tests and benchmarks.
 * Reads the knobs, splits stdin into lines, and exits cleanly on EOF or SIGTERM. argv[1] picks
 * the other faked commands: `exec` (exec.c), `proto` (proto.c) and `login` (login.c). */
#include "main.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "exec.h"
#include "login.h"
#include "out.h"
#include "proto.h"
#include "rpc.h"
#include "threads.h"
#include "turn.h"
#include "util.h"

/* A line longer than this is reported and skipped (the real server has no documented cap; a
 * replayed history with images can be large). */
#define LINE_MAX_BYTES   (512u * 1024u * 1024u)
#define READ_CHUNK_BYTES (64u * 1024u)
#define MS_MAX           (24ull * 3600ull * 1000ull * 365ull)
#define TAIL_OPS_MAX     1000000ull
#define THREAD_BYTES_MAX (1024ull * 1024ull * 1024ull)
/* How long an exiting fake waits for the client to take its last output. */
#define EXIT_DRAIN_MS 5000

struct fc_config fc_cfg;
uv_loop_t *fc_loop;

static bool quitting;
static int exit_code;
static uv_signal_t sig_term;
static uv_signal_t sig_int;
static uv_prepare_t flusher;
static uv_timer_t startup_timer;
static uv_timer_t exit_timer;
static union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tty_t tty;
} in;
static bool in_is_stream;
static uv_fs_t in_req;
static char read_buf[READ_CHUNK_BYTES];
static struct fc_buf line_buf;
static size_t scan_from; /* line_buf bytes before this hold no newline */
static bool discarding;  /* skipping the rest of an over-long line */
static bool deaf;        /* fc_main_stop_reading: stdin is no longer read */

static void usage(FILE *f)
{
    fprintf(f, "usage: fake-codex app-server [-c key=value ...] [--listen stdio://]\n"
               "       fake-codex exec --json [-c key=value ...] [-m MODEL] [PROMPT]\n"
               "       fake-codex proto [-c key=value ...]\n"
               "       fake-codex login [--device-auth] | login status | --version\n"
               "A deterministic fake of `codex app-server` (see tests/fake-codex/README.md).\n");
}

void fc_main_quit(int code)
{
    if (quitting)
        return;
    quitting = true;
    exit_code = code;
    fc_out_drain(EXIT_DRAIN_MS);
    fc_out_mute();
    uv_stop(fc_loop);
}

void fc_main_crash(int code)
{
    if (code < 0) {
        fc_out_drain(EXIT_DRAIN_MS);
        fprintf(stderr, "fake-codex: crash scenario: SIGKILL\n");
        kill(getpid(), SIGKILL);
    }
    fprintf(stderr, "fake-codex: crash scenario: exit %d\n", code);
    fc_main_quit(code);
}

bool fc_main_is_quitting(void)
{
    return quitting;
}

void fc_main_stop_reading(void)
{
    if (deaf)
        return;
    deaf = true;
    fprintf(stderr, "fake-codex: no longer reading stdin\n");
    if (in_is_stream)
        uv_read_stop(&in.stream);
}

static bool is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    }
    return true;
}

static void handle_line(const char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    json_error_t jerr;
    json_t *msg = json_loadb(line, len, 0, &jerr);
    fc_out_log_recv(line, len, msg);
    if (!json_is_object(msg)) {
        if (!is_blank(line, len))
            fprintf(stderr, "fake-codex: ignoring a line that is not a JSON object (%zu bytes)\n",
                    len);
        json_decref(msg);
        return;
    }
    fc_rpc_handle(msg);
    json_decref(msg);
}

static void feed(const char *data, size_t len)
{
    fc_buf_append(&line_buf, data, len);
    size_t start = 0;
    while (!quitting && !deaf) {
        char *nl = memchr(line_buf.data + scan_from, '\n', line_buf.len - scan_from);
        if (!nl)
            break;
        size_t end = (size_t)(nl - line_buf.data);
        if (!discarding)
            handle_line(line_buf.data + start, end - start);
        discarding = false;
        start = end + 1;
        scan_from = start;
    }
    if (quitting || deaf)
        return;
    memmove(line_buf.data, line_buf.data + start, line_buf.len - start);
    line_buf.len -= start;
    scan_from = line_buf.len;
    if (line_buf.len > LINE_MAX_BYTES) {
        fprintf(stderr, "fake-codex: skipping a line longer than %u bytes\n", LINE_MAX_BYTES);
        discarding = true;
        line_buf.len = 0;
        scan_from = 0;
    }
}

static void on_eof(void)
{
    if (line_buf.len && !discarding)
        handle_line(line_buf.data, line_buf.len);
    line_buf.len = 0;
    fc_main_quit(0);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    *buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    if (quitting || deaf)
        return;
    if (nread > 0) {
        feed(buf->base, (size_t)nread);
        return;
    }
    if (nread == UV_EOF) {
        on_eof();
        return;
    }
    if (nread < 0) {
        fprintf(stderr, "fake-codex: stdin: %s\n", uv_strerror((int)nread));
        fc_main_quit(0);
    }
}

static void start_fs_read(void);

static void on_fs_read(uv_fs_t *req)
{
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    if (quitting || deaf)
        return;
    if (n > 0) {
        feed(read_buf, (size_t)n);
        if (!quitting)
            start_fs_read();
        return;
    }
    if (n < 0)
        fprintf(stderr, "fake-codex: stdin: %s\n", uv_strerror((int)n));
    on_eof();
}

static void start_fs_read(void)
{
    uv_buf_t buf = uv_buf_init(read_buf, sizeof(read_buf));
    int err = uv_fs_read(fc_loop, &in_req, STDIN_FILENO, &buf, 1, -1, on_fs_read);
    if (err) {
        fprintf(stderr, "fake-codex: stdin: %s\n", uv_strerror(err));
        fc_main_quit(0);
    }
}

static void begin_serving(void)
{
    fprintf(stderr, "fake-codex: ready pid=%d\n", (int)getpid());
    uv_handle_type type = uv_guess_handle(STDIN_FILENO);
    int err = 0;
    if (type == UV_NAMED_PIPE) {
        err = uv_pipe_init(fc_loop, &in.pipe, 0);
        if (!err)
            err = uv_pipe_open(&in.pipe, STDIN_FILENO);
        in_is_stream = true;
    } else if (type == UV_TTY) {
        err = uv_tty_init(fc_loop, &in.tty, STDIN_FILENO, 0);
        in_is_stream = true;
    }
    if (!err && in_is_stream)
        err = uv_read_start(&in.stream, on_alloc, on_read);
    if (err) {
        fprintf(stderr, "fake-codex: cannot read stdin: %s\n", uv_strerror(err));
        fc_main_quit(1);
        return;
    }
    if (!in_is_stream)
        start_fs_read(); /* a regular file or /dev/null */
}

static void on_startup_timer(uv_timer_t *timer)
{
    begin_serving();
}

static void on_exit_timer(uv_timer_t *timer)
{
    fprintf(stderr, "fake-codex: FAKE_CODEX_EXIT_AFTER_MS reached: exiting with status 1\n");
    fc_main_quit(1);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    fprintf(stderr, "fake-codex: signal %d: exiting\n", signum);
    fc_main_quit(0);
}

static void on_prepare(uv_prepare_t *prepare)
{
    if (!fc_out_flush())
        fc_main_quit(0);
}

static void on_walk_close(uv_handle_t *handle, void *arg)
{
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

/* `-c key=value`: the few keys the fake understands; the rest are accepted and ignored. */
static void apply_override(const char *kv, bool *unload_from_flag)
{
    const char *eq = strchr(kv, '=');
    if (!eq)
        return;
    size_t klen = (size_t)(eq - kv);
    const char *v = eq + 1;
    size_t vlen = strlen(v);
    if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
        v++;
        vlen -= 2;
    }
    if (klen == 5 && memcmp(kv, "model", 5) == 0) {
        free(fc_cfg.model);
        fc_cfg.model = fc_xstrndup(v, vlen);
    } else if (klen == 24 && memcmp(kv, "thread_unload_delay_secs", 24) == 0) {
        uint64_t secs = 0;
        if (fc_parse_u64(v, vlen, MS_MAX / 1000, &secs)) {
            fc_cfg.unload_delay_ms = secs * 1000;
            *unload_from_flag = true;
        }
    }
}

static int parse_args(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "app-server") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            usage(stdout);
            return 1;
        }
        fprintf(stderr,
                "fake-codex: unsupported command `%s`: only `app-server`, `exec`, `proto`, `login` "
                "and --version are faked\n",
                argc >= 2 ? argv[1] : "");
        usage(stderr);
        return 2;
    }
    bool unload_from_flag = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool takes_value = strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0 ||
                           strcmp(a, "--listen") == 0 || strcmp(a, "--enable") == 0 ||
                           strcmp(a, "--disable") == 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (!takes_value || i + 1 >= argc) {
            fprintf(stderr, "fake-codex: unexpected argument `%s`\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--listen") == 0 && strcmp(v, "stdio://") != 0) {
            fprintf(stderr, "fake-codex: only --listen stdio:// is supported\n");
            return 2;
        }
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0)
            apply_override(v, &unload_from_flag);
    }
    if (getenv("FAKE_CODEX_UNLOAD_DELAY_MS") || !unload_from_flag)
        fc_cfg.unload_delay_ms = fc_env_u64("FAKE_CODEX_UNLOAD_DELAY_MS", 1000, MS_MAX);
    return 0;
}

static void load_env(void)
{
    static const struct {
        const char *name;
        enum fc_handshake mode;
    } modes[] = {{"ok", FC_HANDSHAKE_OK},
                 {"fail", FC_HANDSHAKE_FAIL},
                 {"timeout", FC_HANDSHAKE_TIMEOUT},
                 {"exit", FC_HANDSHAKE_EXIT},
                 {"garbage", FC_HANDSHAKE_GARBAGE}};
    const char *hs = getenv("FAKE_CODEX_HANDSHAKE");
    fc_cfg.handshake = FC_HANDSHAKE_OK;
    if (hs && *hs) {
        bool known = false;
        for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
            if (strcmp(modes[i].name, hs) == 0) {
                fc_cfg.handshake = modes[i].mode;
                known = true;
            }
        }
        if (!known)
            fprintf(stderr, "fake-codex: ignoring FAKE_CODEX_HANDSHAKE=%s\n", hs);
    }
    const char *hw = getenv("FAKE_CODEX_HANDSHAKE_WHILE");
    fc_cfg.handshake_while = hw && *hw ? hw : NULL;
    fc_cfg.startup_delay_ms = fc_env_u64("FAKE_CODEX_STARTUP_DELAY_MS", 0, MS_MAX);
    fc_cfg.exit_after_ms = fc_env_u64("FAKE_CODEX_EXIT_AFTER_MS", 0, MS_MAX);
    fc_cfg.thread_bytes = fc_env_u64("FAKE_CODEX_THREAD_BYTES", 262144, THREAD_BYTES_MAX);
    fc_cfg.delta_delay_ms = fc_env_u64("FAKE_CODEX_DELTA_DELAY_MS", 0, MS_MAX);
    fc_cfg.interrupt_delay_ms = fc_env_u64("FAKE_CODEX_INTERRUPT_DELAY_MS", 5, MS_MAX);
    fc_cfg.interrupt_tail = fc_env_u64("FAKE_CODEX_INTERRUPT_TAIL", 0, TAIL_OPS_MAX);
    const char *auth = getenv("FAKE_CODEX_REQUIRES_AUTH");
    fc_cfg.requires_auth = auth && strcmp(auth, "1") == 0;
    const char *sc = getenv("FAKE_CODEX_SCENARIO");
    fc_cfg.scenario = sc && *sc ? sc : NULL;
    const char *home = getenv("CODEX_HOME");
    fc_cfg.codex_home = home ? home : "";
    fc_cfg.model = fc_xstrdup("fake-model");
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "login") == 0)
        return fc_login_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "exec") == 0)
        return fc_exec_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "proto") == 0)
        return fc_proto_main(argc, argv);
    if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
        printf("codex-cli 0.169.0\n");
        return 0;
    }
    load_env();
    int rc = parse_args(argc, argv);
    if (rc) {
        free(fc_cfg.model);
        return rc == 1 ? 0 : rc;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    fc_id_seed();
    fc_out_init(argc, argv);

    fc_loop = uv_default_loop();
    fc_out_set_nonblocking();
    fc_turn_global_init();
    fc_threads_init();
    uv_signal_init(fc_loop, &sig_term);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_init(fc_loop, &sig_int);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_prepare_init(fc_loop, &flusher);
    uv_prepare_start(&flusher, on_prepare);
    uv_timer_init(fc_loop, &exit_timer);
    if (fc_cfg.exit_after_ms)
        uv_timer_start(&exit_timer, on_exit_timer, fc_cfg.exit_after_ms, 0);
    uv_timer_init(fc_loop, &startup_timer);
    if (fc_cfg.startup_delay_ms)
        uv_timer_start(&startup_timer, on_startup_timer, fc_cfg.startup_delay_ms, 0);
    else
        begin_serving();

    if (!quitting)
        uv_run(fc_loop, UV_RUN_DEFAULT);

    /* Tear down in dependency order: turns hold pending-request entries and timers. */
    fc_out_drain(EXIT_DRAIN_MS);
    fc_threads_dispose();
    fc_turn_global_dispose();
    if (in_is_stream)
        uv_read_stop(&in.stream);
    uv_walk(fc_loop, on_walk_close, NULL);
    uv_run(fc_loop, UV_RUN_DEFAULT);
    int err = uv_loop_close(fc_loop);
    if (err)
        fprintf(stderr, "fake-codex: uv_loop_close: %s\n", uv_strerror(err));
    fc_buf_dispose(&line_buf);
    fc_out_dispose();
    free(fc_cfg.model);
    return exit_code;
}
