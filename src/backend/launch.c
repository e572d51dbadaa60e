/* launch.c: worker command line, environment and model catalog. The override list was measured
 * against Codex CLI 0.169.0 with a mock model server (and a mock ChatGPT backend for a ChatGPT
 * login): with it, the upstream request carries only the client's tools and the client's
 * instructions. Every features.* key is one `codex features list` of that release knows. */
#include "backend/launch.h"
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backend/home_check.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/capture.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"
#define LOG_COMPONENT "launch"

extern char **environ;

enum { ARGV_MAX = 96, CATALOG_MAX_BYTES = 1 << 20, PATH_DIRS_MAX = 256 };
/* What cg_launch_process_argv adds: -c model, -c effort, -c summary, the prompt. */
enum { PROCESS_ARGS_MAX = 7 };
/* `codex <sub> --help`: its whole text fits; a node launcher takes a while to start. */
enum { HELP_OUT_BYTES = 64 * 1024, HELP_TIMEOUT_MS = 10000 };

/* Switched off in model mode: Codex's own tools and the context it adds to every request. */
static const char *const model_mode_overrides[] = {
    "web_search=\"disabled\"",
    "include_permissions_instructions=false",
    "include_environment_context=false",
    "project_doc_max_bytes=0",
    "features.shell_tool=false",
    "features.view_image=false",
    "features.goals=false",
    "agents.enabled=false",
    "tools.experimental_request_user_input.enabled=false",
    "skills.include_instructions=false",
    "skills.bundled.enabled=false",
    "features.memories=false",
    /* A ChatGPT login brings the apps connector: MCP resource tools and image_gen in every
     * request, and calls to the ChatGPT backend's MCP endpoint. */
    "features.apps=false",
    "features.image_generation=false",
    "features.tool_suggest=false",
};

/* Always: no network calls of Codex's own, no login-shell snapshots, bounded connection
 * retries (unbounded ones hang a turn forever when the upstream is unreachable), unsubscribed
 * threads unloaded after a second, and nobody to answer approvals. */
static const char *const always_overrides[] = {
    "features.plugins=false",
    "features.shell_snapshot=false",
    "features.unbounded_connection_retries=false",
    "thread_unload_delay_secs=1",
    "analytics.enabled=false",
    "check_for_update_on_startup=false",
    "approval_policy=\"never\"",
};

/* A directory the gateway creates if missing and must be able to enter and write. */
static int make_dir(const char *path, const char *what, char *errbuf, size_t errlen)
{
    if (cg_home_check_mkdirs(path, 0700, what, errbuf, errlen) != 0)
        return -1;
    if (access(path, W_OK | X_OK) != 0) {
        snprintf(errbuf, errlen, "%s: %s is not writable", what, path);
        return -1;
    }
    return 0;
}

static char *toml_string(const char *key, const char *value)
{
    struct cg_buf b;
    cg_buf_init(&b, 8192);
    /* A JSON string is a valid TOML basic string. */
    int err = cg_buf_appendf(&b, "%s=", key);
    if (!err)
        err = cg_json_cstring(&b, value);
    return cg_buf_take(&b, NULL);
}

int cg_launch_catalog_json(const struct cg_catalog *cat, struct cg_buf *out)
{
    const char *targets[CG_CATALOG_MAX_MODELS];
    size_t n = cg_catalog_targets(cat, targets, CG_CATALOG_MAX_MODELS);
    json_t *models = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *levels = json_array();
        for (size_t k = 0; k < cg_catalog_effort_count; k++)
            json_array_append_new(levels, json_pack("{s:s,s:s}", "effort", cg_catalog_efforts[k],
                                                    "description", cg_catalog_efforts[k]));
        json_t *m = json_pack(
            "{s:s,s:s,s:s,s:o,s:s,s:{s:s},s:b,s:{s:s,s:i},s:s,s:s,s:b,s:I,s:[],s:s,s:n,s:n,"
            "s:I,s:I,s:[s,s]}",
            "slug", targets[i], "display_name", targets[i], "description",
            "served by codex-gateway", "supported_reasoning_levels", levels,
            "default_reasoning_level", "medium", "model_messages", "instructions_template",
            "You are a helpful assistant.", "support_verbosity", 0, "truncation_policy", "mode",
            "tokens", "limit", 10000, "shell_type", "shell_command", "visibility", "list",
            "supported_in_api", 1, "priority", (json_int_t)(i + 1), "experimental_supported_tools",
            "default_reasoning_summary", "auto", "tool_mode", "apply_patch_tool_type",
            "context_window", (json_int_t)272000, "max_context_window", (json_int_t)272000,
            "input_modalities", "text", "image");
        json_array_append_new(models, m);
    }
    json_t *root = json_pack("{s:o}", "models", models);
    int err = cg_json_dump(out, root);
    json_decref(root);
    return err;
}

static int write_catalog(struct cg_launch *l, const struct cg_config *cfg,
                         const struct cg_catalog *cat, char *errbuf, size_t errlen)
{
    struct cg_buf json;
    cg_buf_init(&json, CATALOG_MAX_BYTES);
    if (cg_launch_catalog_json(cat, &json) != 0) {
        cg_buf_dispose(&json);
        snprintf(errbuf, errlen, "cannot build the model catalog");
        return -1;
    }
    size_t n = strlen(cfg->state_dir) + 64;
    l->catalog_path = cg_xmalloc(n);
    snprintf(l->catalog_path, n, "%s/model-catalog.json", cfg->state_dir);
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.%d", l->catalog_path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && write(fd, json.data, json.len) == (ssize_t)json.len;
    if (fd >= 0)
        ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, l->catalog_path) == 0;
    cg_buf_dispose(&json);
    if (!ok) {
        snprintf(errbuf, errlen, "PROXY_STATE_DIR: cannot write %s: %s", l->catalog_path,
                 strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s);
    size_t m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_launcher(const char *bin)
{
    return ends_with(bin, ".js") || ends_with(bin, ".mjs");
}

/* realpath() of an existing file we may run: NULL with the reason in errbuf otherwise. */
static char *usable_file(const char *bin, const char *path, char *errbuf, size_t errlen)
{
    char resolved[PATH_MAX];
    if (realpath(path, resolved) == NULL) {
        snprintf(errbuf, errlen, "CODEX_BIN: %.200s: %s", bin, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (stat(resolved, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(errbuf, errlen, "CODEX_BIN: %.200s is not a file", bin);
        return NULL;
    }
    if (access(resolved, is_launcher(resolved) ? R_OK : X_OK) != 0) {
        snprintf(errbuf, errlen, "CODEX_BIN: %.200s is not %s", bin,
                 is_launcher(resolved) ? "readable" : "executable");
        return NULL;
    }
    return cg_xstrdup(resolved);
}

char *cg_launch_resolve_bin(const char *bin, const char *path_env, char *errbuf, size_t errlen)
{
    if (bin == NULL || bin[0] == '\0') {
        snprintf(errbuf, errlen, "CODEX_BIN: empty; set it to the Codex CLI");
        return NULL;
    }
    if (strchr(bin, '/'))
        return usable_file(bin, bin, errbuf, errlen);
    struct cg_str rest = cg_str_from(path_env ? path_env : "");
    for (size_t i = 0; i < PATH_DIRS_MAX && rest.len > 0; i++) {
        struct cg_str dir = cg_str_split(&rest, ':');
        char cand[PATH_MAX];
        int n = snprintf(cand, sizeof(cand), "%.*s/%s", dir.len ? (int)dir.len : 1,
                         dir.len ? dir.ptr : ".", bin);
        if (n < 0 || (size_t)n >= sizeof(cand))
            continue;
        struct stat st;
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) &&
            access(cand, is_launcher(bin) ? R_OK : X_OK) == 0)
            return usable_file(bin, cand, errbuf, errlen);
    }
    snprintf(errbuf, errlen,
             "CODEX_BIN: %.200s was not found on PATH; install the Codex CLI or set CODEX_BIN to "
             "its path",
             bin);
    return NULL;
}

/* The program, `mode` (the subcommand and its fixed flags, NULL-terminated), then the overrides
 * every Codex process of ours gets. */
static char **build_argv(struct cg_launch *l, const struct cg_config *cfg,
                         const char *const *mode)
{
    size_t n = 0;
    char **argv = cg_xcalloc(ARGV_MAX, sizeof(char *));
#define ARG(x) (argv[n++] = (x))
    if (is_launcher(l->codex_bin))
        ARG(cg_xstrdup("node"));
    ARG(cg_xstrdup(l->codex_bin));
    l->program_argc = n;
    for (size_t i = 0; mode[i]; i++)
        ARG(cg_xstrdup(mode[i]));
    ARG(cg_xstrdup("-c"));
    ARG(toml_string("model_catalog_json", l->catalog_path));
    ARG(cg_xstrdup("-c"));
    ARG(toml_string("sandbox_mode", cfg->sandbox_mode));
    for (size_t i = 0; i < CG_ARRAY_SIZE(always_overrides); i++) {
        ARG(cg_xstrdup("-c"));
        ARG(cg_xstrdup(always_overrides[i]));
    }
    if (!cfg->agent_mode) {
        for (size_t i = 0; i < CG_ARRAY_SIZE(model_mode_overrides); i++) {
            ARG(cg_xstrdup("-c"));
            ARG(cg_xstrdup(model_mode_overrides[i]));
        }
    }
    if (cfg->force_provider[0]) {
        ARG(cg_xstrdup("-c"));
        ARG(toml_string("model_provider", cfg->force_provider));
    }
#undef ARG
    argv[n] = NULL;
    return argv;
}

/* The per-request process: `codex exec` reads the prompt from stdin ("-") and must see EOF
 * there; --ephemeral keeps no session files; the work directory is no git repository. */
static void build_process_argv(struct cg_launch *l, const struct cg_config *cfg)
{
    static const char *const exec_mode[] = {"exec", "--json", "--ephemeral",
                                            "--skip-git-repo-check", NULL};
    static const char *const proto_mode[] = {"proto", NULL};
    if (cfg->backend_kind == CG_BACKEND_APP_SERVER)
        return;
    l->process_kind = cfg->backend_kind;
    l->process_argv = build_argv(l, cfg, cfg->backend_kind == CG_BACKEND_EXEC ? exec_mode : proto_mode);
    size_t n = 0;
    while (l->process_argv[n])
        n++;
    l->process_argc = n;
}

char **cg_launch_process_argv(const struct cg_launch *l, const char *model, const char *effort,
                              const char *summary)
{
    assert(l->process_argv);
    char **argv = cg_xcalloc(l->process_argc + PROCESS_ARGS_MAX + 1, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; i < l->process_argc; i++)
        argv[n++] = cg_xstrdup(l->process_argv[i]);
    argv[n++] = cg_xstrdup("-c");
    argv[n++] = toml_string("model", model);
    if (effort) {
        argv[n++] = cg_xstrdup("-c");
        argv[n++] = toml_string("model_reasoning_effort", effort);
    }
    if (summary) {
        argv[n++] = cg_xstrdup("-c");
        argv[n++] = toml_string("model_reasoning_summary", summary);
    }
    if (l->process_kind == CG_BACKEND_EXEC)
        argv[n++] = cg_xstrdup("-");
    assert(n <= l->process_argc + PROCESS_ARGS_MAX);
    argv[n] = NULL;
    return argv;
}

/* Whether `help` has a line "Usage: <program> <sub> ..." (clap's form): a CLI without the
 * subcommand prints its top-level usage instead, taking the word as a prompt. */
static bool usage_names(const char *help, const char *sub)
{
    size_t sublen = strlen(sub);
    for (const char *line = help; line && *line;) {
        const char *u = strstr(line, "Usage: ");
        if (u == NULL)
            return false;
        const char *prog_end = strchr(u + 7, ' ');
        if (prog_end && strncmp(prog_end + 1, sub, sublen) == 0 &&
            (prog_end[1 + sublen] == ' ' || prog_end[1 + sublen] == '\n' ||
             prog_end[1 + sublen] == '\0'))
            return true;
        line = strchr(u, '\n');
    }
    return false;
}

int cg_launch_check_process(const struct cg_launch *l, char *errbuf, size_t errlen)
{
    const char *sub = l->process_kind == CG_BACKEND_PROTO ? "proto" : "exec";
    char *argv[ARGV_MAX];
    size_t n = 0;
    for (size_t i = 0; i < l->program_argc; i++)
        argv[n++] = l->process_argv[i];
    argv[n++] = (char *)sub;
    argv[n++] = "--help";
    argv[n] = NULL;
    static char help[HELP_OUT_BYTES];
    int rc = cg_capture_run(argv, l->env, HELP_TIMEOUT_MS, help, sizeof(help));
    if (rc == 0 && usage_names(help, sub))
        return 0;
    if (rc == 0 || rc == 2)
        snprintf(errbuf, errlen,
                 "PROXY_BACKEND=%s: this Codex CLI (%.200s) has no `%s` command%s", sub,
                 l->codex_bin, sub,
                 l->process_kind == CG_BACKEND_PROTO
                     ? " (it left the CLI after 0.5x); use PROXY_BACKEND=exec"
                     : "; use PROXY_BACKEND=app-server");
    else
        snprintf(errbuf, errlen, "PROXY_BACKEND=%s: `%.200s %s --help` %s%d", sub, l->codex_bin,
                 sub, rc < 0 ? "did not run to its end: " : "exited with status ",
                 rc < 0 ? (int)HELP_TIMEOUT_MS : rc);
    return -1;
}

void cg_launch_argv_free(char **argv)
{
    if (argv == NULL)
        return;
    for (size_t i = 0; argv[i]; i++)
        free(argv[i]);
    free(argv);
}

static bool env_dropped(const char *entry)
{
    /* Our client keys never reach Codex; CODEX_HOME is set below. */
    static const char *const dropped[] = {"PROXY_API_KEY=", "CODEX_HOME=", "NO_COLOR="};
    for (size_t i = 0; i < CG_ARRAY_SIZE(dropped); i++) {
        if (strncmp(entry, dropped[i], strlen(dropped[i])) == 0)
            return true;
    }
    return false;
}

static void build_env(struct cg_launch *l, const struct cg_config *cfg)
{
    size_t count = 0;
    while (environ[count])
        count++;
    l->env = cg_xcalloc(count + 4, sizeof(char *));
    size_t n = 0;
    bool have_rust_log = false;
    for (size_t i = 0; i < count; i++) {
        if (env_dropped(environ[i]))
            continue;
        have_rust_log = have_rust_log || strncmp(environ[i], "RUST_LOG=", 9) == 0;
        l->env[n++] = cg_xstrdup(environ[i]);
    }
    size_t len = strlen(cfg->codex_home) + 16;
    l->env[n] = cg_xmalloc(len);
    snprintf(l->env[n++], len, "CODEX_HOME=%s", cfg->codex_home);
    /* Codex's warn lines come once per turn in normal operation; keep its errors only. */
    if (!have_rust_log)
        l->env[n++] = cg_xstrdup("RUST_LOG=error");
    l->env[n++] = cg_xstrdup("NO_COLOR=1"); /* no ANSI escapes in our JSON log */
    l->env[n] = NULL;
}

int cg_launch_init(struct cg_launch *l, const struct cg_config *cfg,
                   const struct cg_catalog *cat, char *errbuf, size_t errlen)
{
    memset(l, 0, sizeof(*l));
    l->codex_bin = cg_launch_resolve_bin(cfg->codex_bin, getenv("PATH"), errbuf, errlen);
    if (l->codex_bin == NULL)
        return -1;
    if (make_dir(cfg->state_dir, "PROXY_STATE_DIR", errbuf, errlen) != 0 ||
        make_dir(cfg->codex_home, "CODEX_HOME", errbuf, errlen) != 0 ||
        make_dir(cfg->codex_workdir, "PROXY_CODEX_WORKDIR", errbuf, errlen) != 0)
        return -1;
    if (write_catalog(l, cfg, cat, errbuf, errlen) != 0)
        return -1;
    size_t alen = strlen(cfg->codex_home) + 16;
    l->auth_path = cg_xmalloc(alen);
    snprintf(l->auth_path, alen, "%s/auth.json", cfg->codex_home);
    static const char *const app_server_mode[] = {"app-server", NULL};
    l->argv = build_argv(l, cfg, app_server_mode);
    build_process_argv(l, cfg);
    build_env(l, cfg);
    size_t n = strlen(cfg->codex_home) * 3 + 512;
    l->login_hint = cg_xmalloc(n);
    snprintf(l->login_hint, n,
             "Log Codex in once: run `CODEX_HOME=%s codex login` (add --device-auth on a machine "
             "without a browser), or copy auth.json from a machine where Codex is logged in to "
             "%s/auth.json (chmod 600); the gateway picks it up within 15 seconds.",
             cfg->codex_home, cfg->codex_home);
    return 0;
}

void cg_launch_dispose(struct cg_launch *l)
{
    free(l->codex_bin);
    cg_launch_argv_free(l->argv);
    cg_launch_argv_free(l->process_argv);
    cg_launch_argv_free(l->env);
    free(l->catalog_path);
    free(l->auth_path);
    free(l->login_hint);
    memset(l, 0, sizeof(*l));
}
