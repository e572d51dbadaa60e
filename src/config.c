/* config.c: parses and validates the settings table of config.h. */
#include "config.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/alloc.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"

enum kind { KIND_INT, KIND_BOOL, KIND_STR, KIND_SECRET, KIND_LEVEL, KIND_SANDBOX, KIND_BACKEND };

/* The words a choice kind allows, NULL-terminated; NULL for other kinds. */
static const char *const sandbox_words[] = {"read-only", "workspace-write", "danger-full-access",
                                            NULL};
/* In enum cg_backend_kind order. */
static const char *const backend_words[] = {"app-server", "exec", "proto", NULL};

static const char *const *choice_words(enum kind k)
{
    if (k == KIND_SANDBOX)
        return sandbox_words;
    if (k == KIND_BACKEND)
        return backend_words;
    return NULL;
}

/* "a, b or c" into buf. */
static void choice_list(const char *const *words, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; words[i] && used < len; i++) {
        const char *sep = i == 0 ? "" : words[i + 1] ? ", " : " or ";
        int n = snprintf(buf + used, len - used, "%s%s", sep, words[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

struct row {
    const char *env;
    enum kind kind;
    const char *def;
    int64_t min;
    int64_t max;
    const char *help;
    size_t offset;
};

static const struct row rows[] = {
#define CG_CFG_ROW(env, field, kind, def, min, max, help)                                          \
    {#env, KIND_##kind, def, min, max, help, offsetof(struct cg_config, field)},
    CG_CONFIG_MAP(CG_CFG_ROW)
#undef CG_CFG_ROW
};

_Static_assert(CG_ARRAY_SIZE(rows) <= sizeof(((struct cg_config *)0)->sources_env),
               "grow cg_config.sources_env");

static const char *std_getenv(const char *name, void *ctx)
{
    return getenv(name);
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    struct cg_str v = cg_str_trim(cg_str_from(s));
    for (size_t i = 0; i < CG_ARRAY_SIZE(yes); i++) {
        if (cg_str_ieq(v, cg_str_from(yes[i]))) {
            *out = true;
            return true;
        }
        if (cg_str_ieq(v, cg_str_from(no[i]))) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool parse_int(const char *s, int64_t *out)
{
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s)
        return false;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0')
        return false;
    *out = v;
    return true;
}

/* Splits a comma list of keys into trimmed, non-empty ones (*out, *count). */
static void split_keys(const char *list, char ***out, size_t *count)
{
    struct cg_str rest = cg_str_from(list ? list : "");
    size_t n = 0;
    char **keys = NULL;
    while (rest.len > 0) {
        struct cg_str k = cg_str_trim(cg_str_split(&rest, ','));
        if (k.len == 0)
            continue;
        keys = cg_xrealloc(keys, (n + 1) * sizeof(char *));
        keys[n++] = cg_xstrndup(k.ptr, k.len);
    }
    *out = keys;
    *count = n;
}

static void free_keys(char ***keys, size_t *count)
{
    for (size_t i = 0; i < *count; i++)
        free((*keys)[i]);
    free(*keys);
    *keys = NULL;
    *count = 0;
}

static int set_row(struct cg_config *cfg, const struct row *r, const char *value, char *errbuf,
                   size_t errlen)
{
    void *field = (char *)cfg + r->offset;
    switch (r->kind) {
    case KIND_INT: {
        int64_t v;
        if (!parse_int(value, &v) || v < r->min || v > r->max) {
            snprintf(errbuf, errlen,
                     "%s: expected an integer in %" PRId64 "..%" PRId64 ", got \"%.64s\"", r->env,
                     r->min, r->max, value);
            return -1;
        }
        *(int64_t *)field = v;
        return 0;
    }
    case KIND_BOOL: {
        bool v;
        if (!parse_bool(value, &v)) {
            snprintf(errbuf, errlen, "%s: expected true or false, got \"%.64s\"", r->env, value);
            return -1;
        }
        *(bool *)field = v;
        return 0;
    }
    case KIND_LEVEL: {
        enum cg_log_level level;
        if (!cg_log_parse_level(value, &level)) {
            snprintf(errbuf, errlen, "%s: expected error, warn, info or debug, got \"%.64s\"",
                     r->env, value);
            return -1;
        }
        *(const char **)field = cg_xstrdup(value);
        return 0;
    }
    case KIND_SANDBOX:
    case KIND_BACKEND: {
        const char *const *words = choice_words(r->kind);
        size_t i = 0;
        while (words[i] && strcmp(value, words[i]) != 0)
            i++;
        if (words[i] == NULL) {
            char list[128];
            choice_list(words, list, sizeof(list));
            snprintf(errbuf, errlen, "%s: expected %s, got \"%.64s\"", r->env, list, value);
            return -1;
        }
        *(const char **)field = cg_xstrdup(value);
        return 0;
    }
    case KIND_STR:
    case KIND_SECRET:
        *(const char **)field = cg_xstrdup(value);
        return 0;
    }
    return -1;
}

static bool is_string_kind(enum kind k)
{
    return k == KIND_STR || k == KIND_SECRET || k == KIND_LEVEL || k == KIND_SANDBOX ||
           k == KIND_BACKEND;
}

/* Replaces an empty path setting with base + "/" + leaf. */
static void derive_path(const char **field, const char *base, const char *leaf)
{
    if ((*field)[0] != '\0')
        return;
    size_t n = strlen(base) + strlen(leaf) + 2;
    char *p = cg_xmalloc(n);
    snprintf(p, n, "%s%s%s", base, leaf[0] ? "/" : "", leaf);
    free((void *)*field);
    *field = p;
}

static bool from_env(const struct cg_config *cfg, const char *env)
{
    for (size_t i = 0; i < CG_ARRAY_SIZE(rows); i++) {
        if (strcmp(rows[i].env, env) == 0)
            return cfg->sources_env[i];
    }
    return false;
}

/* PROXY_BACKEND, or the older PROXY_USE_APP_SERVER=false; never CODEX_BIN's name. Both set
 * and disagreeing is a mistake worth stopping for. */
static int choose_backend(struct cg_config *cfg, char *errbuf, size_t errlen)
{
    size_t k = 0;
    while (backend_words[k] && strcmp(cfg->backend, backend_words[k]) != 0)
        k++;
    cfg->backend_kind = (enum cg_backend_kind)k;
    cfg->backend_reason = "default";
    bool named = from_env(cfg, "PROXY_BACKEND");
    bool old = from_env(cfg, "PROXY_USE_APP_SERVER");
    if (named)
        cfg->backend_reason = "PROXY_BACKEND";
    if (named && old && cfg->use_app_server != (cfg->backend_kind == CG_BACKEND_APP_SERVER)) {
        snprintf(errbuf, errlen,
                 "PROXY_USE_APP_SERVER: %s contradicts PROXY_BACKEND=%s; unset one of them",
                 cfg->use_app_server ? "true" : "false", cfg->backend);
        return -1;
    }
    if (!named && old && !cfg->use_app_server) {
        cfg->backend_kind = CG_BACKEND_EXEC;
        cfg->backend_reason = "PROXY_USE_APP_SERVER=false";
        free((void *)cfg->backend);
        cfg->backend = cg_xstrdup("exec");
    }
    return 0;
}

const char *cg_config_backend_name(enum cg_backend_kind kind)
{
    return (size_t)kind < CG_ARRAY_SIZE(backend_words) - 1 ? backend_words[kind] : "app-server";
}

static int cross_checks(struct cg_config *cfg, cg_config_getenv_fn get, void *ctx, char *errbuf,
                        size_t errlen)
{
    if (choose_backend(cfg, errbuf, errlen) != 0)
        return -1;
    if (cfg->worker_backoff_initial_ms > cfg->worker_backoff_max_ms) {
        snprintf(errbuf, errlen,
                 "WORKER_BACKOFF_INITIAL_MS: %lld is above WORKER_BACKOFF_MAX_MS "
                 "(%lld)",
                 (long long)cfg->worker_backoff_initial_ms, (long long)cfg->worker_backoff_max_ms);
        return -1;
    }
    if (cfg->codex_bin[0] == '\0') {
        snprintf(errbuf, errlen, "CODEX_BIN: must not be empty");
        return -1;
    }
    if (cfg->state_dir[0] == '\0') {
        const char *home = get("HOME", ctx);
        if (home == NULL || home[0] == '\0') {
            snprintf(errbuf, errlen, "PROXY_STATE_DIR: not set, and HOME is not set to derive it");
            return -1;
        }
        char base[4096];
        snprintf(base, sizeof(base), "%s/.codex-gateway", home);
        derive_path(&cfg->state_dir, base, "");
    }
    derive_path(&cfg->codex_home, cfg->state_dir, "codex-home");
    derive_path(&cfg->codex_workdir, cfg->state_dir, "work");
    return 0;
}

int cg_config_load(struct cg_config *cfg, cg_config_getenv_fn get, void *ctx, char *errbuf,
                   size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    if (get == NULL)
        get = std_getenv;
    errbuf[0] = '\0';
    for (size_t i = 0; i < CG_ARRAY_SIZE(rows); i++) {
        const struct row *r = &rows[i];
        const char *v = get(r->env, ctx);
        /* Empty means "unset" for numbers and switches; for strings it is a real value
         * (PROXY_API_KEY= disables keys). */
        bool from_env = v != NULL && (v[0] != '\0' || is_string_kind(r->kind));
        cfg->sources_env[i] = from_env;
        if (set_row(cfg, r, from_env ? v : r->def, errbuf, errlen) != 0) {
            cg_config_dispose(cfg);
            return -1;
        }
    }
    split_keys(cfg->api_key, &cfg->api_keys, &cfg->api_key_count);
    split_keys(cfg->admin_keys, &cfg->admin_key_list, &cfg->admin_key_count);
    if (cross_checks(cfg, get, ctx, errbuf, errlen) != 0) {
        cg_config_dispose(cfg);
        return -1;
    }
    return 0;
}

void cg_config_dispose(struct cg_config *cfg)
{
    for (size_t i = 0; i < CG_ARRAY_SIZE(rows); i++) {
        if (is_string_kind(rows[i].kind)) {
            const char **field = (const char **)((char *)cfg + rows[i].offset);
            free((void *)*field);
            *field = NULL;
        }
    }
    free_keys(&cfg->api_keys, &cfg->api_key_count);
    free_keys(&cfg->admin_key_list, &cfg->admin_key_count);
}

/* Writes the printable value of row i: secrets become a count, never their text. */
static int append_value(const struct cg_config *cfg, size_t i, struct cg_buf *out, bool json)
{
    const struct row *r = &rows[i];
    const void *field = (const char *)cfg + r->offset;
    switch (r->kind) {
    case KIND_INT:
        return cg_buf_appendf(out, "%" PRId64, *(const int64_t *)field);
    case KIND_BOOL:
        return cg_buf_append_str(out, *(const bool *)field ? "true" : "false");
    case KIND_SECRET: {
        char masked[48];
        if (cfg->api_key_count == 0)
            snprintf(masked, sizeof(masked), "(not set)");
        else
            snprintf(masked, sizeof(masked), "(%zu key%s, hidden)", cfg->api_key_count,
                     cfg->api_key_count == 1 ? "" : "s");
        return json ? cg_json_cstring(out, masked) : cg_buf_append_str(out, masked);
    }
    case KIND_STR:
    case KIND_LEVEL:
    case KIND_SANDBOX:
    case KIND_BACKEND: {
        const char *s = *(const char *const *)field;
        return json ? cg_json_cstring(out, s) : cg_buf_append_str(out, s);
    }
    }
    return -1;
}

int cg_config_print(const struct cg_config *cfg, struct cg_buf *out)
{
    int err = 0;
    for (size_t i = 0; i < CG_ARRAY_SIZE(rows) && !err; i++) {
        err = cg_buf_appendf(out, "%s=", rows[i].env);
        if (!err)
            err = append_value(cfg, i, out, false);
        if (!err)
            err = cg_buf_append_str(out, cfg->sources_env[i] ? "\n" : "  (default)\n");
    }
    return err;
}

int cg_config_to_json(const struct cg_config *cfg, struct cg_buf *out)
{
    int err = cg_buf_append_char(out, '{');
    for (size_t i = 0; i < CG_ARRAY_SIZE(rows) && !err; i++) {
        err = cg_buf_appendf(out, "%s\"%s\":", i ? "," : "", rows[i].env);
        if (!err)
            err = append_value(cfg, i, out, true);
    }
    if (!err)
        err = cg_buf_append_char(out, '}');
    return err;
}

int cg_config_markdown(struct cg_buf *out)
{
    int err = cg_buf_append_str(out, "| Variable | Default | Allowed | Meaning |\n"
                                     "|---|---|---|---|\n");
    for (size_t i = 0; i < CG_ARRAY_SIZE(rows) && !err; i++) {
        const struct row *r = &rows[i];
        char allowed[64];
        switch (r->kind) {
        case KIND_INT:
            snprintf(allowed, sizeof(allowed), "%" PRId64 "–%" PRId64, r->min, r->max);
            break;
        case KIND_BOOL:
            snprintf(allowed, sizeof(allowed), "true, false");
            break;
        case KIND_LEVEL:
            snprintf(allowed, sizeof(allowed), "error, warn, info, debug");
            break;
        case KIND_SANDBOX:
        case KIND_BACKEND:
            choice_list(choice_words(r->kind), allowed, sizeof(allowed));
            break;
        case KIND_STR:
        case KIND_SECRET:
            snprintf(allowed, sizeof(allowed), "text");
            break;
        }
        err =
            cg_buf_appendf(out, "| `%s` | %s%s%s | %s | %s |\n", r->env, r->def[0] ? "`" : "",
                           r->def[0] ? r->def : "(empty)", r->def[0] ? "`" : "", allowed, r->help);
    }
    return err;
}
