/* usage.c: the ledger's consumer and the /v1/usage routes (see usage.h). */
#include "api/usage.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "api/api.h"
#include "api/quota.h"
#include "api/run.h"
#include "http/auth.h"
#include "store/ledger.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/str.h"

enum {
    RAW_LIMIT_DEFAULT = 200, /* as the Node system */
    RAW_LIMIT_MAX = 10000,
    PARAM_VALUE_BYTES = 64,
    USAGE_OUT_MAX_BYTES = 16 * 1024 * 1024,
};

struct pending {
    struct cg_exchange *ex;
    json_t *extra; /* fields echoed into the answer (owned) */
};

void cg_usage_record(const struct cg_run_outcome *o, void *data)
{
    struct cg_api *api = data;
    if (api->ledger == NULL)
        return;
    struct cg_ledger_row row = {
        .request_id = o->request_id,
        .key_label = o->key_label,
        .key_id = o->key_id,
        .route = o->route,
        .model = o->model,
        .outcome = cg_run_outcome_name(o),
        .error = o->error == CG_OK ? NULL : cg_err_code(o->error),
        .stream = o->stream,
        .status = o->status,
        .input_tokens = o->usage.input,
        .cached_tokens = o->usage.cached,
        .output_tokens = o->usage.output,
        .reasoning_tokens = o->usage.reasoning,
        .ttfb_ms = o->ttfb_ms,
        .duration_ms = o->latency_ms,
        .worker = o->worker,
    };
    cg_ledger_record(api->ledger, &row);
}

/* A keyless loopback client when no key is set, a key listed in PROXY_ADMIN_KEYS (compared by
 * id, so the list's keys are never compared as text), or a keys-file key marked admin. */
static bool is_admin(const struct cg_exchange *ex, const struct cg_api *api)
{
    if (ex->key_id == NULL)
        return false;
    if (ex->key_admin) /* marked admin in PROXY_API_KEYS_FILE */
        return true;
    if (api->cfg->api_key_count == 0)
        return strcmp(ex->key_id, "loopback") == 0;
    for (size_t i = 0; i < api->cfg->admin_key_count; i++) {
        char id[CG_AUTH_KEY_ID_BYTES];
        cg_auth_key_id(api->cfg->admin_key_list[i], id);
        if (strcmp(id, ex->key_id) == 0)
            return true;
    }
    return false;
}

/* Unix seconds (all digits) or an ISO 8601 date, UTC: 2026-12-01, 2026-12-01T20:00:00[.sss]Z. */
static bool parse_time(const char *v, int64_t *out)
{
    if (v[0] >= '0' && v[0] <= '9' && strspn(v, "0123456789") == strlen(v)) {
        char *end = NULL;
        long long n = strtoll(v, &end, 10);
        if (*end != '\0' || n < 0 || n > INT64_MAX / 1000)
            return false;
        *out = n;
        return true;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(v, "%Y-%m-%d", &tm);
    if (rest == NULL)
        return false;
    if (*rest == 'T') {
        rest = strptime(rest + 1, "%H:%M:%S", &tm);
        if (rest == NULL)
            return false;
        if (*rest == '.')
            rest += 1 + strspn(rest + 1, "0123456789");
        if (strcmp(rest, "Z") != 0)
            return false;
    } else if (*rest != '\0') {
        return false;
    }
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    *out = (int64_t)t;
    return true;
}

/* `v` as a group_by value: the group and its name (static storage). */
static bool parse_group(const char *v, enum cg_ledger_group *out, const char **name)
{
    static const struct {
        const char *name;
        enum cg_ledger_group group;
    } groups[] = {
        {"hour", CG_LEDGER_GROUP_HOUR},
        {"day", CG_LEDGER_GROUP_DAY},
        {"model", CG_LEDGER_GROUP_MODEL},
        {"key", CG_LEDGER_GROUP_KEY},
    };
    for (size_t i = 0; i < CG_ARRAY_SIZE(groups); i++) {
        if (strcmp(v, groups[i].name) == 0) {
            *out = groups[i].group;
            *name = groups[i].name;
            return true;
        }
    }
    return false;
}

enum param { P_START, P_END, P_GROUP, P_LIMIT, P_OTHER };

static enum param param_of(struct cg_str key)
{
    if (cg_str_eq(key, CG_STR("start")))
        return P_START;
    if (cg_str_eq(key, CG_STR("end")))
        return P_END;
    if (cg_str_eq(key, CG_STR("group_by")) || cg_str_eq(key, CG_STR("group")))
        return P_GROUP;
    if (cg_str_eq(key, CG_STR("limit")))
        return P_LIMIT;
    return P_OTHER;
}

/* The query string into `q` (and the echoed group into `group_name`, NULL without one); false
 * after answering 400 naming the parameter. */
static bool parse_query(struct cg_exchange *ex, struct cg_ledger_query *q, const char **group_name)
{
    static const char *const names[] = {
        [P_START] = "start", [P_END] = "end", [P_GROUP] = "group_by", [P_LIMIT] = "limit"};
    struct cg_error err;
    *group_name = NULL;
    struct cg_str rest = ex->query;
    while (rest.len > 0) {
        struct cg_str pair = cg_str_split(&rest, '&');
        enum param param = param_of(cg_str_split(&pair, '='));
        if (param == P_OTHER)
            continue; /* unknown parameters are ignored, as OpenAI's list routes do */
        char value[PARAM_VALUE_BYTES];
        size_t vlen = 0;
        bool ok = cg_str_percent_decode(pair, value, sizeof(value), &vlen) && vlen > 0;
        if (ok && param == P_START) {
            ok = parse_time(value, &q->start_s);
        } else if (ok && param == P_END) {
            ok = parse_time(value, &q->end_s);
        } else if (ok && param == P_GROUP) {
            ok = parse_group(value, &q->group, group_name);
        } else if (ok) {
            char *end = NULL;
            long long n = strtoll(value, &end, 10);
            ok = *end == '\0' && n >= 1 && n <= RAW_LIMIT_MAX;
            q->limit = (size_t)n;
        }
        if (!ok) {
            const char *name = names[param];
            if (param == P_GROUP)
                cg_error_set(&err, CG_ERR_INVALID_REQUEST, name,
                             "'group_by' must be 'hour', 'day', 'model' or 'key'.");
            else if (param == P_LIMIT)
                cg_error_set(&err, CG_ERR_INVALID_REQUEST, name,
                             "'limit' must be an integer from 1 to %d.", RAW_LIMIT_MAX);
            else
                cg_error_set(&err, CG_ERR_INVALID_REQUEST, name,
                             "'%s' must be Unix seconds or an ISO 8601 date in UTC "
                             "(2026-12-01 or 2026-12-01T20:00:00Z).",
                             name);
            cg_exchange_fail(ex, &err);
            return false;
        }
    }
    if (q->end_s <= q->start_s) {
        cg_error_set(&err, CG_ERR_INVALID_REQUEST, "end", "'end' must be after 'start'.");
        cg_exchange_fail(ex, &err);
        return false;
    }
    return true;
}

static void on_read(enum cg_err code, json_t *value, void *data)
{
    struct pending *p = data;
    if (cg_exchange_is_gone(p->ex)) {
        /* nobody to answer */
    } else if (code != CG_OK) {
        cg_exchange_fail_code(p->ex, code);
    } else {
        json_object_update(value, p->extra);
        struct cg_buf out;
        cg_buf_init(&out, USAGE_OUT_MAX_BYTES);
        if (cg_json_dump(&out, value) == 0)
            cg_exchange_send_json(p->ex, out.data, out.len);
        else
            cg_exchange_fail_code(p->ex, CG_ERR_INTERNAL);
        cg_buf_dispose(&out);
    }
    json_decref(p->extra);
    cg_exchange_release(p->ex);
    free(p);
}

/* Parses the query and starts the read; `raw` picks the route. */
static void handle(struct cg_exchange *ex, struct cg_api *api, bool raw)
{
    struct cg_ledger_query q = {
        .start_s = 0,
        .end_s = cg_clock_unix_s() + 1,
        .group = CG_LEDGER_GROUP_NONE,
        .limit = RAW_LIMIT_DEFAULT,
    };
    const char *group = NULL;
    if (!parse_query(ex, &q, &group))
        return;
    if (api->ledger == NULL) {
        struct cg_error err;
        cg_error_set(&err, CG_ERR_NOT_FOUND, NULL,
                     "The usage ledger is off on this gateway (PROXY_USAGE_LEDGER=false).");
        cg_exchange_fail(ex, &err);
        return;
    }
    /* Never NULL for a non-admin: NULL reads every key's rows. */
    q.key_id = is_admin(ex, api) ? NULL : ex->key_id != NULL ? ex->key_id : "";
    struct pending *p = cg_xcalloc(1, sizeof(*p));
    p->ex = ex;
    cg_exchange_hold(ex);
    if (raw) {
        p->extra = json_object();
        cg_ledger_raw(api->ledger, &q, on_read, p);
        return;
    }
    p->extra = json_pack("{s:s, s:I, s:I}", "object", "usage", "start", (json_int_t)q.start_s,
                         "end", (json_int_t)q.end_s);
    if (group != NULL)
        json_object_set_new(p->extra, "group", json_string(group));
    /* The account's own windows next to what the keys used of it. */
    struct cg_buf quota;
    cg_buf_init(&quota, 1024);
    json_t *windows =
        cg_quota_json(api, &quota) == 0 ? json_loadb(quota.data, quota.len, 0, NULL) : NULL;
    cg_buf_dispose(&quota);
    json_object_set_new(p->extra, "account_quota", windows ? windows : json_null());
    cg_ledger_summary(api->ledger, &q, on_read, p);
}

void cg_usage_handle(struct cg_exchange *ex, void *ctx)
{
    handle(ex, ctx, false);
}

void cg_usage_handle_raw(struct cg_exchange *ex, void *ctx)
{
    handle(ex, ctx, true);
}
