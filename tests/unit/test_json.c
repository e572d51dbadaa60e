/* test_json.c: the hand-written escaper and value writer produce what jansson produces, and
 * valid UTF-8. */
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

/* cg_json_write and cg_json_dump agree: the same bytes, or both fail, and a failed write leaves
 * the buffer as it was. */
static void assert_write_is_dump(const json_t *v)
{
    struct cg_buf ours;
    struct cg_buf theirs;
    cg_buf_init(&ours, 1 << 20);
    cg_buf_init(&theirs, 1 << 20);
    cr_assert_eq(cg_buf_append(&ours, "x", 1), 0);
    cr_assert_eq(cg_buf_append(&theirs, "x", 1), 0);
    int r = cg_json_write(&ours, v);
    cr_assert_eq(r, cg_json_dump(&theirs, v));
    cr_assert_eq(ours.len, theirs.len);
    cr_assert_eq(memcmp(ours.data, theirs.data, ours.len), 0, "%s vs %s", ours.data, theirs.data);
    cg_buf_dispose(&ours);
    cg_buf_dispose(&theirs);
}

Test(json, write_gives_the_bytes_jansson_dumps)
{
    static const char *const texts[] = {
        "{}",
        "[]",
        "{\"a\":[1,-2,9223372036854775807,-9223372036854775808],\"b\":{\"c\":null}}",
        "[true,false,null,\"\",\"quote\\\" \\\\ \\n \\u0001 caf\\u00e9 \\ud83d\\ude00\"]",
        "{\"z\":1,\"a\":2,\"m\":{\"k\":\"v\"}}",
        "{\"real\":0.7,\"list\":[1.5,2]}",
        "[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\","
        "\"text\":\"hi\"}]}]",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        json_t *v = json_loads(texts[i], JSON_DECODE_ANY, NULL);
        cr_assert_not_null(v, "%s", texts[i]);
        assert_write_is_dump(v);
        json_decref(v);
    }
}

Test(json, write_leaves_deep_nesting_and_bad_utf8_to_jansson)
{
    json_t *deep = json_array();
    json_t *at = deep;
    for (int i = 0; i < 40; i++) {
        json_t *inner = json_array();
        json_array_append_new(at, inner);
        at = inner;
    }
    assert_write_is_dump(deep);
    json_decref(deep);

    json_t *bad_string = json_array();
    json_array_append_new(bad_string, json_stringn_nocheck("\xff", 1));
    assert_write_is_dump(bad_string);
    json_decref(bad_string);

    json_t *bad_key = json_object();
    json_object_setn_new_nocheck(bad_key, "\xc3", 1, json_true());
    assert_write_is_dump(bad_key);
    json_decref(bad_key);
}
