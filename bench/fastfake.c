/* fastfake.c: the benchmarks' own app-server (`build/fastfake app-server`). It answers the calls a
 * gateway (or build/direct) makes and plays the turns of `fake:text` and `fake:slow=MS,N` with the
 * lines fake-codex writes for them (the same members in the same order, as the real transcripts
 * have them), but every line is formatted straight into the output and every call is read with a
 * few prefix and substring tests: no JSON value is ever built or parsed. A benchmark then
 * measures the gateway, not its backend. Any other call gets a JSON-RPC error that names this
 * fake; tests use tests/fake-codex, which fakes everything else. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

enum {
    LINE_MAX_BYTES = 4 << 20, /* longest call accepted; a longer one ends the fake */
    ID_BYTES = 40,
    MESSAGE_MAX_BYTES = 256, /* of the user message copied into the user-message lines */
    TURN_BUCKETS = 16384,    /* thread id → running turn */
    TEXT_DELTAS = 4,
};

static const char *const text_deltas[TEXT_DELTAS] = {"Hello", " from", " fake-codex", "."};

struct turn {
    struct turn *next; /* in its bucket */
    uv_timer_t timer;  /* fake:slow: one delta per tick */
    char thread[ID_BYTES];
    char id[ID_BYTES];
    char item[ID_BYTES];
    char user_item[ID_BYTES];
    char message[MESSAGE_MAX_BYTES]; /* the user's text as it came: JSON string body bytes */
    uint64_t started_ms;
    unsigned every_ms;
    unsigned count; /* deltas to send */
    unsigned sent;
    char *text; /* the deltas so far (fake:slow) */
    size_t text_len;
};

static uv_loop_t *loop;
static uv_pipe_t in;
static uv_pipe_t out;
static char *line;
static size_t line_len;
static char *pending; /* formatted, not yet handed to uv_write */
static size_t pending_len;
static size_t pending_cap;
static struct turn *turns[TURN_BUCKETS];
static uint64_t id_counter;
static char cwd_json[512] = "/";
static char home_json[512] = "/";

static void die(const char *what)
{
    fprintf(stderr, "fastfake: %s\n", what);
    exit(1);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --- output: formatted into one buffer, written once per callback ------------------------- */

static void put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void put(const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(pending + pending_len, pending_cap - pending_len, fmt, ap);
        va_end(ap);
        if (n < 0)
            die("vsnprintf failed");
        if ((size_t)n < pending_cap - pending_len) {
            pending_len += (size_t)n;
            return;
        }
        pending_cap = pending_cap * 2 + (size_t)n + 1;
        pending = realloc(pending, pending_cap);
        if (pending == NULL)
            die("out of memory");
    }
}

static void on_written(uv_write_t *req, int status)
{
    free(req->data);
    free(req);
    if (status < 0)
        exit(0); /* the reader is gone */
}

static void flush(void)
{
    if (pending_len == 0)
        return;
    /* The write gets a copy of exactly its bytes and the staging buffer stays: with thousands
     * of paced turns, most writes are one short line, and a write queued behind a busy reader
     * would otherwise hold the whole staging buffer. */
    uv_write_t *req = malloc(sizeof(*req));
    char *bytes = malloc(pending_len);
    if (req == NULL || bytes == NULL)
        die("out of memory");
    memcpy(bytes, pending, pending_len);
    uv_buf_t b = uv_buf_init(bytes, (unsigned)pending_len);
    req->data = bytes;
    if (uv_write(req, (uv_stream_t *)&out, &b, 1, on_written) != 0)
        exit(0);
    pending_len = 0;
}

/* --- ids and the lines of a turn ---------------------------------------------------------- */

static void make_uuid(char *dst)
{
    uint64_t ms = now_ms();
    uint64_t seq = ++id_counter;
    snprintf(dst, ID_BYTES, "%08x-%04x-7%03x-%04x-%012" PRIx64, (unsigned)(ms >> 16),
             (unsigned)(ms & 0xffff), (unsigned)(seq & 0xfff), 0x8000u | (unsigned)(seq & 0x3fff),
             (uint64_t)(seq * 0x9e3779b97f4aULL & 0xffffffffffffULL));
}

static size_t bucket_of(const char *thread, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)thread[i]) * 16777619u;
    return h % TURN_BUCKETS;
}

static struct turn **find_turn(const char *thread, size_t len)
{
    struct turn **at = &turns[bucket_of(thread, len)];
    while (*at && (strlen((*at)->thread) != len || memcmp((*at)->thread, thread, len) != 0))
        at = &(*at)->next;
    return at;
}

static void on_turn_closed(uv_handle_t *h)
{
    struct turn *t = h->data;
    free(t->text);
    free(t);
}

static void drop_turn(struct turn *t)
{
    struct turn **at = &turns[bucket_of(t->thread, strlen(t->thread))];
    while (*at && *at != t)
        at = &(*at)->next;
    if (*at == t)
        *at = t->next;
    uv_close((uv_handle_t *)&t->timer, on_turn_closed);
}

static void put_delta(const struct turn *t, const char *text)
{
    put("{\"method\":\"item/agentMessage/delta\",\"params\":{\"threadId\":\"%s\",\"turnId\":\"%s\","
        "\"itemId\":\"%s\",\"delta\":\"%s\"},\"emittedAtMs\":%" PRIu64 "}\n",
        t->thread, t->id, t->item, text, now_ms());
}

/* The turn's start, up to the agent message's item/started. */
static void put_start(const struct turn *t)
{
    uint64_t ms = now_ms();
    uint64_t s = t->started_ms / 1000;
    put("{\"method\":\"turn/started\",\"params\":{\"threadId\":\"%s\",\"turn\":{\"id\":\"%s\","
        "\"items\":[],\"itemsView\":\"notLoaded\",\"status\":\"inProgress\",\"error\":null,"
        "\"startedAt\":%" PRIu64
        ",\"completedAt\":null,\"durationMs\":null}},\"emittedAtMs\":%" PRIu64 "}\n",
        t->thread, t->id, s, ms);
    put("{\"method\":\"rawResponseItem/completed\",\"params\":{\"item\":{\"type\":\"message\","
        "\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"%s\"}]},\"threadId\":"
        "\"%s\",\"turnId\":\"%s\"},\"emittedAtMs\":%" PRIu64 "}\n",
        t->message, t->thread, t->id, ms);
    static const char *const phase[2][2] = {{"item/started", "startedAtMs"},
                                            {"item/completed", "completedAtMs"}};
    for (int k = 0; k < 2; k++)
        put("{\"method\":\"%s\",\"params\":{\"item\":{\"type\":\"userMessage\",\"id\":\"%s\","
            "\"clientId\":null,\"content\":[{\"type\":\"text\",\"text\":\"%s\",\"text_elements\":"
            "[]}]},\"threadId\":\"%s\",\"turnId\":\"%s\",\"%s\":%" PRIu64
            "},\"emittedAtMs\":%" PRIu64 "}\n",
            phase[k][0], t->user_item, t->message, t->thread, t->id, phase[k][1], ms, ms);
    put("{\"method\":\"item/"
        "started\",\"params\":{\"item\":{\"type\":\"agentMessage\",\"id\":\"%s\","
        "\"text\":\"\"},\"threadId\":\"%s\",\"turnId\":\"%s\",\"startedAtMs\":%" PRIu64
        "},\"emittedAtMs\":%" PRIu64 "}\n",
        t->item, t->thread, t->id, ms, ms);
}

static const char usage_json[] = "{\"totalTokens\":30,\"inputTokens\":21,\"cachedInputTokens\":5,"
                                 "\"cacheWriteInputTokens\":0,\"outputTokens\":9,"
                                 "\"reasoningOutputTokens\":0}";

/* The turn's end, from the agent message's item/completed to turn/completed. */
static void put_end(const struct turn *t, const char *text, size_t len)
{
    uint64_t ms = now_ms();
    int n = (int)len;
    put("{\"method\":\"item/completed\",\"params\":{\"item\":{\"type\":\"agentMessage\",\"id\":"
        "\"%s\",\"text\":\"%.*s\"},\"threadId\":\"%s\",\"turnId\":\"%s\",\"completedAtMs\":%" PRIu64
        "},\"emittedAtMs\":%" PRIu64 "}\n",
        t->item, n, text, t->thread, t->id, ms, ms);
    put("{\"method\":\"rawResponseItem/completed\",\"params\":{\"item\":{\"type\":\"message\","
        "\"id\":\"%s\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":"
        "\"%.*s\",\"annotations\":[]}],\"status\":\"completed\"},\"threadId\":\"%s\",\"turnId\":"
        "\"%s\"},\"emittedAtMs\":%" PRIu64 "}\n",
        t->item, n, text, t->thread, t->id, ms);
    put("{\"method\":\"rawResponse/completed\",\"params\":{\"threadId\":\"%s\",\"turnId\":\"%s\","
        "\"responseId\":\"resp_%016" PRIx64 "\",\"usage\":%s,\"usageMetadata\":null},"
        "\"emittedAtMs\":%" PRIu64 "}\n",
        t->thread, t->id, ++id_counter, usage_json, ms);
    put("{\"method\":\"thread/tokenUsage/updated\",\"params\":{\"threadId\":\"%s\",\"turnId\":"
        "\"%s\",\"tokenUsage\":{\"total\":%s,\"last\":%s,\"modelContextWindow\":128000}},"
        "\"emittedAtMs\":%" PRIu64 "}\n",
        t->thread, t->id, usage_json, usage_json, ms);
    put("{\"method\":\"account/rateLimits/updated\",\"params\":{\"rateLimits\":{\"limitId\":"
        "\"codex\",\"limitName\":null,\"normalModelSlug\":null,\"primary\":null,\"secondary\":"
        "null,\"credits\":null,\"individualLimit\":null,\"spendControlReached\":null,"
        "\"planType\":null}},\"emittedAtMs\":%" PRIu64 "}\n",
        ms);
    put("{\"method\":\"turn/completed\",\"params\":{\"threadId\":\"%s\",\"turn\":{\"id\":\"%s\","
        "\"items\":[{\"type\":\"agentMessage\",\"id\":\"%s\",\"text\":\"%.*s\"}],\"itemsView\":"
        "\"summary\",\"status\":\"completed\",\"error\":null,\"startedAt\":%" PRIu64
        ",\"completedAt\":%" PRIu64 ",\"durationMs\":%" PRIu64 "}},\"emittedAtMs\":%" PRIu64 "}\n",
        t->thread, t->id, t->item, n, text, t->started_ms / 1000, ms / 1000, ms - t->started_ms,
        ms);
}

static void on_tick(uv_timer_t *timer)
{
    struct turn *t = timer->data;
    char delta[32];
    int n = snprintf(delta, sizeof(delta), "s%u ", t->sent);
    t->text = realloc(t->text, t->text_len + (size_t)n + 1);
    if (t->text == NULL)
        die("out of memory");
    memcpy(t->text + t->text_len, delta, (size_t)n + 1);
    t->text_len += (size_t)n;
    put_delta(t, delta);
    if (++t->sent == t->count) {
        uv_timer_stop(timer);
        put_end(t, t->text, t->text_len);
        drop_turn(t);
    }
    flush();
}

/* --- reading calls ------------------------------------------------------------------------ */

/* The string value after `key` (as `"key":"`) in line[0..len): its raw bytes, escapes kept. */
static bool raw_string(const char *l, size_t len, const char *key, const char **at, size_t *n)
{
    const char *p = memmem(l, len, key, strlen(key));
    if (p == NULL)
        return false;
    p += strlen(key);
    const char *end = l + len;
    const char *q = p;
    while (q < end && *q != '"')
        q += *q == '\\' ? 2 : 1;
    if (q >= end)
        return false;
    *at = p;
    *n = (size_t)(q - p);
    return true;
}

static void copy_raw(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap)
        n = 0; /* too long to copy whole: an escape cut in half would break the line */
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void turn_start(const char *id, const char *l, size_t len)
{
    const char *thread = NULL;
    const char *text = NULL;
    size_t thread_len = 0;
    size_t text_len = 0;
    if (!raw_string(l, len, "\"threadId\":\"", &thread, &thread_len) || thread_len >= ID_BYTES ||
        !raw_string(l, len, "\"text\":\"", &text, &text_len)) {
        put("{\"id\":%s,\"error\":{\"code\":-32602,\"message\":\"fastfake: turn/start without "
            "threadId or text\"}}\n",
            id);
        return;
    }
    struct turn *t = calloc(1, sizeof(*t));
    if (t == NULL)
        die("out of memory");
    copy_raw(t->thread, sizeof(t->thread), thread, thread_len);
    copy_raw(t->message, sizeof(t->message), text, text_len);
    make_uuid(t->id);
    make_uuid(t->user_item);
    snprintf(t->item, sizeof(t->item), "msg_%016" PRIx64, (uint64_t)(++id_counter * 0x9e3779b9ULL));
    t->started_ms = now_ms();
    unsigned every = 0;
    unsigned count = 0;
    char tail = 0;
    if (sscanf(t->message, "fake:slow=%u,%u%c", &every, &count, &tail) == 2 && count > 0) {
        t->every_ms = every;
        t->count = count;
    }
    put("{\"id\":%s,\"result\":{\"turn\":{\"id\":\"%s\",\"items\":[],\"itemsView\":\"notLoaded\","
        "\"status\":\"inProgress\",\"error\":null,\"startedAt\":%" PRIu64
        ",\"completedAt\":null,\"durationMs\":null}}}\n",
        id, t->id, t->started_ms / 1000);
    put_start(t);
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    if (t->count == 0) {
        for (int i = 0; i < TEXT_DELTAS; i++)
            put_delta(t, text_deltas[i]);
        put_end(t, "Hello from fake-codex.", strlen("Hello from fake-codex."));
        uv_close((uv_handle_t *)&t->timer, on_turn_closed);
        return;
    }
    struct turn **at = find_turn(t->thread, strlen(t->thread));
    t->next = *at;
    *at = t;
    /* The first delta at once, as fake-codex sends it; the rest every_ms apart. */
    on_tick(&t->timer);
    if (t->sent < t->count)
        uv_timer_start(&t->timer, on_tick, t->every_ms, t->every_ms ? t->every_ms : 1);
}

static void turn_interrupt(const char *id, const char *l, size_t len)
{
    put("{\"id\":%s,\"result\":{}}\n", id);
    const char *thread = NULL;
    size_t thread_len = 0;
    if (!raw_string(l, len, "\"threadId\":\"", &thread, &thread_len))
        return;
    struct turn *t = *find_turn(thread, thread_len);
    if (t == NULL)
        return;
    uv_timer_stop(&t->timer);
    uint64_t ms = now_ms();
    put("{\"method\":\"turn/completed\",\"params\":{\"threadId\":\"%s\",\"turn\":{\"id\":\"%s\","
        "\"items\":[],\"itemsView\":\"summary\",\"status\":\"interrupted\",\"error\":null,"
        "\"startedAt\":%" PRIu64 ",\"completedAt\":%" PRIu64 ",\"durationMs\":%" PRIu64
        "}},\"emittedAtMs\":%" PRIu64 "}\n",
        t->thread, t->id, t->started_ms / 1000, ms / 1000, ms - t->started_ms, ms);
    drop_turn(t);
}

static void thread_start(const char *id, const char *l, size_t len)
{
    const char *model = "gpt-5.5";
    size_t model_len = strlen(model);
    raw_string(l, len, "\"model\":\"", &model, &model_len);
    char thread[ID_BYTES];
    make_uuid(thread);
    uint64_t s = now_ms() / 1000;
    int m = (int)model_len;
    put("{\"id\":%s,\"result\":{\"thread\":{\"id\":\"%s\",\"sessionId\":\"%s\",\"forkedFromId\":"
        "null,\"preview\":\"\",\"ephemeral\":true,\"modelProvider\":\"fake\",\"createdAt\":%" PRIu64
        ",\"updatedAt\":%" PRIu64 ",\"status\":{\"type\":\"idle\"},\"path\":null,\"cwd\":\"%s\","
        "\"cliVersion\":\"0.169.0\",\"source\":\"vscode\",\"agentNickname\":null,\"agentRole\":"
        "null,"
        "\"gitInfo\":null,\"name\":null,\"projectId\":null,\"model\":\"%.*s\",\"reasoningEffort\":"
        "null,\"turns\":[]},\"model\":\"%.*s\",\"modelProvider\":\"fake\",\"serviceTier\":null,"
        "\"cwd\":\"%s\",\"instructionSources\":[],\"approvalPolicy\":\"never\","
        "\"approvalsReviewer\":\"user\",\"sandbox\":{\"type\":\"readOnly\",\"networkAccess\":"
        "false},\"reasoningEffort\":null}}\n",
        id, thread, thread, s, s, cwd_json, m, model, m, model, cwd_json);
}

static void on_call(const char *l, size_t len)
{
    static const char lead[] = "{\"id\":";
    if (len < sizeof(lead) || memcmp(l, lead, sizeof(lead) - 1) != 0)
        return; /* a notification (initialized): nothing to answer */
    const char *p = l + sizeof(lead) - 1;
    char id[24];
    size_t n = 0;
    while (p < l + len && *p >= '0' && *p <= '9' && n < sizeof(id) - 1)
        id[n++] = *p++;
    id[n] = '\0';
    const char *method = NULL;
    size_t method_len = 0;
    if (n == 0 || !raw_string(l, len, "\"method\":\"", &method, &method_len))
        return;
#define IS(name) (method_len == sizeof(name) - 1 && memcmp(method, name, method_len) == 0)
    if (IS("turn/start")) {
        turn_start(id, l, len);
    } else if (IS("thread/start")) {
        thread_start(id, l, len);
    } else if (IS("thread/unsubscribe")) {
        put("{\"id\":%s,\"result\":{\"status\":\"unsubscribed\"}}\n", id);
    } else if (IS("turn/interrupt")) {
        turn_interrupt(id, l, len);
    } else if (IS("thread/loaded/list")) {
        put("{\"id\":%s,\"result\":{\"data\":[],\"nextCursor\":null}}\n", id);
    } else if (IS("initialize")) {
        put("{\"id\":%s,\"result\":{\"userAgent\":\"fake-codex/0.169.0\",\"codexHome\":\"%s\","
            "\"platformFamily\":\"unix\",\"platformOs\":\"linux\"}}\n",
            id, home_json);
    } else if (IS("account/read")) {
        put("{\"id\":%s,\"result\":{\"account\":null,\"userId\":null,\"requiresOpenaiAuth\":false,"
            "\"workspaceRouting\":null}}\n",
            id);
    } else {
        put("{\"id\":%s,\"error\":{\"code\":-32601,\"message\":\"fastfake fakes only the calls of "
            "fake:text and fake:slow turns, not %.*s\"}}\n",
            id, (int)method_len, method);
    }
#undef IS
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char chunk[256 * 1024];
    *b = uv_buf_init(chunk, sizeof(chunk));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    if (nread < 0) {
        /* stdin closed: the gateway is done with us. The loop ends once the last lines are
         * written. */
        flush();
        uv_close((uv_handle_t *)&in, NULL);
        for (size_t i = 0; i < TURN_BUCKETS; i++) {
            while (turns[i])
                drop_turn(turns[i]);
        }
        return;
    }
    const char *p = b->base;
    const char *end = p + nread;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (line_len + n > LINE_MAX_BYTES)
            die("a call longer than LINE_MAX_BYTES");
        memcpy(line + line_len, p, n);
        line_len += n;
        if (nl == NULL)
            break;
        on_call(line, line_len);
        line_len = 0;
        p = nl + 1;
    }
    flush();
}

/* A path as a JSON string body: left out when it would need escaping. */
static void path_json(char *dst, size_t cap, const char *path)
{
    if (path == NULL || strlen(path) >= cap || strpbrk(path, "\"\\") != NULL)
        return;
    for (const char *c = path; *c; c++)
        if ((unsigned char)*c < 0x20)
            return;
    memcpy(dst, path, strlen(path) + 1);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "app-server") != 0) {
        fprintf(stderr, "usage: fastfake app-server [ignored options]\n");
        return 2;
    }
    char dir[512];
    path_json(cwd_json, sizeof(cwd_json), getcwd(dir, sizeof(dir)));
    path_json(home_json, sizeof(home_json), getenv("CODEX_HOME"));
    line = malloc(LINE_MAX_BYTES);
    pending_cap = 64 * 1024;
    pending = malloc(pending_cap);
    if (line == NULL || pending == NULL)
        die("out of memory");
    loop = uv_default_loop();
    if (uv_pipe_init(loop, &in, 0) != 0 || uv_pipe_open(&in, 0) != 0 ||
        uv_pipe_init(loop, &out, 0) != 0 || uv_pipe_open(&out, 1) != 0)
        die("stdin and stdout must be pipes");
    fprintf(stderr, "fastfake: ready pid=%d\n", (int)getpid());
    uv_read_start((uv_stream_t *)&in, on_alloc, on_read);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
