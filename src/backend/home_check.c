/* home_check.c: CODEX_HOME existence, write probe and auth.json permissions. */
#include "backend/home_check.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util/json.h"

enum { PATH_BYTES = 4096 };

static const char AUTH_FILE[] = "auth.json";

int cg_home_check_mkdirs(const char *path, mode_t mode, const char *what, char *errbuf,
                         size_t errlen)
{
    char tmp[PATH_BYTES];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp)) {
        snprintf(errbuf, errlen, "%s: path is empty or too long", what);
        return -1;
    }
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char saved = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST) {
            snprintf(errbuf, errlen, "%s: cannot create %s: %s", what, tmp, strerror(errno));
            return -1;
        }
        tmp[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(errbuf, errlen, "%s: %s is not a directory", what, path);
        return -1;
    }
    return 0;
}

enum cg_home_auth cg_home_check_classify(mode_t mode, bool readable)
{
    if (mode & (S_IRWXG | S_IRWXO))
        return CG_HOME_AUTH_TOO_OPEN;
    return readable ? CG_HOME_AUTH_OK : CG_HOME_AUTH_UNREADABLE;
}

void cg_home_check_auth(const char *dir, struct cg_home_check *r)
{
    char path[PATH_BYTES + sizeof(AUTH_FILE) + 1]; /* mkdirs allows dir up to PATH_BYTES - 1 */
    snprintf(path, sizeof(path), "%s/%s", dir, AUTH_FILE);
    struct stat st;
    r->auth = CG_HOME_AUTH_ABSENT;
    r->auth_mode = 0;
    if (stat(path, &st) != 0)
        return;
    r->auth_mode = (unsigned)(st.st_mode & 07777);
    r->auth = cg_home_check_classify(st.st_mode, S_ISREG(st.st_mode) && access(path, R_OK) == 0);
}

/* access(2) says yes to root whatever the mode, and a read-only mount or a full disk only shows
 * on a real write: create and remove a file. */
static bool probe_write(const char *dir, char *errbuf, size_t errlen)
{
    char path[PATH_BYTES];
    int n = snprintf(path, sizeof(path), "%s/.codex-gateway-probe.%d", dir, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof(path)) {
        snprintf(errbuf, errlen, "CODEX_HOME: path too long");
        return false;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        unlink(path);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    if (fd < 0) {
        snprintf(errbuf, errlen,
                 "CODEX_HOME: %s is not writable (%s); Codex writes its logs and refreshed tokens "
                 "there: give it to the gateway's user",
                 dir, strerror(errno));
        return false;
    }
    close(fd);
    if (unlink(path) != 0) {
        snprintf(errbuf, errlen, "CODEX_HOME: cannot remove the probe file %.300s: %s", path,
                 strerror(errno));
        return false;
    }
    return true;
}

int cg_home_check_run(const char *dir, struct cg_home_check *r)
{
    memset(r, 0, sizeof(*r));
    struct stat st;
    bool existed = stat(dir, &st) == 0;
    if (cg_home_check_mkdirs(dir, 0700, "CODEX_HOME", r->error, sizeof(r->error)) != 0)
        return -1;
    r->created = !existed;
    /* Whoever else may write here can replace the login or drop a config.toml Codex loads. */
    if (stat(dir, &st) == 0) {
        r->dir_mode = (unsigned)(st.st_mode & 07777);
        r->dir_foreign = st.st_uid != geteuid();
        r->dir_open = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
        r->dir_uid = (unsigned)st.st_uid;
    }
    r->writable = probe_write(dir, r->error, sizeof(r->error));
    cg_home_check_auth(dir, r);
    return r->writable ? 0 : -1;
}

enum cg_home_verdict cg_home_check_verdict(const struct cg_home_check *r, const char *dir,
                                           bool strict, char *msg, size_t msglen)
{
    msg[0] = '\0';
    if (r->error[0] || !r->writable) {
        snprintf(msg, msglen, "%s", r->error[0] ? r->error : "CODEX_HOME: not writable");
        return CG_HOME_REFUSED;
    }
    if (r->dir_open || r->dir_foreign) {
        snprintf(msg, msglen,
                 "CODEX_HOME: %s is %s (mode %04o, owner uid %u); whoever can write there can "
                 "replace the Codex login or its config: run `chown` to the gateway's user and "
                 "`chmod 700`%s",
                 dir, r->dir_open ? "writable by group or others" : "owned by another user",
                 r->dir_mode, r->dir_uid,
                 strict ? " (PROXY_STRICT_HOME=true refuses to start until then)" : "");
        return strict ? CG_HOME_REFUSED : CG_HOME_WARN;
    }
    switch (r->auth) {
    case CG_HOME_AUTH_ABSENT:
    case CG_HOME_AUTH_OK:
        return CG_HOME_USABLE;
    case CG_HOME_AUTH_TOO_OPEN:
        snprintf(msg, msglen,
                 "CODEX_HOME: %s/%s is readable by group or others (mode %04o); it holds the Codex "
                 "login: run `chmod 600 %s/%s`%s",
                 dir, AUTH_FILE, r->auth_mode, dir, AUTH_FILE,
                 strict ? " (PROXY_STRICT_HOME=true refuses to start until then)" : "");
        return strict ? CG_HOME_REFUSED : CG_HOME_WARN;
    case CG_HOME_AUTH_UNREADABLE:
        snprintf(msg, msglen,
                 "CODEX_HOME: %s/%s (mode %04o) cannot be read by the gateway's user: Codex will "
                 "not find its login; chown it to that user",
                 dir, AUTH_FILE, r->auth_mode);
        return CG_HOME_WARN;
    }
    return CG_HOME_USABLE;
}

const char *cg_home_check_auth_name(enum cg_home_auth a)
{
    switch (a) {
    case CG_HOME_AUTH_ABSENT:
        return "absent";
    case CG_HOME_AUTH_OK:
        return "ok";
    case CG_HOME_AUTH_TOO_OPEN:
        return "too_open";
    case CG_HOME_AUTH_UNREADABLE:
        return "unreadable";
    }
    return "absent";
}

int cg_home_check_json(const struct cg_home_check *r, const char *dir, struct cg_buf *out)
{
    int err = cg_buf_append_str(out, "{\"path\":");
    if (!err)
        err = cg_json_cstring(out, dir);
    if (!err)
        err = cg_buf_appendf(out, ",\"created\":%s,\"writable\":%s,\"auth_json\":\"%s\",\"mode\":",
                             r->created ? "true" : "false", r->writable ? "true" : "false",
                             cg_home_check_auth_name(r->auth));
    if (!err && r->auth == CG_HOME_AUTH_ABSENT)
        err = cg_buf_append_str(out, "null");
    else if (!err)
        err = cg_buf_appendf(out, "\"%04o\"", r->auth_mode);
    if (!err)
        err = cg_buf_append_str(out, ",\"error\":");
    if (!err)
        err = cg_json_cstring(out, r->error[0] ? r->error : NULL);
    if (!err)
        err = cg_buf_append_char(out, '}');
    return err;
}
