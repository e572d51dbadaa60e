/* fuzz_proto_line.c: any bytes as one `codex proto` stdout line, and as the prompt of a
 * submission line.
 *
 * Oracle: the line is malformed exactly when jansson does not read it as an object; an event
 * owns its document exactly when it is not malformed; usage counts are never negative. The
 * submission is one line of JSON whose text is the prompt (when the prompt is valid UTF-8). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "backend/proto_line.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_submission(const uint8_t *data, size_t size)
{
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    if (cg_proto_line_submission("fuzz", (struct cg_str){(const char *)data, size}, &b) != 0)
        abort();
    if (b.len == 0 || b.data[b.len - 1] != '\n' || memchr(b.data, '\n', b.len - 1) != NULL)
        abort(); /* exactly one line */
    json_t *v = json_loadb(b.data, b.len - 1, JSON_ALLOW_NUL, NULL);
    if (v == NULL)
        abort();
    json_t *text = json_object_get(
        json_array_get(json_object_get(json_object_get(v, "op"), "items"), 0), "text");
    if (!json_is_string(text))
        abort();
    if (cg_json_utf8_valid((const char *)data, size) &&
        (json_string_length(text) != size ||
         (size > 0 && memcmp(json_string_value(text), data, size) != 0)))
        abort();
    json_decref(v);
    cg_buf_dispose(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cg_proc_event ev;
    cg_proto_line_parse((const char *)data, size, &ev);
    json_t *v = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
    if ((ev.kind == CG_PROC_MALFORMED) != !json_is_object(v))
        abort();
    json_decref(v);
    if ((ev.kind == CG_PROC_MALFORMED) != (ev.doc == NULL))
        abort();
    if (ev.text.ptr == NULL)
        abort();
    if (ev.usage.input < 0 || ev.usage.cached < 0 || ev.usage.output < 0 || ev.usage.reasoning < 0)
        abort();
    if (ev.kind == CG_PROC_USAGE && !ev.have_usage)
        abort();
    if (ev.kind == CG_PROC_FAILED && ev.error.code == CG_OK)
        abort();
    cg_proc_event_dispose(&ev);
    check_submission(data, size);
    return 0;
}
