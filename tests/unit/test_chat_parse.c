/* test_chat_parse.c: request bodies → cg_request, and the small rules around them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/chat_parse.h"
#include "api/completions_parse.h"
#include "api/params.h"

static struct cg_catalog catalog;

static void setup(void)
{
    cr_assert_eq(cg_catalog_init(&catalog, "gpt-x"), 0);
}

TestSuite(chat_parse, .init = setup);

static enum cg_err parse(const char *body, struct cg_request *req, struct cg_chat_opts *opts,
                         struct cg_error *err)
{
    struct cg_chat_limits lim = {.catalog = &catalog, .max_choices = 4};
    return cg_chat_parse(body, strlen(body), &lim, req, opts, err);
}

Test(chat_parse, builds_the_replay)
{
    struct cg_request req;
    struct cg_chat_opts opts;
    struct cg_error err;
    const char *body =
        "{\"model\":\"codex-5-low\",\"n\":2,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"u1\"},"
        "{\"role\":\"assistant\",\"content\":\"a1\"},{\"role\":\"user\",\"content\":\"u2\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"stop\":\"X\"}";
    cr_assert_eq(parse(body, &req, &opts, &err), CG_OK, "%s", err.message);
    cr_assert_str_eq(req.model->target, "gpt-x");
    cr_assert_str_eq(req.model_id, "codex-5-low");
    cr_assert_str_eq(req.effort, "low");
    cr_assert_eq(req.n, 2);
    cr_assert(req.stream && req.include_usage);
    cr_assert_str_eq(req.base_instructions, "S");
    cr_assert_eq(json_array_size(req.history), 2);
    cr_assert_eq(json_array_size(req.input), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(req.input, 0), "text")), "u2");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(req.dynamic_tools, 0), "name")),
                     "fn_f");
    cr_assert_null(json_object_get(json_array_get(req.dynamic_tools, 0), "client_name"));
    cr_assert_str_eq(cg_request_tool_name(&req, "fn_f"), "f");
    cr_assert_eq(opts.stop_count, 1);
    cr_assert_str_eq(opts.stop[0], "X");
    cg_request_dispose(&req);
}

Test(chat_parse, errors_name_the_parameter)
{
    struct cg_request req;
    struct cg_chat_opts opts;
    struct cg_error err;
    cr_assert_eq(parse("{\"model\":\"codex-5\",\"messages\":[{\"role\":\"user\"}]}", &req, &opts,
                       &err),
                 CG_ERR_INVALID_REQUEST);
    cr_assert_str_eq(err.param, "messages[0].content");
    cr_assert_eq(parse("{\"model\":\"nope\",\"messages\":[]}", &req, &opts, &err),
                 CG_ERR_MODEL_NOT_FOUND);
    cr_assert_str_eq(err.param, "model");
    cr_assert_eq(parse("{\"model\":\"codex-5\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                       "\"n\":5}",
                       &req, &opts, &err),
                 CG_ERR_INVALID_REQUEST);
    cr_assert_str_eq(err.param, "n");
    cr_assert_eq(parse("nope", &req, &opts, &err), CG_ERR_INVALID_JSON);
}

Test(chat_parse, tool_aliases_fit_in_64_characters_and_stay_unique)
{
    struct cg_request req;
    cg_request_init(&req);
    cr_assert_str_eq(cg_request_tool_alias(&req, "get_weather"), "fn_get_weather");
    char long1[65];
    char long2[65];
    memset(long1, 'a', 64);
    long1[64] = '\0';
    memcpy(long2, long1, 65);
    long2[63] = 'b';
    const char *a = cg_request_tool_alias(&req, long1);
    const char *b = cg_request_tool_alias(&req, long2);
    cr_assert_eq(strlen(a), 64);
    cr_assert_str_neq(a, b);
    cr_assert(strncmp(a, "fn_", 3) == 0);
    cr_assert_eq(cg_request_tool_alias(&req, long1), a, "the same name keeps its alias");
    cr_assert_str_eq(cg_request_tool_name(&req, b), long2);
    cg_request_dispose(&req);
}

/* A 61-character name can spell exactly the cut form a 62-character name gets: both must still
 * map to different aliases, in either order, and back to their own names. */
Test(chat_parse, a_name_shaped_like_another_names_cut_form_gets_its_own_alias)
{
    char name62[63];
    memset(name62, 'a', 62);
    name62[62] = '\0';
    struct cg_request req;
    cg_request_init(&req);
    char name61[62];
    snprintf(name61, sizeof(name61), "%s", cg_request_tool_alias(&req, name62) + 3);
    cg_request_dispose(&req);
    cr_assert_eq(strlen(name61), 61);
    for (int order = 0; order < 2; order++) {
        cg_request_init(&req);
        const char *first = order ? name61 : name62;
        const char *second = order ? name62 : name61;
        char a[CG_TOOL_ALIAS_MAX + 1];
        snprintf(a, sizeof(a), "%s", cg_request_tool_alias(&req, first));
        const char *b = cg_request_tool_alias(&req, second);
        cr_assert_str_neq(a, b);
        cr_assert_leq(strlen(b), CG_TOOL_ALIAS_MAX);
        cr_assert_str_eq(cg_request_tool_name(&req, a), first);
        cr_assert_str_eq(cg_request_tool_name(&req, b), second);
        for (const char *c = b; *c; c++)
            cr_assert(strchr("abcdefghijklmnopqrstuvwxyz0123456789_", *c) != NULL, "%s", b);
        cg_request_dispose(&req);
    }
    /* Through the parser: both tools reach Codex under distinct names. */
    char body[512];
    snprintf(body, sizeof(body),
             "{\"model\":\"codex-5\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
             "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"%s\"}},"
             "{\"type\":\"function\",\"function\":{\"name\":\"%s\"}}]}",
             name62, name61);
    struct cg_chat_opts opts;
    struct cg_error err;
    cr_assert_eq(parse(body, &req, &opts, &err), CG_OK, "%s", err.message);
    cr_assert_eq(json_array_size(req.dynamic_tools), 2);
    cr_assert_str_neq(json_string_value(json_object_get(json_array_get(req.dynamic_tools, 0), "name")),
                      json_string_value(json_object_get(json_array_get(req.dynamic_tools, 1), "name")));
    cg_request_dispose(&req);
}

/* Each instruction is capped: the separator that would pass the cap is an error like any other,
 * 413 with its own message, never the table's "ok". */
Test(chat_parse, instructions_past_their_cap_fail_with_a_filled_error)
{
    size_t fill = 64 * 1024 * 1024 - 1;
    const char *head = "{\"model\":\"codex-5\",\"messages\":[{\"role\":\"system\",\"content\":\"";
    const char *tail = "\"},{\"role\":\"system\",\"content\":\"b\"},{\"role\":\"user\",\"content\":\"x\"}]}";
    size_t len = strlen(head) + fill + strlen(tail);
    char *body = malloc(len + 1);
    memcpy(body, head, strlen(head));
    memset(body + strlen(head), 'a', fill);
    memcpy(body + strlen(head) + fill, tail, strlen(tail) + 1);
    struct cg_chat_limits lim = {.catalog = &catalog, .max_choices = 4};
    struct cg_request req;
    struct cg_chat_opts opts;
    struct cg_error err;
    cr_assert_eq(cg_chat_parse(body, len, &lim, &req, &opts, &err), CG_ERR_TOO_LARGE);
    free(body);
    cr_assert_eq(err.code, CG_ERR_TOO_LARGE);
    cr_assert_str_eq(err.param, "messages[1].content");
    cr_assert_str_neq(cg_error_message(&err), "ok");
}

Test(chat_parse, modalities_and_best_of_of_the_wrong_type_are_400s)
{
    struct cg_request req;
    struct cg_chat_opts opts;
    struct cg_error err;
    cr_assert_eq(parse("{\"model\":\"codex-5\",\"modalities\":\"text\",\"messages\":[{\"role\":"
                       "\"user\",\"content\":\"x\"}]}",
                       &req, &opts, &err),
                 CG_ERR_INVALID_REQUEST);
    cr_assert_str_eq(err.param, "modalities");
    struct cg_chat_limits lim = {.catalog = &catalog, .max_choices = 4};
    const char *body = "{\"model\":\"codex-5\",\"prompt\":\"x\",\"best_of\":\"3\"}";
    cr_assert_eq(cg_completions_parse(body, strlen(body), &lim, &req, &opts, &err),
                 CG_ERR_INVALID_REQUEST);
    cr_assert_str_eq(err.param, "best_of");
    body = "{\"model\":\"codex-5\",\"prompt\":\"x\",\"best_of\":1,\"modalities\":[\"text\"]}";
    cr_assert_eq(cg_completions_parse(body, strlen(body), &lim, &req, &opts, &err), CG_OK,
                 "%s", err.message);
    cg_request_dispose(&req);
}

Test(chat_parse, json_content_types)
{
    const char *yes[] = {"application/json", "Application/JSON; charset=utf-8",
                         " application/json ", "application/vnd.api+json"};
    for (size_t i = 0; i < 4; i++)
        cr_assert(cg_params_json_content_type(yes[i], strlen(yes[i])), "%s", yes[i]);
    cr_assert(cg_params_json_content_type(NULL, 0), "absent");
    const char *no[] = {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                        "+json", "json"};
    for (size_t i = 0; i < 5; i++)
        cr_assert_not(cg_params_json_content_type(no[i], strlen(no[i])), "%s", no[i]);
}
