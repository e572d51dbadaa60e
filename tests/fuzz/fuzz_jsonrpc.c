/* fuzz_jsonrpc.c: bytes from a worker's stdout → the JSON-RPC line reader and dispatcher, with a
 * few calls pending so that responses can match, and server requests answered as the gateway
 * answers them. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include "backend/jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    return method.len % 2 == 0; /* skip about half, to exercise both paths */
}

static const struct cg_rpc_ops ops = {on_send, on_notification, on_request, on_oversized,
                                      on_wanted};

static void on_result(void *data, json_t *result, const struct cg_rpc_error *err)
{
    (*(int *)data)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cg_rpc rpc;
    int settled = 0;
    cg_rpc_init(&rpc, &ops, &rpc, 4096, "fuzz");
    for (int i = 0; i < 3; i++)
        cg_rpc_call(&rpc, "thread/start", NULL, 1000, 0, on_result, &settled);
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
    if (settled != 3)
        abort(); /* every call is settled exactly once */
    return 0;
}
