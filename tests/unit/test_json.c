/* test_json.c: the hand-written escaper produces what jansson produces, and valid UTF-8. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "util/json.h"

static void assert_same_as_jansson(const char *s, size_t n)
{
    struct cg_buf ours;
    cg_buf_init(&ours, 1 << 20);
    cr_assert_eq(cg_json_string(&ours, s, n), 0);
    json_t *v = json_stringn(s, n);
    cr_assert_not_null(v);
    char *theirs = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    cr_assert_str_eq(ours.data, theirs);
    free(theirs);
    json_decref(v);
    cg_buf_dispose(&ours);
}

Test(json, escapes_like_jansson)
{
    assert_same_as_jansson("plain", 5);
    assert_same_as_jansson("quote\" back\\slash", 17);
    assert_same_as_jansson("ctl\n\r\t\b\f\x01\x1f end", 14);
    assert_same_as_jansson("caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80", 14);
    assert_same_as_jansson("nul\0inside", 10);
    assert_same_as_jansson("", 0);
}

Test(json, invalid_utf8_becomes_replacement_characters)
{
    static const char *const bad[] = {"\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\xc0\xaf",
                                      "\xf5\x80\x80\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cg_buf b;
        cg_buf_init(&b, 1024);
        cr_assert_eq(cg_json_string(&b, bad[i], strlen(bad[i])), 0);
        json_error_t err;
        json_t *v = json_loads(b.data, JSON_DECODE_ANY, &err);
        cr_assert_not_null(v, "case %zu: %s -> %s", i, err.text, b.data);
        cr_assert_not_null(strstr(json_string_value(v), "\xef\xbf\xbd"));
        json_decref(v);
        cg_buf_dispose(&b);
    }
}

Test(json, utf8_boundary_never_splits_a_character)
{
    const char *s = "a\xc3\xa9\xe2\x80\x94";
    cr_assert_eq(cg_json_utf8_boundary(s, 1), 1);
    cr_assert_eq(cg_json_utf8_boundary(s, 2), 1);
    cr_assert_eq(cg_json_utf8_boundary(s, 3), 3);
    cr_assert_eq(cg_json_utf8_boundary(s, 4), 3);
    cr_assert_eq(cg_json_utf8_boundary(s, 5), 3);
    cr_assert_eq(cg_json_utf8_boundary(s, 6), 6);
}

Test(json, numbers_come_back_as_the_client_wrote_them)
{
    struct cg_buf b;
    cg_buf_init(&b, 1 << 16);
    json_t *v = json_loads("{\"t\":0.7,\"p\":1.0,\"m\":0.1,\"i\":9007199254740993}", 0, NULL);
    cr_assert_eq(cg_json_dump(&b, v), 0);
    cr_assert_eq(cg_buf_append_char(&b, '\0'), 0);
    cr_assert_str_eq(b.data, "{\"t\":0.7,\"p\":1.0,\"m\":0.1,\"i\":9007199254740993}");
    json_decref(v);
    cg_buf_dispose(&b);
}
