/* tools.h: client function tools → Codex dynamic tools under a private alias, and tool_choice.
 * Codex always lets the model choose, so "none" offers no tools, and "required" or a named
 * function are approximated with a developer instruction (a named one also offers only that
 * function). Endpoint parsers walk their own `tools` shapes and hand each function definition
 * ({name, description?, parameters?, strict?}) to cg_tools_add. */
#ifndef CG_API_TOOLS_H
#define CG_API_TOOLS_H

#include <jansson.h>
#include <stdbool.h>
#include "core/errors.h"
#include "core/request.h"
#include "util/buf.h"

struct cg_tools {
    struct cg_request *req; /* gets the alias table and, at the end, dynamic_tools */
    struct cg_error *err;
    struct cg_buf *developer; /* gateway instructions (tool_choice) are appended here */
    json_t *list;             /* [{type, name: alias, description, inputSchema, client_name}] */
    bool offer;               /* false after tool_choice "none" */
};

void cg_tools_init(struct cg_tools *t, struct cg_request *req, struct cg_error *err,
                   struct cg_buf *developer);
void cg_tools_dispose(struct cg_tools *t);

/* One function definition, `param` naming it in errors. A repeated name is a 400. */
enum cg_err cg_tools_add(struct cg_tools *t, const json_t *fn, const char *param) CG_MUST_CHECK;

/* A Responses namespace tool ({name, description?, tools: [function definitions]}), `param`
 * naming it: offered to Codex as a namespace dynamic tool whose name is the alias of the
 * namespace (cg_request_tool_name maps it back) and whose functions keep their names. A
 * namespace shares the name space of top-level functions; a repeated name is a 400. */
enum cg_err cg_tools_add_namespace(struct cg_tools *t, const json_t *ns,
                                   const char *param) CG_MUST_CHECK;

/* Tools on the list (a namespace counts once). */
size_t cg_tools_count(const struct cg_tools *t);
/* Functions on the list, each function of a namespace counted. */
size_t cg_tools_functions(const struct cg_tools *t);

/* A tool_choice value (may be absent) named `key`: "none", "auto", "required", or an object
 * naming a function as {"name"} or {"function":{"name"}}. Call after every cg_tools_add. */
enum cg_err cg_tools_choice(struct cg_tools *t, const json_t *v, const char *key) CG_MUST_CHECK;

/* Sets req->dynamic_tools to the tools on offer (Codex's fields only), if any. */
void cg_tools_finish(struct cg_tools *t);

#endif
