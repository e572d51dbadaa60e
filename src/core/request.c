/* request.c: ownership of a cg_request's members. */
#include "core/request.h"
#include <stdlib.h>
#include <string.h>

void cg_request_init(struct cg_request *r)
{
    memset(r, 0, sizeof(*r));
    r->n = 1;
}

void cg_request_dispose(struct cg_request *r)
{
    free(r->model_id);
    free(r->base_instructions);
    free(r->developer_instructions);
    json_decref(r->history);
    json_decref(r->input);
    json_decref(r->dynamic_tools);
    json_decref(r->output_schema);
    for (size_t i = 0; i < r->tool_count; i++) {
        free(r->tool_names[i].alias);
        free(r->tool_names[i].name);
    }
    free(r->tool_names);
    memset(r, 0, sizeof(*r));
}

const char *cg_request_tool_name(const struct cg_request *r, const char *alias)
{
    for (size_t i = 0; i < r->tool_count; i++) {
        if (strcmp(r->tool_names[i].alias, alias) == 0)
            return r->tool_names[i].name;
    }
    return NULL;
}
