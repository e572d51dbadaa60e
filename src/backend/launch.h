/* launch.h: how a Codex worker is started: the command line with the "model mode" overrides,
 * the environment, the directories, and the model catalog file Codex reads (so the served
 * models are exactly the gateway's, with no built-in tools attached to them). */
#ifndef CG_BACKEND_LAUNCH_H
#define CG_BACKEND_LAUNCH_H

#include <stddef.h>
#include "config.h"
#include "core/catalog.h"
#include "util/common.h"

struct cg_launch {
    char *codex_bin;     /* CODEX_BIN, resolved to an absolute path */
    char **argv;         /* the app-server worker's, NULL-terminated */
    size_t program_argc; /* argv entries naming the program: "node" + launcher, or the binary */
    /* The exec or proto backend's process, before the per-request arguments; NULL with the
     * app-server backend. */
    char **process_argv;
    size_t process_argc;
    enum cg_backend_kind process_kind;
    char **env;          /* NULL-terminated */
    char *catalog_path;
    char *auth_path; /* CODEX_HOME/auth.json: its appearance ends a login-required state */
    char *login_hint;
};

/* Resolves CODEX_BIN, creates PROXY_STATE_DIR, CODEX_HOME and PROXY_CODEX_WORKDIR if missing,
 * checks CODEX_HOME, writes the model catalog and builds argv/env. -1 with one line in errbuf
 * on failure. */
int cg_launch_init(struct cg_launch *l, const struct cg_config *cfg,
                   const struct cg_catalog *cat, char *errbuf, size_t errlen) CG_MUST_CHECK;
void cg_launch_dispose(struct cg_launch *l);

/* The command line of one per-request process (exec or proto, as configured): process_argv,
 * then `-c model=<model>`, `-c model_reasoning_effort=<effort>` and
 * `-c model_reasoning_summary=<summary>` when not NULL, and for exec the prompt argument "-"
 * (read from stdin). Free with cg_launch_argv_free. */
char **cg_launch_process_argv(const struct cg_launch *l, const char *model, const char *effort,
                              const char *summary);
/* exec and proto: runs `CODEX_BIN <exec|proto> --help` once (synchronously, at most 10 s) and
 * checks that this CLI has the command: a CLI without it would take the word as a prompt for
 * its interactive mode. -1 with one line in errbuf when it has not. */
int cg_launch_check_process(const struct cg_launch *l, char *errbuf, size_t errlen)
    CG_MUST_CHECK;
/* Frees a NULL-terminated list of strings (NULL is fine). */
void cg_launch_argv_free(char **argv);

/* Resolves CODEX_BIN once, so the workers' own directory (PROXY_CODEX_WORKDIR) never changes
 * what it means: a value with a '/' is taken relative to the gateway's working directory, a
 * bare name is looked up on `path_env` (PATH). Returns a malloc'd absolute path, or NULL with
 * one line naming CODEX_BIN in errbuf when it is missing or cannot be run (a .js launcher,
 * run with node, need only be readable). */
char *cg_launch_resolve_bin(const char *bin, const char *path_env, char *errbuf, size_t errlen);

/* The Codex model catalog JSON for `cat` (every distinct target slug, default first). */
int cg_launch_catalog_json(const struct cg_catalog *cat, struct cg_buf *out) CG_MUST_CHECK;

#endif
