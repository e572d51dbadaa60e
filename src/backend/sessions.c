/* sessions.c: the thread → turn table of one worker, and everything the worker says that is not
 * an answer to a turn's own call. */
#include "backend/sessions.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "util/line_scan.h"
#include "backend/turn.h"
#include "backend/worker.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/common.h"
#include "util/log.h"
#define LOG_COMPONENT "sessions"

/* --- the worker as the peer -------------------------------------------------------------- */

static uint64_t worker_call(void *peer, const char *method, json_t *params, const char *const *want,
                            cg_rpc_result_cb cb, void *data)
{
    return cg_worker_call_want(peer, method, params, want, cb, data);
}

static uint64_t worker_call_raw(void *peer, const char *method, const struct cg_rpc_raw *params,
                                const char *const *want, cg_rpc_result_cb cb, void *data)
{
    return cg_worker_call_raw(peer, method, params, want, cb, data);
}

static void worker_forget(void *peer, uint64_t id)
{
    cg_worker_forget(peer, id);
}

static void worker_respond(void *peer, json_t *id, json_t *result)
{
    cg_worker_respond(peer, id, result);
}

static void worker_respond_error(void *peer, json_t *id, int64_t code, const char *message)
{
    cg_worker_respond_error(peer, id, code, message);
}

static const struct cg_sessions_ops worker_ops = {worker_call, worker_call_raw, worker_forget,
                                                  worker_respond, worker_respond_error};

void cg_sessions_init_peer(struct cg_sessions *s, const struct cg_sessions_ops *ops, void *peer,
                           unsigned worker_id, uint64_t interrupt_timeout_ms,
                           unsigned retry_after_default_s)
{
    memset(s, 0, sizeof(*s));
    s->ops = ops;
    s->peer = peer;
    s->worker_id = worker_id;
    cg_map_init(&s->threads);
    s->interrupt_timeout_ms = interrupt_timeout_ms;
    s->retry_after_default_s = retry_after_default_s;
    s->limits = &s->own_limits;
}

void cg_sessions_init(struct cg_sessions *s, struct cg_worker *w, uint64_t interrupt_timeout_ms)
{
    cg_sessions_init_peer(s, &worker_ops, w, w->id, interrupt_timeout_ms,
                          w->cfg ? w->cfg->upstream_retry_after_s : 0);
    s->worker = w;
}

void cg_sessions_dispose(struct cg_sessions *s)
{
    cg_map_dispose(&s->threads);
}

/* --- for turns --------------------------------------------------------------------------- */

uint64_t cg_sessions_call(struct cg_sessions *s, const char *method, json_t *params,
                          cg_rpc_result_cb cb, void *data)
{
    return s->ops->call(s->peer, method, params, NULL, cb, data);
}

uint64_t cg_sessions_call_want(struct cg_sessions *s, const char *method, json_t *params,
                               const char *const *want, cg_rpc_result_cb cb, void *data)
{
    return s->ops->call(s->peer, method, params, want, cb, data);
}

uint64_t cg_sessions_call_raw(struct cg_sessions *s, const char *method,
                              const struct cg_rpc_raw *params, const char *const *want,
                              cg_rpc_result_cb cb, void *data)
{
    return s->ops->call_raw(s->peer, method, params, want, cb, data);
}

void cg_sessions_forget(struct cg_sessions *s, uint64_t id)
{
    s->ops->forget(s->peer, id);
}

void cg_sessions_add(struct cg_sessions *s, struct cg_turn *t)
{
    cg_map_put_str(&s->threads, t->thread_id, strlen(t->thread_id), t);
}

void cg_sessions_remove(struct cg_sessions *s, struct cg_turn *t)
{
    if (cg_map_get_str(&s->threads, t->thread_id, strlen(t->thread_id)) == t)
        cg_map_remove_str(&s->threads, t->thread_id, strlen(t->thread_id));
}

unsigned cg_sessions_retry_after_s(const struct cg_sessions *s)
{
    unsigned reset = cg_rate_limits_retry_after_s(s->limits, (int64_t)(cg_clock_wall_ms() / 1000));
    return reset ? reset : s->retry_after_default_s;
}

/* --- from the worker --------------------------------------------------------------------- */

static struct cg_turn *turn_for(struct cg_sessions *s, json_t *params)
{
    json_t *tid = json_object_get(params, "threadId");
    if (!json_is_string(tid))
        return NULL;
    return cg_map_get_str(&s->threads, json_string_value(tid), json_string_length(tid));
}

/* Notifications of no use to the gateway, from the transcripts and the v2 schema; for some, no
 * use unless the raw line contains `needle`. Quotes inside JSON strings are escaped, so a raw
 * `"type":"agentMessage"` is always an item's own type: user-message items and raw message items
 * (the bulk of a turn) are skipped. A method listed more than once is parsed when any of its
 * needles is there. Anything not listed is parsed. */
#define SKIP(method, needle)                                                                       \
    {                                                                                              \
        method, sizeof(method) - 1, needle                                                         \
    }
static const struct {
    const char *method;
    size_t method_len;  /* asked for every line from a worker: no strlen there */
    const char *needle; /* NULL: always skipped */
} skipped[] = {
    SKIP("item/completed", "\"type\":\"agentMessage\""),
    SKIP("rawResponseItem/completed", "\"function_call\""),
    SKIP("rawResponseItem/completed", "\"encrypted_content\":\""), /* reasoning to hand back */
    /* Sent after every model response; only a reported window (with its usedPercent) can
     * change a Retry-After, and API-key providers report none. */
    SKIP("account/rateLimits/updated", "\"usedPercent\""),
    SKIP("item/started", NULL),
    SKIP("thread/status/changed", NULL),
    SKIP("thread/tokenUsage/updated", NULL),
    SKIP("turn/started", NULL),
    SKIP("thread/started", NULL),
    SKIP("thread/closed", NULL),
    SKIP("thread/settings/updated", NULL),
    SKIP("item/reasoning/textDelta", NULL),
    SKIP("item/reasoning/summaryPartAdded", NULL),
    SKIP("item/commandExecution/outputDelta", NULL),
    SKIP("item/fileChange/outputDelta", NULL),
    SKIP("item/plan/delta", NULL),
    SKIP("turn/diff/updated", NULL),
    SKIP("turn/plan/updated", NULL),
    SKIP("serverRequest/resolved", NULL),
    SKIP("warning", NULL),
    SKIP("configWarning", NULL),
    SKIP("remoteControl/status/changed", NULL),
    SKIP("mcpServer/startupStatus/updated", NULL),
};
#undef SKIP

bool cg_sessions_wants(struct cg_str method, struct cg_str line)
{
    bool listed = false;
    for (size_t i = 0; i < CG_ARRAY_SIZE(skipped); i++) {
        if (method.len != skipped[i].method_len ||
            memcmp(method.ptr, skipped[i].method, method.len) != 0)
            continue;
        listed = true;
        const char *needle = skipped[i].needle;
        if (needle && memmem(line.ptr, line.len, needle, strlen(needle)) != NULL)
            return true;
    }
    return !listed;
}

/* --- hot notifications from the raw line ---------------------------------------------------
 *
 * Most of what a turn uses comes in a few small notifications, many per turn; reading the
 * fields straight from the line costs a fraction of a parse. Whatever the reader declines, or a
 * field of a type the code below does not mirror, goes the parsed way. */

/* Room for the decoded strings of one line (only those with escapes take any). */
#define OFFER_SCRATCH_BYTES 4096
/* Item ids are short ("msg_..."); a longer one goes the parsed way. */
#define OFFER_ID_BYTES 128

enum offer_kind { OFFER_DELTA, OFFER_MESSAGE, OFFER_RESPONSE, OFFER_TURN };

/* Per kind, the fields read (as many as its paths): [0] is always params.threadId. */
enum { OFFER_PATHS_MAX = 6, OFFER_FIELDS_MAX = OFFER_PATHS_MAX + 2 /* method, id */ };
static_assert((int)OFFER_FIELDS_MAX <= (int)CG_LINE_SCAN_FIELDS_MAX, "an offer's fields fit");
static const struct {
    const char *method;
    size_t method_len;
    const char *paths[OFFER_PATHS_MAX][CG_LINE_SCAN_PATH_MAX + 1];
} offers[] = {
    [OFFER_DELTA] = {"item/agentMessage/delta",
                     sizeof("item/agentMessage/delta") - 1,
                     {{"params", "threadId"}, {"params", "itemId"}, {"params", "delta"}}},
    [OFFER_MESSAGE] = {"item/completed",
                       sizeof("item/completed") - 1,
                       {{"params", "threadId"},
                        {"params", "item", "type"},
                        {"params", "item", "id"},
                        {"params", "item", "text"}}},
    [OFFER_RESPONSE] = {"rawResponse/completed",
                        sizeof("rawResponse/completed") - 1,
                        {{"params", "threadId"},
                         {"params", "usage"},
                         {"params", "usage", "inputTokens"},
                         {"params", "usage", "cachedInputTokens"},
                         {"params", "usage", "outputTokens"},
                         {"params", "usage", "reasoningOutputTokens"}}},
    [OFFER_TURN] = {"turn/completed",
                    sizeof("turn/completed") - 1,
                    {{"params", "threadId"},
                     {"params", "turn", "status"},
                     {"params", "turn", "error"}}},
};

/* json_string_value of a field, into buf: NULL when it is not a string; false when it cannot
 * be given as a C string (a NUL inside, or too long). */
static bool c_string(const struct cg_line_scan_field *f, char *buf, size_t size, const char **out)
{
    *out = NULL;
    if (f->type != CG_LINE_SCAN_STRING)
        return true;
    if (f->has_nul || f->str.len >= size)
        return false;
    memcpy(buf, f->str.ptr, f->str.len);
    buf[f->str.len] = '\0';
    *out = buf;
    return true;
}

/* json_integer_value of a field. */
static int64_t int_value(const struct cg_line_scan_field *f)
{
    return f->type == CG_LINE_SCAN_INTEGER ? f->integer : 0;
}

/* Hands the fields to the turn; false when they take a path only the parsed form handles. */
static bool deliver(struct cg_turn *t, enum offer_kind kind, const struct cg_line_scan_field *f)
{
    char id_buf[OFFER_ID_BYTES];
    const char *id = NULL;
    switch (kind) {
    case OFFER_DELTA:
        if (f[2].type != CG_LINE_SCAN_STRING || !c_string(&f[1], id_buf, sizeof(id_buf), &id))
            return false;
        cg_turn_text_delta(t, id, f[2].str);
        return true;
    case OFFER_MESSAGE:
        if (f[1].type != CG_LINE_SCAN_STRING || f[1].has_nul ||
            !cg_str_eq(f[1].str, CG_STR("agentMessage")) || f[3].type != CG_LINE_SCAN_STRING ||
            !c_string(&f[2], id_buf, sizeof(id_buf), &id))
            return false;
        cg_turn_message_completed(t, id, f[3].str);
        return true;
    case OFFER_RESPONSE: {
        struct cg_usage u = {int_value(&f[2]), int_value(&f[3]), int_value(&f[4]),
                             int_value(&f[5])};
        cg_turn_response_completed(t, f[1].type == CG_LINE_SCAN_OBJECT ? &u : NULL);
        return true;
    }
    case OFFER_TURN: {
        char status_buf[OFFER_ID_BYTES];
        const char *status = NULL;
        if (f[2].type == CG_LINE_SCAN_OBJECT ||
            !c_string(&f[1], status_buf, sizeof(status_buf), &status))
            return false;
        cg_turn_completed(t, status);
        return true;
    }
    }
    return false;
}

/* The hot kind a method names, or CG_ARRAY_SIZE(offers). */
static size_t offer_kind(struct cg_str method)
{
    size_t kind = 0;
    while (kind < CG_ARRAY_SIZE(offers) &&
           !cg_str_eq(method, (struct cg_str){offers[kind].method, offers[kind].method_len})) {
        kind++;
    }
    return kind;
}

enum offer_result {
    OFFER_DONE,  /* handed to its turn, or of no use (no such thread) */
    OFFER_PARSE, /* for the parsed way */
};

/* Reads a hot notification of `kind` from the raw line and hands it to its turn. The line's own
 * "method" and "id" are read too, after the kind's fields: with `checked` the line must prove
 * itself a notification of `method` (its one top-level method, and no id) on the way. */
static enum offer_result offer(struct cg_sessions *s, size_t kind, struct cg_str method,
                               struct cg_str line, bool checked)
{
    struct cg_line_scan_field f[OFFER_FIELDS_MAX];
    memset(f, 0, sizeof(f));
    size_t count = 0;
    while (count < OFFER_PATHS_MAX && offers[kind].paths[count][0] != NULL) {
        memcpy(f[count].path, offers[kind].paths[count], sizeof(f[count].path));
        count++;
    }
    f[count].path[0] = "method";
    f[count + 1].path[0] = "id";
    size_t n = checked ? count + 2 : count;
    char scratch[OFFER_SCRATCH_BYTES];
    if (!cg_line_scan_fields(line.ptr, line.len, f, n, scratch, sizeof(scratch)))
        return OFFER_PARSE;
    if (checked && (f[count].type != CG_LINE_SCAN_STRING || f[count].has_nul ||
                    !cg_str_eq(f[count].str, method) || f[count + 1].type != CG_LINE_SCAN_ABSENT))
        return OFFER_PARSE;
    if (f[0].type != CG_LINE_SCAN_STRING)
        return OFFER_PARSE; /* turn_for finds no turn either way, but leave such oddities to it */
    struct cg_turn *t = cg_map_get_str(&s->threads, f[0].str.ptr, f[0].str.len);
    if (t == NULL)
        return OFFER_DONE; /* other threads' leftovers: cg_sessions_notification drops them too */
    return deliver(t, (enum offer_kind)kind, f) ? OFFER_DONE : OFFER_PARSE;
}

bool cg_sessions_offer(struct cg_sessions *s, struct cg_str method, struct cg_str line)
{
    if (!cg_sessions_wants(method, line))
        return false;
    size_t kind = offer_kind(method);
    if (kind == CG_ARRAY_SIZE(offers))
        return true;
    return offer(s, kind, method, line, false) == OFFER_PARSE;
}

bool cg_sessions_take(struct cg_sessions *s, struct cg_str method, struct cg_str line)
{
    size_t kind = offer_kind(method);
    if (kind == CG_ARRAY_SIZE(offers) || !cg_sessions_wants(method, line))
        return false; /* the usual way decides */
    return offer(s, kind, method, line, true) == OFFER_DONE;
}

void cg_sessions_notification(struct cg_sessions *s, const char *method, json_t *params)
{
    if (strcmp(method, "account/rateLimits/updated") == 0) {
        cg_rate_limits_update(s->limits, json_object_get(params, "rateLimits"));
        return;
    }
    struct cg_turn *t = turn_for(s, params);
    if (t)
        cg_turn_notification(t, method, params);
    /* else: other threads' leftovers, warnings, config notices */
}

void cg_sessions_request(struct cg_sessions *s, json_t *id, const char *method, json_t *params)
{
    struct cg_turn *t = turn_for(s, params);
    if (strcmp(method, "item/tool/call") == 0 && t && t->state != CG_TURN_DONE)
        return; /* held: the turn is interrupted once the model response is complete */
    if (strcmp(method, "item/commandExecution/requestApproval") == 0 ||
        strcmp(method, "item/fileChange/requestApproval") == 0) {
        s->ops->respond(s->peer, id, json_pack("{s:s}", "decision", "decline"));
        return;
    }
    if (strcmp(method, "applyPatchApproval") == 0 || strcmp(method, "execCommandApproval") == 0) {
        s->ops->respond(s->peer, id, json_pack("{s:s}", "decision", "denied"));
        return;
    }
    /* User input, elicitation, token refresh, attestation, calls for finished turns: nobody
     * here can answer, and an unanswered request would block the worker. */
    s->ops->respond_error(s->peer, id, -32601, "not supported by codex-gateway");
}

void cg_sessions_late(struct cg_sessions *s, const char *method, const char *thread_id,
                      json_t *result)
{
    if (strcmp(method, "turn/start") == 0) {
        /* The turn failed with a timeout before it learnt its id, and its thread was let go;
         * the model would run on for nobody (and be paid for). */
        const char *turn =
            json_string_value(json_object_get(json_object_get(result, "turn"), "id"));
        if (turn == NULL || thread_id[0] == '\0')
            return;
        cg_log_info("thread %s: turn %s started after its deadline; interrupting", thread_id, turn);
        cg_sessions_call(s, "turn/interrupt",
                         json_pack("{s:s,s:s}", "threadId", thread_id, "turnId", turn), NULL, NULL);
        return;
    }
    if (strcmp(method, "thread/start") != 0)
        return;
    json_t *id = json_object_get(json_object_get(result, "thread"), "id");
    if (!json_is_string(id))
        return;
    /* Its turn failed with a timeout and never learnt of the thread. */
    cg_log_info("thread %s: started after its deadline; unsubscribing", json_string_value(id));
    cg_sessions_call(s, "thread/unsubscribe", json_pack("{s:O}", "threadId", id), NULL, NULL);
}

/* Collects the running turns so callbacks may change the map while we walk the copy. */
static size_t snapshot(struct cg_sessions *s, struct cg_turn ***out)
{
    size_t n = s->threads.count;
    *out = n ? cg_xmalloc(n * sizeof(**out)) : NULL;
    size_t it = 0;
    size_t k = 0;
    struct cg_turn *t;
    while ((t = cg_map_next(&s->threads, &it)) && k < n) {
        cg_turn_hold(t);
        (*out)[k++] = t;
    }
    return k;
}

void cg_sessions_lost(struct cg_sessions *s, const char *reason)
{
    struct cg_turn **turns;
    size_t n = snapshot(s, &turns);
    struct cg_error err;
    cg_error_set(&err, CG_ERR_BACKEND_UNAVAILABLE, NULL, "%s", reason);
    for (size_t i = 0; i < n; i++) {
        cg_turn_abort(turns[i], &err, true);
        cg_turn_put(turns[i]);
    }
    free(turns);
}

/* Finds "threadId":"<id>" in p[0..n) and looks the id up. */
static struct cg_turn *turn_in_fragment(struct cg_sessions *s, const char *p, size_t n)
{
    static const char key[] = "\"threadId\":\"";
    const char *hit = memmem(p, n, key, sizeof(key) - 1);
    if (hit == NULL)
        return NULL;
    const char *id = hit + sizeof(key) - 1;
    const char *end = memchr(id, '"', n - (size_t)(id - p));
    if (end == NULL)
        return NULL;
    return cg_map_get_str(&s->threads, id, (size_t)(end - id));
}

void cg_sessions_oversized(struct cg_sessions *s, const char *head, size_t head_len,
                           const char *tail, size_t tail_len)
{
    struct cg_turn *t = turn_in_fragment(s, tail, tail_len);
    if (t == NULL)
        t = turn_in_fragment(s, head, head_len);
    if (t == NULL)
        return;
    struct cg_error err;
    cg_error_set(&err, CG_ERR_BACKEND_ERROR, NULL,
                 "Codex sent a message larger than WORKER_MAX_LINE_BYTES; the turn was abandoned.");
    cg_turn_abort(t, &err, false);
}

void cg_sessions_sweep(struct cg_sessions *s, uint64_t now_ms)
{
    struct cg_turn **turns;
    size_t n = snapshot(s, &turns);
    for (size_t i = 0; i < n; i++) {
        cg_turn_sweep(turns[i], now_ms);
        cg_turn_put(turns[i]);
    }
    free(turns);
}
