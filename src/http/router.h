/* router.h: exact-path routing. For each request, in order: CORS headers and preflights,
 * 404 for an unknown path, 405 (with Allow) for a wrong method, the route's access rule (API key,
 * or loopback when no key is configured; for /metrics loopback or the metrics token), then the
 * handler. Everything before the handler is
 * decided on the head alone (cg_router_admit), so a refused request's body is never read. The table
 * itself is built by api/routes.c; this file knows no endpoint. */
#ifndef CG_HTTP_ROUTER_H
#define CG_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include "http/auth.h"
#include "http/cors.h"
#include "http/exchange.h"
#include "http/ratelimit.h"

typedef void (*cg_route_handler)(struct cg_exchange *ex, void *ctx);

enum cg_route_access {
    CG_ACCESS_OPEN,    /* probes: anyone */
    CG_ACCESS_KEY,     /* an API key (or a loopback client when no key is configured) */
    CG_ACCESS_MODELS,  /* like KEY when PROXY_PROTECT_MODELS, else loopback-only without keys */
    CG_ACCESS_METRICS, /* loopback clients, or others with `Bearer <metrics_token>` */
    /* A forward-auth check of another request: as KEY, but a preflight passes without a key and
     * reaches the handler (key_label NULL): the request is OPTIONS, or the proxy says the
     * original one was (X-Forwarded-Method: OPTIONS). Spends no per-key limits: the gateway
     * behind the proxy does. */
    CG_ACCESS_VERIFY,
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
    void *ctx;                      /* passed to every handler */
    const char *metrics_token;      /* PROXY_METRICS_TOKEN; NULL or empty: loopback clients only */
    struct cg_ratelimit *ratelimit; /* NULL = no limits and no failed-auth slowdown */
    /* Set as the on_done hook of every request the router decides (metrics count them). */
    cg_exchange_done_cb on_done;
    void *on_done_data;
    /* on_done writes the access line of every routed request; the exchange's own is off. */
    bool own_access_log;
    /* The failed-auth slowdown counts the address the edge proxy saw (the last entry of
     * X-Forwarded-For, when it is an IP address) instead of the TCP peer, which for the
     * forward-auth verifier is always the proxy. Only for a listener that the proxy alone can
     * reach: anyone else could name any address there. */
    bool peer_from_forwarded;
};

/* The access phase: decides a request from its head alone, before any body byte is read. Applies
 * CORS headers, finds the route, checks the method and the route's access rule. Returns true when
 * the request may go on: `ex->admitted` is the route and `ex->key_label` says who was admitted
 * ("key<N>" for the N-th key of PROXY_API_KEY counting from 1, "loopback" for a keyless loopback
 * client, NULL on an open route). Returns false when it is refused: `ex->refusal` holds the
 * 404, 405 (the Allow header is already added), 401, 403 or 429 to answer, and nothing was
 * sent. With a rate limiter, a peer past its failed-auth allowance gets 429 before its key is
 * compared, and a key route spends a token of its key's bucket (and holds a concurrency slot
 * until the exchange is freed); the x-ratelimit-* headers go on the response either way.
 * OPTIONS on a known path is admitted without an access check (CORS preflight) and answered
 * by the router, except on a CG_ACCESS_VERIFY route, whose handler answers it. Deciding twice
 * returns the first decision. */
bool cg_router_admit(const struct cg_router *r, struct cg_exchange *ex);

/* Runs the admitted request's handler, or answers its refusal. A request not yet admitted is
 * admitted first (callers that parse without the access phase). */
void cg_router_dispatch(const struct cg_router *r, struct cg_exchange *ex);

/* For a prefix route: the part of the path after the route's prefix. */
struct cg_str cg_router_tail(const struct cg_exchange *ex, const char *prefix);

/* The client the failed-auth slowdown counts: with `peer_from_forwarded`, the last entry of the
 * last X-Forwarded-For line when it is an IP address (the one the nearest proxy added; a
 * proxy may add its own line after the client's), else the TCP peer. Returns `buf` (filled)
 * or ex->peer. */
const char *cg_router_client_addr(const struct cg_router *r, const struct cg_exchange *ex,
                                  char *buf, size_t size);

#endif
