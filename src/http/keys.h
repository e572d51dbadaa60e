/* keys.h: the named keys file (PROXY_API_KEYS_FILE). One key per line:
 *
 *     <label> sha256:<64 hex digits> [rpm=N] [tpm=N] [concurrent=N] [models=a,b,...] [admin]
 *
 * `#` starts a comment (to the end of the line); blank lines are skipped. The file holds only
 * digests (`codex-gateway hash-key` prints one from a key on stdin): a presented key is hashed
 * and its digest compared in constant time with every entry. Labels name the key in logs and
 * stored data; rpm (requests per minute), tpm (tokens per minute) and concurrent override the
 * PROXY_RATE_LIMIT_* defaults for that key; models
 * limits which model ids it may ask for; admin marks an operator key.
 *
 * A table is immutable once parsed and replaced whole on reload, so what a request needs from
 * its entry is copied into the request when it is admitted. */
#ifndef CG_HTTP_KEYS_H
#define CG_HTTP_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "util/common.h"
#include "util/sha256.h"
#include "util/str.h"

enum {
    CG_KEYS_LABEL_MAX_BYTES = 64,      /* with its NUL; [A-Za-z0-9._-] */
    CG_KEYS_MODELS_MAX_BYTES = 1024,   /* the models= list as written */
    CG_KEYS_MAX = 1024,                /* entries in one file */
    CG_KEYS_FILE_MAX_BYTES = 1 << 20,  /* the file itself */
};

struct cg_key_entry {
    char label[CG_KEYS_LABEL_MAX_BYTES];
    uint8_t digest[CG_SHA256_BYTES];
    uint64_t rpm;        /* 0 = the default limit */
    uint64_t tpm;        /* 0 = the default budget */
    uint64_t concurrent; /* 0 = the default cap */
    char *models;        /* "a,b" as written; NULL = any model */
    bool admin;
};

struct cg_keys {
    struct cg_key_entry *entries;
    size_t count;
};

/* Parses a whole file's text. On error returns -1 with one line in `errbuf` ("line 3: ...")
 * and `*out` untouched; on success `*out` is a new table (cg_keys_free). */
int cg_keys_parse(const char *text, size_t len, struct cg_keys **out, char *errbuf,
                  size_t errlen) CG_MUST_CHECK;
/* Reads and parses `path`; errors as cg_keys_parse, with the path or errno in the line. */
int cg_keys_load(const char *path, struct cg_keys **out, char *errbuf, size_t errlen)
    CG_MUST_CHECK;
void cg_keys_free(struct cg_keys *keys);

/* The entry whose digest is SHA-256(`token`), or NULL; constant time over every entry. */
const struct cg_key_entry *cg_keys_match(const struct cg_keys *keys, struct cg_str token);

/* True when `model` is on `models` (a models= list; NULL allows every model). */
bool cg_keys_model_allowed(const char *models, const char *model);

/* "sha256:" + 64 lower-case hex digits of SHA-256(key), NUL-terminated. */
enum { CG_KEYS_HASH_TEXT_BYTES = 7 + 2 * CG_SHA256_BYTES + 1 };
void cg_keys_hash_text(const char *key, size_t len, char out[CG_KEYS_HASH_TEXT_BYTES]);

/* The keys file in use, reloaded on SIGHUP and when the file changes. A reload that fails
 * (unreadable file, a bad line) keeps the table in use and logs one line. */
struct cg_keys_watch {
    char *path;
    const struct cg_keys **slot; /* where the table in use is published (cg_auth.named) */
    struct cg_keys *current;
    uv_signal_t sighup;
    uv_fs_poll_t poll;
    int handles_open;
};

/* Loads `path` into `*slot`; on error -1 with one line in `errbuf` and nothing started. With
 * `loop` NULL nothing is watched (cg_keys_watch_reload reloads by hand). */
int cg_keys_watch_start(struct cg_keys_watch *w, uv_loop_t *loop, const char *path,
                        const struct cg_keys **slot, char *errbuf, size_t errlen) CG_MUST_CHECK;
/* Reloads now; 0, or -1 when the old table was kept. */
int cg_keys_watch_reload(struct cg_keys_watch *w);
/* Closes the handles; the table stays published until the last close callback frees it. */
void cg_keys_watch_stop(struct cg_keys_watch *w);

#endif
