/* jsonrpc.c: line framing, message classification and pending calls. */
#include "backend/jsonrpc.h"
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/line_scan.h"
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
    const char *const *want; /* cg_rpc_call_want's member path, NULL when the whole result */
    char method[CG_RPC_METHOD_BYTES];
    /* Kept for a late answer: what it created belongs to this thread. */
    char thread_id[CG_RPC_THREAD_BYTES];
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

/* Most of our calls fit in this; larger ones grow from it. */
#define SEND_RESERVE_BYTES 1023

static void send_json(struct cg_rpc *rpc, json_t *msg)
{
    struct cg_buf b;
    cg_buf_init(&b, SIZE_MAX / 2);
    /* Room for the usual call at once (doubling from nothing is most of a small call's cost). */
    if (cg_buf_reserve(&b, SEND_RESERVE_BYTES) == NULL) {
        cg_log_error("%s: could not serialise a message", rpc->log_name);
        return;
    }
    if (cg_json_write(&b, msg) != 0) {
        cg_buf_dispose(&b);
        cg_log_error("%s: could not serialise a message", rpc->log_name);
        return;
    }
    if (cg_buf_append_char(&b, '\n') != 0) {
        cg_buf_dispose(&b);
        cg_log_error("%s: could not serialise a message", rpc->log_name);
        return;
    }
    size_t len = 0;
    char *line = cg_buf_take(&b, &len);
    rpc->ops->send(rpc->owner, line, len);
}

/* Writes {"id":N,"method":"...","params":...} as send_json would write the object cg_rpc_call
 * builds, without building it: `params` is a value (json) or its bytes already (raw). False
 * (nothing sent) when a method is not UTF-8 (jansson would leave it out) or a value cannot be
 * written: cg_rpc_call_want then builds the object; raw params never fail (the caller wrote
 * them, and the buffer has no cap that bytes in memory could reach). */
static bool send_call(struct cg_rpc *rpc, uint64_t id, const char *method, size_t method_len,
                      const json_t *json, const struct cg_str *raw)
{
    if (!cg_json_utf8_valid(method, method_len))
        return false;
    struct cg_buf b;
    cg_buf_init(&b, SIZE_MAX / 2);
    bool ok = cg_buf_reserve(&b, SEND_RESERVE_BYTES + (raw ? raw->len : 0)) != NULL &&
              cg_buf_appendf(&b, "{\"id\":%" PRIu64 ",\"method\":", id) == 0 &&
              cg_json_string(&b, method, method_len) == 0;
    if (ok && (json != NULL || raw != NULL)) {
        ok = cg_buf_append(&b, ",\"params\":", 10) == 0 &&
             (raw ? cg_buf_append(&b, raw->ptr, raw->len) : cg_json_write(&b, json)) == 0;
    }
    if (!ok || cg_buf_append(&b, "}\n", 2) != 0) {
        cg_buf_dispose(&b);
        return false;
    }
    size_t len = 0;
    char *line = cg_buf_take(&b, &len);
    rpc->ops->send(rpc->owner, line, len);
    return true;
}

uint64_t cg_rpc_call(struct cg_rpc *rpc, const char *method, json_t *params, uint64_t timeout_ms,
                     uint64_t now_ms, cg_rpc_result_cb cb, void *data)
{
    return cg_rpc_call_want(rpc, method, params, timeout_ms, now_ms, NULL, cb, data);
}

/* Registers call `method` as pending and returns its id; `thread` (may be NULL) is the
 * threadId its params name. */
static uint64_t add_pending(struct cg_rpc *rpc, const char *method, size_t method_len,
                            const char *thread, uint64_t timeout_ms, uint64_t now_ms,
                            const char *const *want, cg_rpc_result_cb cb, void *data)
{
    size_t names = 0;
    while (want && want[names])
        names++;
    assert(names <= CG_RPC_WANT_MAX);
    uint64_t id = rpc->next_id++;
    struct pending_call *pc = cg_xcalloc(1, sizeof(*pc));
    pc->id = id;
    pc->deadline_ms = now_ms + timeout_ms;
    pc->cb = cb;
    pc->data = data;
    pc->want = want;
    memcpy(pc->method, method, CG_MIN(method_len, sizeof(pc->method) - 1)); /* zeroed: ends */
    if (thread && strlen(thread) < sizeof(pc->thread_id))
        memcpy(pc->thread_id, thread, strlen(thread) + 1);
    cg_map_put_int(&rpc->pending, id, pc);
    return id;
}

uint64_t cg_rpc_call_want(struct cg_rpc *rpc, const char *method, json_t *params,
                          uint64_t timeout_ms, uint64_t now_ms, const char *const *want,
                          cg_rpc_result_cb cb, void *data)
{
    size_t method_len = strlen(method);
    const char *thread = json_string_value(json_object_get(params, "threadId"));
    uint64_t id = add_pending(rpc, method, method_len, thread, timeout_ms, now_ms, want, cb, data);
    if (send_call(rpc, id, method, method_len, params, NULL)) {
        json_decref(params);
        return id;
    }
    json_t *msg = json_object();
    json_object_set_new(msg, "id", json_integer((json_int_t)id));
    json_object_set_new(msg, "method", json_string(method));
    if (params)
        json_object_set_new(msg, "params", params);
    send_json(rpc, msg);
    json_decref(msg);
    return id;
}

uint64_t cg_rpc_call_raw(struct cg_rpc *rpc, const char *method, const struct cg_rpc_raw *params,
                         uint64_t timeout_ms, uint64_t now_ms, const char *const *want,
                         cg_rpc_result_cb cb, void *data)
{
    size_t method_len = strlen(method);
    uint64_t id =
        add_pending(rpc, method, method_len, params->thread_id, timeout_ms, now_ms, want, cb, data);
    bool sent = send_call(rpc, id, method, method_len, NULL, &params->json);
    assert(sent); /* our own method names, params already bytes */
    (void)sent;
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
    json_object_set_new(msg, "error",
                        json_pack("{s:I,s:s}", "code", (json_int_t)code, "message", message));
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
    int err = cg_buf_appendf(
        &f, "\"peer\":\"%s\",\"what\":\"%s\",\"count\":%" PRIu64 ",\"sample\":", rpc->log_name,
        what, rpc->stats.invalid);
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

static void remember_late(struct cg_rpc *rpc, const struct pending_call *pc)
{
    struct cg_rpc_late *l = &rpc->late[rpc->late_next];
    rpc->late_next = (rpc->late_next + 1) % CG_ARRAY_SIZE(rpc->late);
    l->id = pc->id;
    memcpy(l->method, pc->method, sizeof(l->method));
    memcpy(l->thread_id, pc->thread_id, sizeof(l->thread_id));
}

/* A response to no pending call: a late one goes to the owner, anything else is counted. */
static void handle_unmatched(struct cg_rpc *rpc, json_t *msg, bool ours, uint64_t key)
{
    for (size_t i = 0; ours && i < CG_ARRAY_SIZE(rpc->late); i++) {
        struct cg_rpc_late *l = &rpc->late[i];
        if (l->id != key)
            continue;
        l->id = 0;
        rpc->stats.late++;
        cg_log_info("%s: late answer to %s (id %" PRIu64 ")", rpc->log_name, l->method, key);
        json_t *result = json_object_get(msg, "result");
        json_t *error = json_object_get(msg, "error");
        if (rpc->ops->late && result && (error == NULL || json_is_null(error)))
            rpc->ops->late(rpc->owner, l->method, l->thread_id, result);
        return;
    }
    rpc->stats.unknown++;
    cg_log_debug("%s: response to an unknown id", rpc->log_name);
}

static void handle_response(struct cg_rpc *rpc, json_t *msg, json_t *id)
{
    uint64_t key = 0;
    bool ours = our_id(id, &key);
    struct pending_call *pc = ours ? cg_map_remove_int(&rpc->pending, key) : NULL;
    if (pc == NULL) {
        handle_unmatched(rpc, msg, ours, key);
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

/* --- judging a line from its raw bytes ---------------------------------------------------
 *
 * Most lines from a worker are notifications the gateway does not use, and parsing is most of
 * the cost of reading them. Which kind a line is depends only on its top-level members, so a
 * scan that skips over nested values (without building anything) finds them. The scan declines
 * (`ok` false) whatever it does not judge exactly, and such a line is parsed in full: escaped
 * keys, a repeated id/method/result/error, a method that is not a plain string, bytes after the
 * object. A line that is not valid JSON may be skipped as a notification the owner does not want:
 * the full parse would have dropped it as invalid. */

struct shape {
    bool ok;
    bool has_method; /* a string without escapes: `method` holds its bytes */
    bool has_id;
    bool has_result; /* "result" or "error" */
    struct cg_str method;
    struct cg_str id; /* the raw value */
};

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* `p` is just past an opening quote: returns the byte after the closing one, NULL if there is
 * none. A quote closes the string when an even number of backslashes stands before it. Nested
 * values are the bulk of every line, so this is the scan's inner loop: one memchr per quote. */
static const char *skip_string_body(const char *p, const char *end)
{
    const char *start = p;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (q == NULL)
            return NULL;
        const char *b = q;
        while (b > start && b[-1] == '\\')
            b--;
        p = q + 1;
        if (((size_t)(q - b) & 1) == 0)
            return p;
    }
}

/* `p` is at an opening quote: returns the byte after the closing one, NULL if there is none;
 * `escaped` is set when the string holds any escape. */
static const char *skip_string(const char *p, const char *end, bool *escaped)
{
    const char *after = skip_string_body(p + 1, end);
    if (after && memchr(p + 1, '\\', (size_t)(after - p - 2)))
        *escaped = true;
    return after;
}

/* The bytes that matter inside a container being skipped: quotes and brackets. */
static const unsigned char container_byte[256] = {
    ['"'] = 1, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1,
};

/* Skips one value without checking what is inside containers beyond their nesting. */
static const char *skip_value(const char *p, const char *end)
{
    if (p < end && *p == '"')
        return skip_string_body(p + 1, end);
    if (p < end && (*p == '{' || *p == '[')) {
        size_t depth = 0;
        while (p < end) {
            while (p < end && !container_byte[(unsigned char)*p]) {
                p++;
            }
            if (p == end)
                break;
            char c = *p;
            if (c == '"') {
                p = skip_string_body(p + 1, end);
                if (p == NULL)
                    return NULL;
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return p + 1;
            }
            p++;
        }
        return NULL;
    }
    const char *start = p;
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
           *p != '\r' && *p != '\n')
        p++;
    return p > start ? p : NULL;
}

static bool member_is(struct cg_str key, const char *name)
{
    return cg_str_eq(key, cg_str_from(name));
}

static void scan_line(const char *line, size_t len, struct shape *s)
{
    memset(s, 0, sizeof(*s));
    const char *end = line + len;
    const char *p = skip_ws(line, end);
    if (p == end || *p != '{')
        return;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') {
        s->ok = skip_ws(p + 1, end) == end;
        return;
    }
    for (;;) {
        bool escaped = false;
        if (p == end || *p != '"')
            return;
        const char *kend = skip_string(p, end, &escaped);
        if (kend == NULL || escaped)
            return;
        struct cg_str key = {p + 1, (size_t)(kend - p - 2)};
        p = skip_ws(kend, end);
        if (p == end || *p != ':')
            return;
        p = skip_ws(p + 1, end);
        const char *vend = skip_value(p, end);
        if (vend == NULL)
            return;
        struct cg_str value = {p, (size_t)(vend - p)};
        if (member_is(key, "method")) {
            if (s->has_method || value.len < 2 || *p != '"' || memchr(p, '\\', value.len))
                return;
            s->has_method = true;
            s->method = (struct cg_str){p + 1, value.len - 2};
        } else if (member_is(key, "id")) {
            if (s->has_id)
                return;
            s->has_id = true;
            s->id = value;
        } else if (member_is(key, "result") || member_is(key, "error")) {
            if (s->has_result)
                return;
            s->has_result = true;
        }
        p = skip_ws(vend, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p == end || *p != '}')
            return;
        s->ok = skip_ws(p + 1, end) == end;
        return;
    }
}

/* A strict subset of JSON that jansson reads exactly as written: strings of printable ASCII
 * without escapes, integers of at most 15 digits, literals, shallow nesting. */
enum { STRICT_DEPTH_MAX = 16, STRICT_DIGITS_MAX = 15 };

static const char *strict_value(const char *p, const char *end, int depth);

static const char *strict_string(const char *p, const char *end)
{
    if (p == end || *p != '"')
        return NULL;
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20 || c >= 0x7f || c == '\\')
            return NULL;
    }
    return NULL;
}

static const char *strict_number(const char *p, const char *end)
{
    if (p < end && *p == '-')
        p++;
    const char *digits = p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    size_t n = (size_t)(p - digits);
    if (n == 0 || n > STRICT_DIGITS_MAX || (n > 1 && *digits == '0'))
        return NULL;
    return p;
}

static const char *strict_literal(const char *p, const char *end)
{
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < CG_ARRAY_SIZE(words); i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(end - p) >= n && memcmp(p, words[i], n) == 0)
            return p + n;
    }
    return NULL;
}

/* The members or elements of a container, `p` just after its opening bracket. */
static const char *strict_items(const char *p, const char *end, int depth, bool object)
{
    char close = object ? '}' : ']';
    p = skip_ws(p, end);
    if (p < end && *p == close)
        return p + 1;
    for (;;) {
        if (object) {
            p = strict_string(p, end);
            if (p == NULL)
                return NULL;
            p = skip_ws(p, end);
            if (p == end || *p != ':')
                return NULL;
            p = skip_ws(p + 1, end);
        }
        p = strict_value(p, end, depth + 1);
        if (p == NULL)
            return NULL;
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        return p < end && *p == close ? p + 1 : NULL;
    }
}

static const char *strict_value(const char *p, const char *end, int depth)
{
    if (p == end || depth > STRICT_DEPTH_MAX)
        return NULL;
    switch (*p) {
    case '"':
        return strict_string(p, end);
    case '{':
        return strict_items(p + 1, end, depth, true);
    case '[':
        return strict_items(p + 1, end, depth, false);
    case 't':
    case 'f':
    case 'n':
        return strict_literal(p, end);
    default:
        return strict_number(p, end);
    }
}

static bool strict_json(const char *line, size_t len)
{
    const char *end = line + len;
    const char *p = strict_value(skip_ws(line, end), end, 0);
    return p != NULL && skip_ws(p, end) == end;
}

/* An id as we write them: 1 to 15 decimal digits, no sign or leading zero. */
static bool raw_id(struct cg_str v, uint64_t *out)
{
    if (v.len == 0 || v.len > STRICT_DIGITS_MAX || v.ptr[0] == '0')
        return false;
    uint64_t id = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return false;
        id = id * 10 + (uint64_t)(v.ptr[i] - '0');
    }
    *out = id;
    return true;
}

/* A notification the owner does not want. */
static bool skip_unparsed(struct cg_rpc *rpc, const struct shape *s, const char *line, size_t len)
{
    if (!s->ok || !s->has_method || s->has_id || rpc->ops->wanted == NULL)
        return false;
    return !rpc->ops->wanted(rpc->owner, s->method, (struct cg_str){line, len});
}

/* A response to a fire-and-forget call (no callback) needs nothing from its body; it is settled
 * unparsed when the line is certain to read as that response (strict_json). */
static bool settle_unparsed(struct cg_rpc *rpc, const struct shape *s, const char *line, size_t len)
{
    uint64_t id = 0;
    if (!s->ok || s->has_method || !s->has_id || !s->has_result || !raw_id(s->id, &id))
        return false;
    struct pending_call *pc = cg_map_get_int(&rpc->pending, id);
    if (pc == NULL || pc->cb != NULL || !strict_json(line, len))
        return false;
    free(cg_map_remove_int(&rpc->pending, id));
    return true;
}

/* The method of a line that starts {"method":"..." (Codex writes a notification's method first),
 * a string without escapes; {NULL, 0} for any other line. Nothing else of the line is read. */
static struct cg_str leading_method(const char *line, size_t len)
{
    static const char lead[] = "{\"method\":\"";
    const size_t n = sizeof(lead) - 1;
    if (len < n || memcmp(line, lead, n) != 0)
        return (struct cg_str){NULL, 0};
    const char *start = line + n;
    const char *quote = memchr(start, '"', len - n);
    if (quote == NULL || memchr(start, '\\', (size_t)(quote - start)) != NULL)
        return (struct cg_str){NULL, 0};
    return (struct cg_str){start, (size_t)(quote - start)};
}

/* The id of a line that starts {"id":N, (as a response to us does), N as we write ids; false
 * for any other line. Nothing else of the line is read. */
static bool leading_id(const char *line, size_t len, uint64_t *id)
{
    static const char lead[] = "{\"id\":";
    const size_t n = sizeof(lead) - 1;
    if (len < n || memcmp(line, lead, n) != 0)
        return false;
    const char *start = line + n;
    const char *comma = memchr(start, ',', len - n);
    return comma != NULL && raw_id((struct cg_str){start, (size_t)(comma - start)}, id);
}

/* The fields an answer to cg_rpc_call_want is read by: [WANT_MEMBER] is the wanted member. */
enum { WANT_ID, WANT_METHOD, WANT_ERROR, WANT_RESULT, WANT_MEMBER, WANT_FIELDS };
static_assert((int)CG_RPC_WANT_MAX + 1 <= (int)CG_LINE_SCAN_PATH_MAX,
              "result + the wanted path fit");
static_assert((int)WANT_FIELDS <= (int)CG_LINE_SCAN_FIELDS_MAX, "the answer's fields fit");
/* Room for the decoded strings of an answer (only those with escapes take any). */
#define WANT_SCRATCH_BYTES 512

/* {"a":{"b":value}} for want {"a", "b", NULL}: what json_object_get along the path finds. */
static json_t *pruned_result(const char *const *want, json_t *value)
{
    json_t *result = json_object();
    if (value == NULL)
        return result; /* no levels the worker never sent */
    json_t *at = result;
    size_t k = 0;
    while (want[k] != NULL && want[k + 1] != NULL) {
        json_t *next = json_object();
        json_object_set_new(at, want[k], next);
        at = next;
        k++;
    }
    if (want[k] != NULL && value != NULL) {
        json_object_set_new(at, want[k], value);
    }
    return result;
}

/* A plain success answering the cg_rpc_call_want call `id` (which the line's top-level id may
 * name), settled from the raw bytes in one read that also proves the line a response to that id
 * (its id, no method); false for anything else (an error, a result that is not an object, a
 * member that is not a plain string), which the caller parses as usual. */
static bool settle_wanted(struct cg_rpc *rpc, uint64_t id, const char *line, size_t len)
{
    struct pending_call *pc = cg_map_get_int(&rpc->pending, id);
    if (pc == NULL || pc->want == NULL)
        return false;
    struct cg_line_scan_field f[WANT_FIELDS] = {
        [WANT_ID] = {.path = {"id"}},         [WANT_METHOD] = {.path = {"method"}},
        [WANT_ERROR] = {.path = {"error"}},   [WANT_RESULT] = {.path = {"result"}},
        [WANT_MEMBER] = {.path = {"result"}},
    };
    size_t n = WANT_MEMBER;
    if (pc->want[0] != NULL) {
        for (size_t k = 0; k < CG_RPC_WANT_MAX && pc->want[k] != NULL; k++) {
            f[WANT_MEMBER].path[k + 1] = pc->want[k];
        }
        n++;
    }
    char scratch[WANT_SCRATCH_BYTES];
    if (!cg_line_scan_fields(line, len, f, n, scratch, sizeof(scratch)))
        return false;
    if (f[WANT_ID].type != CG_LINE_SCAN_INTEGER || f[WANT_ID].integer != (int64_t)id ||
        f[WANT_METHOD].type != CG_LINE_SCAN_ABSENT)
        return false;
    if ((f[WANT_ERROR].type != CG_LINE_SCAN_ABSENT && f[WANT_ERROR].type != CG_LINE_SCAN_NULL) ||
        f[WANT_RESULT].type != CG_LINE_SCAN_OBJECT)
        return false;
    json_t *value = NULL;
    if (n > WANT_MEMBER && f[WANT_MEMBER].type != CG_LINE_SCAN_ABSENT) {
        if (f[WANT_MEMBER].type != CG_LINE_SCAN_STRING || f[WANT_MEMBER].has_nul)
            return false;
        value = json_stringn_nocheck(f[WANT_MEMBER].str.ptr, f[WANT_MEMBER].str.len);
    }
    json_t *result = pruned_result(pc->want, value);
    settle(cg_map_remove_int(&rpc->pending, id), result, NULL);
    json_decref(result);
    return true;
}

static void handle_line(struct cg_rpc *rpc, const char *line, size_t len)
{
    rpc->stats.lines++;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len == 0)
        return;
    uint64_t lead_id = 0;
    if (leading_id(line, len, &lead_id) && settle_wanted(rpc, lead_id, line, len))
        return; /* an answer to a call that wants one member, read once */
    struct cg_str lead = leading_method(line, len);
    if (lead.ptr != NULL && rpc->ops->take &&
        rpc->ops->take(rpc->owner, lead, (struct cg_str){line, len})) {
        rpc->stats.skipped++;
        return;
    }
    struct shape shape = {0};
    scan_line(line, len, &shape);
    if (skip_unparsed(rpc, &shape, line, len) || settle_unparsed(rpc, &shape, line, len)) {
        rpc->stats.skipped++;
        return;
    }
    uint64_t shape_id = 0;
    if (shape.ok && !shape.has_method && shape.has_id && shape.has_result &&
        raw_id(shape.id, &shape_id) && settle_wanted(rpc, shape_id, line, len))
        return;
    /* The fast reader builds what jansson would for Codex's usual lines; whatever it declines,
     * jansson reads (and judges). */
    json_t *msg = cg_line_scan_load(line, len, true);
    if (msg == NULL) {
        json_error_t jerr;
        msg = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
    }
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
    cg_log_warn("%s: line longer than %zu bytes skipped (%" PRIu64
                " so far; WORKER_MAX_LINE_BYTES)",
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
        if (pc->cb)
            remember_late(rpc, pc);
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
