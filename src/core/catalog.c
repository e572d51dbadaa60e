/* catalog.c: the model table and its OpenAI JSON shapes. */
#include "core/catalog.h"
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "util/json.h"
#include "util/str.h"

/* 2025-01-01T00:00:00Z: a fixed `created` keeps /v1/models identical across restarts. */
#define CATALOG_CREATED 1735689600

const char *const cg_catalog_efforts[] = {"low", "medium", "high", "xhigh"};
const size_t cg_catalog_effort_count = CG_ARRAY_SIZE(cg_catalog_efforts);

struct alias {
    const char *id;
    const char *target; /* NULL = the default model */
    const char *effort;
};

/* The Node system's public ids, kept so clients configured for it keep working. */
static const struct alias aliases[] = {
    {"codex-5", NULL, NULL},
    {"codex-5-low", NULL, "low"},
    {"codex-5-medium", NULL, "medium"},
    {"codex-5-high", NULL, "high"},
    {"gpt-5.2", "gpt-5.2", NULL},
    {"gpt-5.2-codex-L", "gpt-5.2", "low"},
    {"gpt-5.2-codex-M", "gpt-5.2", "medium"},
    {"gpt-5.2-codex-H", "gpt-5.2", "high"},
    {"gpt-5.2-codex-XH", "gpt-5.2", "xhigh"},
};

static void add(struct cg_catalog *cat, const char *id, const char *target, const char *effort)
{
    struct cg_str key = cg_str_from(id);
    for (size_t i = 0; i < cat->count; i++) {
        if (cg_str_ieq(cg_str_from(cat->models[i].id), key))
            return; /* CODEX_MODEL may equal an alias id: keep the first */
    }
    if (cat->count == CG_CATALOG_MAX_MODELS)
        return;
    struct cg_model *m = &cat->models[cat->count++];
    snprintf(m->id, sizeof(m->id), "%s", id);
    snprintf(m->target, sizeof(m->target), "%s", target);
    m->effort = effort;
}

int cg_catalog_init(struct cg_catalog *cat, const char *default_model)
{
    size_t len = strlen(default_model);
    cat->count = 0;
    cat->default_index = 0;
    cat->created = CATALOG_CREATED;
    if (len == 0 || len >= CG_MODEL_ID_MAX_BYTES)
        return -1;
    add(cat, default_model, default_model, NULL);
    for (size_t i = 0; i < CG_ARRAY_SIZE(aliases); i++) {
        const struct alias *a = &aliases[i];
        add(cat, a->id, a->target ? a->target : default_model, a->effort);
    }
    return 0;
}

const struct cg_model *cg_catalog_find(const struct cg_catalog *cat, const char *id, size_t len)
{
    struct cg_str key = {id, len};
    for (size_t i = 0; i < cat->count; i++) {
        if (cg_str_ieq(cg_str_from(cat->models[i].id), key))
            return &cat->models[i];
    }
    return NULL;
}

const struct cg_model *cg_catalog_default(const struct cg_catalog *cat)
{
    return &cat->models[cat->default_index];
}

bool cg_catalog_effort_valid(const char *effort, size_t len)
{
    struct cg_str e = {effort, len};
    for (size_t i = 0; i < cg_catalog_effort_count; i++) {
        if (cg_str_eq(e, cg_str_from(cg_catalog_efforts[i])))
            return true;
    }
    return false;
}

size_t cg_catalog_targets(const struct cg_catalog *cat, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < cat->count; i++) {
        const char *t = cat->models[i].target;
        bool seen = false;
        for (size_t j = 0; j < n; j++)
            seen = seen || strcmp(out[j], t) == 0;
        if (!seen && n < max)
            out[n++] = t;
    }
    return n;
}

int cg_catalog_model_json(const struct cg_catalog *cat, const struct cg_model *m,
                          struct cg_buf *out)
{
    int err = cg_buf_append_str(out, "{\"id\":");
    if (!err)
        err = cg_json_cstring(out, m->id);
    if (!err)
        err = cg_buf_appendf(
            out, ",\"object\":\"model\",\"created\":%" PRId64 ",\"owned_by\":\"codex-gateway\"}",
            cat->created);
    return err;
}

int cg_catalog_list_json(const struct cg_catalog *cat,
                         bool (*keep)(const struct cg_model *m, const void *ctx), const void *ctx,
                         struct cg_buf *out)
{
    int err = cg_buf_append_str(out, "{\"object\":\"list\",\"data\":[");
    bool first = true;
    for (size_t i = 0; i < cat->count && !err; i++) {
        if (keep && !keep(&cat->models[i], ctx))
            continue;
        if (!first)
            err = cg_buf_append_char(out, ',');
        first = false;
        if (!err)
            err = cg_catalog_model_json(cat, &cat->models[i], out);
    }
    if (!err)
        err = cg_buf_append_str(out, "]}");
    return err;
}
