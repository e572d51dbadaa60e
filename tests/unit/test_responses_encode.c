/* test_responses_encode.c: the Responses API body and event stream from normalized events, byte
 * for byte against golden files in tests/unit/data, plus the stream's framing invariants. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>
#include "api/responses_encode.h"
#include "util/json.h"
#include "encode_run.h"
#include "golden.h"

#define TEXT(s)   ((struct cg_event){.type = CG_EVENT_TEXT, .text = {s, sizeof(s) - 1}})
#define REASON(s) ((struct cg_event){.type = CG_EVENT_REASONING, .text = {s, sizeof(s) - 1}})
#define FINISH(f) ((struct cg_event){.type = CG_EVENT_FINISH, .finish = (f)})
#define USAGE(i, ca, o, r)                                                                         \
    ((struct cg_event){.type = CG_EVENT_USAGE, .usage = {(i), (ca), (o), (r)}})
#define TOOL(k, id, fn)                                                                            \
    ((struct cg_event){                                                                            \
        .type = CG_EVENT_TOOL_CALL_START, .tool_index = (k), .call_id = (id), .name = (fn)})
#define ARGS(k, s)                                                                                 \
    ((struct cg_event){                                                                            \
        .type = CG_EVENT_TOOL_CALL_ARGS, .tool_index = (k), .text = {s, sizeof(s) - 1}})

static int64_t fixed_now(void)
{
    return 1700000042;
}

static void *new_encoder(bool stream, const json_t *echo, bool encrypted)
{
    struct cg_responses_encode_params p = {.id = "resp_TEST",
                                           .created_at = 1700000000,
                                           .model = "codex-5",
                                           .stream = stream,
                                           .echo = echo,
                                           .include_encrypted_reasoning = encrypted,
                                           .now_s = fixed_now};
    return cg_responses_encoder_new(&p);
}

static char *run(void *enc, bool stream, const struct cg_event *evs, size_t n, size_t *len)
{
    return run_encoder(&cg_responses_encoder_ops, enc, stream, evs, n, len);
}

/* The whole body for `evs`, parsed. */
static json_t *body_of(const struct cg_event *evs, size_t n, bool encrypted)
{
    size_t len;
    char *bytes = run(new_encoder(false, NULL, encrypted), false, evs, n, &len);
    json_t *r = json_loadb(bytes, len, 0, NULL);
    free(bytes);
    cr_assert_not_null(r);
    return r;
}

/* Every frame is `event: <type>\ndata: <json>\n\n`, the data's type is the event's name and
 * sequence_number counts 0, 1, 2, ...; returns the number of frames. */
static size_t check_frames(const char *s, size_t len)
{
    size_t frames = 0;
    const char *end = s + len;
    while (s < end) {
        cr_assert(strncmp(s, "event: ", 7) == 0, "frame %zu does not start with event:", frames);
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        cr_assert_not_null(nl);
        char type[128];
        size_t tlen = (size_t)(nl - s - 7);
        cr_assert_lt(tlen, sizeof(type));
        memcpy(type, s + 7, tlen);
        type[tlen] = '\0';
        s = nl + 1;
        cr_assert(strncmp(s, "data: ", 6) == 0, "frame %zu has no data line", frames);
        s += 6;
        nl = memchr(s, '\n', (size_t)(end - s));
        cr_assert_not_null(nl);
        json_error_t jerr;
        json_t *data = json_loadb(s, (size_t)(nl - s), 0, &jerr);
        cr_assert_not_null(data, "frame %zu data is not JSON: %s", frames, jerr.text);
        cr_assert_str_eq(json_string_value(json_object_get(data, "type")), type);
        json_t *seq = json_object_get(data, "sequence_number");
        cr_assert(json_is_integer(seq), "frame %zu has no sequence_number", frames);
        cr_assert_eq(json_integer_value(seq), (json_int_t)frames);
        json_decref(data);
        cr_assert(nl + 1 < end && nl[1] == '\n', "frame %zu is not ended by a blank line", frames);
        s = nl + 2;
        frames++;
    }
    return frames;
}

static void resp_case(const char *golden, bool stream, const json_t *echo,
                      const struct cg_event *evs, size_t count)
{
    size_t len;
    char *bytes = run(new_encoder(stream, echo, false), stream, evs, count, &len);
    if (stream)
        check_frames(bytes, len);
    else
        json_decref(json_loadb(bytes, len, 0, NULL)); /* the golden compare checks the bytes */
    check_golden(golden, bytes, len);
    free(bytes);
}

static const struct cg_event text_events[] = {TEXT("Hello"), TEXT(" \"world\"\n"),
                                              USAGE(21, 5, 9, 2), FINISH(CG_FINISH_STOP)};

Test(responses_encoder, text_body)
{
    resp_case("responses_text.json", false, NULL, text_events, 4);
}

Test(responses_encoder, text_stream)
{
    resp_case("responses_text.sse", true, NULL, text_events, 4);
}

Test(responses_encoder, echoes_request_fields_in_openai_order)
{
    json_t *echo = json_pack("{s:s,s:[{s:s,s:s}],s:s,s:b,s:{s:{s:s}},s:{s:s},s:b,s:{s:s},"
                             "s:s,s:i,s:s,s:s}",
                             "instructions", "Be brief.", "tools", "type", "function", "name",
                             "get_weather", "tool_choice", "required", "parallel_tool_calls", 0,
                             "text", "format", "type", "json_object", "reasoning", "effort", "high",
                             "store", 0, "metadata", "k", "v", "previous_response_id", "resp_PREV",
                             "max_output_tokens", 256, "user", "u-1", "service_tier", "auto");
    resp_case("responses_echo.json", false, echo, text_events, 4);
    json_decref(echo);
}

/* The echo is written by hand for the usual shapes and by jansson past them: either way each
 * value reads as cg_json_dump writes it. */
Test(responses_encoder, echo_writes_values_as_jansson_does)
{
    json_t *echo = json_pack(
        "{s:f,s:f,s:I,s:{s:s,s:I,s:f,s:{s:{s:{s:[i,f]}}}},s:[{s:s,s:s,s:{s:s,s:{s:{s:s,s:f}}}}],"
        "s:{s:{s:s,s:b},s:s},s:{s:s}}",
        "temperature", 0.7, "top_p", 1.0, "max_output_tokens", (json_int_t)-1, "metadata", "k\"e/y",
        "v\u00e9 \\ \"", "n", (json_int_t)-3, "r", 0.25, "deep", "x", "y", "z", 1, 2.5, "tools",
        "type", "function", "name", "f", "parameters", "type", "object", "properties", "a", "type",
        "number", "minimum", -1.5, "text", "format", "type", "json_object", "strict", 1,
        "verbosity", "low", "reasoning", "summary", "auto");
    size_t len;
    char *bytes = run(new_encoder(false, echo, false), false, text_events, 4, &len);
    char *body = strndup(bytes, len);
    static const char *const keys[] = {"temperature", "top_p", "max_output_tokens",
                                       "metadata",    "tools", "text"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        struct cg_buf want;
        cg_buf_init(&want, 65536);
        cr_assert_eq(cg_buf_appendf(&want, "\"%s\":", keys[i]), 0);
        cr_assert_eq(cg_json_dump(&want, json_object_get(echo, keys[i])), 0);
        cr_assert_eq(cg_buf_append_char(&want, '\0'), 0);
        cr_assert_not_null(strstr(body, want.data), "%s is not echoed as %s in %s", keys[i],
                           want.data, body);
        cg_buf_dispose(&want);
    }
    cr_assert_not_null(strstr(body, "\"reasoning\":{\"summary\":\"auto\",\"effort\":null}"));
    free(body);
    free(bytes);
    json_decref(echo);
}

static const struct cg_event one_call_events[] = {
    TOOL(0, "call_a", "get_weather"),
    ARGS(0, "{\"city\":"),
    ARGS(0, "\"Paris\"}"),
    USAGE(40, 0, 18, 0),
    FINISH(CG_FINISH_TOOL_CALLS),
};

Test(responses_encoder, function_call)
{
    resp_case("responses_call.json", false, NULL, one_call_events, 5);
    resp_case("responses_call.sse", true, NULL, one_call_events, 5);
}

static const struct cg_event parallel_events[] = {
    TEXT("Checking."),
    TOOL(0, "call_a", "get_weather"),
    ARGS(0, "{\"city\":\"Paris\"}"),
    TOOL(1, "call_b", "get_time"),
    ARGS(1, "{}"),
    USAGE(40, 0, 18, 0),
    FINISH(CG_FINISH_TOOL_CALLS),
};

Test(responses_encoder, parallel_function_calls_are_items_of_their_own)
{
    resp_case("responses_parallel.json", false, NULL, parallel_events, 7);
    resp_case("responses_parallel.sse", true, NULL, parallel_events, 7);
}

static const struct cg_event reasoning_events[] = {REASON("think"), REASON("ing"), TEXT("Answer"),
                                                   USAGE(30, 0, 12, 8), FINISH(CG_FINISH_STOP)};

Test(responses_encoder, reasoning_then_text)
{
    resp_case("responses_reasoning.json", false, NULL, reasoning_events, 5);
    resp_case("responses_reasoning.sse", true, NULL, reasoning_events, 5);
}

Test(responses_encoder, reasoning_carries_encrypted_content_when_included)
{
    json_t *r = body_of(reasoning_events, 5, true);
    json_t *rs = json_array_get(json_object_get(r, "output"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(rs, "type")), "reasoning");
    cr_assert(json_is_null(json_object_get(rs, "encrypted_content")));
    json_t *msg = json_array_get(json_object_get(r, "output"), 1);
    cr_assert_null(json_object_get(msg, "encrypted_content"));
    json_decref(r);
}

Test(responses_encoder, reasoning_end_brings_encrypted_content_and_closes_the_item)
{
    const struct cg_event evs[] = {
        REASON("think"),
        {.type = CG_EVENT_REASONING_END, .text = {"gAAAA1", 6}},
        {.type = CG_EVENT_REASONING_END, .text = {"gAAAA2", 6}},
        TEXT("Answer"),
        FINISH(CG_FINISH_STOP),
    };
    json_t *r = body_of(evs, 5, true);
    json_t *out = json_object_get(r, "output");
    cr_assert_eq(json_array_size(out), 3);
    json_t *first = json_array_get(out, 0);
    cr_assert_str_eq(json_string_value(json_object_get(first, "encrypted_content")), "gAAAA1");
    cr_assert_eq(json_array_size(json_object_get(first, "summary")), 1);
    /* reasoning without a summary is an item of its own, with an empty summary */
    json_t *second = json_array_get(out, 1);
    cr_assert_str_eq(json_string_value(json_object_get(second, "type")), "reasoning");
    cr_assert_str_eq(json_string_value(json_object_get(second, "encrypted_content")), "gAAAA2");
    cr_assert_eq(json_array_size(json_object_get(second, "summary")), 0);
    json_decref(r);
    /* the stream opens and closes the summary-less item without any summary part */
    size_t len;
    char *bytes = run(new_encoder(true, NULL, true), true, evs, 5, &len);
    check_frames(bytes, len);
    cr_assert_eq(strstr(bytes, "\"summary_index\":0,\"part\":{\"type\":\"summary_text\","
                               "\"text\":\"\"}") != NULL,
                 true);
    size_t parts = 0;
    for (const char *p = bytes; (p = strstr(p, "reasoning_summary_part.added")) != NULL; p++)
        parts++;
    cr_assert_eq(parts, 2, "one event: line and one type member for the first item only");
    free(bytes);
    /* without include, no encrypted_content member at all */
    r = body_of(evs, 5, false);
    cr_assert_null(
        json_object_get(json_array_get(json_object_get(r, "output"), 0), "encrypted_content"));
    json_decref(r);
}

static const struct cg_event namespace_events[] = {
    {.type = CG_EVENT_TOOL_CALL_START,
     .tool_index = 0,
     .call_id = "call_ns",
     .name = "spawn_agent",
     .ns = "multi_agent_v1"},
    ARGS(0, "{\"task\":\"x\"}"),
    FINISH(CG_FINISH_TOOL_CALLS),
};

Test(responses_encoder, namespace_call_names_its_namespace)
{
    resp_case("responses_namespace.json", false, NULL, namespace_events, 3);
    resp_case("responses_namespace.sse", true, NULL, namespace_events, 3);
}

Test(responses_encoder, single_call_keeps_only_the_first_call)
{
    struct cg_responses_encode_params p = {
        .id = "resp_TEST", .created_at = 1, .model = "codex-5", .single_call = true};
    size_t len;
    char *bytes = run(cg_responses_encoder_new(&p), false, parallel_events, 7, &len);
    json_t *r = json_loadb(bytes, len, 0, NULL);
    free(bytes);
    json_t *out = json_object_get(r, "output");
    cr_assert_eq(json_array_size(out), 2, "the text and the first call");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(out, 1), "call_id")),
                     "call_a");
    json_decref(r);
}

static const struct cg_event length_events[] = {TEXT("one two"), USAGE(10, 0, 2, 0),
                                                FINISH(CG_FINISH_LENGTH)};

Test(responses_encoder, length_finish_is_incomplete)
{
    resp_case("responses_incomplete.json", false, NULL, length_events, 3);
    resp_case("responses_incomplete.sse", true, NULL, length_events, 3);
}

Test(responses_encoder, content_filter_finish_is_incomplete)
{
    const struct cg_event evs[] = {TEXT("x"), FINISH(CG_FINISH_CONTENT_FILTER)};
    json_t *r = body_of(evs, 2, false);
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "incomplete");
    json_t *d = json_object_get(r, "incomplete_details");
    cr_assert_str_eq(json_string_value(json_object_get(d, "reason")), "content_filter");
    cr_assert(json_is_null(json_object_get(r, "usage")), "no usage event, no usage");
    json_decref(r);
}

/* What came before the failure and was complete stays in the failed response's output. */
Test(responses_encoder, failed_mid_stream)
{
    const struct cg_encoder_ops *ops = &cg_responses_encoder_ops;
    void *enc = new_encoder(true, NULL, false);
    struct cg_buf out;
    cg_buf_init(&out, 1 << 20);
    cr_assert_eq(ops->stream_begin(enc, &out), 0);
    const struct cg_event evs[] = {REASON("plan"), TEXT("partial ")};
    for (size_t i = 0; i < CG_ARRAY_SIZE(evs); i++)
        cr_assert_eq(ops->event(enc, &evs[i], &out), 0);
    struct cg_error err;
    cg_error_set(&err, CG_ERR_UPSTREAM_RATE_LIMIT, NULL, "exceeded retry limit, last status: 429");
    cr_assert_eq(ops->stream_error(enc, &err, &out), 0);
    ops->free(enc);
    size_t len;
    char *bytes = cg_buf_take(&out, &len);
    check_frames(bytes, len);
    cr_assert_null(strstr(bytes, "[DONE]"));
    check_golden("responses_failed.sse", bytes, len);
    free(bytes);
}

Test(responses_encoder, stream_is_numbered_frames_of_json)
{
    size_t len;
    char *bytes = run(new_encoder(true, NULL, false), true, parallel_events, 7, &len);
    /* created, in_progress; message: added, part added, delta, text done, part done, item done;
     * two calls: added, delta, args done, item done; completed. */
    cr_assert_eq(check_frames(bytes, len), 2 + 6 + 4 + 4 + 1);
    free(bytes);
}

Test(responses_encoder, empty_deltas_open_no_item)
{
    const struct cg_event evs[] = {TEXT("a"), REASON(""), TEXT("b"), FINISH(CG_FINISH_STOP)};
    json_t *r = body_of(evs, 4, false);
    json_t *output = json_object_get(r, "output");
    cr_assert_eq(json_array_size(output), 1);
    json_t *part = json_array_get(json_object_get(json_array_get(output, 0), "content"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(part, "text")), "ab");
    json_decref(r);
}

Test(responses_encoder, has_no_stop_sequences_and_ignores_other_choices)
{
    void *enc = new_encoder(false, NULL, false);
    cr_assert_not(cg_responses_encoder_ops.stopped(enc, 0));
    cg_responses_encoder_ops.free(enc);
    struct cg_event other = TEXT("other");
    other.choice = 1;
    json_t *r = body_of(&other, 1, false);
    cr_assert_eq(json_array_size(json_object_get(r, "output")), 0);
    json_decref(r);
}
