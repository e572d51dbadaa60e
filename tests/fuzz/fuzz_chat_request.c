/* fuzz_chat_request.c: request bodies → the chat and legacy completions parsers (the
 * validation and stateless-replay translation), exactly as the handlers call them. The first
 * byte picks the parser. Aborts where a result breaks a rule the handlers rely on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "api/chat_parse.h"
#include "api/completions_parse.h"
#include "core/catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cg_catalog catalog;
    static int ready;
    if (!ready) {
        if (cg_catalog_init(&catalog, "gpt-fuzz") != 0)
            abort();
        ready = 1;
    }
    if (size == 0)
        return 0;
    struct cg_chat_limits lim = {
        .catalog = &catalog, .max_choices = 8, .ignore_system_prompt = data[0] & 2};
    struct cg_request req;
    struct cg_chat_opts opts;
    struct cg_error err;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    enum cg_err e = (data[0] & 1) ? cg_completions_parse(body, len, &lim, &req, &opts, &err)
                                  : cg_chat_parse(body, len, &lim, &req, &opts, &err);
    /* Every failure is described: never the table's "ok" row with an error status. */
    if (e != CG_OK && err.code != e)
        abort();
    if (e != CG_OK)
        return 0;
    /* Codex rejects a thread whose dynamic tools repeat a name. */
    for (size_t i = 0; i < json_array_size(req.dynamic_tools); i++) {
        const char *a =
            json_string_value(json_object_get(json_array_get(req.dynamic_tools, i), "name"));
        if (a == NULL || strlen(a) > CG_TOOL_ALIAS_MAX)
            abort();
        for (size_t k = 0; k < i; k++) {
            const char *b =
                json_string_value(json_object_get(json_array_get(req.dynamic_tools, k), "name"));
            if (strcmp(a, b) == 0)
                abort();
        }
    }
    cg_request_dispose(&req);
    return 0;
}
