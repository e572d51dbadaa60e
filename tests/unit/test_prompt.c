/* test_prompt.c: a request → the one prompt text of a per-request Codex process. */
#include <criterion/criterion.h>
#include <string.h>
#include "backend/prompt.h"
#include "util/alloc.h"

static struct cg_request req;
static struct cg_buf out;
static struct cg_error err;

static void setup(void)
{
    cg_request_init(&req);
    req.history = json_array();
    req.input = json_array();
    cg_buf_init(&out, 1 << 20);
}

static void teardown(void)
{
    cg_buf_dispose(&out);
    cg_request_dispose(&req);
}

TestSuite(prompt, .init = setup, .fini = teardown);

static json_t *parse_json(const char *s)
{
    json_error_t jerr;
    json_t *v = json_loads(s, JSON_ALLOW_NUL, &jerr);
    cr_assert_not_null(v, "%s: %s", s, jerr.text);
    return v;
}

static void set_history(const char *s)
{
    json_decref(req.history);
    req.history = parse_json(s);
}

static void set_input(const char *s)
{
    json_decref(req.input);
    req.input = parse_json(s);
}

static void render_ok(const char *want)
{
    enum cg_err e = cg_prompt_render(&req, &out, &err);
    cr_assert_eq(e, CG_OK, "%s: %s", cg_err_name(e), err.message);
    cr_assert_eq(out.len, strlen(want), "got [%s]\nwant [%s]", out.data ? out.data : "", want);
    cr_assert(out.len == 0 || memcmp(out.data, want, out.len) == 0, "got [%s]\nwant [%s]", out.data,
              want);
}

static void render_refused(enum cg_err code, const char *param, const char *names)
{
    enum cg_err e = cg_prompt_render(&req, &out, &err);
    cr_assert_eq(e, code, "%s", cg_err_name(e));
    cr_assert_eq(err.code, code);
    if (param)
        cr_assert_str_eq(err.param, param);
    else
        cr_assert_str_eq(err.param, "");
    cr_assert_not_null(strstr(err.message, names), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "PROXY_BACKEND=app-server"), "%s", err.message);
    cr_assert_eq(out.len, 0);
}

Test(prompt, one_user_text_and_nothing_else_is_that_text_exactly)
{
    set_input("[{\"type\":\"text\",\"text\":\"What is 2+2?\\n\",\"text_elements\":[]}]");
    render_ok("What is 2+2?\n");
}

Test(prompt, several_texts_of_the_one_message_are_joined_with_a_newline)
{
    set_input("[{\"type\":\"text\",\"text\":\"one\"},{\"type\":\"text\",\"text\":\"two\"}]");
    render_ok("one\ntwo");
}

Test(prompt, a_history_of_one_user_message_and_no_input_is_that_text)
{
    set_history("[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\","
                "\"text\":\"Hi\"},{\"type\":\"input_text\",\"text\":\"there\"}]}]");
    render_ok("Hi\nthere");
}

Test(prompt, reasoning_items_are_skipped)
{
    set_history("[{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]}]");
    set_input("[{\"type\":\"text\",\"text\":\"q\"}]");
    render_ok("q");
}

Test(prompt, a_lone_dash_gets_a_newline)
{
    set_input("[{\"type\":\"text\",\"text\":\"-\"}]");
    render_ok("-\n");
}

Test(prompt, the_text_is_appended_after_what_the_buffer_holds)
{
    cr_assert_eq(cg_buf_append_str(&out, "x"), 0);
    set_input("[{\"type\":\"text\",\"text\":\"-\"}]");
    cr_assert_eq(cg_prompt_render(&req, &out, &err), CG_OK);
    cr_assert_str_eq(out.data, "x-\n");
}

Test(prompt, instructions_make_a_transcript)
{
    req.base_instructions = cg_xstrdup("Be terse.");
    req.developer_instructions = cg_xstrdup("Answer in French.");
    set_input("[{\"type\":\"text\",\"text\":\"Hello\"}]");
    render_ok("[system]\nBe terse.\n\n[developer]\nAnswer in French.\n\n[user]\nHello");
}

Test(prompt, empty_instructions_count_as_none)
{
    req.base_instructions = cg_xstrdup("");
    req.developer_instructions = cg_xstrdup("");
    set_input("[{\"type\":\"text\",\"text\":\"Hello\"}]");
    render_ok("Hello");
}

Test(prompt, a_conversation_is_rendered_in_order)
{
    req.base_instructions = cg_xstrdup("Be terse.");
    set_history("[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\","
                "\"text\":\"Weather?\"}]},"
                "{\"type\":\"reasoning\",\"summary\":[]},"
                "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"
                "\"output_text\",\"text\":\"Let me check.\"}]},"
                "{\"type\":\"function_call\",\"call_id\":\"call_1\",\"name\":\"get_weather\","
                "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"},"
                "{\"type\":\"function_call_output\",\"call_id\":\"call_1\",\"output\":\"sunny\"},"
                "{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"Sunny.\"},"
                "{\"type\":\"message\",\"role\":\"developer\",\"content\":[{\"type\":"
                "\"input_text\",\"text\":\"Mid note.\"}]}]");
    set_input("[{\"type\":\"text\",\"text\":\"Thanks\"}]");
    render_ok("[system]\nBe terse.\n\n"
              "[user]\nWeather?\n\n"
              "[assistant]\nLet me check.\n\n"
              "[assistant called tool get_weather, call_1]\n{\"city\":\"Paris\"}\n\n"
              "[tool result, call_1]\nsunny\n\n"
              "[assistant]\nSunny.\n\n"
              "[developer]\nMid note.\n\n"
              "[user]\nThanks");
}

Test(prompt, a_conversation_ending_in_tool_results_ends_with_the_result)
{
    set_history("[{\"type\":\"message\",\"role\":\"user\",\"content\":\"Weather?\"},"
                "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"fn_get_weather\","
                "\"arguments\":\"{}\"},"
                "{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":[{\"type\":"
                "\"input_text\",\"text\":\"sunny\"},{\"type\":\"input_text\",\"text\":"
                "\"18C\"}]}]");
    render_ok("[user]\nWeather?\n\n"
              "[assistant called tool fn_get_weather, c1]\n{}\n\n"
              "[tool result, c1]\nsunny\n18C");
}

Test(prompt, aliased_tool_names_are_shown_as_the_client_named_them)
{
    const char *alias = cg_request_tool_alias(&req, "get_weather");
    cr_assert_str_neq(alias, "get_weather");
    char history[256];
    snprintf(history, sizeof(history),
             "[{\"type\":\"message\",\"role\":\"user\",\"content\":\"Weather?\"},"
             "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"%s\","
             "\"arguments\":\"{}\"},"
             "{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":\"sunny\"}]",
             alias);
    set_history(history);
    render_ok("[user]\nWeather?\n\n"
              "[assistant called tool get_weather, c1]\n{}\n\n"
              "[tool result, c1]\nsunny");
}

Test(prompt, a_history_ending_with_a_user_message_ends_with_it)
{
    set_history("[{\"type\":\"message\",\"role\":\"user\",\"content\":\"a\"},"
                "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"
                "\"refusal\",\"refusal\":\"No.\"}]},"
                "{\"type\":\"message\",\"role\":\"user\",\"content\":\"b\"}]");
    render_ok("[user]\na\n\n[assistant]\nNo.\n\n[user]\nb");
}

Test(prompt, texts_are_verbatim_nul_included)
{
    req.developer_instructions = cg_xstrdup("[user]\n-");
    set_input("[{\"type\":\"text\",\"text\":\"x\\u0000y\"}]");
    enum cg_err e = cg_prompt_render(&req, &out, &err);
    cr_assert_eq(e, CG_OK);
    const char want[] = "[developer]\n[user]\n-\n\n[user]\nx\0y";
    cr_assert_eq(out.len, sizeof(want) - 1);
    cr_assert(memcmp(out.data, want, out.len) == 0);
}

Test(prompt, client_tools_are_refused)
{
    req.dynamic_tools = parse_json("[{\"name\":\"fn_f\",\"description\":\"\",\"inputSchema\":{}}]");
    set_input("[{\"type\":\"text\",\"text\":\"q\"}]");
    render_refused(CG_ERR_UNSUPPORTED_PARAM, "tools", "tools");
}

Test(prompt, an_empty_tool_list_is_no_tools)
{
    req.dynamic_tools = json_array();
    set_input("[{\"type\":\"text\",\"text\":\"q\"}]");
    render_ok("q");
}

Test(prompt, an_output_schema_is_refused)
{
    req.output_schema = parse_json("{\"type\":\"object\"}");
    set_input("[{\"type\":\"text\",\"text\":\"q\"}]");
    render_refused(CG_ERR_UNSUPPORTED_PARAM, NULL, "Structured output");
}

Test(prompt, an_image_in_the_input_is_refused)
{
    set_input("[{\"type\":\"text\",\"text\":\"Look\"},{\"type\":\"image\",\"url\":"
              "\"https://x/a.png\"}]");
    render_refused(CG_ERR_UNSUPPORTED_PARAM, NULL, "Image");
}

Test(prompt, a_local_image_in_the_input_is_refused)
{
    set_input("[{\"type\":\"localImage\",\"path\":\"/tmp/a.png\"}]");
    render_refused(CG_ERR_UNSUPPORTED_PARAM, NULL, "Image");
}

Test(prompt, an_image_in_the_history_is_refused)
{
    set_history("[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\","
                "\"text\":\"Look\"},{\"type\":\"input_image\",\"image_url\":\"https://x/a.png\"}]},"
                "{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"A cat.\"}]");
    set_input("[{\"type\":\"text\",\"text\":\"And?\"}]");
    render_refused(CG_ERR_UNSUPPORTED_PARAM, NULL, "Image");
}

Test(prompt, an_image_in_a_tool_result_is_refused)
{
    set_history("[{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":"
                "\"{}\"},{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":[{"
                "\"type\":\"input_image\",\"image_url\":\"data:image/png;base64,AA\"}]}]");
    render_refused(CG_ERR_UNSUPPORTED_PARAM, NULL, "Image");
}

Test(prompt, unknown_items_parts_and_roles_are_refused_not_dropped)
{
    set_history("[{\"type\":\"web_search_call\",\"id\":\"w\"}]");
    set_input("[{\"type\":\"text\",\"text\":\"q\"}]");
    render_refused(CG_ERR_UNSUPPORTED_PARAM, NULL, "web_search_call");
    set_history("[{\"type\":\"message\",\"role\":\"tool\",\"content\":\"x\"}]");
    render_refused(CG_ERR_UNSUPPORTED_PARAM, NULL, "tool");
    set_history("[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_file\","
                "\"file_id\":\"f\"}]}]");
    render_refused(CG_ERR_UNSUPPORTED_PARAM, NULL, "input_file");
    set_history("[]");
    set_input("[{\"type\":\"skill\",\"name\":\"s\"}]");
    render_refused(CG_ERR_UNSUPPORTED_PARAM, NULL, "skill");
    set_input("[{\"type\":\"text\",\"text\":5}]");
    render_refused(CG_ERR_UNSUPPORTED_PARAM, NULL, "text");
}

Test(prompt, a_prompt_past_the_cap_is_too_large_and_leaves_the_buffer_as_it_was)
{
    cg_buf_dispose(&out);
    cg_buf_init(&out, 32);
    cr_assert_eq(cg_buf_append_str(&out, "kept"), 0);
    req.base_instructions = cg_xstrdup("Be terse.");
    set_input("[{\"type\":\"text\",\"text\":\"a question longer than the cap allows\"}]");
    enum cg_err e = cg_prompt_render(&req, &out, &err);
    cr_assert_eq(e, CG_ERR_TOO_LARGE);
    cr_assert_eq(err.code, CG_ERR_TOO_LARGE);
    cr_assert_str_eq(err.param, "");
    cr_assert_not_null(strstr(err.message, "PROXY_BACKEND=app-server"), "%s", err.message);
    cr_assert_eq(out.len, 4);
    cr_assert_str_eq(out.data, "kept");
}

Test(prompt, the_cap_applies_to_the_single_text_and_to_the_dash_newline)
{
    cg_buf_dispose(&out);
    cg_buf_init(&out, 1);
    set_input("[{\"type\":\"text\",\"text\":\"-\"}]");
    cr_assert_eq(cg_prompt_render(&req, &out, &err), CG_ERR_TOO_LARGE);
    cr_assert_eq(out.len, 0);
    set_input("[{\"type\":\"text\",\"text\":\"ab\"}]");
    cr_assert_eq(cg_prompt_render(&req, &out, &err), CG_ERR_TOO_LARGE);
    cr_assert_eq(out.len, 0);
}

Test(prompt, an_empty_request_is_an_empty_prompt)
{
    json_decref(req.history);
    json_decref(req.input);
    req.history = NULL;
    req.input = NULL;
    render_ok("");
}
