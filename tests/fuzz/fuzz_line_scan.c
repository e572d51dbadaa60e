/* fuzz_line_scan.c: arbitrary bytes as one worker line → the fast reader and jansson.
 *
 * Oracle: whenever the fast reader returns a value, jansson (with the flags the JSON-RPC reader
 * uses) must read the same bytes as an equal object; when jansson rejects a line the fast
 * reader must decline it too. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <jansson.h>
#include "backend/line_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    json_t *fast = cg_line_scan_load(line, size);
    json_error_t jerr;
    json_t *full = json_loadb(line, size, JSON_ALLOW_NUL, &jerr);
    if (fast) {
        assert(full != NULL);
        assert(json_is_object(full));
        assert(json_equal(fast, full));
    }
    json_decref(fast);
    json_decref(full);
    return 0;
}
