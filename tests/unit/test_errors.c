/* test_errors.c: the error table and the OpenAI error body. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>
#include "core/errors.h"

Test(errors, every_error_has_status_type_code_and_message)
{
    for (int e = 1; e < CG_ERR__COUNT; e++) {
        int status = cg_err_status((enum cg_err)e);
        cr_assert(status >= 400 && status <= 599, "%s", cg_err_name((enum cg_err)e));
        cr_assert_not_null(cg_err_type((enum cg_err)e));
        cr_assert_not_null(cg_err_code((enum cg_err)e));
        cr_assert(strlen(cg_err_message((enum cg_err)e)) > 0);
    }
}

Test(errors, statuses_match_the_api_rules)
{
    cr_assert_eq(cg_err_status(CG_ERR_INVALID_JSON), 400);
    cr_assert_eq(cg_err_status(CG_ERR_INVALID_API_KEY), 401);
    cr_assert_eq(cg_err_status(CG_ERR_MODEL_NOT_FOUND), 404);
    cr_assert_eq(cg_err_status(CG_ERR_TOO_LARGE), 413);
    cr_assert_eq(cg_err_status(CG_ERR_URI_TOO_LONG), 414);
    cr_assert_eq(cg_err_status(CG_ERR_UNSUPPORTED_MEDIA), 415);
    cr_assert_eq(cg_err_status(CG_ERR_QUEUE_FULL), 429);
    cr_assert_eq(cg_err_status(CG_ERR_HEADERS_TOO_LARGE), 431);
    cr_assert_eq(cg_err_status(CG_ERR_BACKEND_UNAVAILABLE), 503);
    cr_assert_eq(cg_err_status(CG_ERR_TIMEOUT), 504);
    cr_assert_str_eq(cg_err_code(CG_ERR_INVALID_API_KEY), "invalid_api_key");
    cr_assert_str_eq(cg_err_code(CG_ERR_MODEL_NOT_FOUND), "model_not_found");
}

Test(errors, json_body_has_the_four_fields_and_escapes_text)
{
    struct cg_error err;
    cg_error_set(&err, CG_ERR_INVALID_REQUEST, "messages[0].role", "bad \"role\"\n%s", "x");
    struct cg_buf out;
    cg_buf_init(&out, 4096);
    cr_assert_eq(cg_error_to_json(&err, &out), 0);
    json_error_t jerr;
    json_t *v = json_loads(out.data, 0, &jerr);
    cr_assert_not_null(v, "%s", jerr.text);
    json_t *e = json_object_get(v, "error");
    cr_assert_eq(json_object_size(e), 4);
    cr_assert_str_eq(json_string_value(json_object_get(e, "message")), "bad \"role\"\nx");
    cr_assert_str_eq(json_string_value(json_object_get(e, "type")), "invalid_request_error");
    cr_assert_str_eq(json_string_value(json_object_get(e, "param")), "messages[0].role");
    cr_assert_str_eq(json_string_value(json_object_get(e, "code")), "invalid_request_error");
    json_decref(v);
    cg_buf_reset(&out);
    cg_error_init(&err, CG_ERR_NOT_FOUND);
    cr_assert_eq(cg_error_to_json(&err, &out), 0);
    cr_assert_not_null(strstr(out.data, "\"param\":null"));
    cr_assert_not_null(strstr(out.data, cg_err_message(CG_ERR_NOT_FOUND)));
    cg_buf_dispose(&out);
}

Test(errors, long_messages_are_cut_not_overflowed)
{
    struct cg_error err;
    char big[2000];
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cg_error_set(&err, CG_ERR_BACKEND_ERROR, NULL, "%s", big);
    cr_assert_eq(strlen(cg_error_message(&err)), CG_ERROR_MESSAGE_BYTES - 1);
}
