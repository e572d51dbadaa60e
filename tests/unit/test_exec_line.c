/* test_exec_line.c: `codex exec --json` lines → proc events (research/transcripts/exec-text.jsonl,
 * codex-runtime.md §5). */
#include <criterion/criterion.h>
#include <string.h>
#include "backend/exec_line.h"

static struct cg_proc_event ev;

static void teardown(void)
{
    cg_proc_event_dispose(&ev);
}

TestSuite(exec_line, .fini = teardown);

static void parse(const char *line)
{
    cg_exec_line_parse(line, strlen(line), &ev);
}

static void assert_text(const char *want)
{
    cr_assert_eq(ev.text.len, strlen(want), "got %.*s", (int)ev.text.len, ev.text.ptr);
    cr_assert(memcmp(ev.text.ptr, want, ev.text.len) == 0, "got %.*s", (int)ev.text.len,
              ev.text.ptr);
}

Test(exec_line, thread_and_turn_started_change_nothing)
{
    parse("{\"type\":\"thread.started\",\"thread_id\":\"01a214a3-825f-7d50-a10d-b82f0fb2bf3f\"}");
    cr_assert_eq(ev.kind, CG_PROC_NOTHING);
    cg_proc_event_dispose(&ev);
    parse("{\"type\":\"turn.started\"}");
    cr_assert_eq(ev.kind, CG_PROC_NOTHING);
}

Test(exec_line, an_agent_message_item_is_a_whole_message_with_its_id)
{
    parse("{\"type\":\"item.completed\",\"item\":{\"id\":\"item_1\",\"type\":\"agent_message\","
          "\"text\":\"Hello from mock.\"}}");
    cr_assert_eq(ev.kind, CG_PROC_MESSAGE);
    assert_text("Hello from mock.");
    cr_assert_str_eq(ev.item_id, "item_1");
    cr_assert(!ev.have_usage);
}

Test(exec_line, an_agent_message_whose_text_is_no_string_is_nothing)
{
    static const char *const lines[] = {
        "{\"type\":\"item.completed\",\"item\":{\"id\":\"i\",\"type\":\"agent_message\"}}",
        "{\"type\":\"item.completed\",\"item\":{\"id\":\"i\",\"type\":\"agent_message\","
        "\"text\":42}}",
        "{\"type\":\"item.completed\",\"item\":{\"id\":\"i\",\"type\":\"agent_message\","
        "\"text\":null}}",
        "{\"type\":\"item.completed\",\"item\":{\"id\":\"i\",\"type\":\"agent_message\","
        "\"text\":[\"a\"]}}",
        "{\"type\":\"item.completed\",\"item\":\"agent_message\"}",
        "{\"type\":\"item.completed\"}",
        "{\"type\":\"item.completed\",\"item\":{\"type\":7,\"text\":\"x\"}}",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        parse(lines[i]);
        cr_assert_eq(ev.kind, CG_PROC_NOTHING, "%s", lines[i]);
        cr_assert_null(ev.item_id);
        cg_proc_event_dispose(&ev);
    }
}

Test(exec_line, an_item_without_an_id_has_a_null_item_id)
{
    parse("{\"type\":\"item.completed\",\"item\":{\"id\":5,\"type\":\"agent_message\","
          "\"text\":\"x\"}}");
    cr_assert_eq(ev.kind, CG_PROC_MESSAGE);
    cr_assert_null(ev.item_id);
}

Test(exec_line, a_reasoning_item_is_a_whole_reasoning_summary)
{
    parse("{\"type\":\"item.completed\",\"item\":{\"id\":\"item_1\",\"type\":\"reasoning\","
          "\"text\":\"Thinking about it.\"}}");
    cr_assert_eq(ev.kind, CG_PROC_REASONING);
    assert_text("Thinking about it.");
}

Test(exec_line, an_error_item_is_a_warning)
{
    parse("{\"type\":\"item.completed\",\"item\":{\"id\":\"item_0\",\"type\":\"error\","
          "\"message\":\"Model metadata for `mock-model` not found. Defaulting to fallback "
          "metadata; this can degrade performance and cause issues.\"}}");
    cr_assert_eq(ev.kind, CG_PROC_WARNING);
    assert_text("Model metadata for `mock-model` not found. Defaulting to fallback metadata; "
                "this can degrade performance and cause issues.");
}

Test(exec_line, command_items_and_started_or_updated_items_change_nothing)
{
    static const char *const lines[] = {
        "{\"type\":\"item.started\",\"item\":{\"id\":\"item_1\",\"type\":\"command_execution\","
        "\"command\":\"/bin/bash -lc 'echo mock-tool-ran'\",\"aggregated_output\":\"\","
        "\"exit_code\":null,\"status\":\"in_progress\"}}",
        "{\"type\":\"item.completed\",\"item\":{\"id\":\"item_1\",\"type\":\"command_execution\","
        "\"command\":\"/bin/bash -lc 'echo mock-tool-ran'\",\"aggregated_output\":"
        "\"mock-tool-ran\\n\",\"exit_code\":0,\"status\":\"completed\"}}",
        "{\"type\":\"item.started\",\"item\":{\"id\":\"item_2\",\"type\":\"agent_message\","
        "\"text\":\"partial\"}}",
        "{\"type\":\"item.updated\",\"item\":{\"id\":\"item_2\",\"type\":\"agent_message\","
        "\"text\":\"partial\"}}",
        "{\"type\":\"some.future.event\",\"x\":1}",
        "{\"no_type\":true}",
        "{\"type\":null}",
        "{}",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        parse(lines[i]);
        cr_assert_eq(ev.kind, CG_PROC_NOTHING, "%s", lines[i]);
        cg_proc_event_dispose(&ev);
    }
}

Test(exec_line, turn_completed_is_done_with_its_usage)
{
    parse(
        "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":11073,\"cached_input_tokens\":"
        "256,\"cache_write_input_tokens\":0,\"output_tokens\":10,\"reasoning_output_tokens\":2}}");
    cr_assert_eq(ev.kind, CG_PROC_DONE);
    cr_assert(ev.have_usage);
    cr_assert_eq(ev.usage.input, 11073);
    cr_assert_eq(ev.usage.cached, 256);
    cr_assert_eq(ev.usage.output, 10);
    cr_assert_eq(ev.usage.reasoning, 2);
}

Test(exec_line, turn_completed_without_usage_is_done_without_usage)
{
    parse("{\"type\":\"turn.completed\"}");
    cr_assert_eq(ev.kind, CG_PROC_DONE);
    cr_assert(!ev.have_usage);
    cg_proc_event_dispose(&ev);
    parse("{\"type\":\"turn.completed\",\"usage\":\"lots\"}");
    cr_assert_eq(ev.kind, CG_PROC_DONE);
    cr_assert(!ev.have_usage);
}

Test(exec_line, usage_counts_of_wrong_type_negative_or_huge_are_ignored)
{
    parse("{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":-5,\"cached_input_tokens\":"
          "1.5,\"output_tokens\":1e30,\"reasoning_output_tokens\":\"3\"}}");
    cr_assert_eq(ev.kind, CG_PROC_DONE);
    cr_assert(!ev.have_usage);
    cr_assert_eq(ev.usage.input, 0);
    cr_assert_eq(ev.usage.cached, 0);
    cr_assert_eq(ev.usage.output, 0);
    cr_assert_eq(ev.usage.reasoning, 0);
    cg_proc_event_dispose(&ev);
    parse("{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":9007199254740993,"
          "\"output_tokens\":9007199254740992}}");
    cr_assert(ev.have_usage);
    cr_assert_eq(ev.usage.input, 0);
    cr_assert_eq(ev.usage.output, 9007199254740992LL);
}

Test(exec_line, a_top_level_error_is_a_warning)
{
    parse("{\"type\":\"error\",\"message\":\"Reconnecting... 2/5 (stream disconnected before "
          "completion)\"}");
    cr_assert_eq(ev.kind, CG_PROC_WARNING);
    assert_text("Reconnecting... 2/5 (stream disconnected before completion)");
    cg_proc_event_dispose(&ev);
    parse("{\"type\":\"error\",\"message\":{\"not\":\"text\"}}");
    cr_assert_eq(ev.kind, CG_PROC_NOTHING);
}

Test(exec_line, turn_failed_is_failed_with_the_mapped_error)
{
    parse("{\"type\":\"turn.failed\",\"error\":{\"message\":\"unexpected status 500 Internal "
          "Server Error\"}}");
    cr_assert_eq(ev.kind, CG_PROC_FAILED);
    cr_assert_eq(ev.error.code, CG_ERR_BACKEND_ERROR);
    cr_assert_str_eq(ev.error.message, "unexpected status 500 Internal Server Error");
    cg_proc_event_dispose(&ev);
    parse("{\"type\":\"turn.failed\",\"error\":{\"message\":\"too long\",\"codexErrorInfo\":"
          "\"contextWindowExceeded\"}}");
    cr_assert_eq(ev.kind, CG_PROC_FAILED);
    cr_assert_eq(ev.error.code, CG_ERR_CONTEXT_LENGTH);
}

Test(exec_line, turn_failed_without_an_error_object_still_fails)
{
    parse("{\"type\":\"turn.failed\"}");
    cr_assert_eq(ev.kind, CG_PROC_FAILED);
    cr_assert_eq(ev.error.code, CG_ERR_BACKEND_ERROR);
    cr_assert_str_eq(ev.error.message, "The Codex turn failed");
    cg_proc_event_dispose(&ev);
    parse("{\"type\":\"turn.failed\",\"error\":[1,2]}");
    cr_assert_eq(ev.kind, CG_PROC_FAILED);
    cr_assert_eq(ev.error.code, CG_ERR_BACKEND_ERROR);
}

Test(exec_line, what_is_not_a_json_object_is_malformed)
{
    static const char *const lines[] = {
        "",
        "   ",
        "not json",
        "[1,2]",
        "\"string\"",
        "42",
        "null",
        "{\"type\":\"turn.started\"",
        "{\"type\":\"turn.started\"} trailing",
        "Reading additional input from stdin...",
        /* jansson refuses integers past int64 */
        "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":99999999999999999999999}}",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        parse(lines[i]);
        cr_assert_eq(ev.kind, CG_PROC_MALFORMED, "%s", lines[i]);
        cr_assert_null(ev.doc);
        cg_proc_event_dispose(&ev);
    }
}

Test(exec_line, the_line_is_read_only_up_to_its_length)
{
    const char line[] = "{\"type\":\"turn.completed\"}GARBAGE";
    cg_exec_line_parse(line, strlen("{\"type\":\"turn.completed\"}"), &ev);
    cr_assert_eq(ev.kind, CG_PROC_DONE);
}

Test(exec_line, a_nul_inside_a_string_is_kept)
{
    parse("{\"type\":\"item.completed\",\"item\":{\"id\":\"item_1\",\"type\":\"agent_message\","
          "\"text\":\"a\\u0000b\"}}");
    cr_assert_eq(ev.kind, CG_PROC_MESSAGE);
    cr_assert_eq(ev.text.len, 3);
    cr_assert(memcmp(ev.text.ptr, "a\0b", 3) == 0);
}

Test(exec_line, duplicate_keys_are_accepted_and_the_last_wins)
{
    parse("{\"type\":\"turn.started\",\"type\":\"item.completed\",\"item\":{\"id\":\"i\","
          "\"type\":\"agent_message\",\"text\":\"one\",\"text\":\"two\"}}");
    cr_assert_eq(ev.kind, CG_PROC_MESSAGE);
    assert_text("two");
}

Test(exec_line, every_line_of_the_captured_transcript_parses)
{
    static const enum cg_proc_event_kind want[] = {CG_PROC_NOTHING, CG_PROC_WARNING,
                                                   CG_PROC_NOTHING, CG_PROC_MESSAGE, CG_PROC_DONE};
    static const char *const lines[] = {
        "{\"type\":\"thread.started\",\"thread_id\":\"01a214a3-825f-7d50-a10d-b82f0fb2bf3f\"}",
        "{\"type\":\"item.completed\",\"item\":{\"id\":\"item_0\",\"type\":\"error\",\"message\":"
        "\"Model metadata for `mock-model` not found.\"}}",
        "{\"type\":\"turn.started\"}",
        "{\"type\":\"item.completed\",\"item\":{\"id\":\"item_1\",\"type\":\"agent_message\","
        "\"text\":\"Hello from mock.\"}}",
        "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":11073,\"cached_input_tokens\":"
        "256,\"cache_write_input_tokens\":0,\"output_tokens\":10,\"reasoning_output_tokens\":2}}",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        parse(lines[i]);
        cr_assert_eq(ev.kind, want[i], "%s", lines[i]);
        cg_proc_event_dispose(&ev);
    }
}
