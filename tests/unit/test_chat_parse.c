/* test_chat_parse.c: request bodies → cg_request, and the small rules around them. */
#include <criterion/criterion.h>
#include <string.h>
#include "api/chat_parse.h"

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
    char a[80];
    char b[80];
    cg_chat_tool_alias("get_weather", a, sizeof(a));
    cr_assert_str_eq(a, "fn_get_weather");
    char long1[65];
    char long2[65];
    memset(long1, 'a', 64);
    long1[64] = '\0';
    memcpy(long2, long1, 65);
    long2[63] = 'b';
    cg_chat_tool_alias(long1, a, sizeof(a));
    cg_chat_tool_alias(long2, b, sizeof(b));
    cr_assert_eq(strlen(a), 64);
    cr_assert_str_neq(a, b);
    cr_assert(strncmp(a, "fn_", 3) == 0);
}

Test(chat_parse, json_content_types)
{
    const char *yes[] = {"application/json", "Application/JSON; charset=utf-8",
                         " application/json ", "application/vnd.api+json"};
    for (size_t i = 0; i < 4; i++)
        cr_assert(cg_chat_json_content_type(yes[i], strlen(yes[i])), "%s", yes[i]);
    cr_assert(cg_chat_json_content_type(NULL, 0), "absent");
    const char *no[] = {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                        "+json", "json"};
    for (size_t i = 0; i < 5; i++)
        cr_assert_not(cg_chat_json_content_type(no[i], strlen(no[i])), "%s", no[i]);
}
