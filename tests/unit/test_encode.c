/* test_encode.c: every OpenAI shape from a list of normalized events, byte for byte against
 * golden files in tests/unit/data. */
#include <criterion/criterion.h>
#include <string.h>
#include "api/chat_encode.h"
#include "api/completions_encode.h"
#include "encode_run.h"
#include "golden.h"

#define TEXT(c, s) ((struct cg_event){.type = CG_EVENT_TEXT, .choice = (c), .text = {s, sizeof(s) - 1}})
#define REASON(c, s)                                                                               \
    ((struct cg_event){.type = CG_EVENT_REASONING, .choice = (c), .text = {s, sizeof(s) - 1}})
#define FINISH(c, f) ((struct cg_event){.type = CG_EVENT_FINISH, .choice = (c), .finish = (f)})
#define USAGE(c, i, ca, o, r)                                                                      \
    ((struct cg_event){.type = CG_EVENT_USAGE, .choice = (c), .usage = {(i), (ca), (o), (r)}})
#define TOOL(c, k, id, fn)                                                                         \
    ((struct cg_event){.type = CG_EVENT_TOOL_CALL_START,                                           \
                       .choice = (c),                                                              \
                       .tool_index = (k),                                                          \
                       .call_id = (id),                                                            \
                       .name = (fn)})
#define ARGS(c, k, s)                                                                              \
    ((struct cg_event){.type = CG_EVENT_TOOL_CALL_ARGS, .choice = (c), .tool_index = (k),          \
                       .text = {s, sizeof(s) - 1}})

static struct cg_chat_opts plain_opts = {.parallel_tool_calls = true};

static void chat_case(const char *golden, bool stream, bool include_usage, bool reasoning,
                      unsigned n, const struct cg_chat_opts *opts, const struct cg_event *evs,
                      size_t count)
{
    struct cg_chat_encode_params p = {.id = "chatcmpl-TEST",
                                      .created = 1700000000,
                                      .model = "codex-5",
                                      .n = n,
                                      .stream = stream,
                                      .include_usage = include_usage,
                                      .expose_reasoning = reasoning,
                                      .opts = opts};
    size_t len;
    char *bytes =
        run_encoder(&cg_chat_encoder_ops, cg_chat_encoder_new(&p), stream, evs, count, &len);
    check_golden(golden, bytes, len);
    free(bytes);
}

static const struct cg_event text_events[] = {
    TEXT(0, "Hello"), TEXT(0, " \"world\"\n"), USAGE(0, 21, 5, 9, 2), FINISH(0, CG_FINISH_STOP)};

Test(chat_encoder, text_body)
{
    chat_case("chat_text.json", false, false, false, 1, &plain_opts, text_events, 4);
}

Test(chat_encoder, text_stream_without_usage_chunk)
{
    chat_case("chat_text.sse", true, false, false, 1, &plain_opts, text_events, 4);
}

Test(chat_encoder, usage_chunk_only_when_requested)
{
    chat_case("chat_text_usage.sse", true, true, false, 1, &plain_opts, text_events, 4);
}

static const struct cg_event tool_events[] = {
    TEXT(0, "Checking."),
    TOOL(0, 0, "call_a", "get_weather"),
    ARGS(0, 0, "{\"city\":\"Paris\"}"),
    TOOL(0, 1, "call_b", "get_time"),
    ARGS(0, 1, "{}"),
    USAGE(0, 40, 0, 18, 0),
    FINISH(0, CG_FINISH_TOOL_CALLS),
};

Test(chat_encoder, tool_calls_body)
{
    chat_case("chat_tools.json", false, false, false, 1, &plain_opts, tool_events, 7);
}

Test(chat_encoder, tool_call_deltas_carry_index_and_id_first)
{
    chat_case("chat_tools.sse", true, false, false, 1, &plain_opts, tool_events, 7);
}

Test(chat_encoder, parallel_off_keeps_the_first_call)
{
    struct cg_chat_opts single = {.parallel_tool_calls = false};
    chat_case("chat_tools_single.json", false, false, false, 1, &single, tool_events, 7);
}

Test(chat_encoder, legacy_functions_answer_with_function_call)
{
    struct cg_chat_opts legacy = {.parallel_tool_calls = false, .legacy_functions = true};
    chat_case("chat_function_call.json", false, false, false, 1, &legacy, tool_events, 7);
    chat_case("chat_function_call.sse", true, false, false, 1, &legacy, tool_events, 7);
}

Test(chat_encoder, n_choices_merge_by_index_and_sum_usage)
{
    static const struct cg_event evs[] = {
        TEXT(1, "B1"), TEXT(0, "A1"), TEXT(2, "C1"), USAGE(1, 10, 1, 2, 0),
        FINISH(1, CG_FINISH_STOP), TEXT(0, "A2"), USAGE(0, 10, 1, 3, 0), FINISH(0, CG_FINISH_STOP),
        USAGE(2, 10, 1, 4, 1), FINISH(2, CG_FINISH_LENGTH)};
    chat_case("chat_n3.json", false, false, false, 3, &plain_opts, evs, 10);
    chat_case("chat_n3.sse", true, true, false, 3, &plain_opts, evs, 10);
}

Test(chat_encoder, reasoning_only_when_exposed)
{
    static const struct cg_event evs[] = {REASON(0, "think"), REASON(0, "ing"), TEXT(0, "Answer"),
                                          FINISH(0, CG_FINISH_STOP)};
    chat_case("chat_reasoning_hidden.sse", true, false, false, 1, &plain_opts, evs, 4);
    chat_case("chat_reasoning.sse", true, false, true, 1, &plain_opts, evs, 4);
    chat_case("chat_reasoning.json", false, false, true, 1, &plain_opts, evs, 4);
}

Test(chat_encoder, stop_sequences_cut_across_deltas)
{
    struct cg_chat_opts stop = {.parallel_tool_calls = true, .stop_count = 1};
    memcpy(stop.stop[0], "END", 4);
    static const struct cg_event evs[] = {TEXT(0, "one E"), TEXT(0, "N"), TEXT(0, "D two"),
                                          TEXT(0, " three"), FINISH(0, CG_FINISH_STOP)};
    chat_case("chat_stop.sse", true, false, false, 1, &stop, evs, 5);
    chat_case("chat_stop.json", false, false, false, 1, &stop, evs, 5);
}

Test(chat_encoder, escapes_control_characters_and_keeps_utf8)
{
    static const struct cg_event evs[] = {TEXT(0, "tab\there \xe2\x9c\x93 nul?\x01"),
                                          FINISH(0, CG_FINISH_STOP)};
    chat_case("chat_escape.sse", true, false, false, 1, &plain_opts, evs, 2);
}

static void completions_case(const char *golden, bool stream, bool include_usage,
                             const struct cg_chat_opts *opts)
{
    struct cg_completions_encode_params p = {.id = "cmpl-TEST",
                                             .created = 1700000000,
                                             .model = "codex-5",
                                             .n = 1,
                                             .stream = stream,
                                             .include_usage = include_usage,
                                             .opts = opts};
    size_t len;
    char *bytes = run_encoder(&cg_completions_encoder_ops, cg_completions_encoder_new(&p), stream,
                              text_events, 4, &len);
    check_golden(golden, bytes, len);
    free(bytes);
}

Test(completions_encoder, text_completion_shapes)
{
    completions_case("completion.json", false, false, &plain_opts);
    completions_case("completion.sse", true, true, &plain_opts);
    struct cg_chat_opts echo = {.echo = true, .prompt = "Say: "};
    completions_case("completion_echo.json", false, false, &echo);
}

/* Once a stream has begun an error can only travel in-band, in the encoder's own dialect. */
static void stream_error_case(const char *golden, const struct cg_encoder_ops *ops, void *enc)
{
    struct cg_buf out;
    cg_buf_init(&out, 1 << 20);
    cr_assert_eq(ops->stream_begin(enc, &out), 0);
    struct cg_event ev = TEXT(0, "partial ");
    cr_assert_eq(ops->event(enc, &ev, &out), 0);
    struct cg_error err;
    cg_error_set(&err, CG_ERR_UPSTREAM_RATE_LIMIT, NULL, "exceeded retry limit, last status: 429");
    cr_assert_eq(ops->stream_error(enc, &err, &out), 0);
    ops->free(enc);
    size_t len;
    char *bytes = cg_buf_take(&out, &len);
    check_golden(golden, bytes, len);
    free(bytes);
}

Test(chat_encoder, stream_error_frame_then_done)
{
    struct cg_chat_encode_params p = {.id = "chatcmpl-TEST", .created = 1700000000,
                                      .model = "codex-5", .n = 1, .stream = true,
                                      .opts = &plain_opts};
    stream_error_case("chat_stream_error.sse", &cg_chat_encoder_ops, cg_chat_encoder_new(&p));
}

Test(completions_encoder, stream_error_frame_then_done)
{
    struct cg_completions_encode_params p = {.id = "cmpl-TEST", .created = 1700000000,
                                             .model = "codex-5", .n = 1, .stream = true,
                                             .opts = &plain_opts};
    stream_error_case("completion_stream_error.sse", &cg_completions_encoder_ops,
                      cg_completions_encoder_new(&p));
}

/* The runner cancels a choice's turn once its encoder says a stop sequence ended it. */
static void reports_stop(const struct cg_encoder_ops *ops, void *enc)
{
    struct cg_buf out;
    cg_buf_init(&out, 1 << 20);
    const struct cg_event evs[] = {TEXT(0, "one E"), TEXT(1, "one END"), TEXT(0, "N"),
                                   TEXT(0, "D two")};
    bool want[][2] = {{false, false}, {false, true}, {false, true}, {true, true}};
    for (size_t i = 0; i < CG_ARRAY_SIZE(evs); i++) {
        cr_assert_eq(ops->event(enc, &evs[i], &out), 0);
        cr_assert_eq(ops->stopped(enc, 0), want[i][0], "choice 0 after event %zu", i);
        cr_assert_eq(ops->stopped(enc, 1), want[i][1], "choice 1 after event %zu", i);
    }
    cr_assert_not(ops->stopped(enc, 7), "no such choice");
    ops->free(enc);
    cg_buf_dispose(&out);
}

Test(chat_encoder, reports_a_choice_ended_by_a_stop_sequence)
{
    struct cg_chat_opts stop = {.parallel_tool_calls = true, .stop_count = 1};
    memcpy(stop.stop[0], "END", 4);
    for (int stream = 0; stream < 2; stream++) {
        struct cg_chat_encode_params p = {.id = "chatcmpl-TEST", .model = "codex-5", .n = 2,
                                          .stream = stream, .opts = &stop};
        reports_stop(&cg_chat_encoder_ops, cg_chat_encoder_new(&p));
        struct cg_completions_encode_params q = {.id = "cmpl-TEST", .model = "codex-5", .n = 2,
                                                 .stream = stream, .opts = &stop};
        reports_stop(&cg_completions_encoder_ops, cg_completions_encoder_new(&q));
    }
}
