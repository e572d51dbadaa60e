/* test_tools.c: function definitions → dynamic tools, and tool_choice, in both the chat
 * ({"function":{"name"}}) and the flat ({"name"}) shapes. */
#include <criterion/criterion.h>
#include <string.h>
#include "api/tools.h"

struct fixture {
    struct cg_request req;
    struct cg_error err;
    struct cg_buf developer;
    struct cg_tools tools;
};

static void setup_tools(struct fixture *f, const char *const *names, size_t n)
{
    cg_request_init(&f->req);
    cg_buf_init(&f->developer, 4096);
    cg_tools_init(&f->tools, &f->req, &f->err, &f->developer);
    for (size_t i = 0; i < n; i++) {
        json_t *fn = json_pack("{s:s,s:s}", "name", names[i], "description", "d");
        cr_assert_eq(cg_tools_add(&f->tools, fn, "tools[0].function"), CG_OK, "%s", f->err.message);
        json_decref(fn);
    }
}

static void teardown_tools(struct fixture *f)
{
    cg_tools_dispose(&f->tools);
    cg_buf_dispose(&f->developer);
    cg_request_dispose(&f->req);
}

static const char *const two[] = {"get_weather", "other"};

static json_t *names_offered(const struct cg_request *req)
{
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(req->dynamic_tools); i++)
        json_array_append(out, json_object_get(json_array_get(req->dynamic_tools, i), "name"));
    return out;
}

Test(tools, auto_offers_every_tool_under_its_alias)
{
    struct fixture f;
    setup_tools(&f, two, 2);
    cr_assert_eq(cg_tools_choice(&f.tools, NULL, "tool_choice"), CG_OK);
    cg_tools_finish(&f.tools);
    json_t *got = names_offered(&f.req);
    json_t *want = json_pack("[s,s]", "fn_get_weather", "fn_other");
    cr_assert(json_equal(got, want));
    cr_assert_null(json_object_get(json_array_get(f.req.dynamic_tools, 0), "client_name"));
    cr_assert_str_eq(cg_request_tool_name(&f.req, "fn_other"), "other");
    json_decref(got);
    json_decref(want);
    teardown_tools(&f);
}

Test(tools, none_offers_nothing_and_required_adds_an_instruction)
{
    struct fixture f;
    setup_tools(&f, two, 2);
    json_t *none = json_string("none");
    cr_assert_eq(cg_tools_choice(&f.tools, none, "tool_choice"), CG_OK);
    cg_tools_finish(&f.tools);
    cr_assert_null(f.req.dynamic_tools);
    json_decref(none);
    teardown_tools(&f);
    setup_tools(&f, two, 2);
    json_t *req = json_string("required");
    cr_assert_eq(cg_tools_choice(&f.tools, req, "tool_choice"), CG_OK);
    cr_assert(f.developer.len > 0 &&
              memmem(f.developer.data, f.developer.len, "at least one", 12) != NULL);
    json_decref(req);
    teardown_tools(&f);
}

Test(tools, a_named_function_in_either_shape_is_the_only_one_offered)
{
    const char *shapes[] = {"{\"type\":\"function\",\"function\":{\"name\":\"other\"}}",
                            "{\"type\":\"function\",\"name\":\"other\"}"};
    for (size_t i = 0; i < 2; i++) {
        struct fixture f;
        setup_tools(&f, two, 2);
        json_t *v = json_loads(shapes[i], 0, NULL);
        cr_assert_eq(cg_tools_choice(&f.tools, v, "tool_choice"), CG_OK, "%s", f.err.message);
        cg_tools_finish(&f.tools);
        cr_assert_eq(json_array_size(f.req.dynamic_tools), 1);
        cr_assert_str_eq(
            json_string_value(json_object_get(json_array_get(f.req.dynamic_tools, 0), "name")),
            "fn_other");
        cr_assert(memmem(f.developer.data, f.developer.len, "fn_other", 8) != NULL);
        json_decref(v);
        teardown_tools(&f);
    }
}

Test(tools, bad_definitions_and_choices_are_400s_naming_the_member)
{
    struct fixture f;
    setup_tools(&f, two, 2);
    json_t *dup = json_pack("{s:s}", "name", "other");
    cr_assert_eq(cg_tools_add(&f.tools, dup, "tools[2].function"), CG_ERR_INVALID_REQUEST);
    cr_assert_str_eq(f.err.param, "tools[2].function");
    json_t *bad = json_pack("{s:s}", "name", "a.b");
    cr_assert_eq(cg_tools_add(&f.tools, bad, "tools[3].function"), CG_ERR_INVALID_REQUEST);
    cr_assert_str_eq(f.err.param, "tools[3].function.name");
    json_t *missing = json_pack("{s:s}", "name", "nope");
    cr_assert_eq(cg_tools_choice(&f.tools, missing, "tool_choice"), CG_ERR_INVALID_REQUEST);
    cr_assert_str_eq(f.err.param, "tool_choice");
    json_decref(dup);
    json_decref(bad);
    json_decref(missing);
    teardown_tools(&f);
    setup_tools(&f, NULL, 0);
    json_t *req = json_string("required");
    cr_assert_eq(cg_tools_choice(&f.tools, req, "tool_choice"), CG_ERR_INVALID_REQUEST,
                 "no tools to choose from");
    json_decref(req);
    teardown_tools(&f);
}
