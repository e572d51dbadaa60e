/* fuzz_jsonrpc.c: bytes from a worker's stdout → the JSON-RPC line reader and dispatcher, with
 * calls pending (with and without callbacks, and timed out) so that responses can match, and
 * server requests answered as the gateway answers them.
 *
 * Oracle: each line is also fed on its own, and whenever the reader skips it unparsed (as an
 * unwanted notification, or as the answer to a fire-and-forget call) a full jansson parse of the
 * line must say the same: a notification of that method with no id, or a response to that id.
 * A line jansson rejects may be skipped as a notification (it is dropped either way). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "backend/jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_LINE = 4096, WITH_CB = 3, WITHOUT_CB = 3, TIMED_OUT = 2 };

/* What the reader did with the line being fed. */
static struct {
    bool refused;              /* `wanted` said no */
    char method[MAX_LINE + 1]; /* ... to this method */
    size_t method_len;
} seen;

static void on_send(void *owner, char *line, size_t len)
{
    free(line);
}

static void on_notification(void *owner, const char *method, json_t *params)
{
}

static void on_request(void *owner, json_t *id, const char *method, json_t *params)
{
    cg_rpc_respond_error(owner, id, -32601, "not supported");
}

static void on_oversized(void *owner, const char *head, size_t hl, const char *tail, size_t tl)
{
}

static bool on_wanted(void *owner, struct cg_str method, struct cg_str line)
{
    if (method.len % 2 != 0)
        return true; /* skip about half, to exercise both paths */
    seen.refused = true;
    memcpy(seen.method, method.ptr, method.len);
    seen.method_len = method.len;
    return false;
}

static void on_late(void *owner, const char *method, const char *thread_id, json_t *result)
{
    if (result == NULL)
        abort();
}

static const struct cg_rpc_ops ops = {on_send,   on_notification, on_request, on_oversized,
                                      on_wanted, on_late,         NULL};

static void on_result(void *data, json_t *result, const struct cg_rpc_error *err)
{
    (*(int *)data)++;
}

/* Calls 1..WITH_CB with callbacks, then WITHOUT_CB fire-and-forget, then TIMED_OUT expired. */
static void start_calls(struct cg_rpc *rpc, int *settled)
{
    for (int i = 0; i < WITH_CB; i++)
        cg_rpc_call(rpc, "thread/start", NULL, 1000, 0, on_result, settled);
    for (int i = 0; i < WITHOUT_CB; i++)
        cg_rpc_call(rpc, "thread/unsubscribe", NULL, 1000, 0, NULL, NULL);
    for (int i = 0; i < TIMED_OUT; i++)
        cg_rpc_call(rpc, "thread/start", NULL, 0, 0, on_result, settled);
    cg_rpc_expire(rpc, 0);
}

/* The full parse must agree with what the reader decided without it. */
static void check_line(const char *line, size_t len, bool refused, uint64_t settled_id)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    json_t *msg = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
    bool object = json_is_object(msg);
    json_t *id = json_object_get(msg, "id");
    json_t *method = json_object_get(msg, "method");
    if (refused && object) {
        if (!json_is_string(method) || json_string_length(method) != seen.method_len ||
            memcmp(json_string_value(method), seen.method, seen.method_len) != 0)
            abort(); /* skipped as a notification of another method */
        if (id && !json_is_null(id))
            abort(); /* skipped a request */
    }
    if (settled_id) {
        if (!object || json_is_string(method))
            abort(); /* settled our call on something that is no response */
        if (!json_is_integer(id) || (uint64_t)json_integer_value(id) != settled_id)
            abort(); /* settled the wrong call */
        if (!json_object_get(msg, "result") && !json_object_get(msg, "error"))
            abort();
    }
    json_decref(msg);
}

static void feed_lines(const uint8_t *data, size_t size)
{
    struct cg_rpc rpc;
    int settled = 0;
    cg_rpc_init(&rpc, &ops, &rpc, MAX_LINE, "fuzz-lines");
    start_calls(&rpc, &settled);
    const char *p = (const char *)data;
    const char *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len < MAX_LINE) {
            bool before[WITH_CB + WITHOUT_CB + 1] = {false};
            for (uint64_t i = 1; i <= WITH_CB + WITHOUT_CB; i++)
                before[i] = cg_map_get_int(&rpc.pending, i) != NULL;
            uint64_t skipped = rpc.stats.skipped;
            seen.refused = false;
            cg_rpc_feed(&rpc, p, len);
            cg_rpc_feed(&rpc, "\n", 1);
            uint64_t settled_id = 0;
            for (uint64_t i = 1; i <= WITH_CB + WITHOUT_CB; i++) {
                if (before[i] && cg_map_get_int(&rpc.pending, i) == NULL && i > WITH_CB &&
                    rpc.stats.skipped > skipped)
                    settled_id = i;
            }
            if (rpc.stats.skipped > skipped && !seen.refused && settled_id == 0)
                abort(); /* skipped for no reason the reader has */
            check_line(p, len, rpc.stats.skipped > skipped && seen.refused, settled_id);
        }
        p += len + 1;
    }
    cg_rpc_dispose(&rpc);
    if (settled != WITH_CB + TIMED_OUT)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cg_rpc rpc;
    int settled = 0;
    cg_rpc_init(&rpc, &ops, &rpc, MAX_LINE, "fuzz");
    start_calls(&rpc, &settled);
    /* Feed in pieces so lines split across reads, like pipe reads do. */
    size_t off = 0;
    size_t step = size ? 1 + data[0] % 97 : 1;
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        cg_rpc_feed(&rpc, (const char *)data + off, n);
        off += n;
    }
    cg_rpc_expire(&rpc, 500);
    cg_rpc_dispose(&rpc);
    if (settled != WITH_CB + TIMED_OUT)
        abort(); /* every call is settled exactly once */
    feed_lines(data, size);
    return 0;
}
