/* state.c: gateway.db and the two stores on it (see state.h). */
#include "store/state.h"
#include <stdlib.h>
#include "store/db.h"
#include "util/alloc.h"
#include "util/common.h"

/* Append only: a file's user_version is the count of these it has run. The response store's
 * schema came first (gateway.db files made before the ledger are at version 1). */
static const char *const migrations[] = {
    cg_responses_store_migration,
    cg_ledger_migration,
};

struct cg_state {
    struct cg_db *db;
    struct cg_responses_store *store;
    struct cg_ledger *ledger;
};

static enum cg_err on_after_batch(struct cg_db *db, void *ctx)
{
    struct cg_state *st = ctx;
    enum cg_err err = cg_responses_store_after_batch(db, st->store);
    if (err == CG_OK)
        err = cg_ledger_after_batch(db, st->ledger);
    return err;
}

static void on_rolled_back(void *ctx)
{
    struct cg_state *st = ctx;
    cg_responses_store_rolled_back(st->store);
}

static void on_db_closed(void *data)
{
    struct cg_state *st = data;
    cg_responses_store_detach(st->store);
    cg_ledger_detach(st->ledger);
    free(st);
}

int cg_state_open(uv_loop_t *loop, const char *path, const struct cg_responses_store_limits *lim,
                  const struct cg_ledger_config *ledger, struct cg_state **out, char *errbuf,
                  size_t errlen)
{
    *out = NULL;
    struct cg_state *st = cg_xcalloc(1, sizeof(*st));
    struct cg_db_config cfg = {
        .migrations = migrations,
        .migration_count = CG_ARRAY_SIZE(migrations),
        .after_batch = on_after_batch,
        .rolled_back = on_rolled_back,
        .ctx = st,
    };
    if (cg_db_open(loop, path, &cfg, &st->db, errbuf, errlen) != 0) {
        free(st);
        return -1;
    }
    /* Both exist before the first job is queued, so the hooks never see one missing. */
    st->ledger = cg_ledger_attach(loop, st->db, ledger);
    cg_responses_store_attach(loop, st->db, lim, &st->store);
    *out = st;
    return 0;
}

struct cg_responses_store *cg_state_store(struct cg_state *st)
{
    return st->store;
}

struct cg_ledger *cg_state_ledger(struct cg_state *st)
{
    return st->ledger;
}

void cg_state_close(struct cg_state *st)
{
    cg_responses_store_close(st->store);
    cg_ledger_close(st->ledger);
    cg_db_close(st->db, on_db_closed, st);
}
