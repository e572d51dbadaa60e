/* test_line_scan.c: the fast line reader builds exactly what jansson builds, and declines
 * whatever it does not read as jansson does. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>
#include "util/line_scan.h"

static json_t *load_n(const char *line, size_t len)
{
    return cg_line_scan_load(line, len, true);
}

/* Reads `line` both ways and requires equal values; returns the fast one (caller frees). */
static json_t *same_as_jansson_n(const char *line, size_t len)
{
    json_t *fast = load_n(line, len);
    cr_assert_not_null(fast, "declined: %.*s", (int)len, line);
    json_error_t jerr;
    json_t *full = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
    cr_assert_not_null(full, "jansson rejects: %s", jerr.text);
    cr_assert(json_equal(fast, full), "differs from jansson: %.*s", (int)len, line);
    json_decref(full);
    return fast;
}

static json_t *same_as_jansson(const char *line)
{
    return same_as_jansson_n(line, strlen(line));
}

static void declines(const char *line)
{
    json_t *v = load_n(line, strlen(line));
    cr_assert_null(v, "accepted: %s", line);
}

/* The string member `key` of params, as bytes. */
static void assert_param(json_t *msg, const char *key, const char *want, size_t want_len)
{
    json_t *v = json_object_get(json_object_get(msg, "params"), key);
    cr_assert(json_is_string(v), "%s is not a string", key);
    cr_assert_eq(json_string_length(v), want_len, "%s: length %zu", key, json_string_length(v));
    cr_assert(memcmp(json_string_value(v), want, want_len) == 0, "%s: %s", key,
              json_string_value(v));
}

Test(line_scan, agent_message_delta_as_codex_writes_it)
{
    json_t *m = same_as_jansson(
        "{\"method\":\"item/agentMessage/delta\",\"params\":{\"threadId\":\"th-1\",\"turnId\":"
        "\"tu-1\",\"itemId\":\"msg_1\",\"delta\":\"Hello\"},\"emittedAtMs\":1796173722129}");
    cr_assert_str_eq(json_string_value(json_object_get(m, "method")), "item/agentMessage/delta");
    assert_param(m, "threadId", "th-1", 4);
    assert_param(m, "itemId", "msg_1", 5);
    assert_param(m, "delta", "Hello", 5);
    cr_assert_eq(json_integer_value(json_object_get(m, "emittedAtMs")), 1796173722129);
    json_decref(m);
}

Test(line_scan, members_in_any_order_and_whitespace)
{
    json_t *m = same_as_jansson(" { \"params\" : { \"delta\" : \"x\" ,\t\"itemId\":\"i\" , "
                                "\"threadId\" :\"t\"} ,\r\n \"method\" : \"m\" } \r\n");
    assert_param(m, "delta", "x", 1);
    assert_param(m, "threadId", "t", 1);
    json_decref(m);
}

Test(line_scan, escapes_decode_like_jansson)
{
    json_t *m = same_as_jansson("{\"params\":{\"delta\":\"a\\nb\\\"c\\\\d\\/e\\b\\f\\r\\t\"}}");
    assert_param(m, "delta", "a\nb\"c\\d/e\b\f\r\t", 13);
    json_decref(m);
    m = same_as_jansson("{\"params\":{\"delta\":\"caf\\u00e9 \\u20AC\"}}");
    assert_param(m, "delta", "caf\xc3\xa9 \xe2\x82\xac", 9);
    json_decref(m);
}

Test(line_scan, surrogate_pairs_and_nul)
{
    json_t *m = same_as_jansson("{\"params\":{\"delta\":\"\\ud83d\\ude00!\",\"n\":\"a\\u0000b\"}}");
    assert_param(m, "delta", "\xf0\x9f\x98\x80!", 5);
    assert_param(m, "n", "a\0b", 3);
    json_decref(m);
    declines("{\"d\":\"\\ud83d\"}");        /* a high surrogate alone */
    declines("{\"d\":\"\\ud83dx\"}");       /* ... followed by something else */
    declines("{\"d\":\"\\ude00\"}");        /* a low surrogate alone */
    declines("{\"d\":\"\\ud83d\\u0041\"}"); /* a pair with no low half */
    declines("{\"a\\u0000b\":1}");          /* jansson refuses NUL in keys */
}

/* A request body is read with no flags: a NUL anywhere is jansson's to refuse. */
Test(line_scan, bodies_decline_nul_in_values)
{
    const char *body = "{\"messages\":[{\"content\":\"a\\u0000b\"}]}";
    cr_assert_null(cg_line_scan_load(body, strlen(body), false));
    json_error_t jerr;
    cr_assert_null(json_loadb(body, strlen(body), 0, &jerr));
    const char *plain =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9\"}]}";
    json_t *fast = cg_line_scan_load(plain, strlen(plain), false);
    json_t *full = json_loadb(plain, strlen(plain), 0, &jerr);
    cr_assert_not_null(fast);
    cr_assert(json_equal(fast, full));
    json_decref(fast);
    json_decref(full);
}

Test(line_scan, long_escaped_strings_leave_the_stack)
{
    char line[4096];
    size_t n = 0;
    memcpy(line, "{\"d\":\"", 6);
    n = 6;
    for (int i = 0; i < 500; i++) {
        memcpy(line + n, "\\n\\u00e9", 8);
        n += 8;
    }
    memcpy(line + n, "\"}", 2);
    n += 2;
    json_t *m = same_as_jansson_n(line, n);
    cr_assert_eq(json_string_length(json_object_get(m, "d")), 1500);
    json_decref(m);
}

Test(line_scan, raw_utf8_is_checked_like_jansson)
{
    json_t *m = same_as_jansson("{\"d\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}");
    json_decref(m);
    declines("{\"d\":\"\xc3\"}");             /* cut short */
    declines("{\"d\":\"\xc0\xaf\"}");         /* overlong */
    declines("{\"d\":\"\xed\xa0\x80\"}");     /* a surrogate */
    declines("{\"d\":\"\xf4\x90\x80\x80\"}"); /* above U+10FFFF */
    declines("{\"d\":\"\xff\"}");
}

Test(line_scan, other_value_types_nest)
{
    json_t *m = same_as_jansson("{\"a\":[1,-0,-42,true,false,null,{},[],{\"b\":[[\"c\"]]}],"
                                "\"n\":123456789012345678}");
    json_decref(m);
}

Test(line_scan, declines_what_it_does_not_read_exactly)
{
    declines("{\"u\":{\"inputTokens\":1.5}}"); /* reals */
    declines("{\"u\":1e3}");
    declines("{\"u\":1234567890123456789}"); /* more than 18 digits */
    declines("{\"u\":9999999999999999999}"); /* ... which are never multiplied out */
    declines("{\"u\":-99999999999999999999999}");
    declines("{\"a\":1,\"a\":2}"); /* repeated keys */
    declines("{\"p\":{\"delta\":\"x\",\"delta\":\"y\"}}");
    declines("[1]"); /* not an object */
    declines("\"s\"");
    declines("");
    char deep[256] = "{\"a\":";
    size_t n = strlen(deep);
    for (int i = 0; i < CG_LINE_SCAN_DEPTH_MAX + 1; i++)
        deep[n++] = '[';
    for (int i = 0; i < CG_LINE_SCAN_DEPTH_MAX + 1; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    declines(deep);
}

Test(line_scan, declines_invalid_json)
{
    static const char *const bad[] = {
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{\"a\":1}x",
        "{\"a\":1}{}",
        "{\"a\":01}",
        "{\"a\":-}",
        "{\"a\":truex}",
        "{\"a\":nul}",
        "{\"a\":\"x}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12g4\"}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":[1,]}",
        "{\"a\":[1 2]}",
        "{a:1}",
        "{\"a\":\"x\\",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        declines(bad[i]);
        json_error_t jerr;
        json_t *full = json_loadb(bad[i], strlen(bad[i]), JSON_ALLOW_NUL, &jerr);
        cr_assert_null(full, "jansson accepts %s", bad[i]);
    }
}

Test(line_scan, a_whole_turn_of_fake_codex)
{
    static const char *const lines[] = {
        "{\"id\":2,\"result\":{\"thread\":{\"id\":\"01a2\",\"forkedFromId\":null,\"ephemeral\":"
        "true,"
        "\"createdAt\":1796173722,\"turns\":[]},\"model\":\"codex-5\",\"reasoningEffort\":null}}",
        "{\"method\":\"rawResponse/completed\",\"params\":{\"threadId\":\"01a2\",\"usage\":{"
        "\"totalTokens\":30,\"inputTokens\":21,\"cachedInputTokens\":5,\"outputTokens\":9,"
        "\"reasoningOutputTokens\":0}}}",
        "{\"method\":\"turn/completed\",\"params\":{\"threadId\":\"01a2\",\"turn\":{\"id\":\"t\","
        "\"items\":[{\"type\":\"agentMessage\",\"id\":\"m\",\"text\":\"Hello.\"}],\"status\":"
        "\"completed\",\"error\":null,\"durationMs\":0}}}",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        json_decref(same_as_jansson(lines[i]));
}

/* --- the field reader -------------------------------------------------------------------- */

enum { FIELDS = 4 };

/* Reads params.threadId, params.item.id, params.item and method from `line` into f. */
static bool read_fields(const char *line, struct cg_line_scan_field *f, char *scratch, size_t cap)
{
    static const char *const paths[FIELDS][CG_LINE_SCAN_PATH_MAX + 1] = {
        {"params", "threadId"},
        {"params", "item", "id"},
        {"params", "item"},
        {"method"},
    };
    memset(f, 0, FIELDS * sizeof(*f));
    for (size_t i = 0; i < FIELDS; i++) {
        memcpy(f[i].path, paths[i], sizeof(f[i].path));
    }
    return cg_line_scan_fields(line, strlen(line), f, FIELDS, scratch, cap);
}

static void assert_str_field(const struct cg_line_scan_field *f, const char *want, size_t len)
{
    cr_assert_eq(f->type, CG_LINE_SCAN_STRING);
    cr_assert_eq(f->str.len, len);
    cr_assert(memcmp(f->str.ptr, want, len) == 0);
}

Test(line_scan, fields_read_what_json_object_get_finds)
{
    struct cg_line_scan_field f[FIELDS];
    char scratch[64];
    cr_assert(read_fields("{\"params\":{\"item\":{\"id\":\"i\\u00e9\",\"n\":[1,{\"id\":2}]},"
                          "\"threadId\":\"t\"},\"method\":\"m\",\"x\":null}",
                          f, scratch, sizeof(scratch)));
    assert_str_field(&f[0], "t", 1);
    assert_str_field(&f[1], "i\xc3\xa9", 3);
    cr_assert_eq(f[2].type, CG_LINE_SCAN_OBJECT);
    assert_str_field(&f[3], "m", 1);
    cr_assert(!f[1].has_nul);
    cr_assert(read_fields("{\"params\":{}}", f, scratch, sizeof(scratch)));
    for (size_t i = 0; i < FIELDS; i++) {
        cr_assert_eq(f[i].type, CG_LINE_SCAN_ABSENT);
    }
}

Test(line_scan, fields_decline_a_repeated_key_on_a_path_but_not_off_it)
{
    struct cg_line_scan_field f[FIELDS];
    char scratch[64];
    /* jansson keeps the last of a repeated key; a field on it would have to choose */
    cr_assert_not(read_fields("{\"method\":\"a\",\"method\":\"b\"}", f, scratch, 64));
    cr_assert_not(
        read_fields("{\"params\":{\"threadId\":\"a\",\"threadId\":\"b\"}}", f, scratch, 64));
    cr_assert_not(
        read_fields("{\"params\":{\"item\":{}},\"params\":{\"threadId\":\"b\"}}", f, scratch, 64));
    cr_assert_not(
        read_fields("{\"params\":{\"item\":{\"id\":\"a\"},\"item\":{}}}", f, scratch, 64));
    /* off the paths, jansson's choice does not matter */
    cr_assert(
        read_fields("{\"x\":1,\"x\":2,\"params\":{\"y\":{\"z\":1,\"z\":2},\"threadId\":\"t\"}}", f,
                    scratch, 64));
    assert_str_field(&f[0], "t", 1);
    cr_assert(read_fields("{\"params\":{\"item\":{\"id\":\"i\",\"other\":1,\"other\":2}}}", f,
                          scratch, 64));
    assert_str_field(&f[1], "i", 1);
}

/* Objects nested below the paths' last step are checked, never matched against a path. */
Test(line_scan, fields_below_the_deepest_path_step)
{
    struct cg_line_scan_field f[FIELDS];
    char scratch[64];
    cr_assert(read_fields("{\"params\":{\"item\":{\"id\":\"i\",\"a\":{\"b\":{\"id\":{\"c\":"
                          "{\"threadId\":1}}}}},\"threadId\":\"t\"},\"method\":\"m\"}",
                          f, scratch, 64));
    assert_str_field(&f[0], "t", 1);
    assert_str_field(&f[1], "i", 1);
    cr_assert_eq(f[2].type, CG_LINE_SCAN_OBJECT);
    assert_str_field(&f[3], "m", 1);
}

Test(line_scan, fields_through_a_step_that_is_not_an_object_are_absent)
{
    struct cg_line_scan_field f[FIELDS];
    char scratch[64];
    static const char *const lines[] = {
        "{\"params\":[{\"threadId\":\"t\"}]}",
        "{\"params\":\"threadId\"}",
        "{\"params\":{\"item\":[{\"id\":\"i\"}]}}",
        "{\"params\":{\"item\":null}}",
        "{\"params\":{\"item\":7}}",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        cr_assert(read_fields(lines[i], f, scratch, sizeof(scratch)), "%s", lines[i]);
        cr_assert_eq(f[0].type, CG_LINE_SCAN_ABSENT, "%s", lines[i]);
        cr_assert_eq(f[1].type, CG_LINE_SCAN_ABSENT, "%s", lines[i]);
    }
    cr_assert_eq(f[2].type, CG_LINE_SCAN_INTEGER);
    cr_assert_eq(f[2].integer, 7);
}

Test(line_scan, fields_decline_when_the_scratch_is_exhausted)
{
    struct cg_line_scan_field f[FIELDS];
    char scratch[16];
    /* plain strings take no scratch */
    cr_assert(read_fields("{\"params\":{\"threadId\":\"a long plain thread id\"}}", f, scratch, 4));
    assert_str_field(&f[0], "a long plain thread id", 22);
    /* an escaped one needs room for its escaped form and keeps its decoded bytes there */
    const char *two = "{\"params\":{\"threadId\":\"\\u0041bcd\",\"item\":{\"id\":\"\\nxy\"}}}";
    cr_assert(read_fields(two, f, scratch, sizeof(scratch)));
    assert_str_field(&f[0], "Abcd", 4);
    assert_str_field(&f[1], "\nxy", 3);
    cr_assert(read_fields(two, f, scratch, 9)); /* "\u0041bcd" is 9 bytes, "\nxy" 4 of the 5 left */
    assert_str_field(&f[1], "\nxy", 3);
    cr_assert_not(read_fields(two, f, scratch, 8));
    cr_assert_not(read_fields("{\"params\":{\"threadId\":\"\\nxyz\"}}", f, scratch, 4));
}

Test(line_scan, fields_report_a_nul_in_a_string)
{
    struct cg_line_scan_field f[FIELDS];
    char scratch[64];
    cr_assert(read_fields("{\"params\":{\"threadId\":\"a\\u0000b\"},\"method\":\"m\"}", f, scratch,
                          sizeof(scratch)));
    assert_str_field(&f[0], "a\0b", 3);
    cr_assert(f[0].has_nul);
    cr_assert_not(f[3].has_nul);
    /* a NUL in a key is declined, as by cg_line_scan_load */
    cr_assert_not(read_fields("{\"params\":{\"thread\\u0000Id\":\"a\"}}", f, scratch, 64));
}

Test(line_scan, fields_decline_what_the_loader_declines)
{
    struct cg_line_scan_field f[FIELDS];
    char scratch[64];
    static const char *const lines[] = {
        "{\"params\":{\"threadId\":\"t\"}",
        "{\"params\":{\"threadId\":\"t\"}} x",
        "{\"params\":{\"n\":1.5}}",
        "[1]",
        "{\"params\":{\"threadId\":\"t\\x\"}}",
        "{\"params\":{\"threadId\":\"\x01\"}}",
        "{\"params\":{\"n\":0123}}",
        "{\"a\":truex}",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        cr_assert_not(read_fields(lines[i], f, scratch, sizeof(scratch)), "%s", lines[i]);
        json_t *v = cg_line_scan_load(lines[i], strlen(lines[i]), true);
        cr_assert_null(v, "%s", lines[i]);
    }
}

Test(line_scan, strings_a_word_at_a_time_stop_at_the_first_special_byte)
{
    /* every position of a quote, an escape, a control byte and UTF-8 within and across words */
    for (size_t at = 0; at < 20; at++) {
        char text[32];
        memset(text, 'a', sizeof(text));
        static const char *const specials[] = {"\\\"", "\\n", "\xc3\xa9", "\\u00e9"};
        for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
            char line[96];
            int n = snprintf(line, sizeof(line), "{\"params\":{\"delta\":\"%.*s%s%.*s\"}}", (int)at,
                             text, specials[k], (int)(19 - at), text);
            cr_assert(n > 0 && (size_t)n < sizeof(line));
            json_t *m = same_as_jansson(line);
            json_decref(m);
        }
        char bad[64];
        int n = snprintf(bad, sizeof(bad), "{\"delta\":\"%.*s\x1f%.*s\"}", (int)at, text,
                         (int)(19 - at), text);
        cr_assert(n > 0);
        declines(bad);
    }
}
