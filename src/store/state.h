/* state.h: PROXY_STATE_DIR/gateway.db: one SQLite file, one writer thread and one group commit
 * for the gateway's stores (stored responses, the usage ledger); its schema version counts the
 * migrations of both, in the order they were added. */
#ifndef CG_STORE_STATE_H
#define CG_STORE_STATE_H

#include <stddef.h>
#include <uv.h>
#include "core/errors.h"
#include "store/ledger.h"
#include "store/responses_store.h"

struct cg_state; /* opaque */

/* Opens or creates the database at `path` and both stores on it. On failure
 * "<path>: <reason>" goes to `errbuf` and *out stays NULL. */
int cg_state_open(uv_loop_t *loop, const char *path, const struct cg_responses_store_limits *lim,
                  const struct cg_ledger_config *ledger, struct cg_state **out, char *errbuf,
                  size_t errlen) CG_MUST_CHECK;

/* Borrowed; valid until cg_state_close. */
struct cg_responses_store *cg_state_store(struct cg_state *st);
struct cg_ledger *cg_state_ledger(struct cg_state *st);

/* Closes both stores (the ledger's queued rows are written, every queued job's callback fires),
 * then the database; everything is freed once the loop has run the close callbacks. */
void cg_state_close(struct cg_state *st);

#endif
