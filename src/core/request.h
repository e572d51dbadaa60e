/* request.h: the endpoint-neutral request (DESIGN's gateway_request). Each API endpoint parses
 * its body into one of these; the backend turns it into a Codex thread and turn without knowing
 * which endpoint it came from. JSON members are Codex/Responses shapes, owned by the request. */
#ifndef CG_CORE_REQUEST_H
#define CG_CORE_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "core/catalog.h"

/* A client tool name and the alias Codex sees (a private prefix keeps client tools from
 * clashing with, and being silently dropped for, Codex's built-in tool names). */
struct cg_tool_name {
    char *alias;
    char *name;
};

struct cg_request {
    const struct cg_model *model; /* catalog entry */
    char *model_id;               /* as the client spelled it, echoed in responses */
    const char *effort;           /* NULL = the model's default */
    const char *summary;          /* reasoning summary mode, NULL = Codex's default */
    char *base_instructions;      /* NULL = keep Codex's base prompt */
    char *developer_instructions;
    json_t *history;       /* Responses input items replayed before the turn (array) */
    json_t *input;         /* this turn's input items for turn/start (array, may be empty) */
    json_t *dynamic_tools; /* Codex dynamicTools (array) or NULL */
    json_t *output_schema; /* or NULL */
    struct cg_tool_name *tool_names;
    size_t tool_count;
    unsigned n; /* choices: one turn each */
    bool stream;
    bool include_usage;
};

void cg_request_init(struct cg_request *r);
/* Frees every member (the request struct itself is the caller's). */
void cg_request_dispose(struct cg_request *r);

/* Codex tool names are sent on to the Responses API, which allows ^[a-zA-Z0-9_-]{1,64}$
 * (Codex itself checks only the characters). */
enum { CG_TOOL_ALIAS_MAX = 64 };

/* The Codex-side name of client tool `name`, recorded in the request on first use: the private
 * prefix + `name` when that fits in CG_TOOL_ALIAS_MAX characters, else the prefix, a cut of
 * `name` and its hash. Unique within the request: a form some other name already holds gets an
 * index as well. Borrowed; lives as long as the request. */
const char *cg_request_tool_alias(struct cg_request *r, const char *name);

/* Maps a Codex-side tool name back to the client's; NULL when it is not a client tool. */
const char *cg_request_tool_name(const struct cg_request *r, const char *alias);

#endif
