/* test_responses_parse.c: Responses request bodies → cg_request and cg_responses_opts. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/responses_parse.h"

static struct cg_catalog catalog;
static struct cg_request req;
static struct cg_responses_opts opts;
static struct cg_error err;

static void setup(void)
{
    cr_assert_eq(cg_catalog_init(&catalog, "gpt-x"), 0);
}

static void teardown(void)
{
    cg_request_dispose(&req);
    cg_responses_opts_dispose(&opts);
}

TestSuite(responses_parse, .init = setup, .fini = teardown);

static json_t *lookup_stored(void *ctx, const char *id)
{
    (*(int *)ctx)++;
    if (strcmp(id, "msg_stored") == 0)
        return json_pack("{s:s,s:s,s:s,s:[{s:s,s:s}]}", "type", "message", "id", "msg_stored",
                         "role", "assistant", "content", "type", "output_text", "text", "stored");
    return NULL;
}

static enum cg_err parse_with(const char *body, const json_t *prior, bool ignore_system)
{
    static int lookups;
    teardown(); /* a test may parse several bodies */
    struct cg_responses_context cx = {.catalog = &catalog,
                                      .ignore_system_prompt = ignore_system,
                                      .lookup = lookup_stored,
                                      .lookup_ctx = &lookups,
                                      .prior_items = prior};
    return cg_responses_parse(body, strlen(body), &cx, &req, &opts, &err);
}

static enum cg_err parse(const char *body)
{
    return parse_with(body, NULL, false);
}

/* Fails with `code` and `param`. */
static void fails(const char *body, enum cg_err code, const char *param)
{
    enum cg_err e = parse(body);
    cr_assert_eq(e, code, "%s: got %s (%s)", body, cg_err_name(e), err.message);
    cr_assert_eq(err.code, code);
    cr_assert_str_eq(err.param, param, "%s: param %s", body, err.param);
    cr_assert_neq(err.message[0], '\0');
}

static const char *str_at(const json_t *arr, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(arr, i), key));
}

Test(responses_parse, string_input_is_one_user_turn)
{
    cr_assert_eq(parse("{\"model\":\"codex-5-low\",\"input\":\"hi\"}"), CG_OK, "%s", err.message);
    cr_assert_str_eq(req.model_id, "codex-5-low");
    cr_assert_str_eq(req.effort, "low");
    cr_assert_eq(json_array_size(req.history), 0);
    cr_assert_eq(json_array_size(req.input), 1);
    cr_assert_str_eq(str_at(req.input, 0, "type"), "text");
    cr_assert_str_eq(str_at(req.input, 0, "text"), "hi");
    cr_assert(opts.store && !opts.stream && opts.parallel_tool_calls);
    cr_assert_null(req.base_instructions);
    cr_assert_null(req.dynamic_tools);
}

Test(responses_parse, fields_the_client_left_out_are_left_to_the_encoder)
{
    cr_assert_eq(parse("{\"model\":\"codex-5\",\"input\":\"hi\"}"), CG_OK, "%s", err.message);
    json_t *const absent[] = {opts.instructions, opts.tools,       opts.tool_choice,
                              opts.text,         opts.metadata,    opts.max_output_tokens,
                              opts.truncation,   opts.user,        opts.temperature,
                              opts.top_p,        opts.service_tier};
    for (size_t i = 0; i < CG_ARRAY_SIZE(absent); i++)
        cr_assert_null(absent[i], "field %zu", i);
    cr_assert(json_is_true(opts.parallel_tool_calls_json));
    cr_assert(json_is_null(json_object_get(opts.reasoning, "summary")));
    json_t *echo = cg_responses_echo(&opts);
    cr_assert_eq(json_object_size(echo), 3, "parallel_tool_calls, reasoning and store");
    json_decref(echo);
}

Test(responses_parse, input_items_are_kept_only_for_a_stored_response)
{
    cr_assert_eq(parse("{\"model\":\"codex-5\",\"input\":\"hi\",\"store\":false}"), CG_OK);
    cr_assert_null(opts.input_items);
    cr_assert_eq(parse("{\"model\":\"codex-5\",\"input\":\"hi\"}"), CG_OK);
    cr_assert_eq(json_array_size(opts.input_items), 1);
}

Test(responses_parse, item_list_splits_history_and_turn)
{
    const char *body =
        "{\"model\":\"codex-5\",\"stream\":true,\"store\":false,\"input\":["
        "{\"role\":\"user\",\"content\":\"u1\"},"
        "{\"type\":\"message\",\"role\":\"assistant\",\"id\":\"msg_1\",\"status\":\"completed\","
        "\"content\":[{\"type\":\"output_text\",\"text\":\"a1\",\"annotations\":[]},"
        "{\"type\":\"refusal\",\"refusal\":\"!\"}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"u2\"},"
        "{\"type\":\"input_image\",\"image_url\":\"data:image/png;base64,AA==\",\"detail\":"
        "\"auto\"}]}]}";
    cr_assert_eq(parse(body), CG_OK, "%s", err.message);
    cr_assert(opts.stream && req.stream && !opts.store);
    cr_assert_eq(json_array_size(req.history), 2);
    json_t *u1 = json_array_get(req.history, 0);
    cr_assert_str_eq(str_at(json_object_get(u1, "content"), 0, "type"), "input_text");
    cr_assert_str_eq(str_at(json_object_get(u1, "content"), 0, "text"), "u1");
    json_t *a1 = json_array_get(req.history, 1);
    cr_assert_str_eq(json_string_value(json_object_get(a1, "role")), "assistant");
    cr_assert_str_eq(str_at(json_object_get(a1, "content"), 0, "text"), "a1!");
    cr_assert_null(json_object_get(a1, "id"));
    cr_assert_eq(json_array_size(req.input), 2);
    cr_assert_str_eq(str_at(req.input, 0, "text"), "u2");
    cr_assert_str_eq(str_at(req.input, 1, "type"), "image");
    cr_assert_str_eq(str_at(req.input, 1, "url"), "data:image/png;base64,AA==");
}

Test(responses_parse, images_in_history_keep_their_url)
{
    const char *body =
        "{\"model\":\"codex-5\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":"
        "\"input_image\",\"image_url\":\"https://x/y.png\"}]},"
        "{\"role\":\"user\",\"content\":\"next\"}]}";
    cr_assert_eq(parse(body), CG_OK, "%s", err.message);
    json_t *parts = json_object_get(json_array_get(req.history, 0), "content");
    cr_assert_str_eq(str_at(parts, 0, "type"), "input_image");
    cr_assert_str_eq(str_at(parts, 0, "image_url"), "https://x/y.png");
}

Test(responses_parse, bad_content_parts_name_the_part)
{
    fails("{\"model\":\"codex-5\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":"
          "\"input_image\",\"image_url\":\"ftp://x\"}]}]}",
          CG_ERR_INVALID_REQUEST, "input[0].content[0]");
    fails("{\"model\":\"codex-5\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":"
          "\"input_image\",\"file_id\":\"file_1\"}]}]}",
          CG_ERR_UNSUPPORTED_VALUE, "input[0].content[0]");
    fails("{\"model\":\"codex-5\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":"
          "\"input_file\",\"file_id\":\"f\"}]}]}",
          CG_ERR_UNSUPPORTED_VALUE, "input[0].content[0]");
    fails("{\"model\":\"codex-5\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":"
          "\"output_text\",\"text\":\"x\"}]}]}",
          CG_ERR_UNSUPPORTED_VALUE, "input[0].content[0]");
    fails("{\"model\":\"codex-5\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":"
          "\"input_text\"}]}]}",
          CG_ERR_INVALID_REQUEST, "input[0].content[0]");
    fails("{\"model\":\"codex-5\",\"input\":[{\"role\":\"user\",\"content\":7}]}",
          CG_ERR_INVALID_REQUEST, "input[0].content");
    fails("{\"model\":\"codex-5\",\"input\":[{\"role\":\"robot\",\"content\":\"x\"}]}",
          CG_ERR_INVALID_REQUEST, "input[0].role");
    fails("{\"model\":\"codex-5\",\"input\":[{\"content\":\"x\"}]}", CG_ERR_INVALID_REQUEST,
          "input[0].role");
    fails("{\"model\":\"codex-5\",\"input\":[{\"role\":\"developer\",\"content\":[{\"type\":"
          "\"input_image\",\"image_url\":\"https://x\"}]}]}",
          CG_ERR_UNSUPPORTED_VALUE, "input[0].content[0]");
}

Test(responses_parse, function_call_loop_ends_with_empty_input)
{
    const char *body =
        "{\"model\":\"codex-5\",\"tools\":[{\"type\":\"function\",\"name\":\"get_weather\","
        "\"parameters\":{\"type\":\"object\"},\"strict\":true}],\"input\":["
        "{\"role\":\"user\",\"content\":\"weather?\"},"
        "{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"name\":"
        "\"get_weather\",\"arguments\":\"{}\",\"status\":\"completed\"},"
        "{\"type\":\"function_call_output\",\"call_id\":\"call_1\",\"output\":\"sunny\"}]}";
    cr_assert_eq(parse(body), CG_OK, "%s", err.message);
    cr_assert_eq(json_array_size(req.input), 0);
    cr_assert_eq(json_array_size(req.history), 3);
    cr_assert_str_eq(str_at(req.history, 1, "type"), "function_call");
    cr_assert_str_eq(str_at(req.history, 1, "name"), "fn_get_weather");
    cr_assert_str_eq(str_at(req.history, 1, "call_id"), "call_1");
    cr_assert_null(json_object_get(json_array_get(req.history, 1), "id"));
    cr_assert_str_eq(str_at(req.history, 2, "type"), "function_call_output");
    cr_assert_str_eq(str_at(req.history, 2, "output"), "sunny");
    cr_assert_str_eq(str_at(req.dynamic_tools, 0, "name"), "fn_get_weather");
    cr_assert_str_eq(cg_request_tool_name(&req, "fn_get_weather"), "get_weather");
    cr_assert_str_eq(str_at(opts.tools, 0, "name"), "get_weather");
}

Test(responses_parse, function_output_parts_become_input_parts)
{
    const char *body =
        "{\"model\":\"codex-5\",\"input\":["
        "{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"{}\"},"
        "{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":[{\"type\":"
        "\"input_text\",\"text\":\"t\"},{\"type\":\"input_image\",\"image_url\":"
        "\"https://x/i.png\"}]}]}";
    cr_assert_eq(parse(body), CG_OK, "%s", err.message);
    json_t *out = json_object_get(json_array_get(req.history, 1), "output");
    cr_assert_eq(json_array_size(out), 2);
    cr_assert_str_eq(str_at(out, 0, "type"), "input_text");
    cr_assert_str_eq(str_at(out, 1, "image_url"), "https://x/i.png");
}

Test(responses_parse, tool_calls_and_outputs_must_pair)
{
    fails("{\"model\":\"codex-5\",\"input\":[{\"type\":\"function_call\",\"call_id\":\"c\","
          "\"name\":\"f\",\"arguments\":\"{}\"},{\"role\":\"user\",\"content\":\"x\"}]}",
          CG_ERR_INVALID_REQUEST, "input");
    cr_assert(strstr(err.message, "No tool output found for function call c") != NULL);
    fails("{\"model\":\"codex-5\",\"input\":[{\"type\":\"function_call_output\",\"call_id\":"
          "\"zz\",\"output\":\"x\"}]}",
          CG_ERR_INVALID_REQUEST, "input");
    cr_assert(strstr(err.message, "zz") != NULL);
    fails("{\"model\":\"codex-5\",\"input\":[{\"type\":\"function_call\",\"call_id\":\"c\","
          "\"name\":\"f\"}]}",
          CG_ERR_INVALID_REQUEST, "input[0].arguments");
    fails("{\"model\":\"codex-5\",\"input\":[{\"type\":\"function_call\",\"call_id\":\"c\","
          "\"name\":\"f\",\"arguments\":\"{}\"},{\"type\":\"function_call_output\",\"call_id\":"
          "\"c\",\"output\":3}]}",
          CG_ERR_INVALID_REQUEST, "input[1].output");
}

Test(responses_parse, reasoning_items_are_kept_raw)
{
    const char *body =
        "{\"model\":\"codex-5\",\"include\":[\"reasoning.encrypted_content\"],\"input\":["
        "{\"role\":\"user\",\"content\":\"q\"},"
        "{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[{\"type\":\"summary_text\","
        "\"text\":\"plan\"}],\"encrypted_content\":\"gAAA\"},"
        "{\"role\":\"user\",\"content\":\"more\"}]}";
    cr_assert_eq(parse(body), CG_OK, "%s", err.message);
    cr_assert(opts.include_encrypted_reasoning);
    json_t *rs = json_array_get(req.history, 1);
    cr_assert_str_eq(json_string_value(json_object_get(rs, "type")), "reasoning");
    cr_assert_str_eq(json_string_value(json_object_get(rs, "encrypted_content")), "gAAA");
    cr_assert_null(json_object_get(rs, "id"), "the upstream never stored our ids");
    cr_assert_str_eq(str_at(json_object_get(rs, "summary"), 0, "text"), "plan");
    fails("{\"model\":\"codex-5\",\"input\":[{\"type\":\"reasoning\"}]}", CG_ERR_INVALID_REQUEST,
          "input[0].summary");
    fails("{\"model\":\"codex-5\",\"input\":[{\"type\":\"reasoning\",\"summary\":[{\"type\":"
          "\"x\"}]}]}",
          CG_ERR_INVALID_REQUEST, "input[0].summary[0]");
}

Test(responses_parse, reasoning_without_encrypted_content_is_not_replayed)
{
    const char *body =
        "{\"model\":\"codex-5\",\"input\":[{\"role\":\"user\",\"content\":\"q\"},"
        "{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[],\"encrypted_content\":null},"
        "{\"role\":\"assistant\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"more\"}]}";
    cr_assert_eq(parse(body), CG_OK, "%s", err.message);
    cr_assert_eq(json_array_size(req.history), 2, "the user and assistant messages only");
    cr_assert_str_neq(json_string_value(json_object_get(json_array_get(req.history, 1), "type")),
                      "reasoning");
}

Test(responses_parse, unsupported_item_types_are_named)
{
    fails("{\"model\":\"codex-5\",\"input\":[{\"type\":\"web_search_call\",\"id\":\"w\"}]}",
          CG_ERR_UNSUPPORTED_VALUE, "input[0].type");
}

Test(responses_parse, instructions_come_before_leading_system_messages)
{
    const char *body =
        "{\"model\":\"codex-5\",\"instructions\":\"I\",\"input\":["
        "{\"role\":\"system\",\"content\":\"S\"},"
        "{\"role\":\"developer\",\"content\":[{\"type\":\"input_text\",\"text\":\"D\"}]},"
        "{\"role\":\"user\",\"content\":\"u\"},{\"role\":\"assistant\",\"content\":\"a\"},"
        "{\"role\":\"system\",\"content\":\"mid\"},{\"role\":\"user\",\"content\":\"u2\"}]}";
    cr_assert_eq(parse(body), CG_OK, "%s", err.message);
    cr_assert_str_eq(req.base_instructions, "I\n\nS\n\nD");
    cr_assert_str_eq(json_string_value(opts.instructions), "I");
    cr_assert_eq(json_array_size(req.history), 3);
    json_t *mid = json_array_get(req.history, 2);
    cr_assert_str_eq(json_string_value(json_object_get(mid, "role")), "developer");
    cr_assert_str_eq(str_at(json_object_get(mid, "content"), 0, "text"), "mid");
}

Test(responses_parse, ignored_system_prompt_drops_instructions_and_system_text)
{
    const char *body = "{\"model\":\"codex-5\",\"instructions\":\"I\",\"input\":["
                       "{\"role\":\"system\",\"content\":\"S\"},"
                       "{\"role\":\"user\",\"content\":\"u\"},"
                       "{\"role\":\"developer\",\"content\":\"mid\"},"
                       "{\"role\":\"user\",\"content\":\"u2\"}]}";
    cr_assert_eq(parse_with(body, NULL, true), CG_OK, "%s", err.message);
    cr_assert_null(req.base_instructions);
    cr_assert_eq(json_array_size(req.history), 1);
}

Test(responses_parse, item_reference_resolves_through_the_callback)
{
    const char *body =
        "{\"model\":\"codex-5\",\"input\":[{\"role\":\"user\",\"content\":\"q\"},"
        "{\"type\":\"item_reference\",\"id\":\"msg_stored\"},{\"role\":\"user\",\"content\":"
        "\"again\"}]}";
    cr_assert_eq(parse(body), CG_OK, "%s", err.message);
    cr_assert_eq(json_array_size(req.history), 2);
    cr_assert_str_eq(str_at(json_object_get(json_array_get(req.history, 1), "content"), 0, "text"),
                     "stored");
    fails("{\"model\":\"codex-5\",\"input\":[{\"role\":\"user\",\"content\":\"q\"},"
          "{\"type\":\"item_reference\",\"id\":\"msg_gone\"}]}",
          CG_ERR_INVALID_REQUEST, "input[1].id");
    /* type may be left out of a reference */
    fails("{\"model\":\"codex-5\",\"input\":[{\"id\":\"msg_gone\"}]}", CG_ERR_INVALID_REQUEST,
          "input[0].id");
}

Test(responses_parse, prior_items_come_first)
{
    json_t *prior = json_pack("[{s:s,s:s},{s:s,s:s,s:s,s:s,s:s},{s:s,s:s,s:s}]", "role", "user",
                              "content", "first", "type", "function_call", "call_id", "c1", "name",
                              "f", "arguments", "{}", "status", "completed", "type",
                              "function_call_output", "call_id", "c1", "output", "r");
    cr_assert_not_null(prior);
    const char *body = "{\"model\":\"codex-5\",\"previous_response_id\":\"resp_1\",\"input\":"
                       "\"next\"}";
    cr_assert_eq(parse_with(body, prior, false), CG_OK, "%s", err.message);
    cr_assert_str_eq(opts.previous_response_id, "resp_1");
    cr_assert_eq(json_array_size(req.history), 3);
    cr_assert_str_eq(str_at(json_object_get(json_array_get(req.history, 0), "content"), 0, "text"),
                     "first");
    cr_assert_str_eq(str_at(req.history, 1, "name"), "fn_f");
    cr_assert_str_eq(str_at(req.input, 0, "text"), "next");
    json_decref(prior);
}

Test(responses_parse, output_for_a_prior_call_continues_the_chain)
{
    json_t *prior = json_pack("[{s:s,s:s,s:s,s:s}]", "type", "function_call", "call_id", "c1",
                              "name", "f", "arguments", "{}");
    const char *body = "{\"model\":\"codex-5\",\"previous_response_id\":\"resp_1\",\"input\":["
                       "{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":\"r\"}]}";
    cr_assert_eq(parse_with(body, prior, false), CG_OK, "%s", err.message);
    cr_assert_eq(json_array_size(req.input), 0);
    cr_assert_eq(json_array_size(req.history), 2);
    json_decref(prior);
}

Test(responses_parse, refs_name_the_previous_response_and_each_item_reference)
{
    const char *body = "{\"previous_response_id\":\"resp_abc\",\"input\":["
                       "{\"type\":\"item_reference\",\"id\":\"msg_1\"},"
                       "{\"role\":\"user\",\"id\":\"msg_2\",\"content\":\"x\"},"
                       "{\"id\":\"fc_3\"}]}";
    json_t *root = json_loads(body, 0, NULL);
    struct cg_responses_refs refs;
    cg_responses_refs(root, &refs);
    cr_assert_str_eq(refs.previous_id, "resp_abc");
    cr_assert_eq(refs.count, 2); /* a message with an id is not a reference */
    cr_assert_str_eq(refs.ids[0], "msg_1");
    cr_assert_str_eq(refs.ids[1], "fc_3");
    cr_assert_not(refs.too_many);
    json_decref(root);
    root = json_loads("{\"input\":\"x\"}", 0, NULL);
    cg_responses_refs(root, &refs);
    cr_assert_null(refs.previous_id);
    cr_assert_eq(refs.count, 0);
    json_decref(root);
}

Test(responses_parse, too_many_references_are_flagged)
{
    json_t *input = json_array();
    for (int i = 0; i <= CG_RESPONSE_REFS_MAX; i++)
        json_array_append_new(input, json_pack("{s:s,s:s}", "type", "item_reference", "id", "x"));
    json_t *root = json_pack("{s:o}", "input", input);
    struct cg_responses_refs refs;
    cg_responses_refs(root, &refs);
    cr_assert(refs.too_many);
    cr_assert_eq(refs.count, CG_RESPONSE_REFS_MAX);
    json_decref(root);
}

Test(responses_parse, input_items_list_the_body_items_in_typed_form)
{
    const char *body = "{\"model\":\"codex-5\",\"input\":\"hello\"}";
    cr_assert_eq(parse_with(body, NULL, false), CG_OK, "%s", err.message);
    json_t *want = json_loads("[{\"type\":\"message\",\"role\":\"user\",\"content\":"
                              "[{\"type\":\"input_text\",\"text\":\"hello\"}]}]",
                              0, NULL);
    cr_assert(json_equal(opts.input_items, want));
    json_decref(want);
}

Test(responses_parse, namespace_tools_keep_their_namespace)
{
    const char *body =
        "{\"model\":\"codex-5\",\"input\":\"x\",\"tools\":[{\"type\":\"namespace\",\"name\":"
        "\"crm\",\"description\":\"CRM\",\"tools\":[{\"type\":\"function\",\"name\":\"lookup\","
        "\"parameters\":{\"type\":\"object\"}},{\"type\":\"function\",\"name\":\"save\"}]},"
        "{\"type\":\"function\",\"name\":\"lookup\"}]}";
    cr_assert_eq(parse(body), CG_OK, "%s", err.message);
    cr_assert_eq(json_array_size(req.dynamic_tools), 2);
    json_t *ns = json_array_get(req.dynamic_tools, 0);
    cr_assert_str_eq(json_string_value(json_object_get(ns, "type")), "namespace");
    cr_assert_str_eq(json_string_value(json_object_get(ns, "name")), "fn_crm");
    cr_assert_str_eq(json_string_value(json_object_get(ns, "description")), "CRM");
    cr_assert_null(json_object_get(ns, "client_name"));
    json_t *inner = json_object_get(ns, "tools");
    cr_assert_eq(json_array_size(inner), 2);
    cr_assert_str_eq(str_at(inner, 0, "name"), "lookup");
    cr_assert_str_eq(str_at(inner, 0, "type"), "function");
    cr_assert_str_eq(str_at(inner, 1, "description"), "");
    cr_assert_not_null(json_object_get(json_array_get(inner, 1), "inputSchema"));
    cr_assert_str_eq(cg_request_tool_name(&req, "fn_crm"), "crm");
    cr_assert_str_eq(str_at(req.dynamic_tools, 1, "name"), "fn_lookup");
}

Test(responses_parse, namespaced_calls_in_history_alias_the_namespace)
{
    const char *body =
        "{\"model\":\"codex-5\",\"input\":[{\"type\":\"function_call\",\"call_id\":\"c\","
        "\"namespace\":\"crm\",\"name\":\"lookup\",\"arguments\":\"{}\"},{\"type\":"
        "\"function_call_output\",\"call_id\":\"c\",\"output\":\"ok\"}]}";
    cr_assert_eq(parse(body), CG_OK, "%s", err.message);
    cr_assert_str_eq(str_at(req.history, 0, "namespace"), "fn_crm");
    cr_assert_str_eq(str_at(req.history, 0, "name"), "lookup");
}

Test(responses_parse, bad_namespaces_are_400s)
{
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"tools\":[{\"type\":\"namespace\",\"name\":"
          "\"n\",\"tools\":[]}]}",
          CG_ERR_INVALID_REQUEST, "tools[0].tools");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"tools\":[{\"type\":\"namespace\",\"name\":"
          "\"n\",\"tools\":[{\"type\":\"custom\",\"name\":\"c\"}]}]}",
          CG_ERR_UNSUPPORTED_VALUE, "tools[0].tools[0].type");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"tools\":[{\"type\":\"namespace\",\"name\":"
          "\"n\",\"tools\":[{\"type\":\"function\",\"name\":\"a\"},{\"type\":\"function\","
          "\"name\":\"a\"}]}]}",
          CG_ERR_INVALID_REQUEST, "tools[0].tools[1]");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":"
          "\"n\"},{\"type\":\"namespace\",\"name\":\"n\",\"tools\":[{\"type\":\"function\","
          "\"name\":\"a\"}]}]}",
          CG_ERR_INVALID_REQUEST, "tools[1]");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"tools\":[{\"type\":\"namespace\",\"name\":"
          "\"bad name\",\"tools\":[{\"type\":\"function\",\"name\":\"a\"}]}]}",
          CG_ERR_INVALID_REQUEST, "tools[0].name");
}

Test(responses_parse, a_namespace_holds_at_most_128_functions)
{
    static char body[16384];
    size_t used = (size_t)snprintf(body, sizeof(body),
                                   "{\"model\":\"codex-5\",\"input\":\"x\",\"tools\":[{\"type\":"
                                   "\"namespace\",\"name\":\"n\",\"tools\":[");
    for (int i = 0; i < 129; i++)
        used += (size_t)snprintf(body + used, sizeof(body) - used,
                                 "%s{\"type\":\"function\",\"name\":\"f%d\"}", i ? "," : "", i);
    snprintf(body + used, sizeof(body) - used, "]}]}");
    fails(body, CG_ERR_INVALID_REQUEST, "tools[0].tools");
}

Test(responses_parse, hosted_tool_types_are_rejected)
{
    static const char *const types[] = {
        "web_search",       "file_search",      "computer_use_preview", "mcp",
        "code_interpreter", "image_generation", "local_shell",          "custom"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"model\":\"codex-5\",\"input\":\"x\",\"tools\":[{\"type\":\"function\","
                 "\"name\":\"f\"},{\"type\":\"%s\",\"name\":\"t\"}]}",
                 types[i]);
        fails(body, CG_ERR_UNSUPPORTED_VALUE, "tools[1].type");
        cr_assert(strstr(err.message, types[i]) != NULL);
    }
}

Test(responses_parse, tool_choice_as_on_chat)
{
    const char *tools = "\"tools\":[{\"type\":\"function\",\"name\":\"a\"},{\"type\":\"function\","
                        "\"name\":\"b\"}]";
    char body[512];
    snprintf(body, sizeof(body),
             "{\"model\":\"codex-5\",\"input\":\"x\",%s,\"tool_choice\":{\"type\":\"function\","
             "\"name\":\"b\"},\"parallel_tool_calls\":false}",
             tools);
    cr_assert_eq(parse(body), CG_OK, "%s", err.message);
    cr_assert_eq(json_array_size(req.dynamic_tools), 1);
    cr_assert_str_eq(str_at(req.dynamic_tools, 0, "name"), "fn_b");
    cr_assert(strstr(req.developer_instructions, "fn_b") != NULL);
    cr_assert_not(opts.parallel_tool_calls);
    cr_assert(json_is_false(opts.parallel_tool_calls_json));
    cr_assert_str_eq(json_string_value(json_object_get(opts.tool_choice, "name")), "b");
    cg_request_dispose(&req);
    cg_responses_opts_dispose(&opts);
    snprintf(body, sizeof(body),
             "{\"model\":\"codex-5\",\"input\":\"x\",%s,\"tool_choice\":\"none\"}", tools);
    cr_assert_eq(parse(body), CG_OK, "%s", err.message);
    cr_assert_null(req.dynamic_tools);
    cg_request_dispose(&req);
    cg_responses_opts_dispose(&opts);
    cr_assert_eq(parse("{\"model\":\"codex-5\",\"input\":\"x\",\"tool_choice\":\"auto\"}"), CG_OK,
                 "%s", err.message);
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"tool_choice\":\"required\"}",
          CG_ERR_INVALID_REQUEST, "tool_choice");
    snprintf(
        body, sizeof(body),
        "{\"model\":\"codex-5\",\"input\":\"x\",%s,\"tool_choice\":{\"type\":\"file_search\"}}",
        tools);
    fails(body, CG_ERR_UNSUPPORTED_VALUE, "tool_choice");
    snprintf(body, sizeof(body),
             "{\"model\":\"codex-5\",\"input\":\"x\",%s,\"tool_choice\":{\"type\":\"function\","
             "\"name\":\"zz\"}}",
             tools);
    fails(body, CG_ERR_INVALID_REQUEST, "tool_choice");
}

Test(responses_parse, json_schema_format_is_the_output_schema)
{
    const char *body =
        "{\"model\":\"codex-5\",\"input\":\"x\",\"text\":{\"verbosity\":\"low\",\"format\":{"
        "\"type\":\"json_schema\",\"name\":\"out\",\"strict\":true,\"schema\":{\"type\":"
        "\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}}}}";
    cr_assert_eq(parse(body), CG_OK, "%s", err.message);
    cr_assert_str_eq(json_string_value(json_object_get(req.output_schema, "type")), "object");
    cr_assert_not_null(json_object_get(json_object_get(req.output_schema, "properties"), "a"));
    cr_assert_str_eq(json_string_value(json_object_get(opts.text, "verbosity")), "low");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(opts.text, "format"), "name")), "out");
}

Test(responses_parse, json_object_format_asks_for_json)
{
    cr_assert_eq(parse("{\"model\":\"codex-5\",\"input\":\"x\",\"text\":{\"format\":{\"type\":"
                       "\"json_object\"}}}"),
                 CG_OK, "%s", err.message);
    cr_assert(strstr(req.developer_instructions, "JSON") != NULL);
    cr_assert_null(req.output_schema);
}

Test(responses_parse, bad_text_formats_name_the_field)
{
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"text\":{\"format\":{\"type\":\"json_schema\","
          "\"schema\":{}}}}",
          CG_ERR_INVALID_REQUEST, "text.format.name");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"text\":{\"format\":{\"type\":\"json_schema\","
          "\"name\":\"n\"}}}",
          CG_ERR_INVALID_REQUEST, "text.format.schema");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"text\":{\"format\":{\"type\":\"xml\"}}}",
          CG_ERR_UNSUPPORTED_VALUE, "text.format.type");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"text\":{\"verbosity\":\"loud\"}}",
          CG_ERR_UNSUPPORTED_VALUE, "text.verbosity");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"text\":\"plain\"}", CG_ERR_INVALID_REQUEST,
          "text");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"text\":{\"format\":\"json\"}}",
          CG_ERR_INVALID_REQUEST, "text.format");
}

Test(responses_parse, reasoning_effort_and_summary)
{
    cr_assert_eq(parse("{\"model\":\"codex-5\",\"input\":\"x\",\"reasoning\":{\"effort\":\"high\","
                       "\"summary\":\"detailed\"}}"),
                 CG_OK, "%s", err.message);
    cr_assert_str_eq(req.effort, "high");
    cr_assert_str_eq(req.summary, "detailed");
    cr_assert_str_eq(json_string_value(json_object_get(opts.reasoning, "effort")), "high");
    cg_request_dispose(&req);
    cg_responses_opts_dispose(&opts);
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"reasoning\":{\"effort\":\"max\"}}",
          CG_ERR_UNSUPPORTED_VALUE, "reasoning.effort");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"reasoning\":{\"summary\":\"long\"}}",
          CG_ERR_UNSUPPORTED_VALUE, "reasoning.summary");
}

Test(responses_parse, rejected_parameters_are_named)
{
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"background\":true}", CG_ERR_UNSUPPORTED_PARAM,
          "background");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"conversation\":\"conv_1\"}",
          CG_ERR_UNSUPPORTED_PARAM, "conversation");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"prompt\":{\"id\":\"pmpt_1\"}}",
          CG_ERR_UNSUPPORTED_PARAM, "prompt");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"top_logprobs\":2}", CG_ERR_UNSUPPORTED_PARAM,
          "top_logprobs");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"include\":[\"message.output_text.logprobs\"]}",
          CG_ERR_UNSUPPORTED_VALUE, "include[0]");
    cr_assert_eq(parse("{\"model\":\"codex-5\",\"input\":\"x\",\"background\":false}"), CG_OK, "%s",
                 err.message);
}

Test(responses_parse, bad_types_name_the_parameter)
{
    fails("{\"input\":\"x\"}", CG_ERR_INVALID_REQUEST, "model");
    fails("{\"model\":\"nope\",\"input\":\"x\"}", CG_ERR_MODEL_NOT_FOUND, "model");
    fails("{\"model\":\"codex-5\"}", CG_ERR_INVALID_REQUEST, "input");
    fails("{\"model\":\"codex-5\",\"input\":[]}", CG_ERR_INVALID_REQUEST, "input");
    fails("{\"model\":\"codex-5\",\"input\":5}", CG_ERR_INVALID_REQUEST, "input");
    fails("{\"model\":\"codex-5\",\"input\":[5]}", CG_ERR_INVALID_REQUEST, "input[0]");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"stream\":\"yes\"}", CG_ERR_INVALID_REQUEST,
          "stream");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"store\":1}", CG_ERR_INVALID_REQUEST, "store");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"instructions\":[]}", CG_ERR_INVALID_REQUEST,
          "instructions");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"max_output_tokens\":0}", CG_ERR_INVALID_REQUEST,
          "max_output_tokens");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"temperature\":3}", CG_ERR_INVALID_REQUEST,
          "temperature");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"top_p\":\"1\"}", CG_ERR_INVALID_REQUEST,
          "top_p");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"truncation\":\"middle\"}",
          CG_ERR_UNSUPPORTED_VALUE, "truncation");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"service_tier\":\"gold\"}",
          CG_ERR_UNSUPPORTED_VALUE, "service_tier");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"include\":\"all\"}", CG_ERR_INVALID_REQUEST,
          "include");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"include\":[\"everything\"]}",
          CG_ERR_UNSUPPORTED_VALUE, "include[0]");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"metadata\":{\"a\":1}}", CG_ERR_INVALID_REQUEST,
          "metadata");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"user\":5}", CG_ERR_INVALID_REQUEST, "user");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"previous_response_id\":5}",
          CG_ERR_INVALID_REQUEST, "previous_response_id");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"parallel_tool_calls\":\"no\"}",
          CG_ERR_INVALID_REQUEST, "parallel_tool_calls");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"tools\":{}}", CG_ERR_INVALID_REQUEST, "tools");
    fails("{\"model\":\"codex-5\",\"input\":\"x\",\"tools\":[{\"type\":\"function\"}]}",
          CG_ERR_INVALID_REQUEST, "tools[0].name");
    cr_assert_eq(parse("nope"), CG_ERR_INVALID_JSON);
}

Test(responses_parse, metadata_has_at_most_16_pairs)
{
    char body[1024];
    size_t used = (size_t)snprintf(body, sizeof(body),
                                   "{\"model\":\"codex-5\",\"input\":\"x\","
                                   "\"metadata\":{");
    for (int i = 0; i < 17; i++)
        used +=
            (size_t)snprintf(body + used, sizeof(body) - used, "%s\"k%d\":\"v\"", i ? "," : "", i);
    snprintf(body + used, sizeof(body) - used, "}}");
    fails(body, CG_ERR_INVALID_REQUEST, "metadata");
}

Test(responses_parse, accepted_members_are_echoed)
{
    const char *body =
        "{\"model\":\"codex-5\",\"input\":\"x\",\"metadata\":{\"k\":\"v\"},\"user\":\"u\","
        "\"max_output_tokens\":100,\"temperature\":0.5,\"top_p\":0.9,\"truncation\":\"auto\","
        "\"service_tier\":\"flex\",\"prompt_cache_key\":\"p\",\"safety_identifier\":\"s\","
        "\"client_metadata\":{\"a\":\"b\"},\"unknown_member\":1}";
    cr_assert_eq(parse(body), CG_OK, "%s", err.message);
    cr_assert_str_eq(json_string_value(json_object_get(opts.metadata, "k")), "v");
    cr_assert_str_eq(json_string_value(opts.user), "u");
    cr_assert_eq(json_integer_value(opts.max_output_tokens), 100);
    cr_assert_float_eq(json_number_value(opts.temperature), 0.5, 1e-9);
    cr_assert_float_eq(json_number_value(opts.top_p), 0.9, 1e-9);
    cr_assert_str_eq(json_string_value(opts.truncation), "auto");
    cr_assert_str_eq(json_string_value(opts.service_tier), "flex");
}

static char *read_codex_cli_body(size_t *len)
{
    FILE *f = fopen(CG_TEST_DATA_DIR "/../../fuzz/corpus/responses_request/codex_cli", "rb");
    cr_assert_not_null(f);
    static char buf[128 * 1024];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    cr_assert(n > 1 && n < sizeof(buf));
    *len = n - 1; /* the fuzz target's flag byte first */
    return buf + 1;
}

Test(responses_parse, codex_cli_request_parses)
{
    size_t len = 0;
    const char *body = read_codex_cli_body(&len);
    struct cg_catalog mock;
    cr_assert_eq(cg_catalog_init(&mock, "mock-model"), 0);
    struct cg_responses_context cx = {.catalog = &mock};
    teardown();
    cr_assert_eq(cg_responses_parse(body, len, &cx, &req, &opts, &err), CG_OK, "%s (%s)",
                 err.message, err.param);
    cr_assert(opts.stream && !opts.store && opts.include_encrypted_reasoning);
    cr_assert_str_eq(req.summary, "auto");
    cr_assert(
        strncmp(req.base_instructions, "You are a coding agent running in the Codex CLI", 47) == 0);
    cr_assert(strstr(req.base_instructions, "<permissions instructions>") != NULL);
    cr_assert_str_eq(req.developer_instructions ? req.developer_instructions : "", "");
    cr_assert_eq(json_array_size(req.history), 1); /* the environment context */
    cr_assert(strstr(str_at(req.input, 0, "text"), "say hi") != NULL);
    bool namespace_seen = false;
    for (size_t i = 0; i < json_array_size(req.dynamic_tools); i++) {
        json_t *t = json_array_get(req.dynamic_tools, i);
        const char *name = json_string_value(json_object_get(t, "name"));
        cr_assert(strncmp(name, "fn_", 3) == 0, "%s", name);
        if (strcmp(json_string_value(json_object_get(t, "type")), "namespace") == 0) {
            namespace_seen = true;
            cr_assert_str_eq(name, "fn_multi_agent_v1");
            cr_assert_eq(json_array_size(json_object_get(t, "tools")), 5);
            cr_assert_str_eq(str_at(json_object_get(t, "tools"), 0, "name"), "close_agent");
        }
    }
    cr_assert(namespace_seen);
    cr_assert_str_eq(cg_request_tool_name(&req, "fn_exec_command"), "exec_command");
    cr_assert_str_eq(cg_request_tool_name(&req, "fn_multi_agent_v1"), "multi_agent_v1");
}

Test(responses_parse, a_broken_stored_chain_is_blamed_on_previous_response_id)
{
    json_t *prior = json_pack("[{s:s,s:i}]", "role", "user", "content", 5);
    cr_assert_eq(parse_with("{\"model\":\"codex-5\",\"previous_response_id\":\"resp_1\",\"input\":"
                            "\"x\"}",
                            prior, false),
                 CG_ERR_INVALID_REQUEST);
    cr_assert_str_eq(err.param, "previous_response_id");
    json_decref(prior);
}
