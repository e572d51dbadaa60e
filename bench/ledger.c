/* ledger.c: the usage ledger under load (build/ledger, linked with the gateway's own ledger
 * code). Opens a ledger in a fresh temporary directory and records rows as fast as its writer
 * commits them, keeping its queue full but never past it (so no row is lost), until N rows are
 * committed. Prints the sustained rows/s, the batches, the mean batch latency (first row recorded
 * → commit), the process's RSS once all rows are in, the file size, and the time of a
 * /v1/usage-style summary (grouped by model) and of a raw read of the newest 200 rows. */
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
#include "store/ledger.h"

enum {
    ROWS_MAX = 100000000,
    TICK_MS = 1,
    QUEUE_ROWS = 10000, /* the gateway's CG_LEDGER_QUEUE_MAX */
    MODELS = 4,
    KEYS = 16,
};

static const char *const models[MODELS] = {"codex-5", "gpt-5.5", "codex-5-mini", "gpt-5.5-pro"};
static const char *const routes[] = {"chat", "responses", "completions"};

static struct {
    size_t rows;
    const char *dir;
} opt = {.rows = 1000000};

static struct {
    uv_loop_t *loop;
    uv_timer_t pacer;
    struct cg_ledger *ledger;
    size_t issued;
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t read_start_ns;
    uint64_t summary_ns;
    uint64_t raw_ns;
    long rss_kb;
    long hwm_kb;
    struct cg_ledger_stats st;
    size_t read_failures;
} b;

static void record_one(size_t i)
{
    char id[40];
    char label[16];
    char key_id[32];
    snprintf(id, sizeof(id), "req_bench%028zu", i);
    snprintf(label, sizeof(label), "key%zu", i % KEYS);
    snprintf(key_id, sizeof(key_id), "k_%024zx", i % KEYS);
    struct cg_ledger_row row = {
        .request_id = id,
        .key_label = label,
        .key_id = key_id,
        .route = routes[i % CG_ARRAY_SIZE(routes)],
        .model = models[i % MODELS],
        .outcome = "completed",
        .stream = i % 2 == 0,
        .status = 200,
        .input_tokens = 1200 + (int64_t)(i % 500),
        .cached_tokens = 600,
        .output_tokens = 80 + (int64_t)(i % 50),
        .reasoning_tokens = 16,
        .ttfb_ms = 250,
        .duration_ms = 1200,
        .worker = (int)(i % 4),
    };
    cg_ledger_record(b.ledger, &row);
}

static void on_raw(enum cg_err code, json_t *value, void *data)
{
    (void)value;
    (void)data;
    b.raw_ns = now_ns() - b.read_start_ns;
    if (code != CG_OK)
        b.read_failures++;
}

static void on_summary(enum cg_err code, json_t *value, void *data)
{
    (void)data;
    b.summary_ns = now_ns() - b.read_start_ns;
    if (code != CG_OK ||
        json_integer_value(json_object_get(value, "total_requests")) != (json_int_t)opt.rows)
        b.read_failures++;
    struct cg_ledger_query q = {.limit = 200};
    b.read_start_ns = now_ns();
    cg_ledger_raw(b.ledger, &q, on_raw, NULL);
}

static void start_reads(void)
{
    struct cg_ledger_query q = {
        .start_s = 0, .end_s = INT64_MAX / 2, .group = CG_LEDGER_GROUP_MODEL};
    b.read_start_ns = now_ns();
    cg_ledger_summary(b.ledger, &q, on_summary, NULL);
}

/* Tops the queue up to QUEUE_ROWS waiting rows; once every row is committed, reads. */
static void on_tick(uv_timer_t *t)
{
    struct cg_ledger_stats st;
    cg_ledger_stats(b.ledger, &st);
    while (b.issued < opt.rows && st.waiting < QUEUE_ROWS) {
        record_one(b.issued++);
        st.waiting++;
    }
    cg_ledger_stats(b.ledger, &st);
    if (st.written + st.lost < opt.rows)
        return;
    b.end_ns = now_ns();
    b.st = st;
    b.rss_kb = proc_status_kb("VmRSS");
    b.hwm_kb = proc_status_kb("VmHWM");
    uv_timer_stop(t);
    start_reads();
}

static void usage(void)
{
    fprintf(stderr, "usage: ledger [options]\n"
                    "  -n N        rows (1000000)\n"
                    "  --dir PATH  where ledger.db goes (a fresh /tmp directory, removed)\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    int i = 1;
    while (i < argc) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = false;
        if (strcmp(a, "-n") == 0 && v)
            ok = parse_size(v, 1, ROWS_MAX, &opt.rows);
        else if (strcmp(a, "--dir") == 0 && v) {
            opt.dir = v;
            ok = true;
        }
        if (!ok)
            usage();
        i += 2;
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    char tmp[] = "/tmp/cg-bench-ledger-XXXXXX";
    char path[4096];
    const char *dir = db_path_in(opt.dir, tmp, "ledger.db", path, sizeof(path));
    b.loop = uv_default_loop();
    struct cg_ledger_config cfg = {.max_age_s = 0, .queue_max = QUEUE_ROWS};
    char err[4096 + 256];
    if (cg_ledger_open(b.loop, path, &cfg, &b.ledger, err, sizeof(err)) != 0) {
        fprintf(stderr, "ledger: %s\n", err);
        return 1;
    }
    long rss0_kb = proc_status_kb("VmRSS");
    uv_timer_init(b.loop, &b.pacer);
    b.start_ns = now_ns();
    uv_timer_start(&b.pacer, on_tick, 0, TICK_MS);
    /* The timer stops once every row is in; the reads keep the loop alive until answered. */
    while (b.raw_ns == 0 && uv_run(b.loop, UV_RUN_ONCE) != 0)
        ;
    cg_ledger_close(b.ledger);
    uv_close((uv_handle_t *)&b.pacer, NULL);
    uv_run(b.loop, UV_RUN_DEFAULT);
    struct stat st = {0};
    stat(path, &st);
    double secs = (double)(b.end_ns - b.start_ns) / 1e9;
    const struct cg_histogram *h = &b.st.write_latency;
    printf("ledger rows=%zu seconds=%.2f rows_per_s=%.0f batches=%" PRIu64
           " rows_per_batch=%.0f batch_mean_us=%" PRIu64 " lost=%" PRIu64
           " rss_start_kb=%ld rss_kb=%ld hwm_kb=%ld db_bytes=%lld summary_ms=%.1f raw200_ms=%.1f"
           " read_failures=%zu\n",
           opt.rows, secs, (double)b.st.written / secs, b.st.batches,
           b.st.batches ? (double)b.st.written / (double)b.st.batches : 0.0,
           h->count ? h->sum_us / h->count : 0, b.st.lost, rss0_kb, b.rss_kb, b.hwm_kb,
           (long long)st.st_size, (double)b.summary_ns / 1e6, (double)b.raw_ns / 1e6,
           b.read_failures);
    if (opt.dir == NULL)
        remove_db_dir(dir, path);
    int rc = uv_loop_close(b.loop);
    return b.read_failures == 0 && b.st.lost == 0 && rc == 0 ? 0 : 1;
}
