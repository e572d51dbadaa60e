/* listener.h: the HTTP server settings of a listener (the gateway's, the verifier's), from the
 * configuration: every role gets the same limits and timeouts. */
#ifndef CG_LISTENER_H
#define CG_LISTENER_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "http/server.h"

/* `host` is borrowed: it must outlive the server (a config string). */
struct cg_server_config cg_listener_config(const struct cg_config *cfg, const char *host,
                                           int64_t port);

/* Raises the soft limit on open descriptors to the hard one, and warns when it stays below
 * `want` (one per connection, plus a reserve). */
void cg_listener_raise_fd_limit(size_t want);

#endif
