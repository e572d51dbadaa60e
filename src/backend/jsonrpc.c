/* jsonrpc.c: line framing, message classification and pending calls. */
#include "backend/jsonrpc.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/alloc.h"
#include "util/json.h"
#include "util/log.h"
#define LOG_COMPONENT "jsonrpc"

/* Beyond this many bad lines in a row something is badly wrong; log only every N-th. */
#define BAD_LINE_LOG_EVERY 100

struct pending_call {
    uint64_t id;
    uint64_t deadline_ms;
    cg_rpc_result_cb cb;
    void *data;
    char method[48];
};

void cg_rpc_init(struct cg_rpc *rpc, const struct cg_rpc_ops *ops, void *owner,
                 size_t max_line_bytes, const char *log_name)
{
    memset(rpc, 0, sizeof(*rpc));
    rpc->ops = ops;
    rpc->owner = owner;
    cg_buf_init(&rpc->line, max_line_bytes);
    rpc->next_id = 1;
    cg_map_init(&rpc->pending);
    rpc->log_name = log_name ? log_name : "peer";
}

void cg_rpc_dispose(struct cg_rpc *rpc)
{
    cg_rpc_fail_all(rpc, CG_RPC_ECLOSED, "connection closed");
    cg_map_dispose(&rpc->pending);
    cg_buf_dispose(&rpc->line);
}

static void send_json(struct cg_rpc *rpc, json_t *msg)
{
    struct cg_buf b;
    cg_buf_init(&b, SIZE_MAX / 2);
    if (cg_json_dump(&b, msg) != 0 || cg_buf_append_char(&b, '\n') != 0) {
        cg_buf_dispose(&b);
        cg_log_error("%s: could not serialise a message", rpc->log_name);
        return;
    }
    size_t len;
    char *line = cg_buf_take(&b, &len);
    rpc->ops->send(rpc->owner, line, len);
}

uint64_t cg_rpc_call(struct cg_rpc *rpc, const char *method, json_t *params, uint64_t timeout_ms,
                     uint64_t now_ms, cg_rpc_result_cb cb, void *data)
{
    uint64_t id = rpc->next_id++;
    struct pending_call *pc = cg_xcalloc(1, sizeof(*pc));
    pc->id = id;
    pc->deadline_ms = now_ms + timeout_ms;
    pc->cb = cb;
    pc->data = data;
    snprintf(pc->method, sizeof(pc->method), "%s", method);
    cg_map_put_int(&rpc->pending, id, pc);
    json_t *msg = json_object();
    json_object_set_new(msg, "id", json_integer((json_int_t)id));
    json_object_set_new(msg, "method", json_string(method));
    if (params)
        json_object_set_new(msg, "params", params);
    send_json(rpc, msg);
    json_decref(msg);
    return id;
}

void cg_rpc_forget(struct cg_rpc *rpc, uint64_t id)
{
    free(cg_map_remove_int(&rpc->pending, id));
}

void cg_rpc_notify(struct cg_rpc *rpc, const char *method, json_t *params)
{
    json_t *msg = json_object();
    json_object_set_new(msg, "method", json_string(method));
    if (params)
        json_object_set_new(msg, "params", params);
    send_json(rpc, msg);
    json_decref(msg);
}

void cg_rpc_respond(struct cg_rpc *rpc, json_t *id, json_t *result)
{
    json_t *msg = json_object();
    json_object_set(msg, "id", id);
    json_object_set_new(msg, "result", result ? result : json_object());
    send_json(rpc, msg);
    json_decref(msg);
}

void cg_rpc_respond_error(struct cg_rpc *rpc, json_t *id, int64_t code, const char *message)
{
    json_t *msg = json_object();
    json_object_set(msg, "id", id);
    json_object_set_new(msg, "error", json_pack("{s:I,s:s}", "code", (json_int_t)code, "message",
                                                message));
    send_json(rpc, msg);
    json_decref(msg);
}

static void settle(struct pending_call *pc, json_t *result, const struct cg_rpc_error *err)
{
    if (pc->cb)
        pc->cb(pc->data, result, err);
    free(pc);
}

static void bad_line(struct cg_rpc *rpc, const char *what, const char *line, size_t len)
{
    rpc->stats.invalid++;
    if (rpc->stats.invalid % BAD_LINE_LOG_EVERY != 1)
        return;
    struct cg_buf f;
    cg_buf_init(&f, 1024);
    int err = cg_buf_appendf(&f, "\"peer\":\"%s\",\"what\":\"%s\",\"count\":%" PRIu64 ",\"sample\":",
                             rpc->log_name, what, rpc->stats.invalid);
    if (!err)
        err = cg_json_string(&f, line, cg_json_utf8_boundary(line, len < 64 ? len : 64));
    if (!err)
        cg_log_event(CG_LOG_WARN, LOG_COMPONENT, "bad_line", f.data);
    cg_buf_dispose(&f);
}

/* An id we issued is a positive integer; anything else cannot match a pending call. */
static bool our_id(json_t *id, uint64_t *out)
{
    if (json_is_integer(id) && json_integer_value(id) > 0) {
        *out = (uint64_t)json_integer_value(id);
        return true;
    }
    if (json_is_string(id)) {
        char *end = NULL;
        unsigned long long v = strtoull(json_string_value(id), &end, 10);
        if (end && *end == '\0' && v > 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

static void handle_response(struct cg_rpc *rpc, json_t *msg, json_t *id)
{
    uint64_t key;
    struct pending_call *pc = our_id(id, &key) ? cg_map_remove_int(&rpc->pending, key) : NULL;
    if (pc == NULL) {
        rpc->stats.unknown++;
        cg_log_debug("%s: response to an unknown id", rpc->log_name);
        return;
    }
    json_t *error = json_object_get(msg, "error");
    if (error && !json_is_null(error)) {
        struct cg_rpc_error e = {.code = -32603};
        json_t *code = json_object_get(error, "code");
        if (json_is_integer(code))
            e.code = json_integer_value(code);
        const char *m = json_string_value(json_object_get(error, "message"));
        snprintf(e.message, sizeof(e.message), "%s", m ? m : "error without a message");
        settle(pc, NULL, &e);
        return;
    }
    json_t *result = json_object_get(msg, "result");
    settle(pc, result ? result : json_null(), NULL);
}

/* A notification the owner does not want, judged from its first bytes only. Codex writes the
 * method first; anything shaped otherwise is parsed as usual. */
static bool unwanted(struct cg_rpc *rpc, const char *line, size_t len)
{
    static const char prefix[] = "{\"method\":\"";
    size_t plen = sizeof(prefix) - 1;
    if (rpc->ops->wanted == NULL || len <= plen || memcmp(line, prefix, plen) != 0)
        return false;
    const char *m = line + plen;
    const char *end = memchr(m, '"', len - plen);
    if (end == NULL || memchr(m, '\\', (size_t)(end - m)))
        return false;
    return !rpc->ops->wanted(rpc->owner, (struct cg_str){m, (size_t)(end - m)},
                             (struct cg_str){line, len});
}

/* A response to a fire-and-forget call (no callback), judged from {"id":<n>, at the start:
 * settled without parsing the rest. */
static bool settled_unparsed(struct cg_rpc *rpc, const char *line, size_t len)
{
    static const char prefix[] = "{\"id\":";
    size_t plen = sizeof(prefix) - 1;
    if (len <= plen + 1 || memcmp(line, prefix, plen) != 0)
        return false;
    uint64_t id = 0;
    size_t i = plen;
    while (i < len && i < plen + 19 && line[i] >= '0' && line[i] <= '9')
        id = id * 10 + (uint64_t)(line[i++] - '0');
    if (i == plen || i >= len || line[i] != ',')
        return false;
    struct pending_call *pc = cg_map_get_int(&rpc->pending, id);
    if (pc == NULL || pc->cb != NULL)
        return false;
    free(cg_map_remove_int(&rpc->pending, id));
    return true;
}

static void handle_line(struct cg_rpc *rpc, const char *line, size_t len)
{
    rpc->stats.lines++;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len == 0)
        return;
    if (unwanted(rpc, line, len) || settled_unparsed(rpc, line, len)) {
        rpc->stats.skipped++;
        return;
    }
    json_error_t jerr;
    json_t *msg = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
    if (msg == NULL || !json_is_object(msg)) {
        bad_line(rpc, msg ? "not an object" : "invalid JSON", line, len);
        json_decref(msg);
        return;
    }
    json_t *id = json_object_get(msg, "id");
    json_t *method = json_object_get(msg, "method");
    json_t *params = json_object_get(msg, "params");
    if (json_is_string(method)) {
        if (id && !json_is_null(id))
            rpc->ops->request(rpc->owner, id, json_string_value(method), params);
        else
            rpc->ops->notification(rpc->owner, json_string_value(method), params);
    } else if (id && (json_object_get(msg, "result") || json_object_get(msg, "error"))) {
        handle_response(rpc, msg, id);
    } else {
        bad_line(rpc, "no method, result or error", line, len);
    }
    json_decref(msg);
}

/* Remembers the last bytes of a line being skipped. */
static void keep_tail(struct cg_rpc *rpc, const char *p, size_t n)
{
    size_t cap = sizeof(rpc->skip_tail);
    if (n >= cap) {
        memcpy(rpc->skip_tail, p + n - cap, cap);
        rpc->skip_tail_len = cap;
        return;
    }
    size_t keep = rpc->skip_tail_len + n > cap ? cap - n : rpc->skip_tail_len;
    memmove(rpc->skip_tail, rpc->skip_tail + rpc->skip_tail_len - keep, keep);
    memcpy(rpc->skip_tail + keep, p, n);
    rpc->skip_tail_len = keep + n;
}

static void start_skipping(struct cg_rpc *rpc, const char *more, size_t n)
{
    rpc->stats.oversized++;
    cg_log_warn("%s: line longer than %zu bytes skipped (%" PRIu64 " so far; WORKER_MAX_LINE_BYTES)",
                rpc->log_name, rpc->line.max, rpc->stats.oversized);
    rpc->skip_head_len = CG_MIN(rpc->line.len, sizeof(rpc->skip_head));
    memcpy(rpc->skip_head, rpc->line.data, rpc->skip_head_len);
    rpc->skip_tail_len = 0;
    keep_tail(rpc, rpc->line.data, rpc->line.len);
    keep_tail(rpc, more, n);
    cg_buf_reset(&rpc->line);
    rpc->skipping = true;
}

static void end_skipping(struct cg_rpc *rpc)
{
    rpc->skipping = false;
    if (rpc->ops->oversized)
        rpc->ops->oversized(rpc->owner, rpc->skip_head, rpc->skip_head_len, rpc->skip_tail,
                            rpc->skip_tail_len);
}

void cg_rpc_feed(struct cg_rpc *rpc, const char *data, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (rpc->skipping) {
            keep_tail(rpc, data, take);
            if (nl)
                end_skipping(rpc);
        } else if (nl && rpc->line.len == 0 && take <= rpc->line.max) {
            handle_line(rpc, data, take); /* whole line in this read: no copy */
        } else if (cg_buf_append(&rpc->line, data, take) != 0) {
            start_skipping(rpc, data, take);
            if (nl)
                end_skipping(rpc);
        } else if (nl) {
            handle_line(rpc, rpc->line.data, rpc->line.len);
            cg_buf_reset(&rpc->line);
        }
        if (nl == NULL)
            return;
        data = nl + 1;
        len -= take + 1;
    }
}

void cg_rpc_expire(struct cg_rpc *rpc, uint64_t now_ms)
{
    /* Collect first: callbacks may add or remove calls. */
    size_t n = 0;
    uint64_t ids[64];
    size_t it = 0;
    struct pending_call *pc;
    while ((pc = cg_map_next(&rpc->pending, &it)) && n < CG_ARRAY_SIZE(ids)) {
        if (pc->deadline_ms <= now_ms)
            ids[n++] = pc->id;
    }
    for (size_t i = 0; i < n; i++) {
        pc = cg_map_remove_int(&rpc->pending, ids[i]);
        if (pc == NULL)
            continue;
        struct cg_rpc_error e = {.code = CG_RPC_ETIMEOUT};
        snprintf(e.message, sizeof(e.message), "%s timed out", pc->method);
        cg_log_warn("%s: %s (id %" PRIu64 ") timed out", rpc->log_name, pc->method, pc->id);
        settle(pc, NULL, &e);
    }
}

void cg_rpc_fail_all(struct cg_rpc *rpc, int64_t code, const char *message)
{
    while (rpc->pending.count > 0) {
        size_t it = 0;
        struct pending_call *pc = cg_map_next(&rpc->pending, &it);
        cg_map_remove_int(&rpc->pending, pc->id);
        struct cg_rpc_error e = {.code = code};
        snprintf(e.message, sizeof(e.message), "%s", message);
        settle(pc, NULL, &e);
    }
}

uint64_t cg_rpc_next_deadline(const struct cg_rpc *rpc)
{
    uint64_t best = UINT64_MAX;
    size_t it = 0;
    struct pending_call *pc;
    while ((pc = cg_map_next(&rpc->pending, &it))) {
        if (pc->deadline_ms < best)
            best = pc->deadline_ms;
    }
    return best;
}

size_t cg_rpc_pending(const struct cg_rpc *rpc)
{
    return rpc->pending.count;
}
