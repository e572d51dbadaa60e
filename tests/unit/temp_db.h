/* temp_db.h: a fresh directory under /tmp with the path of a gateway.db in it, for the store
 * tests, and its removal with everything SQLite left there (WAL, shm). */
#ifndef CG_TESTS_TEMP_DB_H
#define CG_TESTS_TEMP_DB_H

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

struct temp_db {
    char dir[64];
    char path[128];
};

static inline int temp_db_rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* `prefix` names the test's directory: "/tmp/<prefix>-XXXXXX". */
static inline void temp_db_make(struct temp_db *t, const char *prefix)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/%s-XXXXXX", prefix);
    cr_assert_not_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof(t->path), "%s/gateway.db", t->dir);
}

static inline void temp_db_remove(struct temp_db *t)
{
    chmod(t->dir, 0700); /* a test may have made it read-only */
    nftw(t->dir, temp_db_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

#endif
