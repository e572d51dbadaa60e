/* store.c: the response store under load (build/store). Opens a store in a fresh temporary
 * directory, queues puts of realistic responses (about 4 KiB, 10 items) at a steady rate with
 * many in flight, and after each stored put reads it back (get) and resolves its conversation
 * (a previous_response_id chain of up to CHAIN_DEPTH responses). Prints write latency (queue →
 * callback, so it includes the COMMIT's fsync), read latencies, and throughput, in µs. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <uv.h>
#include "samples.h"
#include "store/responses_store.h"

enum {
    CHAIN_DEPTH = 8,    /* responses per conversation before a new one starts */
    CONVERSATIONS = 64, /* conversations advanced in turn */
    INPUT_ITEMS = 4,    /* plus 6 output items: 10 items per response */
    TICK_MS = 1,        /* how often the pacer queues the puts that are due */
    ID_BYTES = 48,
    PUTS_MAX = 1000000,
};

struct options {
    size_t puts;
    size_t rate; /* puts per second */
    size_t inflight_max;
    const char *dir; /* NULL: a fresh directory under /tmp, removed after */
    bool reads;      /* a get and a resolve after each put */
};

static struct options opt = {.puts = 5000, .rate = 1000, .inflight_max = 256, .reads = true};

struct op {
    uint64_t queued_ns;
    size_t index; /* of the put */
    int kind;     /* 0 put, 1 get, 2 resolve */
};

static struct {
    uv_loop_t *loop;
    uv_timer_t pacer;
    struct cg_responses_store *store;
    json_t *template;
    char (*ids)[ID_BYTES];
    struct op *ops; /* 3 per put */
    uint64_t start_ns;
    uint64_t end_ns;
    size_t issued;
    size_t stored;
    size_t reads_done;
    size_t inflight;
    size_t failed;
    size_t conv_last[CONVERSATIONS]; /* the newest put of each conversation, + 1 (0 = none) */
    size_t conv_depth[CONVERSATIONS];
    struct samples put_lat, get_lat, resolve_lat;
} b;

static void die(const char *msg)
{
    fprintf(stderr, "store: %s\n", msg);
    exit(1);
}

static const char text[] =
    "The quick brown fox jumps over the lazy dog while the gateway stores every response it "
    "sends, so that a later request can name it as previous_response_id and carry on from it; "
    "this sentence is long enough that a handful of them make an item of realistic size.";

static json_t *message(const char *role, const char *part_type)
{
    return json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}]}", "type", "message", "role", role, "status",
                     "completed", "content", "type", part_type, "text", text);
}

/* The response of a put, without ids: 6 output items (reasoning, messages, a function call). */
static json_t *template_new(void)
{
    json_t *out = json_array();
    json_array_append_new(out, json_pack("{s:s, s:[{s:s, s:s}]}", "type", "reasoning", "summary",
                                         "type", "summary_text", "text", text));
    for (int k = 0; k < 4; k++)
        json_array_append_new(out, message("assistant", "output_text"));
    json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "function_call",
                                         "call_id", "call_abc", "name", "exec_command", "arguments",
                                         "{\"cmd\":\"ls -la /work\"}", "status", "completed"));
    return json_pack("{s:s, s:I, s:s, s:s, s:o, s:{s:i, s:i, s:i}}", "object", "response",
                     "created_at", (json_int_t)1764547200, "status", "completed", "model",
                     "gpt-5.5", "output", out, "usage", "input_tokens", 1200, "output_tokens", 300,
                     "total_tokens", 1500);
}

static void set_ids(json_t *items, const char *prefix, size_t index)
{
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        char id[ID_BYTES];
        snprintf(id, sizeof(id), "%s_%zu_%zu", prefix, index, i);
        json_object_set_new(item, "id", json_string(id));
    }
}

static void issue_reads(size_t index);

static void on_stored(const struct cg_store_result *res, void *data)
{
    struct op *o = data;
    uint64_t now = now_ns();
    b.inflight--;
    if (res->code != CG_OK) {
        b.failed++;
        return;
    }
    samples_add(&b.put_lat, now - o->queued_ns);
    b.stored++;
    if (opt.reads)
        issue_reads(o->index);
    else if (b.stored == opt.puts)
        b.end_ns = now;
}

static void on_read(const struct cg_store_result *res, void *data)
{
    struct op *o = data;
    uint64_t now = now_ns();
    b.inflight--;
    b.reads_done++;
    if (res->code != CG_OK) {
        b.failed++;
        return;
    }
    samples_add(o->kind == 1 ? &b.get_lat : &b.resolve_lat, now - o->queued_ns);
    if (b.reads_done == 2 * opt.puts)
        b.end_ns = now;
}

static void issue_reads(size_t index)
{
    struct op *g = &b.ops[3 * index + 1];
    struct op *r = &b.ops[3 * index + 2];
    *g = (struct op){.queued_ns = now_ns(), .index = index, .kind = 1};
    *r = (struct op){.queued_ns = g->queued_ns, .index = index, .kind = 2};
    b.inflight += 2;
    cg_responses_store_get(b.store, "bench", b.ids[index], on_read, g);
    const char *const ids[] = {b.ids[index]};
    cg_responses_store_resolve(b.store, "bench", b.ids[index], ids, 1, on_read, r);
}

static void issue_put(void)
{
    size_t index = b.issued++;
    size_t c = index % CONVERSATIONS;
    if (b.conv_depth[c] == CHAIN_DEPTH) {
        b.conv_depth[c] = 0;
        b.conv_last[c] = 0;
    }
    const char *prev = b.conv_last[c] != 0 ? b.ids[b.conv_last[c] - 1] : NULL;
    snprintf(b.ids[index], ID_BYTES, "resp_bench_%08zu", index);
    json_t *resp = json_deep_copy(b.template);
    json_object_set_new(resp, "id", json_string(b.ids[index]));
    set_ids(json_object_get(resp, "output"), "out", index);
    json_t *in = json_array();
    for (int k = 0; k < INPUT_ITEMS; k++)
        json_array_append_new(in, message(k == 0 ? "developer" : "user", "input_text"));
    set_ids(in, "in", index);
    struct op *o = &b.ops[3 * index];
    *o = (struct op){.queued_ns = now_ns(), .index = index, .kind = 0};
    b.inflight++;
    cg_responses_store_put(b.store, "bench", b.ids[index], prev, resp, in, on_stored, o);
    b.conv_last[c] = index + 1;
    b.conv_depth[c]++;
}

static void on_tick(uv_timer_t *t)
{
    double elapsed_s = (double)(now_ns() - b.start_ns) / 1e9;
    size_t due = (size_t)(elapsed_s * (double)opt.rate);
    while (b.issued < opt.puts && b.issued < due && b.inflight < opt.inflight_max)
        issue_put();
    if (b.issued == opt.puts)
        uv_timer_stop(t);
}

static void usage(void)
{
    fprintf(stderr, "usage: store [options]\n"
                    "  -n N        puts (5000)\n"
                    "  -r N        puts queued per second (1000)\n"
                    "  -i N        most jobs in flight (256)\n"
                    "  --no-reads  puts only\n"
                    "  --dir PATH  where gateway.db goes (a fresh /tmp directory, removed)\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        if (strcmp(a, "-n") == 0 && v)
            ok = parse_size(v, 1, PUTS_MAX, &opt.puts);
        else if (strcmp(a, "-r") == 0 && v)
            ok = parse_size(v, 1, 1000000, &opt.rate);
        else if (strcmp(a, "-i") == 0 && v)
            ok = parse_size(v, 3, 1000000, &opt.inflight_max);
        else if (strcmp(a, "--no-reads") == 0) {
            opt.reads = false;
            continue;
        } else if (strcmp(a, "--dir") == 0 && v)
            opt.dir = v;
        else
            usage();
        if (!ok)
            usage();
        i++;
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    char tmp[] = "/tmp/cg-bench-store-XXXXXX";
    char path[4096];
    const char *dir = db_path_in(opt.dir, tmp, "gateway.db", path, sizeof(path));
    b.loop = uv_default_loop();
    b.template = template_new();
    b.ids = calloc(opt.puts, sizeof(*b.ids));
    b.ops = calloc(3 * opt.puts, sizeof(*b.ops));
    if (b.ids == NULL || b.ops == NULL)
        die("out of memory");
    struct cg_responses_store_limits lim = {.max_age_s = 0, .max_bytes = 0};
    char err[4096 + 256];
    if (cg_responses_store_open(b.loop, path, &lim, &b.store, err, sizeof(err)) != 0) {
        fprintf(stderr, "store: %s\n", err);
        return 1;
    }
    uv_timer_init(b.loop, &b.pacer);
    b.start_ns = now_ns();
    uv_timer_start(&b.pacer, on_tick, 0, TICK_MS);
    uv_run(b.loop, UV_RUN_DEFAULT);
    if (b.end_ns == 0)
        b.end_ns = now_ns();
    cg_responses_store_close(b.store);
    uv_close((uv_handle_t *)&b.pacer, NULL);
    uv_run(b.loop, UV_RUN_DEFAULT);
    struct stat st = {0};
    stat(path, &st);

    samples_sort(&b.put_lat);
    samples_sort(&b.get_lat);
    samples_sort(&b.resolve_lat);
    double secs = (double)(b.end_ns - b.start_ns) / 1e9;
    printf("store puts=%zu rate=%zu inflight_max=%zu seconds=%.2f puts_per_s=%.0f "
           "reads_per_s=%.0f put_p50_us=%" PRIu32 " put_p99_us=%" PRIu32 " get_p50_us=%" PRIu32
           " get_p99_us=%" PRIu32 " resolve_p50_us=%" PRIu32 " resolve_p99_us=%" PRIu32
           " failed=%zu db_bytes=%lld\n",
           opt.puts, opt.rate, opt.inflight_max, secs, (double)b.stored / secs,
           (double)b.reads_done / secs, pct(&b.put_lat, 50), pct(&b.put_lat, 99),
           pct(&b.get_lat, 50), pct(&b.get_lat, 99), pct(&b.resolve_lat, 50),
           pct(&b.resolve_lat, 99), b.failed, (long long)st.st_size);
    if (opt.dir == NULL)
        remove_db_dir(dir, path);
    json_decref(b.template);
    free(b.ids);
    free(b.ops);
    free(b.put_lat.v);
    free(b.get_lat.v);
    free(b.resolve_lat.v);
    int rc = uv_loop_close(b.loop);
    return b.failed == 0 && rc == 0 ? 0 : 1;
}
