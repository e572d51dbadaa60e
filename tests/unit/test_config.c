/* test_config.c: settings parse, range-check and mask as documented. */
#include <criterion/criterion.h>
#include <string.h>
#include "config.h"

struct fake_env {
    const char *const *pairs; /* name, value, name, value, ..., NULL */
};

static const char *lookup(const char *name, void *ctx)
{
    const struct fake_env *env = ctx;
    for (const char *const *p = env->pairs; *p; p += 2) {
        if (strcmp(p[0], name) == 0)
            return p[1];
    }
    return NULL;
}

static int load(struct cg_config *cfg, const char *const *pairs, char *err, size_t errlen)
{
    struct fake_env env = {pairs};
    return cg_config_load(cfg, lookup, &env, err, errlen);
}

Test(config, defaults_are_safe)
{
    static const char *const none[] = {"HOME", "/home/t", NULL};
    struct cg_config cfg;
    char err[256];
    cr_assert_eq(load(&cfg, none, err, sizeof(err)), 0);
    cr_assert_eq(cfg.port, 11435);
    cr_assert_str_eq(cfg.host, "127.0.0.1");
    cr_assert_eq(cfg.api_key_count, 0);
    cr_assert_eq(cfg.enable_cors, false);
    cr_assert_eq(cfg.max_body_bytes, 16 * 1024 * 1024);
    cg_config_dispose(&cfg);
}

Test(config, parses_values_and_splits_keys)
{
    static const char *const env[] = {"PORT", "8080", "PROXY_API_KEY", " a , b,, c ",
                                      "PROXY_ENABLE_CORS", "YES", "PROXY_MAX_HEADERS", " 50 ",
                                      "HOME", "/home/t", NULL};
    struct cg_config cfg;
    char err[256];
    cr_assert_eq(load(&cfg, env, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cfg.port, 8080);
    cr_assert_eq(cfg.enable_cors, true);
    cr_assert_eq(cfg.max_headers, 50);
    cr_assert_eq(cfg.api_key_count, 3);
    cr_assert_str_eq(cfg.api_keys[0], "a");
    cr_assert_str_eq(cfg.api_keys[1], "b");
    cr_assert_str_eq(cfg.api_keys[2], "c");
    cg_config_dispose(&cfg);
}

Test(config, empty_number_means_default)
{
    static const char *const env[] = {"PORT", "", "HOME", "/home/t", NULL};
    struct cg_config cfg;
    char err[256];
    cr_assert_eq(load(&cfg, env, err, sizeof(err)), 0);
    cr_assert_eq(cfg.port, 11435);
    cg_config_dispose(&cfg);
}

Test(config, rejects_bad_values_naming_the_variable)
{
    static const char *const cases[][3] = {
        {"PORT", "-1", "PORT: expected an integer in 0..65535, got \"-1\""},
        {"PORT", "12ab", "PORT: expected an integer in 0..65535, got \"12ab\""},
        {"PORT", "99999999999999999999", "PORT: expected an integer"},
        {"PROXY_PROTECT_MODELS", "maybe", "PROXY_PROTECT_MODELS: expected true or false"},
        {"PROXY_LOG_LEVEL", "chatty", "PROXY_LOG_LEVEL: expected error, warn, info or debug"},
        {"PROXY_MAX_CONNECTIONS", "0", "PROXY_MAX_CONNECTIONS: expected an integer in 1..1000000"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *env[] = {cases[i][0], cases[i][1], "HOME", "/home/t", NULL};
        struct cg_config cfg;
        char err[256];
        cr_assert_eq(load(&cfg, env, err, sizeof(err)), -1, "%s=%s", cases[i][0], cases[i][1]);
        cr_assert(strncmp(err, cases[i][2], strlen(cases[i][2])) == 0, "got: %s", err);
    }
}

Test(config, print_masks_keys_and_marks_defaults)
{
    static const char *const env[] = {"PROXY_API_KEY", "sk-secret-1,sk-secret-2", "PORT", "1",
                                      "HOME", "/home/t", NULL};
    struct cg_config cfg;
    char err[256];
    cr_assert_eq(load(&cfg, env, err, sizeof(err)), 0);
    struct cg_buf out;
    cg_buf_init(&out, 1 << 20);
    cr_assert_eq(cg_config_print(&cfg, &out), 0);
    cr_assert_null(strstr(out.data, "sk-secret"));
    cr_assert_not_null(strstr(out.data, "PROXY_API_KEY=(2 keys, hidden)\n"));
    cr_assert_not_null(strstr(out.data, "PORT=1\n"));
    cr_assert_not_null(strstr(out.data, "PROXY_HOST=127.0.0.1  (default)\n"));
    cg_buf_reset(&out);
    cr_assert_eq(cg_config_to_json(&cfg, &out), 0);
    cr_assert_null(strstr(out.data, "sk-secret"));
    cr_assert_not_null(strstr(out.data, "\"PORT\":1"));
    cg_buf_dispose(&out);
    cg_config_dispose(&cfg);
}

Test(config, paths_derive_from_the_state_dir)
{
    static const char *const env[] = {"HOME", "/home/t", NULL};
    struct cg_config cfg;
    char err[256];
    cr_assert_eq(load(&cfg, env, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cfg.state_dir, "/home/t/.codex-gateway");
    cr_assert_str_eq(cfg.codex_home, "/home/t/.codex-gateway/codex-home");
    cr_assert_str_eq(cfg.codex_workdir, "/home/t/.codex-gateway/work");
    cg_config_dispose(&cfg);
    static const char *const set[] = {"PROXY_STATE_DIR", "/srv/gw", "CODEX_HOME", "/srv/home",
                                      NULL};
    cr_assert_eq(load(&cfg, set, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cfg.codex_home, "/srv/home");
    cr_assert_str_eq(cfg.codex_workdir, "/srv/gw/work");
    cg_config_dispose(&cfg);
    static const char *const nohome[] = {NULL};
    cr_assert_eq(load(&cfg, nohome, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "PROXY_STATE_DIR"));
}

Test(config, cross_checks)
{
    static const char *const env[] = {"HOME", "/h", "WORKER_BACKOFF_INITIAL_MS", "9000",
                                      "WORKER_BACKOFF_MAX_MS", "100", NULL};
    struct cg_config cfg;
    char err[256];
    cr_assert_eq(load(&cfg, env, err, sizeof(err)), -1);
    cr_assert(strncmp(err, "WORKER_BACKOFF_INITIAL_MS", 25) == 0, "%s", err);
    static const char *const sandbox[] = {"HOME", "/h", "PROXY_SANDBOX_MODE", "yolo", NULL};
    cr_assert_eq(load(&cfg, sandbox, err, sizeof(err)), -1);
    cr_assert(strncmp(err, "PROXY_SANDBOX_MODE", 18) == 0, "%s", err);
}

/* The backend, its reason, and what stops the start. */
static void backend_case(const char *backend, const char *use_app_server, enum cg_backend_kind kind,
                         const char *reason)
{
    const char *env[8] = {"HOME", "/h"};
    size_t n = 2;
    if (backend) {
        env[n++] = "PROXY_BACKEND";
        env[n++] = backend;
    }
    if (use_app_server) {
        env[n++] = "PROXY_USE_APP_SERVER";
        env[n++] = use_app_server;
    }
    env[n] = NULL;
    struct cg_config cfg;
    char err[256];
    cr_assert_eq(load(&cfg, env, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cfg.backend_kind, kind, "%s / %s", backend, use_app_server);
    cr_assert_str_eq(cfg.backend_reason, reason);
    cr_assert_str_eq(cfg.backend, cg_config_backend_name(kind));
    cg_config_dispose(&cfg);
}

Test(config, backend_is_named_or_the_old_switch_never_guessed)
{
    backend_case(NULL, NULL, CG_BACKEND_APP_SERVER, "default");
    backend_case("exec", NULL, CG_BACKEND_EXEC, "PROXY_BACKEND");
    backend_case("proto", NULL, CG_BACKEND_PROTO, "PROXY_BACKEND");
    backend_case("app-server", "true", CG_BACKEND_APP_SERVER, "PROXY_BACKEND");
    backend_case(NULL, "false", CG_BACKEND_EXEC, "PROXY_USE_APP_SERVER=false");
    backend_case(NULL, "true", CG_BACKEND_APP_SERVER, "default");
    backend_case("exec", "false", CG_BACKEND_EXEC, "PROXY_BACKEND");
    /* CODEX_BIN's name says nothing. */
    static const char *const named[] = {"HOME", "/h", "CODEX_BIN", "/x/fake-codex-proto.js", NULL};
    struct cg_config cfg;
    char err[256];
    cr_assert_eq(load(&cfg, named, err, sizeof(err)), 0);
    cr_assert_eq(cfg.backend_kind, CG_BACKEND_APP_SERVER);
    cg_config_dispose(&cfg);
}

Test(config, backend_contradictions_and_unknown_names_stop_the_start)
{
    static const char *const clash[] = {"HOME", "/h", "PROXY_BACKEND", "app-server",
                                        "PROXY_USE_APP_SERVER", "false", NULL};
    struct cg_config cfg;
    char err[256];
    cr_assert_eq(load(&cfg, clash, err, sizeof(err)), -1);
    cr_assert(strncmp(err, "PROXY_USE_APP_SERVER", 20) == 0, "%s", err);
    static const char *const clash2[] = {"HOME", "/h", "PROXY_BACKEND", "proto",
                                         "PROXY_USE_APP_SERVER", "true", NULL};
    cr_assert_eq(load(&cfg, clash2, err, sizeof(err)), -1);
    static const char *const bogus[] = {"HOME", "/h", "PROXY_BACKEND", "codex-proto", NULL};
    cr_assert_eq(load(&cfg, bogus, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "PROXY_BACKEND: expected app-server, exec or proto, got \"codex-proto\"");
}
