/* tools.c: function definitions → Codex dynamic tools, and tool_choice (see tools.h). */
#include "api/tools.h"
#include <stdio.h>
#include <string.h>
#include "api/params.h"
#include "core/limits.h"

enum { TOOL_NAME_MAX = 64 }; /* OpenAI's limit on a function name */

void cg_tools_init(struct cg_tools *t, struct cg_request *req, struct cg_error *err,
                   struct cg_buf *developer)
{
    t->req = req;
    t->err = err;
    t->developer = developer;
    t->list = json_array();
    t->offer = false;
}

void cg_tools_dispose(struct cg_tools *t)
{
    json_decref(t->list);
    t->list = NULL;
}

size_t cg_tools_count(const struct cg_tools *t)
{
    return json_array_size(t->list);
}

static bool valid_tool_name(const char *s, size_t len)
{
    if (len == 0 || len > TOOL_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static json_t *find_tool(json_t *tools, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "client_name")), name) == 0)
            return t;
    }
    return NULL;
}

/* Checks one function definition; on success *schema is its inputSchema (new reference). */
static enum cg_err check_function(struct cg_tools *t, const json_t *fn, const char *param,
                                  json_t **schema)
{
    char sub[CG_ERROR_PARAM_BYTES];
    *schema = NULL;
    if (!json_is_object(fn))
        return cg_params_bad_type(t->err, param, "an object", fn);
    json_t *name = json_object_get(fn, "name");
    snprintf(sub, sizeof(sub), "%s.name", param);
    if (!json_is_string(name))
        return cg_params_fail(t->err, CG_ERR_INVALID_REQUEST, sub,
                              "A function needs a 'name' string.");
    if (!valid_tool_name(json_string_value(name), json_string_length(name)))
        return cg_params_fail(t->err, CG_ERR_INVALID_REQUEST, sub,
                              "Invalid function name '%.80s': use 1 to 64 of a-z, A-Z, 0-9, _ "
                              "and -.",
                              json_string_value(name));
    json_t *desc = json_object_get(fn, "description");
    snprintf(sub, sizeof(sub), "%s.description", param);
    if (cg_params_present(desc) && !json_is_string(desc))
        return cg_params_bad_type(t->err, sub, "a string", desc);
    json_t *params = json_object_get(fn, "parameters");
    snprintf(sub, sizeof(sub), "%s.parameters", param);
    if (cg_params_present(params) && !json_is_object(params))
        return cg_params_bad_type(t->err, sub, "an object (a JSON Schema)", params);
    json_t *strict = json_object_get(fn, "strict");
    snprintf(sub, sizeof(sub), "%s.strict", param);
    if (cg_params_present(strict) && !json_is_boolean(strict))
        return cg_params_bad_type(t->err, sub, "a boolean", strict);
    *schema = json_is_object(params) ? json_incref(params)
                                     : json_pack("{s:s,s:{}}", "type", "object", "properties");
    return CG_OK;
}

static const char *description_of(const json_t *v)
{
    const char *d = json_string_value(json_object_get(v, "description"));
    return d ? d : "";
}

enum cg_err cg_tools_add(struct cg_tools *t, const json_t *fn, const char *param)
{
    json_t *schema = NULL;
    enum cg_err e = check_function(t, fn, param, &schema);
    if (e)
        return e;
    const char *n = json_string_value(json_object_get(fn, "name"));
    if (find_tool(t->list, n)) {
        json_decref(schema);
        return cg_params_fail(t->err, CG_ERR_INVALID_REQUEST, param,
                              "Duplicate function name '%.80s'.", n);
    }
    const char *alias = cg_request_tool_alias(t->req, n);
    json_array_append_new(t->list, json_pack("{s:s,s:s,s:s,s:o,s:s}", "type", "function", "name",
                                             alias, "description", description_of(fn),
                                             "inputSchema", schema, "client_name", n));
    return CG_OK;
}

enum cg_err cg_tools_add_namespace(struct cg_tools *t, const json_t *ns, const char *param)
{
    char sub[CG_ERROR_PARAM_BYTES];
    json_t *name = json_object_get(ns, "name");
    snprintf(sub, sizeof(sub), "%s.name", param);
    if (!json_is_string(name) ||
        !valid_tool_name(json_string_value(name), json_string_length(name)))
        return cg_params_fail(t->err, CG_ERR_INVALID_REQUEST, sub,
                              "A namespace needs a 'name' of 1 to 64 of a-z, A-Z, 0-9, _ and -.");
    json_t *desc = json_object_get(ns, "description");
    snprintf(sub, sizeof(sub), "%s.description", param);
    if (cg_params_present(desc) && !json_is_string(desc))
        return cg_params_bad_type(t->err, sub, "a string", desc);
    json_t *fns = json_object_get(ns, "tools");
    snprintf(sub, sizeof(sub), "%s.tools", param);
    if (!json_is_array(fns) || json_array_size(fns) == 0)
        return cg_params_fail(t->err, CG_ERR_INVALID_REQUEST, sub,
                              "A namespace needs a non-empty 'tools' array of functions.");
    if (json_array_size(fns) > CG_TOOLS_MAX)
        return cg_params_fail(t->err, CG_ERR_INVALID_REQUEST, sub, "At most %d tools are allowed.",
                              CG_TOOLS_MAX);
    const char *n = json_string_value(name);
    if (find_tool(t->list, n))
        return cg_params_fail(t->err, CG_ERR_INVALID_REQUEST, param, "Duplicate tool name '%.80s'.",
                              n);
    json_t *inner = json_array();
    size_t i;
    json_t *fn;
    json_array_foreach(fns, i, fn)
    {
        snprintf(sub, sizeof(sub), "%s.tools[%zu]", param, i);
        const char *type = json_string_value(json_object_get(fn, "type"));
        if (json_is_object(fn) && (type == NULL || strcmp(type, "function") != 0)) {
            json_decref(inner);
            snprintf(sub, sizeof(sub), "%s.tools[%zu].type", param, i);
            return cg_params_fail(t->err, CG_ERR_UNSUPPORTED_VALUE, sub,
                                  "Only tools of type 'function' are supported in a namespace.");
        }
        json_t *schema = NULL;
        enum cg_err e = check_function(t, fn, sub, &schema);
        const char *fname = e ? NULL : json_string_value(json_object_get(fn, "name"));
        for (size_t k = 0; !e && k < json_array_size(inner); k++) {
            if (strcmp(json_string_value(json_object_get(json_array_get(inner, k), "name")),
                       fname) == 0)
                e = cg_params_fail(t->err, CG_ERR_INVALID_REQUEST, sub,
                                   "Duplicate function name '%.80s' in namespace '%.80s'.", fname,
                                   n);
        }
        if (e) {
            json_decref(schema);
            json_decref(inner);
            return e;
        }
        /* Names inside a namespace are scoped by it, so they cannot meet Codex's own tools:
         * only the namespace gets an alias. */
        json_array_append_new(inner,
                              json_pack("{s:s,s:s,s:s,s:o}", "type", "function", "name", fname,
                                        "description", description_of(fn), "inputSchema", schema));
    }
    const char *alias = cg_request_tool_alias(t->req, n);
    json_array_append_new(t->list, json_pack("{s:s,s:s,s:s,s:o,s:s}", "type", "namespace", "name",
                                             alias, "description", description_of(ns), "tools",
                                             inner, "client_name", n));
    return CG_OK;
}

size_t cg_tools_functions(const struct cg_tools *t)
{
    size_t count = 0;
    size_t i;
    json_t *tool;
    json_array_foreach(t->list, i, tool)
    {
        json_t *inner = json_object_get(tool, "tools");
        count += inner ? json_array_size(inner) : 1;
    }
    return count;
}

enum cg_err cg_tools_choice(struct cg_tools *t, const json_t *v, const char *key)
{
    t->offer = cg_tools_count(t) > 0;
    if (!cg_params_present(v))
        return CG_OK;
    if (cg_tools_count(t) == 0)
        return cg_params_fail(t->err, CG_ERR_INVALID_REQUEST, key,
                              "'%s' is only allowed when 'tools' are specified.", key);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "none") == 0) {
            t->offer = false;
            return CG_OK;
        }
        if (strcmp(s, "auto") == 0)
            return CG_OK;
        if (strcmp(s, "required") == 0) {
            int err = cg_buf_append_str(t->developer,
                                        "You must call at least one of the available functions "
                                        "in this response.\n");
            (void)err; /* a fixed sentence into a buffer capped far above it */
            return CG_OK;
        }
        return cg_params_fail(t->err, CG_ERR_INVALID_REQUEST, key,
                              "Invalid value for '%s': expected none, auto, required or a "
                              "function.",
                              key);
    }
    const char *named = NULL;
    if (json_is_object(v)) {
        json_t *fn = json_object_get(v, "function");
        named = json_string_value(json_object_get(json_is_object(fn) ? fn : v, "name"));
    }
    if (named == NULL)
        return cg_params_fail(t->err, CG_ERR_INVALID_REQUEST, key,
                              "Invalid value for '%s': expected {\"type\":\"function\","
                              "\"function\":{\"name\":...}}.",
                              key);
    json_t *chosen = find_tool(t->list, named);
    if (chosen != NULL && json_object_get(chosen, "tools") != NULL)
        chosen = NULL; /* a namespace, not a function */
    if (chosen == NULL)
        return cg_params_fail(t->err, CG_ERR_INVALID_REQUEST, key,
                              "'%s' names '%.80s', which is not in tools.", key, named);
    json_incref(chosen);
    json_array_clear(t->list);
    json_array_append_new(t->list, chosen);
    int err = cg_buf_appendf(t->developer, "You must call the function %s in this response.\n",
                             json_string_value(json_object_get(chosen, "name")));
    (void)err; /* the alias is at most CG_TOOL_ALIAS_MAX characters */
    return CG_OK;
}

void cg_tools_finish(struct cg_tools *t)
{
    if (!t->offer)
        return;
    json_t *out = json_array();
    size_t i;
    json_t *tool;
    json_array_foreach(t->list, i, tool)
    {
        json_t *copy = json_copy(tool);
        json_object_del(copy, "client_name");
        json_array_append_new(out, copy);
    }
    json_decref(t->req->dynamic_tools);
    t->req->dynamic_tools = out;
}
