/* router.h: exact-path routing. For each request, in order: CORS headers and preflights,
 * 404 for an unknown path, 405 (with Allow) for a wrong method, the route's access rule (API key,
 * or loopback when no key is configured), then the handler. The table itself is built by
 * api/routes.c; this file knows no endpoint. */
#ifndef CG_HTTP_ROUTER_H
#define CG_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include "http/auth.h"
#include "http/cors.h"
#include "http/exchange.h"

typedef void (*cg_route_handler)(struct cg_exchange *ex, void *ctx);

enum cg_route_access {
    CG_ACCESS_OPEN,   /* probes: anyone */
    CG_ACCESS_KEY,    /* an API key (or a loopback client when no key is configured) */
    CG_ACCESS_MODELS, /* like KEY when PROXY_PROTECT_MODELS, else loopback-only without keys */
};

struct cg_route {
    const char *path; /* exact; with `prefix`, the route also takes path + "<id>" */
    bool prefix;
    unsigned methods; /* cg_method bits; GET implies HEAD */
    enum cg_route_access access;
    const char *name; /* for logs */
    cg_route_handler handler;
};

struct cg_router {
    const struct cg_route *routes;
    size_t count;
    const struct cg_cors *cors;
    const struct cg_auth *auth;
    bool protect_models;
    void *ctx; /* passed to every handler */
};

void cg_router_dispatch(const struct cg_router *r, struct cg_exchange *ex);

/* For a prefix route: the part of the path after the route's prefix. */
struct cg_str cg_router_tail(const struct cg_exchange *ex, const char *prefix);

#endif
