/* rpc.c: JSON-RPC dispatch of the fake app-server: the initialize handshake (with its failure
 * knobs), account/read, model/list, and the thread/turn requests. Error codes and messages are
 * the ones Codex 0.169.0 sends (-32600 for nearly everything). */
#include "rpc.h"
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "main.h"
#include "out.h"
#include "scenario.h"
#include "threads.h"
#include "turn.h"
#include "util.h"

#define ERR_MAX 512

static bool initialized;
static bool experimental;

static enum fc_handshake handshake_mode(void)
{
    if (fc_cfg.handshake_while && access(fc_cfg.handshake_while, F_OK) != 0)
        return FC_HANDSHAKE_OK;
    return fc_cfg.handshake;
}

static void on_initialize(json_t *id, json_t *params)
{
    switch (handshake_mode()) {
    case FC_HANDSHAKE_OK:
        break;
    case FC_HANDSHAKE_FAIL:
        fc_out_error(id, -32603, "fake handshake failure");
        return;
    case FC_HANDSHAKE_TIMEOUT:
        fprintf(stderr, "fake-codex: FAKE_CODEX_HANDSHAKE=timeout: not answering initialize\n");
        return;
    case FC_HANDSHAKE_EXIT:
        fprintf(stderr, "fake-codex: FAKE_CODEX_HANDSHAKE=exit: exiting with status 3\n");
        fc_main_quit(3);
        return;
    case FC_HANDSHAKE_GARBAGE: {
        static const char junk[] = "fake-codex: this is not JSON-RPC";
        fc_out_raw(junk, sizeof(junk) - 1);
        fc_out_flush();
        fc_out_mute();
        return;
    }
    }
    if (initialized) {
        fc_out_error(id, -32600, "Already initialized");
        return;
    }
    if (!json_is_object(params) || !json_is_object(json_object_get(params, "clientInfo"))) {
        fc_out_error(id, -32600, "Invalid request: missing field `clientInfo`");
        return;
    }
    json_t *caps = json_object_get(params, "capabilities");
    experimental = json_is_true(json_object_get(caps, "experimentalApi"));
    fc_out_opt_out(json_object_get(caps, "optOutNotificationMethods"));
    initialized = true;
    fc_out_result(id,
                  json_pack("{s:s, s:s, s:s, s:s}", "userAgent", "fake-codex/0.169.0", "codexHome",
                            fc_cfg.codex_home, "platformFamily", "unix", "platformOs", "linux"));
    char install_id[FC_ID_MAX];
    fc_id_uuid(install_id);
    fc_out_notify("remoteControl/status/changed",
                  json_pack("{s:s, s:s, s:s, s:n}", "status", "disabled", "serverName",
                            "fake-codex", "installationId", install_id, "environmentId"));
}

static void on_account_read(json_t *id, json_t *params)
{
    fc_out_result(id, json_pack("{s:n, s:n, s:b, s:n}", "account", "userId", "requiresOpenaiAuth",
                                fc_cfg.requires_auth, "workspaceRouting"));
}

static json_t *model_entry(const char *slug, const char *name, bool is_default)
{
    return json_pack(
        "{s:s, s:s, s:n, s:n, s:n, s:s, s:s, s:n, s:b, s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}], "
        "s:s, s:[s, s], s:b, s:[], s:[], s:n, s:b}",
        "id", slug, "model", slug, "upgrade", "upgradeInfo", "availabilityNux", "displayName", name,
        "description", "Deterministic fake model for tests.", "modelSpecialty", "hidden", 0,
        "supportedReasoningEfforts", "reasoningEffort", "low", "description", "Fast",
        "reasoningEffort", "medium", "description", "Balanced", "reasoningEffort", "high",
        "description", "Thorough", "defaultReasoningEffort", "medium", "inputModalities", "text",
        "image", "supportsPersonality", 0, "additionalSpeedTiers", "serviceTiers",
        "defaultServiceTier", "isDefault", is_default);
}

static void on_model_list(json_t *id, json_t *params)
{
    json_t *data = json_array();
    json_array_append_new(data, model_entry(fc_cfg.model, "Fake Model", true));
    if (strcmp(fc_cfg.model, "fake-mini") != 0)
        json_array_append_new(data, model_entry("fake-mini", "Fake Mini", false));
    fc_out_result(id, json_pack("{s:o, s:n}", "data", data, "nextCursor"));
}

static json_t *turn_json(const struct fc_turn *t)
{
    return json_pack("{s:{s:s, s:[], s:s, s:s, s:n, s:I, s:n, s:n}}", "turn", "id", t->id, "items",
                     "itemsView", "notLoaded", "status", "inProgress", "error", "startedAt",
                     (json_int_t)(t->started_ms / 1000), "completedAt", "durationMs");
}

/* Checks turn/start-like params: an `input` array is required. */
static bool check_input(json_t *id, json_t *params)
{
    json_t *input = json_object_get(params, "input");
    if (json_is_array(input))
        return true;
    fc_out_error(id, -32600,
                 input ? "Invalid request: invalid type for field `input`, expected "
                         "a sequence"
                       : "Invalid request: missing field `input`");
    return false;
}

static struct fc_thread *find_thread(json_t *id, json_t *params)
{
    json_t *tid = json_object_get(params, "threadId");
    if (!json_is_string(tid)) {
        fc_out_error(id, -32600, "Invalid request: missing field `threadId`");
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

static void on_turn_start(json_t *id, json_t *params)
{
    struct fc_thread *th = find_thread(id, params);
    if (!th || !check_input(id, params))
        return;
    if (th->turn) {
        /* A turn/start while a turn runs steers that turn (same turn id). */
        struct fc_turn *t = th->turn;
        if (!fc_turn_reset_for_steer(t)) {
            fc_out_error(id, -32600, "no active turn to steer");
            return;
        }
        fc_out_result(id, turn_json(t));
        fc_scenario_steer(t, params);
        fc_turn_schedule(t);
        return;
    }
    struct fc_turn *t = fc_turn_new(th);
    fc_out_result(id, turn_json(t));
    fc_scenario_start(t, params);
}

/* The thread's active turn, checked against params.<key>; NULL after writing the error. */
static struct fc_turn *active_turn(json_t *id, json_t *params, const char *key, const char *what)
{
    struct fc_thread *th = find_thread(id, params);
    if (!th)
        return NULL;
    char err[ERR_MAX];
    if (!th->turn) {
        snprintf(err, sizeof(err), "no active turn to %s", what);
        fc_out_error(id, -32600, err);
        return NULL;
    }
    const char *want = json_string_value(json_object_get(params, key));
    if (!want) {
        snprintf(err, sizeof(err), "Invalid request: missing field `%s`", key);
        fc_out_error(id, -32600, err);
        return NULL;
    }
    if (strcmp(want, th->turn->id) != 0) {
        snprintf(err, sizeof(err), "expected active turn id `%s` but found `%s`", want,
                 th->turn->id);
        fc_out_error(id, -32600, err);
        return NULL;
    }
    return th->turn;
}

static void on_turn_steer(json_t *id, json_t *params)
{
    if (!check_input(id, params))
        return;
    struct fc_turn *t = active_turn(id, params, "expectedTurnId", "steer");
    if (!t)
        return;
    if (!fc_turn_reset_for_steer(t)) {
        fc_out_error(id, -32600, "no active turn to steer");
        return;
    }
    fc_out_result(id, json_pack("{s:s}", "turnId", t->id));
    fc_scenario_steer(t, params);
    fc_turn_schedule(t);
}

static void on_turn_interrupt(json_t *id, json_t *params)
{
    struct fc_turn *t = active_turn(id, params, "turnId", "interrupt");
    if (!t)
        return;
    fc_out_result(id, json_object());
    fc_turn_interrupt(t);
}

static void on_thread_start(json_t *id, json_t *params)
{
    fc_threads_start(id, params, experimental);
}

static const struct {
    const char *method;
    void (*handle)(json_t *id, json_t *params);
} methods[] = {
    {"account/read", on_account_read},
    {"model/list", on_model_list},
    {"thread/start", on_thread_start},
    {"thread/inject_items", fc_threads_inject},
    {"thread/unsubscribe", fc_threads_unsubscribe},
    {"thread/loaded/list", fc_threads_loaded_list},
    {"turn/start", on_turn_start},
    {"turn/steer", on_turn_steer},
    {"turn/interrupt", on_turn_interrupt},
};

static void on_request(json_t *id, const char *method, json_t *params)
{
    if (strcmp(method, "initialize") == 0) {
        on_initialize(id, params);
        return;
    }
    if (!initialized) {
        fc_out_error(id, -32600, "Not initialized");
        return;
    }
    json_t *empty = NULL;
    if (!params || json_is_null(params))
        params = empty = json_object();
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(methods[i].method, method) == 0) {
            if (json_is_object(params))
                methods[i].handle(id, params);
            else
                fc_out_error(id, -32600, "Invalid request: invalid type: params, expected a map");
            json_decref(empty);
            return;
        }
    }
    json_decref(empty);
    char err[ERR_MAX];
    snprintf(err, sizeof(err), "Invalid request: unknown variant `%s`", method);
    fc_out_error(id, -32600, err);
}

void fc_rpc_handle(json_t *msg)
{
    json_t *method = json_object_get(msg, "method");
    json_t *id = json_object_get(msg, "id");
    if (json_is_string(method)) {
        if (!id || json_is_null(id))
            return; /* notifications: `initialized` needs no answer, others are ignored */
        if (!json_is_integer(id) && !json_is_string(id)) {
            fprintf(stderr, "fake-codex: ignoring request with a non-integer, non-string id\n");
            return;
        }
        on_request(id, json_string_value(method), json_object_get(msg, "params"));
        return;
    }
    json_t *result = json_object_get(msg, "result");
    json_t *error = json_object_get(msg, "error");
    if (id && (result || error)) {
        /* Our requests use integer ids; anything else cannot be ours and is dropped. */
        bool failed = error && !json_is_null(error);
        if (json_is_integer(id))
            fc_turn_answer(json_integer_value(id), failed ? NULL : result, failed ? error : NULL);
        return;
    }
    fprintf(stderr, "fake-codex: ignoring a message with neither method nor id\n");
}
