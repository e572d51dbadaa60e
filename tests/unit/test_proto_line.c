/* test_proto_line.c: `codex proto` event lines → proc events, and the submission line
 * (research/reference-spec.md §7, and the Rust protocol's event shapes). */
#include <criterion/criterion.h>
#include <string.h>
#include "backend/proto_line.h"

static struct cg_proc_event ev;

static void teardown(void)
{
    cg_proc_event_dispose(&ev);
}

TestSuite(proto_line, .fini = teardown);

static void parse(const char *line)
{
    cg_proto_line_parse(line, strlen(line), &ev);
}

static void assert_text(const char *want)
{
    cr_assert_eq(ev.text.len, strlen(want), "got %.*s", (int)ev.text.len, ev.text.ptr);
    cr_assert(memcmp(ev.text.ptr, want, ev.text.len) == 0, "got %.*s", (int)ev.text.len,
              ev.text.ptr);
}

Test(proto_line, session_configured_and_task_started_change_nothing)
{
    static const char *const lines[] = {
        "{\"id\":\"0\",\"msg\":{\"type\":\"session_configured\",\"session_id\":\"67e5-...\","
        "\"model\":\"codex-mini-latest\",\"history_log_id\":0,\"history_entry_count\":0}}",
        "{\"id\":\"1\",\"msg\":{\"type\":\"task_started\"}}",
        "{\"id\":\"1\",\"msg\":{\"type\":\"exec_command_begin\",\"call_id\":\"c\","
        "\"command\":[\"ls\"],\"cwd\":\"/tmp\"}}",
        "{\"id\":\"1\",\"msg\":{\"type\":\"metadata\",\"rollout_path\":\"/x\"}}",
        "{\"id\":\"1\",\"msg\":{\"type\":\"something_new\"}}",
        "{\"id\":\"1\",\"msg\":{\"no_type\":1}}",
        "{\"id\":\"1\"}",
        "{}",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        parse(lines[i]);
        cr_assert_eq(ev.kind, CG_PROC_NOTHING, "%s", lines[i]);
        cg_proc_event_dispose(&ev);
    }
}

Test(proto_line, agent_message_delta_is_a_text_delta)
{
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"agent_message_delta\",\"delta\":\"Hel\"}}");
    cr_assert_eq(ev.kind, CG_PROC_TEXT_DELTA);
    assert_text("Hel");
}

Test(proto_line, an_object_delta_carries_its_content_or_text)
{
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"agent_message_content_delta\",\"item_id\":\"msg_1\","
          "\"delta\":{\"content\":\"lo\"}}}");
    cr_assert_eq(ev.kind, CG_PROC_TEXT_DELTA);
    assert_text("lo");
    cr_assert_str_eq(ev.item_id, "msg_1");
    cg_proc_event_dispose(&ev);
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"agent_message_delta\",\"delta\":{\"text\":\"!\"}}}");
    cr_assert_eq(ev.kind, CG_PROC_TEXT_DELTA);
    assert_text("!");
    cr_assert_null(ev.item_id);
}

Test(proto_line, a_delta_without_text_is_nothing)
{
    static const char *const lines[] = {
        "{\"id\":\"1\",\"msg\":{\"type\":\"agent_message_delta\"}}",
        "{\"id\":\"1\",\"msg\":{\"type\":\"agent_message_delta\",\"delta\":5}}",
        "{\"id\":\"1\",\"msg\":{\"type\":\"agent_message_delta\",\"delta\":{\"tool_calls\":[]}}}",
        "{\"id\":\"1\",\"msg\":{\"type\":\"agent_message_delta\",\"delta\":{\"content\":1}}}",
        "{\"id\":\"1\",\"msg\":{\"type\":\"agent_message\",\"message\":null}}",
        "{\"id\":\"1\",\"msg\":{\"type\":\"agent_reasoning\",\"text\":[]}}",
        "{\"id\":\"1\",\"msg\":{\"type\":\"agent_reasoning_delta\"}}",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        parse(lines[i]);
        cr_assert_eq(ev.kind, CG_PROC_NOTHING, "%s", lines[i]);
        cg_proc_event_dispose(&ev);
    }
}

Test(proto_line, agent_message_is_a_whole_message)
{
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"agent_message\",\"message\":\"Hello from "
          "fake-codex.\"}}");
    cr_assert_eq(ev.kind, CG_PROC_MESSAGE);
    assert_text("Hello from fake-codex.");
    cg_proc_event_dispose(&ev);
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"agent_message\",\"message\":{\"text\":\"obj\"}}}");
    cr_assert_eq(ev.kind, CG_PROC_MESSAGE);
    assert_text("obj");
}

Test(proto_line, reasoning_deltas_and_whole_reasoning)
{
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"agent_reasoning_delta\",\"delta\":\"Think\"}}");
    cr_assert_eq(ev.kind, CG_PROC_REASONING_DELTA);
    assert_text("Think");
    cg_proc_event_dispose(&ev);
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"agent_reasoning\",\"text\":\"**Thinking**\"}}");
    cr_assert_eq(ev.kind, CG_PROC_REASONING);
    assert_text("**Thinking**");
}

Test(proto_line, token_count_takes_info_total_token_usage)
{
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"token_count\",\"info\":{\"total_token_usage\":{"
          "\"input_tokens\":2000,\"cached_input_tokens\":1024,\"output_tokens\":30,"
          "\"reasoning_output_tokens\":8,\"total_tokens\":2030},\"last_token_usage\":{"
          "\"input_tokens\":500,\"cached_input_tokens\":0,\"output_tokens\":3,"
          "\"reasoning_output_tokens\":1,\"total_tokens\":503},\"model_context_window\":"
          "272000}}}");
    cr_assert_eq(ev.kind, CG_PROC_USAGE);
    cr_assert(ev.have_usage);
    cr_assert_eq(ev.usage.input, 2000);
    cr_assert_eq(ev.usage.cached, 1024);
    cr_assert_eq(ev.usage.output, 30);
    cr_assert_eq(ev.usage.reasoning, 8);
}

Test(proto_line, token_count_with_null_info_is_nothing)
{
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"token_count\",\"info\":null,\"rate_limits\":{}}}");
    cr_assert_eq(ev.kind, CG_PROC_NOTHING);
    cr_assert(!ev.have_usage);
}

Test(proto_line, token_count_takes_the_flat_names)
{
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"token_count\",\"input_tokens\":7,"
          "\"cached_input_tokens\":2,\"output_tokens\":5,\"reasoning_output_tokens\":1,"
          "\"total_tokens\":12}}");
    cr_assert_eq(ev.kind, CG_PROC_USAGE);
    cr_assert_eq(ev.usage.input, 7);
    cr_assert_eq(ev.usage.cached, 2);
    cr_assert_eq(ev.usage.output, 5);
    cr_assert_eq(ev.usage.reasoning, 1);
}

Test(proto_line, token_count_takes_prompt_and_completion_in_either_case)
{
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"token_count\",\"prompt_tokens\":8,"
          "\"completion_tokens\":4}}");
    cr_assert_eq(ev.kind, CG_PROC_USAGE);
    cr_assert_eq(ev.usage.input, 8);
    cr_assert_eq(ev.usage.output, 4);
    cr_assert_eq(ev.usage.cached, 0);
    cg_proc_event_dispose(&ev);
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"token_count\",\"promptTokens\":11,"
          "\"completionTokens\":7}}");
    cr_assert_eq(ev.kind, CG_PROC_USAGE);
    cr_assert_eq(ev.usage.input, 11);
    cr_assert_eq(ev.usage.output, 7);
    cg_proc_event_dispose(&ev);
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"token_count\",\"token_count\":{\"prompt_tokens\":3,"
          "\"completion_tokens\":2}}}");
    cr_assert_eq(ev.kind, CG_PROC_USAGE);
    cr_assert_eq(ev.usage.input, 3);
    cr_assert_eq(ev.usage.output, 2);
    cg_proc_event_dispose(&ev);
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"token_count\",\"info\":{\"totalTokenUsage\":{"
          "\"inputTokens\":9,\"cachedInputTokens\":1,\"outputTokens\":4,"
          "\"reasoningOutputTokens\":2}}}}");
    cr_assert_eq(ev.kind, CG_PROC_USAGE);
    cr_assert_eq(ev.usage.input, 9);
    cr_assert_eq(ev.usage.cached, 1);
    cr_assert_eq(ev.usage.output, 4);
    cr_assert_eq(ev.usage.reasoning, 2);
}

Test(proto_line, usage_counts_of_wrong_type_negative_or_huge_are_ignored)
{
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"token_count\",\"info\":{\"total_token_usage\":{"
          "\"input_tokens\":-1,\"cached_input_tokens\":\"2\",\"output_tokens\":3.5,"
          "\"reasoning_output_tokens\":9007199254740993}}}}");
    cr_assert_eq(ev.kind, CG_PROC_NOTHING);
    cr_assert(!ev.have_usage);
    cr_assert_eq(ev.usage.input, 0);
    cr_assert_eq(ev.usage.reasoning, 0);
    cg_proc_event_dispose(&ev);
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"token_count\",\"info\":{\"total_token_usage\":{"
          "\"input_tokens\":-1,\"output_tokens\":4}}}}");
    cr_assert_eq(ev.kind, CG_PROC_USAGE);
    cr_assert_eq(ev.usage.input, 0);
    cr_assert_eq(ev.usage.output, 4);
}

Test(proto_line, task_complete_is_done_with_the_last_message_and_counts)
{
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"task_complete\",\"last_agent_message\":\"Done.\"}}");
    cr_assert_eq(ev.kind, CG_PROC_DONE);
    assert_text("Done.");
    cr_assert(!ev.have_usage);
    cg_proc_event_dispose(&ev);
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"task_complete\",\"last_agent_message\":null,"
          "\"finish_reason\":\"stop\",\"prompt_tokens\":8,\"completion_tokens\":6}}");
    cr_assert_eq(ev.kind, CG_PROC_DONE);
    cr_assert_eq(ev.text.len, 0);
    cr_assert(ev.have_usage);
    cr_assert_eq(ev.usage.input, 8);
    cr_assert_eq(ev.usage.output, 6);
}

Test(proto_line, error_is_failed_and_stream_error_a_retry)
{
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"error\",\"message\":\"unexpected status 401 "
          "Unauthorized\"}}");
    cr_assert_eq(ev.kind, CG_PROC_FAILED);
    cr_assert_eq(ev.error.code, CG_ERR_UPSTREAM_AUTH);
    cr_assert_str_eq(ev.error.message, "unexpected status 401 Unauthorized");
    cg_proc_event_dispose(&ev);
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"error\"}}");
    cr_assert_eq(ev.kind, CG_PROC_FAILED);
    cr_assert_str_eq(ev.error.message, "The Codex turn failed");
    cg_proc_event_dispose(&ev);
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"stream_error\",\"message\":\"stream disconnected "
          "before completion; retrying 1/5 in 200ms\"}}");
    cr_assert_eq(ev.kind, CG_PROC_RETRY);
    assert_text("stream disconnected before completion; retrying 1/5 in 200ms");
}

Test(proto_line, the_type_may_be_the_lines_own_with_the_event_prefix)
{
    parse("{\"type\":\"codex/event/agent_message_delta\",\"delta\":\"flat\"}");
    cr_assert_eq(ev.kind, CG_PROC_TEXT_DELTA);
    assert_text("flat");
    cg_proc_event_dispose(&ev);
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"codex/event/agent_message\",\"message\":\"m\"}}");
    cr_assert_eq(ev.kind, CG_PROC_MESSAGE);
    cg_proc_event_dispose(&ev);
    parse("{\"type\":\"codex/event/\"}");
    cr_assert_eq(ev.kind, CG_PROC_NOTHING);
}

Test(proto_line, a_nested_msg_is_the_payload)
{
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"agent_message_delta\",\"msg\":{\"delta\":\"in\"}}}");
    cr_assert_eq(ev.kind, CG_PROC_TEXT_DELTA);
    assert_text("in");
    cg_proc_event_dispose(&ev);
    parse("{\"id\":\"1\",\"msg\":{\"msg\":{\"type\":\"agent_message\",\"message\":\"deep\"}}}");
    cr_assert_eq(ev.kind, CG_PROC_MESSAGE);
    assert_text("deep");
}

Test(proto_line, what_is_not_a_json_object_is_malformed)
{
    static const char *const lines[] = {"",  "rollout_path: /x", "[]",
                                        "1", "{\"id\":",         "{\"a\":1}{\"b\":2}"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        parse(lines[i]);
        cr_assert_eq(ev.kind, CG_PROC_MALFORMED, "%s", lines[i]);
        cr_assert_null(ev.doc);
        cg_proc_event_dispose(&ev);
    }
}

Test(proto_line, a_nul_inside_a_string_is_kept)
{
    parse("{\"id\":\"1\",\"msg\":{\"type\":\"agent_message_delta\",\"delta\":\"x\\u0000y\"}}");
    cr_assert_eq(ev.kind, CG_PROC_TEXT_DELTA);
    cr_assert_eq(ev.text.len, 3);
    cr_assert(memcmp(ev.text.ptr, "x\0y", 3) == 0);
}

Test(proto_line, the_submission_is_one_escaped_line)
{
    struct cg_buf b;
    cg_buf_init(&b, 4096);
    cr_assert_eq(cg_proto_line_submission("req-1", CG_STR("Say \"hi\"\n\tnow"), &b), 0);
    cr_assert_str_eq(b.data, "{\"id\":\"req-1\",\"op\":{\"type\":\"user_input\",\"items\":[{"
                             "\"type\":\"text\",\"text\":\"Say \\\"hi\\\"\\n\\tnow\"}]}}\n");
    json_error_t jerr;
    json_t *v = json_loadb(b.data, b.len - 1, 0, &jerr);
    cr_assert_not_null(v, "%s", jerr.text);
    json_decref(v);
    cg_buf_dispose(&b);
}

Test(proto_line, the_submission_escapes_nul_and_repairs_bad_utf8)
{
    struct cg_buf b;
    cg_buf_init(&b, 4096);
    struct cg_str prompt = {"a\0b\xff", 4};
    cr_assert_eq(cg_proto_line_submission("1", prompt, &b), 0);
    cr_assert_str_eq(b.data, "{\"id\":\"1\",\"op\":{\"type\":\"user_input\",\"items\":[{"
                             "\"type\":\"text\",\"text\":\"a\\u0000b\xef\xbf\xbd\"}]}}\n");
    cg_buf_dispose(&b);
}

Test(proto_line, a_submission_past_the_cap_fails_and_leaves_the_buffer_as_it_was)
{
    struct cg_buf b;
    cg_buf_init(&b, 64);
    cr_assert_eq(cg_buf_append_str(&b, "kept"), 0);
    cr_assert_eq(cg_proto_line_submission("1", CG_STR("a prompt that will not fit here"), &b), -1);
    cr_assert_eq(b.len, 4);
    cr_assert_str_eq(b.data, "kept");
    cg_buf_dispose(&b);
}
