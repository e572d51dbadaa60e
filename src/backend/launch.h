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
    char **argv; /* NULL-terminated */
    char **env;  /* NULL-terminated */
    char *catalog_path;
    char *auth_path; /* CODEX_HOME/auth.json: its appearance ends a login-required state */
    char *login_hint;
};

/* Creates PROXY_STATE_DIR, CODEX_HOME and PROXY_CODEX_WORKDIR if missing, checks CODEX_HOME,
 * writes the model catalog and builds argv/env. -1 with one line in errbuf on failure. */
int cg_launch_init(struct cg_launch *l, const struct cg_config *cfg,
                   const struct cg_catalog *cat, char *errbuf, size_t errlen) CG_MUST_CHECK;
void cg_launch_dispose(struct cg_launch *l);

/* The Codex model catalog JSON for `cat` (every distinct target slug, default first). */
int cg_launch_catalog_json(const struct cg_catalog *cat, struct cg_buf *out) CG_MUST_CHECK;

#endif
