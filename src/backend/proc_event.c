/* proc_event.c: what both dialect parsers do first with a line. */
#include "backend/proc_event.h"
#include <string.h>

json_t *cg_proc_event_load(const char *line, size_t len, struct cg_proc_event *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = CG_PROC_NOTHING;
    out->text = (struct cg_str){"", 0};
    cg_error_init(&out->error, CG_OK);
    json_t *doc = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        out->kind = CG_PROC_MALFORMED;
        return NULL;
    }
    out->doc = doc;
    return doc;
}
