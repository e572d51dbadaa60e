/* test_replay.c: chat messages → the Responses items of a stateless Codex replay. */
#include <criterion/criterion.h>
#include <string.h>
#include "api/replay.h"

static enum cg_err replay(const char *msgs, struct cg_request *req, struct cg_buf *base,
                          struct cg_error *err)
{
    cg_request_init(req);
    cg_buf_init(base, 1 << 20);
    json_t *m = json_loads(msgs, 0, NULL);
    cr_assert_not_null(m, "%s", msgs);
    struct cg_replay p = {.req = req, .err = err, .base = base};
    enum cg_err e = cg_replay_messages(&p, m);
    json_decref(m);
    return e;
}

static void check_json(json_t *got, const char *want)
{
    json_t *w = json_loads(want, 0, NULL);
    cr_assert_not_null(w, "%s", want);
    char *g = json_dumps(got, JSON_COMPACT);
    cr_assert(json_equal(got, w), "got %s\nwant %s", g, want);
    free(g);
    json_decref(w);
}

Test(replay, a_conversation_ending_in_tool_results_continues_with_no_input)
{
    struct cg_request req;
    struct cg_buf base;
    struct cg_error err;
    cr_assert_eq(replay("[{\"role\":\"system\",\"content\":\"Be terse.\"},"
                        "{\"role\":\"user\",\"content\":\"Weather?\"},"
                        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\","
                        "\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                        "\"arguments\":\"{}\"}}]},"
                        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"sunny\"}]",
                        &req, &base, &err),
                 CG_OK, "%s", err.message);
    cr_assert_eq(base.len, 9);
    cr_assert(memcmp(base.data, "Be terse.", 9) == 0);
    check_json(req.history,
               "[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\","
               "\"text\":\"Weather?\"}]},"
               "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"fn_get_weather\","
               "\"arguments\":\"{}\"},"
               "{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":\"sunny\"}]");
    check_json(req.input, "[]");
    cr_assert_str_eq(cg_request_tool_name(&req, "fn_get_weather"), "get_weather");
    cg_buf_dispose(&base);
    cg_request_dispose(&req);
}

Test(replay, the_last_user_message_is_the_turn_input_with_its_images)
{
    struct cg_request req;
    struct cg_buf base;
    struct cg_error err;
    cr_assert_eq(replay("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Look\"},"
                        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/a.png\"}}]}]",
                        &req, &base, &err),
                 CG_OK, "%s", err.message);
    check_json(req.history, "[]");
    check_json(req.input, "[{\"type\":\"text\",\"text\":\"Look\",\"text_elements\":[]},"
                          "{\"type\":\"image\",\"url\":\"https://x/a.png\"}]");
    cr_assert_eq(base.len, 0);
    cg_buf_dispose(&base);
    cg_request_dispose(&req);
}

Test(replay, an_unanswered_tool_call_is_a_400_at_the_next_message)
{
    struct cg_request req;
    struct cg_buf base;
    struct cg_error err;
    cr_assert_eq(replay("[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\","
                        "\"tool_calls\":[{\"id\":\"c1\",\"function\":{\"name\":\"f\","
                        "\"arguments\":\"{}\"}}]},{\"role\":\"user\",\"content\":\"y\"}]",
                        &req, &base, &err),
                 CG_ERR_INVALID_REQUEST);
    cr_assert_str_eq(err.param, "messages[2]");
    cr_assert_null(req.history, "nothing is kept on failure");
    cg_buf_dispose(&base);
    cg_request_dispose(&req);
}
