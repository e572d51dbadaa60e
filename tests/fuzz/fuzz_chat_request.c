/* fuzz_chat_request.c: request bodies → the chat and legacy completions parsers (the
 * validation and stateless-replay translation), exactly as the handlers call them. The first
 * byte picks the parser. Aborts where a result breaks a rule the handlers rely on. */
#include <stdint.h>
#include "api/chat_parse.h"
#include "api/completions_parse.h"
#include "request_checks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct cg_chat_limits lim = {
        .catalog = fuzz_catalog(), .max_choices = 8, .ignore_system_prompt = data[0] & 2};
    struct cg_request req;
    struct cg_chat_opts opts;
    struct cg_error err;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    enum cg_err e = (data[0] & 1) ? cg_completions_parse(body, len, &lim, &req, &opts, &err)
                                  : cg_chat_parse(body, len, &lim, &req, &opts, &err);
    fuzz_check_failure(e, &err);
    if (e != CG_OK)
        return 0;
    fuzz_check_tools(&req);
    cg_request_dispose(&req);
    return 0;
}
