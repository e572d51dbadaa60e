/* direct.c: the direct-to-backend baseline. Spawns `fastfake app-server` (or --bin), does the
 * handshake, then runs the gateway's turn cycle (thread/start → turn/start → turn/completed →
 * thread/unsubscribe) with C turns in flight and reports turns/s, turn latency percentiles,
 * time to the first agent-message delta and the gaps between deltas (all in µs). It writes its
 * calls with snprintf and reads only what the cycle needs from each line (an answer's id, a
 * notification's method, threadId and status), with prefix and substring tests: the baseline is
 * the backend and a pipe, not a JSON parser. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <uv.h>
#include "samples.h"

enum {
    SLOTS_MAX = 100000,
    LINE_MAX_BYTES = 16 << 20, /* longest JSON-RPC line accepted from the fake */
    ROUND_GRACE_MS = 30000,    /* a round still running this long past its end has hung */
    HANDSHAKE_TIMEOUT_MS = 10000,
    THREAD_ID_BYTES = 64,
};

/* The low bits of a request id say which call it answers; the next bits say which slot. */
enum call_kind { CALL_INIT = 0, CALL_THREAD_START = 1, CALL_TURN_START = 2, CALL_UNSUBSCRIBE = 3 };
#define KIND_BITS 2
#define SLOT_BITS 20

enum slot_state { SLOT_IDLE, SLOT_THREAD_STARTING, SLOT_RUNNING };

struct slot {
    enum slot_state state;
    char thread_id[THREAD_ID_BYTES];
    uint64_t started_ns; /* thread/start sent */
    uint64_t last_delta_ns;
    size_t deltas;
    size_t turns_done; /* in this round */
};

struct options {
    const char *bin;
    const char *model;
    const char *message;
    size_t concurrency;
    double duration_s;
    double warmup_s;
    size_t rounds;
    size_t turns_per_slot; /* 0: run for duration_s */
    int fake_cpu;          /* -1: leave the fake's affinity alone */
    bool verbose;
};

static struct options opt = {
    .bin = "build/fastfake",
    .model = "gpt-5.5",
    .message = "fake:text",
    .concurrency = 1,
    .duration_s = 10.0,
    .warmup_s = 1.0,
    .rounds = 1,
    .turns_per_slot = 0,
    .fake_cpu = -1,
    .verbose = false,
};

static uv_loop_t *loop;
static uv_process_t child;
static uv_pipe_t child_in;  /* we write the fake's stdin */
static uv_pipe_t child_out; /* we read the fake's stdout */
static uv_timer_t watchdog;
static bool child_exited;
static bool stdin_closed; /* the last round is over: writes still queued are cancelled */

static char *line_buf;
static size_t line_len;
static size_t line_cap;

static struct slot *slots;
static json_t *threads; /* thread id → slot index (json integer) */
static uint64_t next_seq = 1;

/* The current round. */
static bool warmup;
static size_t round_no;
static uint64_t round_start_ns;
static uint64_t round_end_ns; /* no new turns start after this (duration mode) */
static uint64_t last_done_ns;
static size_t active_slots;
static size_t turns_ok;
static size_t turns_failed;
static struct samples lat;  /* thread/start sent → turn/completed */
static struct samples ttfb; /* thread/start sent → first delta */
static struct samples gaps; /* delta → next delta, same turn */
static int exit_code;

static void start_round(void);

static void die(const char *what)
{
    fprintf(stderr, "direct: %s\n", what);
    if (!child_exited)
        uv_process_kill(&child, SIGKILL);
    exit(1);
}

/* --- writing to the fake ------------------------------------------------------------------ */

static void on_write_done(uv_write_t *req, int status)
{
    free(req->data);
    free(req);
    if (status < 0 && !child_exited && !stdin_closed)
        die("write to fake-codex failed");
}

/* Sends one line (a newline is added). */
static void send_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void send_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        die("vsnprintf failed");
    char *text = xrealloc(NULL, (size_t)n + 2);
    va_start(ap, fmt);
    vsnprintf(text, (size_t)n + 1, fmt, ap);
    va_end(ap);
    text[n] = '\n';
    uv_write_t *req = xrealloc(NULL, sizeof(*req));
    req->data = text;
    uv_buf_t buf = uv_buf_init(text, (unsigned)(n + 1));
    int err = uv_write(req, (uv_stream_t *)&child_in, &buf, 1, on_write_done);
    if (err < 0) {
        free(text);
        free(req);
        die("uv_write failed");
    }
}

static uint64_t call_id(enum call_kind kind, size_t slot)
{
    uint64_t seq = next_seq++;
    return (seq << (KIND_BITS + SLOT_BITS)) | ((uint64_t)slot << KIND_BITS) | kind;
}

/* --- the turn cycle ----------------------------------------------------------------------- */

static bool may_start(const struct slot *s)
{
    if (opt.turns_per_slot > 0)
        return s->turns_done < opt.turns_per_slot;
    return now_ns() < round_end_ns;
}

static void start_turn(size_t i)
{
    struct slot *s = &slots[i];
    s->state = SLOT_THREAD_STARTING;
    s->thread_id[0] = '\0';
    s->deltas = 0;
    s->started_ns = now_ns();
    send_line("{\"id\":%" PRIu64 ",\"method\":\"thread/start\",\"params\":{\"model\":\"%s\","
              "\"ephemeral\":true,\"experimentalRawEvents\":true}}",
              call_id(CALL_THREAD_START, i), opt.model);
}

static void print_round(void)
{
    double secs = (double)(last_done_ns - round_start_ns) / 1e9;
    samples_sort(&lat);
    samples_sort(&ttfb);
    samples_sort(&gaps);
    printf("direct %s=%zu c=%zu turns=%zu failed=%zu secs=%.3f rps=%.1f p50_us=%" PRIu32
           " p90_us=%" PRIu32 " p99_us=%" PRIu32 " max_us=%" PRIu32 " ttfb_p50_us=%" PRIu32
           " ttfb_p99_us=%" PRIu32 " gaps=%zu gap_p50_us=%" PRIu32 " gap_p99_us=%" PRIu32
           " gap_max_us=%" PRIu32 "\n",
           warmup ? "warmup" : "round", warmup ? (size_t)0 : round_no, opt.concurrency, turns_ok,
           turns_failed, secs, secs > 0 ? (double)turns_ok / secs : 0.0, pct(&lat, 50),
           pct(&lat, 90), pct(&lat, 99), pct(&lat, 100), pct(&ttfb, 50), pct(&ttfb, 99), gaps.len,
           pct(&gaps, 50), pct(&gaps, 99), pct(&gaps, 100));
    if (lat.dropped || gaps.dropped)
        printf("direct note: %zu latency and %zu gap samples dropped (over %d)\n", lat.dropped,
               gaps.dropped, SAMPLES_MAX);
    fflush(stdout);
}

static void end_round(void)
{
    uv_timer_stop(&watchdog);
    if (!warmup || opt.verbose)
        print_round();
    if (!warmup && turns_failed > 0)
        exit_code = 1;
    if (warmup) {
        warmup = false;
    } else if (++round_no > opt.rounds) {
        /* Closing stdin makes the fake exit; on_child_exit closes the rest. The last turns'
         * thread/unsubscribe writes may still be queued, and are cancelled. */
        stdin_closed = true;
        uv_close((uv_handle_t *)&child_in, NULL);
        return;
    }
    start_round();
}

static void slot_done(size_t i, bool ok)
{
    struct slot *s = &slots[i];
    uint64_t t = now_ns();
    if (ok) {
        turns_ok++;
        samples_add(&lat, t - s->started_ns);
    } else {
        turns_failed++;
    }
    last_done_ns = t;
    s->turns_done++;
    if (s->thread_id[0]) {
        json_object_del(threads, s->thread_id);
        send_line("{\"id\":%" PRIu64 ",\"method\":\"thread/unsubscribe\",\"params\":{"
                  "\"threadId\":\"%s\"}}",
                  call_id(CALL_UNSUBSCRIBE, i), s->thread_id);
    }
    s->state = SLOT_IDLE;
    if (may_start(s)) {
        start_turn(i);
        return;
    }
    if (--active_slots == 0)
        end_round();
}

static void on_watchdog(uv_timer_t *t)
{
    die("round did not finish in time (is the fake answering?)");
}

static void start_round(void)
{
    lat.len = ttfb.len = gaps.len = 0;
    lat.dropped = ttfb.dropped = gaps.dropped = 0;
    turns_ok = turns_failed = 0;
    double secs = warmup ? opt.warmup_s : opt.duration_s;
    round_start_ns = now_ns();
    last_done_ns = round_start_ns;
    round_end_ns = round_start_ns + (uint64_t)(secs * 1e9);
    uint64_t limit_ms = (uint64_t)(secs * 1000.0) + ROUND_GRACE_MS;
    if (opt.turns_per_slot > 0)
        limit_ms += 600000; /* a fixed turn count has no deadline of its own */
    uv_timer_start(&watchdog, on_watchdog, limit_ms, 0);
    active_slots = opt.concurrency;
    for (size_t i = 0; i < opt.concurrency; i++) {
        slots[i].turns_done = 0;
        start_turn(i);
    }
}

/* --- reading from the fake ---------------------------------------------------------------- */

/* The string after `key` (written `"key":"`) in line[0..len), without its quotes; escapes are
 * not decoded (ids and statuses have none). */
static bool string_after(const char *line, size_t len, const char *key, const char **at, size_t *n)
{
    size_t k = strlen(key);
    const char *p = memmem(line, len, key, k);
    if (p == NULL)
        return false;
    p += k;
    const char *q = memchr(p, '"', len - (size_t)(p - line));
    if (q == NULL)
        return false;
    *at = p;
    *n = (size_t)(q - p);
    return true;
}

static void on_response(uint64_t id, bool failed, const char *line, size_t len)
{
    enum call_kind kind = (enum call_kind)(id & ((1 << KIND_BITS) - 1));
    size_t i = (size_t)(id >> KIND_BITS) & ((1u << SLOT_BITS) - 1);
    if (kind == CALL_INIT) {
        if (failed)
            die("initialize failed");
        send_line("{\"method\":\"initialized\"}");
        warmup = opt.warmup_s > 0;
        round_no = 1;
        start_round();
        return;
    }
    if (kind == CALL_UNSUBSCRIBE || i >= opt.concurrency)
        return;
    struct slot *s = &slots[i];
    if (failed) {
        if (opt.verbose)
            fprintf(stderr, "direct: call failed: %.*s\n", (int)(len < 300 ? len : 300), line);
        slot_done(i, false);
        return;
    }
    if (kind == CALL_THREAD_START && s->state == SLOT_THREAD_STARTING) {
        const char *tid = NULL;
        size_t n = 0;
        if (!string_after(line, len, "\"thread\":{\"id\":\"", &tid, &n) ||
            n >= sizeof(s->thread_id)) {
            slot_done(i, false);
            return;
        }
        memcpy(s->thread_id, tid, n);
        s->thread_id[n] = '\0';
        json_object_set_new(threads, s->thread_id, json_integer((json_int_t)i));
        s->state = SLOT_RUNNING;
        send_line("{\"id\":%" PRIu64 ",\"method\":\"turn/start\",\"params\":{\"threadId\":"
                  "\"%s\",\"input\":[{\"type\":\"text\",\"text\":\"%s\",\"text_elements\":[]}]}}",
                  call_id(CALL_TURN_START, i), s->thread_id, opt.message);
    }
}

static void on_notification(const char *method, size_t method_len, const char *line, size_t len)
{
    static const char delta[] = "item/agentMessage/delta";
    static const char done[] = "turn/completed";
    bool is_delta = method_len == sizeof(delta) - 1 && memcmp(method, delta, method_len) == 0;
    bool is_done =
        !is_delta && method_len == sizeof(done) - 1 && memcmp(method, done, method_len) == 0;
    if (!is_delta && !is_done)
        return;
    const char *tid = NULL;
    size_t n = 0;
    char key[THREAD_ID_BYTES];
    if (!string_after(line, len, "\"threadId\":\"", &tid, &n) || n >= sizeof(key))
        return;
    memcpy(key, tid, n);
    key[n] = '\0';
    json_t *slot_ref = json_object_get(threads, key);
    if (slot_ref == NULL)
        return;
    size_t i = (size_t)json_integer_value(slot_ref);
    struct slot *s = &slots[i];
    uint64_t t = now_ns();
    if (is_delta) {
        if (s->deltas == 0)
            samples_add(&ttfb, t - s->started_ns);
        else
            samples_add(&gaps, t - s->last_delta_ns);
        s->deltas++;
        s->last_delta_ns = t;
        return;
    }
    const char *status = NULL;
    size_t status_len = 0;
    bool ok = string_after(line, len, "\"status\":\"", &status, &status_len) &&
              status_len == strlen("completed") && memcmp(status, "completed", status_len) == 0;
    slot_done(i, ok);
}

/* Answers start {"id":N, and notifications {"method":"...", as both fakes write them. */
static void on_line(const char *line, size_t len)
{
    static const char id_lead[] = "{\"id\":";
    static const char method_lead[] = "{\"method\":\"";
    if (len > sizeof(id_lead) && memcmp(line, id_lead, sizeof(id_lead) - 1) == 0) {
        const char *p = line + sizeof(id_lead) - 1;
        const char *end = line + len;
        uint64_t id = 0;
        while (p < end && *p >= '0' && *p <= '9')
            id = id * 10 + (uint64_t)(*p++ - '0');
        static const char err_lead[] = ",\"error\":";
        bool failed = (size_t)(end - p) >= sizeof(err_lead) - 1 &&
                      memcmp(p, err_lead, sizeof(err_lead) - 1) == 0;
        on_response(id, failed, line, len);
    } else if (len > sizeof(method_lead) &&
               memcmp(line, method_lead, sizeof(method_lead) - 1) == 0) {
        const char *m = line + sizeof(method_lead) - 1;
        const char *q = memchr(m, '"', len - (size_t)(m - line));
        if (q)
            on_notification(m, (size_t)(q - m), line, len);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char chunk[65536];
    *buf = uv_buf_init(chunk, sizeof(chunk));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    if (nread < 0) {
        uv_close((uv_handle_t *)stream, NULL);
        return;
    }
    const char *p = buf->base;
    size_t n = (size_t)nread;
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (line_len + take > LINE_MAX_BYTES)
            die("a line from fake-codex is too long");
        if (line_len > 0 || nl == NULL) {
            if (line_len + take > line_cap) {
                line_cap = line_len + take > line_cap * 2 ? line_len + take : line_cap * 2;
                line_buf = xrealloc(line_buf, line_cap);
            }
            memcpy(line_buf + line_len, p, take);
            line_len += take;
        }
        if (nl == NULL)
            break;
        if (line_len > 0) {
            on_line(line_buf, line_len);
            line_len = 0;
        } else {
            on_line(p, take); /* the whole line is in this read: no copy */
        }
        p += take + 1;
        n -= take + 1;
    }
}

static void on_child_exit(uv_process_t *proc, int64_t status, int signal)
{
    child_exited = true;
    uv_close((uv_handle_t *)proc, NULL);
    if (!uv_is_closing((uv_handle_t *)&child_in))
        uv_close((uv_handle_t *)&child_in, NULL);
    if (!uv_is_closing((uv_handle_t *)&child_out))
        uv_close((uv_handle_t *)&child_out, NULL);
    uv_close((uv_handle_t *)&watchdog, NULL);
    if (round_no <= opt.rounds) {
        fprintf(stderr, "direct: fake-codex exited early (status %" PRId64 ", signal %d)\n", status,
                signal);
        exit_code = 1;
    }
}

/* --- setup -------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: direct [options]\n"
            "  --bin PATH        the fake app-server (build/fastfake; build/fake-codex works too)\n"
            "  -c N              turns in flight (1)\n"
            "  -d SECONDS        length of a round (10)\n"
            "  -w SECONDS        warm-up before the first round, not reported (1); with -n\n"
            "                    the warm-up is one round of -n turns per slot, 0 = none\n"
            "  -r N              rounds, one result line each (1)\n"
            "  -n N              turns per slot per round instead of a duration (0 = use -d)\n"
            "  -m TEXT           the user message, e.g. fake:slow=20,50 (fake:text)\n"
            "  --model NAME      model for thread/start (gpt-5.5)\n"
            "  --fake-cpu N      pin the fake to CPU N\n"
            "  -v                print the warm-up round and failed calls too\n");
    exit(2);
}

/* Text that needs no escaping in a JSON string: no quote, backslash or control byte. */
static bool plain(const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            return false;
    }
    return true;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        size_t n = 0;
        if (strcmp(a, "-v") == 0) {
            opt.verbose = true;
            continue;
        } else if (strcmp(a, "--bin") == 0 && v) {
            opt.bin = v;
        } else if (strcmp(a, "-c") == 0 && v) {
            ok = parse_size(v, 1, SLOTS_MAX, &opt.concurrency);
        } else if (strcmp(a, "-d") == 0 && v) {
            ok = parse_secs(v, &opt.duration_s);
        } else if (strcmp(a, "-w") == 0 && v) {
            ok = parse_secs(v, &opt.warmup_s);
        } else if (strcmp(a, "-r") == 0 && v) {
            ok = parse_size(v, 1, 1000, &opt.rounds);
        } else if (strcmp(a, "-n") == 0 && v) {
            ok = parse_size(v, 0, 1000000, &opt.turns_per_slot);
        } else if (strcmp(a, "-m") == 0 && v) {
            opt.message = v;
            ok = plain(v); /* written into the call as it is */
        } else if (strcmp(a, "--model") == 0 && v) {
            opt.model = v;
            ok = plain(v);
        } else if (strcmp(a, "--fake-cpu") == 0 && v) {
            ok = parse_size(v, 0, CPU_SETSIZE - 1, &n);
            opt.fake_cpu = (int)n;
        } else {
            usage();
        }
        if (!ok)
            usage();
        i++;
    }
}

static void spawn_fake(void)
{
    int devnull = opt.verbose ? STDERR_FILENO : open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull < 0)
        die("cannot open /dev/null");
    uv_pipe_init(loop, &child_in, 0);
    uv_pipe_init(loop, &child_out, 0);
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&child_in},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&child_out},
        {.flags = UV_INHERIT_FD, .data.fd = devnull},
    };
    char *args[] = {(char *)opt.bin, "app-server", NULL};
    uv_process_options_t po = {
        .exit_cb = on_child_exit,
        .file = opt.bin,
        .args = args,
        .stdio_count = 3,
        .stdio = stdio,
    };
    int err = uv_spawn(loop, &child, &po);
    if (err < 0) {
        fprintf(stderr, "direct: cannot start %s: %s\n", opt.bin, uv_strerror(err));
        exit(1);
    }
    if (devnull != STDERR_FILENO)
        close(devnull);
    if (opt.fake_cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(opt.fake_cpu, &set);
        if (sched_setaffinity(child.pid, sizeof(set), &set) != 0)
            perror("direct: sched_setaffinity");
    }
    uv_read_start((uv_stream_t *)&child_out, on_alloc, on_read);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    /* Benchmarks never want the fake's per-thread ballast (see tests/fake-codex/README.md). */
    setenv("FAKE_CODEX_THREAD_BYTES", "0", 0);
    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();
    slots = calloc(opt.concurrency, sizeof(*slots));
    threads = json_object();
    if (slots == NULL || threads == NULL)
        die("out of memory");
    uv_timer_init(loop, &watchdog);
    spawn_fake();
    uv_timer_start(&watchdog, on_watchdog, HANDSHAKE_TIMEOUT_MS, 0);
    send_line("{\"id\":%" PRIu64 ",\"method\":\"initialize\",\"params\":{\"clientInfo\":{"
              "\"name\":\"bench-direct\",\"title\":\"bench-direct\",\"version\":\"0.1.0\"},"
              "\"capabilities\":{\"experimentalApi\":true,\"optOutNotificationMethods\":["
              "\"account/rateLimits/updated\",\"thread/status/changed\",\"thread/started\","
              "\"remoteControl/status/changed\",\"turn/diff/updated\",\"turn/plan/updated\","
              "\"thread/settings/updated\"]}}}",
              call_id(CALL_INIT, 0));
    uv_run(loop, UV_RUN_DEFAULT);
    json_decref(threads);
    free(slots);
    free(line_buf);
    free(lat.v);
    free(ttfb.v);
    free(gaps.v);
    return exit_code;
}
