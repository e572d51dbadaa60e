/* request.c: ownership of a cg_request's members. */
#include "core/request.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/alloc.h"

#define TOOL_PREFIX "fn_"

enum { HASH_HEX = 8 };

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

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* "fn_" + the first `keep` bytes of name + "_" + its hash + `suffix`. */
static void hashed_alias(char *out, size_t size, const char *name, const char *suffix)
{
    size_t fixed = sizeof(TOOL_PREFIX) - 1 + 1 + HASH_HEX + strlen(suffix);
    int keep = (int)(CG_TOOL_ALIAS_MAX - fixed);
    snprintf(out, size, TOOL_PREFIX "%.*s_%08x%s", keep, name, (unsigned)fnv1a(name), suffix);
}

const char *cg_request_tool_alias(struct cg_request *r, const char *name)
{
    for (size_t i = 0; i < r->tool_count; i++) {
        if (strcmp(r->tool_names[i].name, name) == 0)
            return r->tool_names[i].alias;
    }
    char alias[CG_TOOL_ALIAS_MAX + 1];
    if (strlen(name) + sizeof(TOOL_PREFIX) - 1 <= CG_TOOL_ALIAS_MAX)
        snprintf(alias, sizeof(alias), TOOL_PREFIX "%s", name);
    else
        hashed_alias(alias, sizeof(alias), name, "");
    /* A client may name a tool exactly like another one's cut form. The k-th retry ends in "_k"
     * and at most tool_count aliases exist, so this ends within tool_count + 1 tries. */
    for (size_t k = 0; cg_request_tool_name(r, alias) != NULL; k++) {
        char suffix[24];
        snprintf(suffix, sizeof(suffix), "_%zu", k);
        hashed_alias(alias, sizeof(alias), name, suffix);
    }
    r->tool_names = cg_xrealloc(r->tool_names, (r->tool_count + 1) * sizeof(*r->tool_names));
    r->tool_names[r->tool_count].alias = cg_xstrdup(alias);
    r->tool_names[r->tool_count].name = cg_xstrdup(name);
    return r->tool_names[r->tool_count++].alias;
}

const char *cg_request_tool_name(const struct cg_request *r, const char *alias)
{
    for (size_t i = 0; i < r->tool_count; i++) {
        if (strcmp(r->tool_names[i].alias, alias) == 0)
            return r->tool_names[i].name;
    }
    return NULL;
}
