/* threads.c: loaded threads of the fake app-server: thread/start (with the real validation of
 * dynamic tools), thread/inject_items, thread/unsubscribe and the delayed unload that ends in
 * thread/closed. */
#include "threads.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "main.h"
#include "out.h"

#define ERR_MAX 512

static struct fc_map threads; /* id -> struct fc_thread */
static struct fc_thread *unload_head;
static struct fc_thread *unload_tail;
static uv_timer_t unload_timer;

static void on_unload_timer(uv_timer_t *timer);

static void unload_dequeue(struct fc_thread *th)
{
    if (!th->unload_queued)
        return;
    if (th->unload_prev)
        th->unload_prev->unload_next = th->unload_next;
    else
        unload_head = th->unload_next;
    if (th->unload_next)
        th->unload_next->unload_prev = th->unload_prev;
    else
        unload_tail = th->unload_prev;
    th->unload_prev = NULL;
    th->unload_next = NULL;
    th->unload_queued = false;
}

static void arm_unload_timer(void)
{
    if (!unload_head) {
        uv_timer_stop(&unload_timer);
        return;
    }
    uint64_t now = uv_now(fc_loop);
    uint64_t due = unload_head->unload_at > now ? unload_head->unload_at - now : 0;
    uv_timer_start(&unload_timer, on_unload_timer, due, 0);
}

static void unload_enqueue(struct fc_thread *th)
{
    if (th->unload_queued)
        return;
    /* Every thread waits the same delay, so appending keeps the queue sorted. */
    th->unload_at = uv_now(fc_loop) + fc_cfg.unload_delay_ms;
    th->unload_prev = unload_tail;
    th->unload_next = NULL;
    if (unload_tail)
        unload_tail->unload_next = th;
    else
        unload_head = th;
    unload_tail = th;
    th->unload_queued = true;
    if (unload_head == th)
        arm_unload_timer();
}

static void thread_free(struct fc_thread *th)
{
    if (th->turn)
        fc_turn_free(th->turn);
    unload_dequeue(th);
    json_decref(th->params);
    json_decref(th->tools);
    json_decref(th->injected);
    free(th->model);
    free(th->ballast);
    free(th);
}

static void unload(struct fc_thread *th)
{
    fc_out_notify("thread/status/changed",
                  json_pack("{s:s, s:{s:s}}", "threadId", th->id, "status", "type", "notLoaded"));
    fc_out_notify("thread/closed", json_pack("{s:s}", "threadId", th->id));
    fc_map_remove(&threads, th->id);
    thread_free(th);
}

static void on_unload_timer(uv_timer_t *timer)
{
    uint64_t now = uv_now(fc_loop);
    while (unload_head && unload_head->unload_at <= now && !fc_main_is_quitting()) {
        struct fc_thread *th = unload_head;
        unload_dequeue(th);
        unload(th);
    }
    arm_unload_timer();
}

static void collect_thread(const char *key, void *value, void *arg)
{
    json_array_append_new(arg, json_string(key));
}

void fc_threads_init(void)
{
    fc_map_init(&threads);
    uv_timer_init(fc_loop, &unload_timer);
}

static void free_each(const char *key, void *value, void *arg)
{
    thread_free(value);
}

void fc_threads_dispose(void)
{
    fc_map_each(&threads, free_each, NULL);
    fc_map_dispose(&threads);
    unload_head = NULL;
    unload_tail = NULL;
    uv_timer_stop(&unload_timer);
}

struct fc_thread *fc_threads_find(const char *id)
{
    return id ? fc_map_get(&threads, id) : NULL;
}

static bool valid_tool_name(const char *name)
{
    if (!*name)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* serde's view of a spec: fields that must be there before any validation runs. */
static bool check_fields(json_t *spec, bool nested, char *err)
{
    if (!json_is_object(spec)) {
        char what[128];
        fc_json_describe(spec, what, sizeof(what));
        snprintf(err, ERR_MAX, "Invalid request: invalid type: %s, expected %s", what,
                 nested ? "struct DynamicToolNamespaceTool" : "internally tagged enum");
        return false;
    }
    static const char *const fn_fields[] = {"type", "name", "description", "inputSchema"};
    static const char *const ns_fields[] = {"type", "name", "description", "tools"};
    static const char *const nested_fields[] = {"name", "description", "inputSchema"};
    const char *type = json_string_value(json_object_get(spec, "type"));
    const char *const *fields = fn_fields;
    size_t n = 4;
    if (nested) {
        fields = nested_fields;
        n = 3;
    } else if (type && strcmp(type, "namespace") == 0) {
        fields = ns_fields;
    } else if (type && strcmp(type, "function") != 0) {
        snprintf(err, ERR_MAX,
                 "Invalid request: unknown variant `%s`, expected `function` or `namespace`", type);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!json_object_get(spec, fields[i])) {
            snprintf(err, ERR_MAX, "Invalid request: missing field `%s`", fields[i]);
            return false;
        }
    }
    if (!json_is_string(json_object_get(spec, "name"))) {
        snprintf(err, ERR_MAX, "Invalid request: invalid type for field `name`, expected a string");
        return false;
    }
    if (!nested && type && strcmp(type, "namespace") == 0) {
        json_t *tools = json_object_get(spec, "tools");
        if (!json_is_array(tools)) {
            snprintf(err, ERR_MAX,
                     "Invalid request: invalid type for field `tools`, expected "
                     "a sequence");
            return false;
        }
        size_t i;
        json_t *tool;
        json_array_foreach(tools, i, tool)
        {
            if (!check_fields(tool, true, err))
                return false;
        }
    }
    return true;
}

static json_t *callable(const char *name, const char *ns, json_t *schema)
{
    return json_pack("{s:s, s:s?, s:O}", "name", name, "namespace", ns, "inputSchema", schema);
}

/* Validates thread/start.dynamicTools as 0.169.0 does and returns the callable tools, or NULL
 * with `err` set. */
static json_t *collect_tools(json_t *specs, char *err)
{
    json_t *out = json_array();
    json_t *seen = json_object();
    size_t i;
    json_t *spec;
    json_array_foreach(specs, i, spec)
    {
        if (!check_fields(spec, false, err))
            goto fail;
    }
    json_array_foreach(specs, i, spec)
    {
        const char *name = json_string_value(json_object_get(spec, "name"));
        const char *type = json_string_value(json_object_get(spec, "type"));
        if (!valid_tool_name(name)) {
            snprintf(err, ERR_MAX,
                     "dynamic tool name must match ^[a-zA-Z0-9_-]+$ to match Responses API: %s",
                     name);
            goto fail;
        }
        if (json_object_get(seen, name)) {
            snprintf(err, ERR_MAX, "duplicate dynamic tool name: %s", name);
            goto fail;
        }
        json_object_set_new(seen, name, json_true());
        if (strcmp(type, "function") == 0) {
            if (json_is_true(json_object_get(spec, "deferLoading"))) {
                snprintf(err, ERR_MAX, "deferred dynamic tool must include a namespace: %s", name);
                goto fail;
            }
            json_array_append_new(out, callable(name, NULL, json_object_get(spec, "inputSchema")));
            continue;
        }
        size_t k;
        json_t *tool;
        json_t *inner = json_object();
        json_array_foreach(json_object_get(spec, "tools"), k, tool)
        {
            const char *tname = json_string_value(json_object_get(tool, "name"));
            if (!valid_tool_name(tname) || json_object_get(inner, tname)) {
                snprintf(err, ERR_MAX, "%s dynamic tool name: %s.%s",
                         valid_tool_name(tname) ? "duplicate" : "invalid", name, tname);
                json_decref(inner);
                goto fail;
            }
            json_object_set_new(inner, tname, json_true());
            json_array_append_new(out, callable(tname, name, json_object_get(tool, "inputSchema")));
        }
        json_decref(inner);
    }
    json_decref(seen);
    return out;
fail:
    json_decref(seen);
    json_decref(out);
    return NULL;
}

static json_t *sandbox_policy(json_t *mode, const char *cwd, char *err)
{
    const char *m = json_is_string(mode) ? json_string_value(mode) : "read-only";
    if (mode && !json_is_null(mode) && !json_is_string(mode)) {
        snprintf(err, ERR_MAX, "Invalid request: invalid type for field `sandbox`");
        return NULL;
    }
    if (strcmp(m, "read-only") == 0)
        return json_pack("{s:s, s:b}", "type", "readOnly", "networkAccess", 0);
    if (strcmp(m, "workspace-write") == 0) {
        return json_pack("{s:s, s:[s], s:b, s:b, s:b}", "type", "workspaceWrite", "writableRoots",
                         cwd, "networkAccess", 0, "excludeTmpdirEnvVar", 0, "excludeSlashTmp", 0);
    }
    if (strcmp(m, "danger-full-access") == 0)
        return json_pack("{s:s}", "type", "dangerFullAccess");
    snprintf(err, ERR_MAX,
             "Invalid request: unknown variant `%s`, expected one of `read-only`, "
             "`workspace-write`, `danger-full-access`",
             m);
    return NULL;
}

static json_t *thread_json(struct fc_thread *th, const char *cwd, int64_t now_s)
{
    json_t *path = json_null();
    if (!th->ephemeral) {
        char buf[4096];
        snprintf(buf, sizeof(buf), "%s/sessions/rollout-%s.jsonl", fc_cfg.codex_home, th->id);
        path = json_string(buf);
    }
    return json_pack("{s:s, s:s, s:n, s:s, s:b, s:s, s:I, s:I, s:{s:s}, s:o, s:s, s:s, s:s, s:n, "
                     "s:n, s:n, s:n, s:n, s:s, s:n, s:[]}",
                     "id", th->id, "sessionId", th->id, "forkedFromId", "preview", "", "ephemeral",
                     th->ephemeral, "modelProvider", "fake", "createdAt", (json_int_t)now_s,
                     "updatedAt", (json_int_t)now_s, "status", "type", "idle", "path", path, "cwd",
                     cwd, "cliVersion", "0.169.0", "source", "vscode", "agentNickname", "agentRole",
                     "gitInfo", "name", "projectId", "model", th->model, "reasoningEffort",
                     "turns");
}

void fc_threads_start(json_t *id, json_t *params, bool experimental)
{
    char err[ERR_MAX];
    json_t *tools = NULL;
    json_t *sandbox = NULL;
    json_t *empty = NULL;
    if (!params || json_is_null(params))
        params = empty = json_object();
    if (!json_is_object(params)) {
        fc_out_error(id, -32600,
                     "Invalid request: invalid type, expected struct ThreadStartParams");
        goto out;
    }
    json_t *dyn = json_object_get(params, "dynamicTools");
    if (dyn && !json_is_null(dyn) && !json_is_array(dyn)) {
        fc_out_error(id, -32600,
                     "Invalid request: invalid type for field `dynamicTools`, "
                     "expected a sequence");
        goto out;
    }
    if (json_array_size(dyn) > 0 && !experimental) {
        fc_out_error(id, -32600, "thread/start.dynamicTools requires experimentalApi capability");
        goto out;
    }
    json_t *raw = json_object_get(params, "experimentalRawEvents");
    if (json_is_true(raw) && !experimental) {
        fc_out_error(id, -32600,
                     "thread/start.experimentalRawEvents requires experimentalApi capability");
        goto out;
    }
    tools = json_is_array(dyn) ? collect_tools(dyn, err) : json_array();
    if (!tools) {
        fc_out_error(id, -32600, err);
        goto out;
    }
    char cwd_buf[4096];
    const char *cwd = json_string_value(json_object_get(params, "cwd"));
    if (!cwd)
        cwd = getcwd(cwd_buf, sizeof(cwd_buf)) ? cwd_buf : "/";
    sandbox = sandbox_policy(json_object_get(params, "sandbox"), cwd, err);
    if (!sandbox) {
        fc_out_error(id, -32600, err);
        goto out;
    }

    struct fc_thread *th = fc_xcalloc(1, sizeof(*th));
    fc_id_uuid(th->id);
    th->params = json_incref(params);
    th->tools = tools;
    tools = NULL;
    th->injected = json_array();
    const char *model = json_string_value(json_object_get(params, "model"));
    th->model = fc_xstrdup(model ? model : fc_cfg.model);
    th->ephemeral = json_is_true(json_object_get(params, "ephemeral"));
    th->raw_events = json_is_true(raw);
    th->subscribed = true;
    if (fc_cfg.thread_bytes) {
        th->ballast = fc_xmalloc(fc_cfg.thread_bytes);
        memset(th->ballast, 0x5a, fc_cfg.thread_bytes);
    }
    fc_map_put(&threads, th->id, th);

    json_t *approval = json_object_get(params, "approvalPolicy");
    approval = approval && !json_is_null(approval) ? json_incref(approval) : json_string("never");
    json_t *thread = thread_json(th, cwd, fc_now_s());
    fc_out_result(id,
                  json_pack("{s:O, s:s, s:s, s:n, s:s, s:[], s:o, s:s, s:o, s:n}", "thread", thread,
                            "model", th->model, "modelProvider", "fake", "serviceTier", "cwd", cwd,
                            "instructionSources", "approvalPolicy", approval, "approvalsReviewer",
                            "user", "sandbox", sandbox, "reasoningEffort"));
    sandbox = NULL;
    fc_out_notify("thread/started", json_pack("{s:o}", "thread", thread));
out:
    json_decref(tools);
    json_decref(sandbox);
    json_decref(empty);
}

static bool known_item_type(const char *type)
{
    static const char *const types[] = {
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
        "custom_tool_call",
        "custom_tool_call_output",
        "local_shell_call",
        "web_search_call",
        "image_generation_call",
        "tool_search_call",
        "tool_search_output",
        "compaction",
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(types[i], type) == 0)
            return true;
    }
    return false;
}

/* Checks one inject_items entry the way serde rejects it; false with `err` set. */
static bool check_item(json_t *item, size_t i, char *err)
{
    char what[256];
    if (!json_is_object(item)) {
        fc_json_describe(item, what, sizeof(what));
        snprintf(err, ERR_MAX,
                 "items[%zu] is not a valid response item: invalid type: %s, expected "
                 "internally tagged enum ResponseItem",
                 i, what);
        return false;
    }
    json_t *type = json_object_get(item, "type");
    if (!type) {
        snprintf(err, ERR_MAX, "items[%zu] is not a valid response item: missing field `type`", i);
        return false;
    }
    if (!json_is_string(type) || strcmp(json_string_value(type), "message") != 0)
        return true;
    static const char *const fields[] = {"role", "content"};
    for (size_t k = 0; k < 2; k++) {
        if (!json_object_get(item, fields[k])) {
            snprintf(err, ERR_MAX, "items[%zu] is not a valid response item: missing field `%s`", i,
                     fields[k]);
            return false;
        }
    }
    json_t *content = json_object_get(item, "content");
    if (!json_is_array(content)) {
        fc_json_describe(content, what, sizeof(what));
        snprintf(err, ERR_MAX,
                 "items[%zu] is not a valid response item: invalid type: %s, expected a sequence",
                 i, what);
        return false;
    }
    return true;
}

/* Writes the "missing field" / "thread not found" error and returns NULL, or the thread. */
static struct fc_thread *thread_param(json_t *id, json_t *params)
{
    json_t *tid = json_is_object(params) ? json_object_get(params, "threadId") : NULL;
    if (!json_is_string(tid)) {
        fc_out_error(id, -32600,
                     tid ? "Invalid request: invalid type for field `threadId`, "
                           "expected a string"
                         : "Invalid request: missing field `threadId`");
        return NULL;
    }
    struct fc_thread *th = fc_threads_find(json_string_value(tid));
    if (!th) {
        char err[ERR_MAX];
        snprintf(err, sizeof(err), "thread not found: %s", json_string_value(tid));
        fc_out_error(id, -32600, err);
    }
    return th;
}

void fc_threads_inject(json_t *id, json_t *params)
{
    struct fc_thread *th = thread_param(id, params);
    if (!th)
        return;
    json_t *items = json_object_get(params, "items");
    if (!json_is_array(items)) {
        fc_out_error(id, -32600,
                     items ? "Invalid request: invalid type for field `items`, "
                             "expected a sequence"
                           : "Invalid request: missing field `items`");
        return;
    }
    char err[ERR_MAX];
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        if (!check_item(item, i, err)) {
            fc_out_error(id, -32600, err);
            return;
        }
    }
    json_array_foreach(items, i, item)
    {
        const char *type = json_string_value(json_object_get(item, "type"));
        const char *role = json_string_value(json_object_get(item, "role"));
        if (!type || !known_item_type(type))
            continue; /* the real one drops unknown item types silently */
        if (strcmp(type, "message") == 0 && role && strcmp(role, "system") == 0)
            continue; /* ... and system messages */
        json_array_append(th->injected, item);
    }
    fc_out_result(id, json_object());
}

void fc_threads_unsubscribe(json_t *id, json_t *params)
{
    json_t *tid = json_is_object(params) ? json_object_get(params, "threadId") : NULL;
    if (!json_is_string(tid)) {
        fc_out_error(id, -32600, "Invalid request: missing field `threadId`");
        return;
    }
    struct fc_thread *th = fc_threads_find(json_string_value(tid));
    const char *status = "notLoaded";
    if (th && !th->subscribed) {
        status = "notSubscribed";
    } else if (th) {
        status = "unsubscribed";
        th->subscribed = false;
    }
    fc_out_result(id, json_pack("{s:s}", "status", status));
    if (th && !th->turn)
        unload_enqueue(th);
}

void fc_threads_loaded_list(json_t *id, json_t *params)
{
    json_t *data = json_array();
    fc_map_each(&threads, collect_thread, data);
    fc_out_result(id, json_pack("{s:o, s:n}", "data", data, "nextCursor"));
}

void fc_threads_turn_done(struct fc_thread *th)
{
    if (!th->subscribed)
        unload_enqueue(th);
}

void fc_threads_turn_begins(struct fc_thread *th)
{
    unload_dequeue(th);
    if (!unload_head)
        uv_timer_stop(&unload_timer);
}
