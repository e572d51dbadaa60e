/* login.c: the fake device-code login. The prompt follows the real CLI's wording (Codex CLI
 * 0.169.0, `codex login --device-auth`); the tokens are obviously fake. */
#include "login.h"
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char AUTH_JSON[] =
    "{\n  \"OPENAI_API_KEY\": null,\n  \"tokens\": {\n    \"id_token\": \"fake.id.token\",\n"
    "    \"access_token\": \"fake-access-token\",\n    \"refresh_token\": \"fake-refresh-token\",\n"
    "    \"account_id\": \"fake-account\"\n  },\n  \"last_refresh\": \"2026-01-01T00:00:00Z\"\n}\n";

static int auth_path(char *out, size_t len)
{
    const char *home = getenv("CODEX_HOME");
    if (home == NULL || home[0] == '\0') {
        fprintf(stderr, "fake-codex: CODEX_HOME is not set (the fake never writes ~/.codex)\n");
        return -1;
    }
    int n = snprintf(out, len, "%s/auth.json", home);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "fake-codex: CODEX_HOME is too long\n");
        return -1;
    }
    return 0;
}

static int status(void)
{
    char path[4096];
    if (auth_path(path, sizeof(path)) != 0)
        return 1;
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "Not logged in\n");
        return 1;
    }
    fprintf(stderr, "Logged in using ChatGPT\n");
    return 0;
}

static int write_auth(const char *path)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "Error logging in: failed to write %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    size_t len = sizeof(AUTH_JSON) - 1;
    bool ok = write(fd, AUTH_JSON, len) == (ssize_t)len;
    ok = fchmod(fd, 0600) == 0 && ok;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "Error logging in: failed to write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return 1;
    }
    return 0;
}

int fc_login_main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[2], "status") == 0)
        return status();
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            i++;
            continue;
        }
        if (strcmp(argv[i], "--device-auth") != 0) {
            fprintf(stderr, "fake-codex: login: unexpected argument `%s`\n", argv[i]);
            return 2;
        }
    }
    char path[4096];
    if (auth_path(path, sizeof(path)) != 0)
        return 1;
    printf("\nWelcome to Codex [v0.169.0]\nOpenAI's command-line coding agent\n\n"
           "Follow these steps to sign in with ChatGPT using device code authorization:\n\n"
           "1. Open this link in your browser and sign in to your account\n"
           "   https://auth.openai.com/codex/device\n\n"
           "2. Enter this one-time code (expires in 15 minutes)\n"
           "   FAKE-C0DE1\n\n"
           "Device codes are a common phishing target. Never share this code.\n\n");
    fflush(stdout);
    const char *mode = getenv("FAKE_CODEX_LOGIN");
    if (mode && strcmp(mode, "fail") == 0) {
        fprintf(stderr, "Error logging in with device code: device code expired\n");
        return 1;
    }
    if (write_auth(path) != 0)
        return 1;
    fprintf(stderr, "Successfully logged in\n");
    return 0;
}
