/* home_check.h: the CODEX_HOME checks made before any worker starts (and by `doctor`): the
 * directory exists or can be created (0700), the gateway can really write in it (a probe file is
 * created and removed: Codex writes its logs and refreshed tokens there), and auth.json, if
 * present, is readable by us and by nobody else. */
#ifndef CG_BACKEND_HOME_CHECK_H
#define CG_BACKEND_HOME_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "util/buf.h"
#include "util/common.h"

enum cg_home_auth {
    CG_HOME_AUTH_ABSENT,     /* no auth.json: Codex has no login yet */
    CG_HOME_AUTH_OK,         /* a regular file, mode 0600 or tighter */
    CG_HOME_AUTH_TOO_OPEN,   /* group or others have some access to it */
    CG_HOME_AUTH_UNREADABLE, /* there, but the gateway's user cannot read it */
};

enum cg_home_verdict {
    CG_HOME_USABLE,  /* nothing to say */
    CG_HOME_WARN,    /* usable; the message says what to fix */
    CG_HOME_REFUSED, /* the gateway must not start */
};

enum { CG_HOME_CHECK_ERROR_BYTES = 512 };

struct cg_home_check {
    bool created;  /* the directory was missing and was made by this check */
    bool writable; /* the probe file could be created and removed */
    bool dir_open;      /* group or others may write in the directory */
    bool dir_foreign;   /* the directory belongs to another user than ours */
    unsigned dir_mode;  /* its permission bits */
    unsigned dir_uid;   /* its owner */
    enum cg_home_auth auth;
    unsigned auth_mode; /* permission bits of auth.json; 0 when absent */
    /* Why the directory cannot be used ("" when it can): one line naming CODEX_HOME. */
    char error[CG_HOME_CHECK_ERROR_BYTES];
};

/* Creates `path` and its missing parents with `mode`; -1 with one line starting "<what>: " in
 * errbuf when a part cannot be made or the result is not a directory. */
int cg_home_check_mkdirs(const char *path, mode_t mode, const char *what, char *errbuf,
                         size_t errlen) CG_MUST_CHECK;

/* Runs every check on `dir`, creating it (0700) when missing. Fills `r` in all cases; returns -1
 * when the directory is missing, not a directory or not writable (r->error says which). */
int cg_home_check_run(const char *dir, struct cg_home_check *r) CG_MUST_CHECK;

/* Only the auth.json part (a stat and an access check), e.g. to refresh it for /healthz. */
void cg_home_check_auth(const char *dir, struct cg_home_check *r);

/* What a file mode means for auth.json: any group or other bit is too open. */
enum cg_home_auth cg_home_check_classify(mode_t mode, bool readable);

/* The decision: refused when the directory is unusable, or when it or auth.json is too open (a
 * directory others may write in, or another user's) and `strict` (PROXY_STRICT_HOME); a warning
 * for those and for an unreadable auth.json otherwise. Writes the
 * one line to print (naming the file, its mode and the fix) into msg, "" when usable. */
enum cg_home_verdict cg_home_check_verdict(const struct cg_home_check *r, const char *dir,
                                           bool strict, char *msg, size_t msglen);

/* "absent" | "ok" | "too_open" | "unreadable" */
const char *cg_home_check_auth_name(enum cg_home_auth a);

/* {"path","created","writable","auth_json","mode","error"} (mode as "0644", null when absent) */
int cg_home_check_json(const struct cg_home_check *r, const char *dir,
                       struct cg_buf *out) CG_MUST_CHECK;

#endif
