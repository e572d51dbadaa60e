/* login.h: `fake-codex login [--device-auth] [-c k=v ...]` and `fake-codex login status`, shaped
 * like the real CLI's device-code login but with no network: it prints the device-code prompt,
 * writes $CODEX_HOME/auth.json (mode 0600) and exits 0; FAKE_CODEX_LOGIN=fail exits 1 instead. */
#ifndef FC_LOGIN_H
#define FC_LOGIN_H

/* argv[1] is "login"; returns the exit status. */
int fc_login_main(int argc, char **argv);

#endif
