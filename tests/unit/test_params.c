/* test_params.c: the typed getters every endpoint parser shares. */
#include <criterion/criterion.h>
#include <string.h>
#include "api/params.h"

static json_t *obj(const char *text)
{
    json_t *v = json_loads(text, 0, NULL);
    cr_assert_not_null(v, "%s", text);
    return v;
}

Test(params, absent_and_null_members_leave_the_output_alone)
{
    json_t *o = obj("{\"a\":null}");
    struct cg_error err;
    cg_error_init(&err, CG_OK);
    double d = 7;
    json_int_t i = 7;
    bool b = true;
    const char *s = "keep";
    size_t k = 9;
    static const char *const names[] = {"x", "y"};
    cr_assert_eq(cg_params_number(&err, o, "a", 0, 1, &d), CG_OK);
    cr_assert_eq(cg_params_int(&err, o, "missing", 0, &i), CG_OK);
    cr_assert_eq(cg_params_bool(&err, o, "a", &b), CG_OK);
    cr_assert_eq(cg_params_string(&err, o, "a", &s), CG_OK);
    cr_assert_eq(cg_params_enum(&err, o, "a", names, 2, &k), CG_OK);
    cr_assert(d == 7 && i == 7 && b && strcmp(s, "keep") == 0 && k == 9);
    cr_assert_eq(err.code, CG_OK);
    json_decref(o);
}

Test(params, bad_values_name_the_member)
{
    json_t *o = obj("{\"t\":3,\"n\":\"2\",\"b\":1,\"o\":[],\"e\":\"z\",\"r\":{}}");
    struct cg_error err;
    cr_assert_eq(cg_params_number(&err, o, "t", 0, 2, NULL), CG_ERR_INVALID_REQUEST);
    cr_assert_str_eq(err.param, "t");
    cr_assert(strstr(err.message, "from 0 to 2") != NULL, "%s", err.message);
    cr_assert_eq(cg_params_int(&err, o, "n", 1, NULL), CG_ERR_INVALID_REQUEST);
    cr_assert_str_eq(err.message, "Invalid type for 'n': expected an integer, but got a string "
                                  "instead.");
    cr_assert_eq(cg_params_bool(&err, o, "b", NULL), CG_ERR_INVALID_REQUEST);
    cr_assert_str_eq(err.param, "b");
    cr_assert_eq(cg_params_object(&err, o, "o", NULL), CG_ERR_INVALID_REQUEST);
    cr_assert_str_eq(err.param, "o");
    static const char *const names[] = {"low", "high"};
    cr_assert_eq(cg_params_enum(&err, o, "e", names, 2, NULL), CG_ERR_UNSUPPORTED_VALUE);
    cr_assert(strstr(err.message, "low, high") != NULL, "%s", err.message);
    cr_assert_eq(cg_params_reject(&err, o, "r", CG_ERR_UNSUPPORTED_PARAM, "No."),
                 CG_ERR_UNSUPPORTED_PARAM);
    cr_assert_str_eq(err.param, "r");
    cr_assert_str_eq(err.message, "No.");
    json_decref(o);
}

Test(params, good_values_come_out_typed)
{
    json_t *o = obj("{\"t\":0.5,\"n\":3,\"b\":false,\"s\":\"hi\",\"e\":\"high\",\"a\":[1]}");
    struct cg_error err;
    double d = 0;
    json_int_t i = 0;
    bool b = true;
    const char *s = NULL;
    size_t k = 0;
    json_t *a = NULL;
    static const char *const names[] = {"low", "high"};
    cr_assert_eq(cg_params_number(&err, o, "t", 0, 1, &d), CG_OK);
    cr_assert_eq(cg_params_int(&err, o, "n", 1, &i), CG_OK);
    cr_assert_eq(cg_params_bool(&err, o, "b", &b), CG_OK);
    cr_assert_eq(cg_params_string(&err, o, "s", &s), CG_OK);
    cr_assert_eq(cg_params_enum(&err, o, "e", names, 2, &k), CG_OK);
    cr_assert_eq(cg_params_array(&err, o, "a", &a), CG_OK);
    cr_assert(d == 0.5 && i == 3 && !b && strcmp(s, "hi") == 0 && k == 1 && json_is_array(a));
    json_decref(o);
}

Test(params, ignored_parameters_are_still_type_checked)
{
    static const struct cg_params_ignored list[] = {
        {"temperature", CG_PARAMS_NUMBER, 0, 2},
        {"max_tokens", CG_PARAMS_INT, 1, 0},
        {"user", CG_PARAMS_STRING, 0, 0},
    };
    struct cg_error err;
    json_t *ok = obj("{\"temperature\":1,\"max_tokens\":10,\"user\":\"u\"}");
    cr_assert_eq(cg_params_ignore(&err, ok, list, 3), CG_OK);
    json_t *bad = obj("{\"temperature\":1,\"max_tokens\":0}");
    cr_assert_eq(cg_params_ignore(&err, bad, list, 3), CG_ERR_INVALID_REQUEST);
    cr_assert_str_eq(err.param, "max_tokens");
    /* With several wrong, the first in the list's order is named, whatever the body's order. */
    json_t *two = obj("{\"user\":5,\"other\":1,\"max_tokens\":0,\"temperature\":\"hot\"}");
    cr_assert_eq(cg_params_ignore(&err, two, list, 3), CG_ERR_INVALID_REQUEST);
    cr_assert_str_eq(err.param, "temperature");
    json_decref(ok);
    json_decref(bad);
    json_decref(two);
}

Test(params, load_wants_a_json_object)
{
    struct cg_error err;
    cr_assert_null(cg_params_load("{", 1, &err));
    cr_assert_eq(err.code, CG_ERR_INVALID_JSON);
    cr_assert_null(cg_params_load("[1]", 3, &err));
    cr_assert_eq(err.code, CG_ERR_INVALID_REQUEST);
    json_t *o = cg_params_load("{}", 2, &err);
    cr_assert(json_is_object(o));
    json_decref(o);
}
