/* catalog.h: the models the gateway serves. Each id resolves to a Codex model slug and an
 * optional reasoning effort: the default model (CODEX_MODEL), the codex-5* aliases of it, and
 * the gpt-5.2-codex-{L,M,H,XH} family. /v1/models lists exactly these entries. */
#ifndef CG_CORE_CATALOG_H
#define CG_CORE_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/buf.h"
#include "util/common.h"

enum { CG_CATALOG_MAX_MODELS = 32, CG_MODEL_ID_MAX_BYTES = 128 };

/* The reasoning efforts a Codex model accepts (validated before a turn starts). */
extern const char *const cg_catalog_efforts[];
extern const size_t cg_catalog_effort_count;

struct cg_model {
    char id[CG_MODEL_ID_MAX_BYTES];     /* what clients send and see */
    char target[CG_MODEL_ID_MAX_BYTES]; /* the Codex model slug */
    const char *effort;                 /* NULL = the model's default */
};

struct cg_catalog {
    struct cg_model models[CG_CATALOG_MAX_MODELS];
    size_t count;
    size_t default_index;
    int64_t created; /* the `created` of every entry: fixed, so lists are stable */
};

/* Builds the catalog around `default_model` (CODEX_MODEL). -1 when the id is empty or too
 * long. */
int cg_catalog_init(struct cg_catalog *cat, const char *default_model) CG_MUST_CHECK;

/* Finds an entry by id, ASCII case-insensitively (OpenAI clients send ids as listed; people
 * type them). NULL when unknown. */
const struct cg_model *cg_catalog_find(const struct cg_catalog *cat, const char *id, size_t len);

const struct cg_model *cg_catalog_default(const struct cg_catalog *cat);

/* True when `effort` is one of cg_catalog_efforts. */
bool cg_catalog_effort_valid(const char *effort, size_t len);

/* Distinct Codex slugs the catalog targets (for the worker's model catalog). Returns count. */
size_t cg_catalog_targets(const struct cg_catalog *cat, const char **out, size_t max);

/* {"id","object":"model","created","owned_by"} and the list envelope. */
int cg_catalog_model_json(const struct cg_catalog *cat, const struct cg_model *m,
                          struct cg_buf *out) CG_MUST_CHECK;
/* The list shape of every model `keep` keeps (NULL keeps all; `ctx` is its argument). */
int cg_catalog_list_json(const struct cg_catalog *cat,
                         bool (*keep)(const struct cg_model *m, const void *ctx), const void *ctx,
                         struct cg_buf *out) CG_MUST_CHECK;

#endif
