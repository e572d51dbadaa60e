/* fuzz_line_scan.c: arbitrary bytes as one worker line or request body → the fast reader, the
 * field reader and jansson.
 *
 * Oracle: whenever the fast reader returns a value, jansson (with the flags the JSON-RPC reader
 * uses, or with none as request bodies are read) must read the same bytes as an equal object.
 * Whenever the field reader accepts a line, jansson must read it as an object in which
 * json_object_get along each path finds exactly what the field reader reported (absent, or the
 * same type and the same bytes or integer). */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "util/line_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const paths[][CG_LINE_SCAN_PATH_MAX + 1] = {
    {"method"},
    {"id"},
    {"params"},
    {"params", "threadId"},
    {"params", "itemId"},
    {"params", "delta"},
    {"params", "item"},
    {"params", "item", "text"},
    {"params", "item", "type"},
    {"params", "usage", "inputTokens"},
    {"params", "turn", "status"},
    {"params", "turn", "error"},
    {"a"},
    {"a", "b"},
    {"a", "b", "c"},
};
enum { NPATHS = sizeof(paths) / sizeof(paths[0]) };

static enum cg_line_scan_type type_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return CG_LINE_SCAN_OBJECT;
    case JSON_ARRAY:
        return CG_LINE_SCAN_ARRAY;
    case JSON_STRING:
        return CG_LINE_SCAN_STRING;
    case JSON_INTEGER:
        return CG_LINE_SCAN_INTEGER;
    case JSON_TRUE:
        return CG_LINE_SCAN_TRUE;
    case JSON_FALSE:
        return CG_LINE_SCAN_FALSE;
    case JSON_NULL:
        return CG_LINE_SCAN_NULL;
    default:
        return CG_LINE_SCAN_ABSENT; /* a real: the field reader never accepts one */
    }
}

static void check_fields(const char *line, size_t size, size_t cap, const json_t *full)
{
    struct cg_line_scan_field f[NPATHS];
    memset(f, 0, sizeof(f));
    for (size_t i = 0; i < NPATHS; i++)
        memcpy(f[i].path, paths[i], sizeof(f[i].path));
    char *scratch = malloc(cap ? cap : 1);
    if (cg_line_scan_fields(line, size, f, NPATHS, scratch, cap)) {
        assert(full != NULL && json_is_object(full));
        for (size_t i = 0; i < NPATHS; i++) {
            const json_t *v = full;
            for (size_t k = 0; f[i].path[k] && v; k++)
                v = json_object_get(v, f[i].path[k]);
            if (v == NULL) {
                assert(f[i].type == CG_LINE_SCAN_ABSENT);
                continue;
            }
            assert(f[i].type == type_of(v));
            if (json_is_string(v)) {
                assert(f[i].str.len == json_string_length(v));
                assert(memcmp(f[i].str.ptr, json_string_value(v), f[i].str.len) == 0);
                assert(f[i].has_nul == (memchr(f[i].str.ptr, '\0', f[i].str.len) != NULL));
            } else if (json_is_integer(v)) {
                assert(f[i].integer == json_integer_value(v));
            }
        }
    }
    free(scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    json_t *fast = cg_line_scan_load(line, size, true);
    json_error_t jerr;
    json_t *full = json_loadb(line, size, JSON_ALLOW_NUL, &jerr);
    if (fast) {
        assert(full != NULL);
        assert(json_is_object(full));
        assert(json_equal(fast, full));
    }
    /* As a request body is read: no NUL allowed. */
    json_t *body = cg_line_scan_load(line, size, false);
    if (body) {
        json_t *strict = json_loadb(line, size, 0, &jerr);
        assert(strict != NULL);
        assert(json_is_object(strict));
        assert(json_equal(body, strict));
        json_decref(strict);
    }
    json_decref(body);
    check_fields(line, size, 4096, full);
    check_fields(line, size, size % 17, full); /* short of scratch: declines, never overruns */
    json_decref(fast);
    json_decref(full);
    return 0;
}
