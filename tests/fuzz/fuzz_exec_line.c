/* fuzz_exec_line.c: any bytes as one `codex exec --json` stdout line.
 *
 * Oracle: the line is malformed exactly when jansson does not read it as an object; an event
 * owns its document exactly when it is not malformed; usage counts are never negative. */
#include <stdint.h>
#include <stdlib.h>
#include "backend/exec_line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cg_proc_event ev;
    cg_exec_line_parse((const char *)data, size, &ev);
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
    if (ev.kind == CG_PROC_FAILED && ev.error.code == CG_OK)
        abort();
    cg_proc_event_dispose(&ev);
    return 0;
}
