/* request_checks.h: what the request-parser fuzz targets share: the catalog they parse against,
 * and the rules every parse result must keep (the handlers rely on them). */
#ifndef CG_FUZZ_REQUEST_CHECKS_H
#define CG_FUZZ_REQUEST_CHECKS_H

#include <stdlib.h>
#include <string.h>
#include "core/catalog.h"
#include "core/errors.h"
#include "core/request.h"

static inline const struct cg_catalog *fuzz_catalog(void)
{
    static struct cg_catalog catalog;
    static int ready;
    if (!ready) {
        if (cg_catalog_init(&catalog, "gpt-fuzz") != 0)
            abort();
        ready = 1;
    }
    return &catalog;
}

/* Every failure is described: never the table's "ok" row, never an empty message. */
static inline void fuzz_check_failure(enum cg_err e, const struct cg_error *err)
{
    if (e != CG_OK && (err->code != e || err->message[0] == '\0'))
        abort();
}

/* Codex rejects a thread whose dynamic tools repeat a name, or one too long for the
 * Responses API. */
static inline void fuzz_check_tools(const struct cg_request *req)
{
    for (size_t i = 0; i < json_array_size(req->dynamic_tools); i++) {
        const char *a =
            json_string_value(json_object_get(json_array_get(req->dynamic_tools, i), "name"));
        if (a == NULL || strlen(a) > CG_TOOL_ALIAS_MAX)
            abort();
        for (size_t k = 0; k < i; k++) {
            const char *b =
                json_string_value(json_object_get(json_array_get(req->dynamic_tools, k), "name"));
            if (strcmp(a, b) == 0)
                abort();
        }
    }
}

#endif
