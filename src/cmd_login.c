/* cmd_login.c: runs the Codex CLI's login with the workers' environment (cg_launch), waits for
 * it, and checks the auth.json it left behind as the start-up check would. */
#include "cmd_login.h"
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include "backend/home_check.h"
#include "backend/launch.h"
#include "config.h"
#include "core/catalog.h"

enum { EXIT_CONFIG = 2, LOGIN_ARGS_MAX = 64 };

/* Exit status of the child, the shell's way for a signal. */
static int wait_child(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return 1;
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}

/* After the CLI is done: what the next `serve` would say of the file it wrote. */
static int check_result(const char *home, int rc)
{
    struct cg_home_check r = {.writable = true};
    cg_home_check_auth(home, &r);
    char msg[CG_HOME_CHECK_ERROR_BYTES * 2];
    enum cg_home_verdict v = cg_home_check_verdict(&r, home, false, msg, sizeof(msg));
    if (rc != 0) {
        fprintf(stderr, "codex-gateway login: the Codex CLI exited with status %d\n", rc);
        return rc;
    }
    if (r.auth == CG_HOME_AUTH_ABSENT) {
        fprintf(stderr, "codex-gateway login: the Codex CLI succeeded but %s/auth.json is absent\n",
                home);
        return 0;
    }
    if (v != CG_HOME_USABLE) {
        fprintf(stderr, "codex-gateway login: %s\n", msg);
        return 1;
    }
    fprintf(stderr, "codex-gateway login: %s/auth.json written (mode %04o)\n", home, r.auth_mode);
    return 0;
}

int cg_cmd_login_run(int argc, char **argv)
{
    struct cg_config cfg;
    struct cg_catalog catalog;
    struct cg_launch launch;
    struct cg_home_check home;
    char err[1024];
    int rc = EXIT_CONFIG;
    memset(&launch, 0, sizeof(launch));
    if (cg_config_load(&cfg, NULL, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "codex-gateway: %s\n", err);
        return EXIT_CONFIG;
    }
    if (argc - 2 > LOGIN_ARGS_MAX) {
        fprintf(stderr, "codex-gateway login: at most %d arguments\n", LOGIN_ARGS_MAX);
        goto out;
    }
    if (cg_home_check_run(cfg.codex_home, &home) != 0) {
        fprintf(stderr, "codex-gateway: %s\n", home.error);
        goto out;
    }
    if (cg_catalog_init(&catalog, cfg.codex_model) != 0) {
        fprintf(stderr, "codex-gateway: CODEX_MODEL: invalid\n");
        goto out;
    }
    if (cg_launch_init(&launch, &cfg, &catalog, err, sizeof(err)) != 0) {
        fprintf(stderr, "codex-gateway: %s\n", err);
        goto out;
    }
    /* The workers' program (a .js launcher comes with "node" in front), then "login". */
    const char *args[LOGIN_ARGS_MAX + 4];
    size_t n = 0;
    while (n < launch.program_argc) {
        args[n] = launch.argv[n];
        n++;
    }
    args[n++] = "login";
    if (argc > 2) {
        for (int i = 2; i < argc; i++)
            args[n++] = argv[i];
    } else {
        args[n++] = "--device-auth";
    }
    args[n] = NULL;
    fprintf(stderr, "codex-gateway login: logging Codex in to CODEX_HOME=%s\n", cfg.codex_home);
    /* The terminal's ^C belongs to the CLI: it decides, and we report its status. */
    struct sigaction ign = {.sa_handler = SIG_IGN};
    struct sigaction old_int;
    struct sigaction old_quit;
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    /* ...but an ignored signal stays ignored across exec: the child gets the defaults back. */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t dfl;
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGQUIT);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int e = posix_spawnp(&pid, args[0], NULL, &attr, (char *const *)args, launch.env);
    posix_spawnattr_destroy(&attr);
    if (e != 0) {
        fprintf(stderr, "codex-gateway login: cannot run %s: %s\n", args[0], strerror(e));
        rc = 1;
    } else {
        rc = check_result(cfg.codex_home, wait_child(pid));
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
out:
    cg_launch_dispose(&launch);
    cg_config_dispose(&cfg);
    return rc;
}
