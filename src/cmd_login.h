/* cmd_login.h: `codex-gateway login [ARGS...]`: the Codex CLI's own login (by default the
 * device-code flow, `CODEX_BIN login --device-auth`, which suits a headless server) run into
 * the configured CODEX_HOME, created 0700 first, with the terminal handed to it. */
#ifndef CG_CMD_LOGIN_H
#define CG_CMD_LOGIN_H

/* argv[1] is "login"; argv[2..] replace --device-auth when given (e.g. --with-api-key). Returns
 * the CLI's exit status (128 + signal when it was killed), 2 for a bad setting, and 1 when the
 * login succeeded but left auth.json readable by others. */
int cg_cmd_login_run(int argc, char **argv);

#endif
