/* cors.h: the only place CORS lives. When enabled, an allowed Origin is echoed with
 * `Vary: Origin`, and preflights (OPTIONS with Access-Control-Request-Method) get 204 with the
 * methods and headers the OpenAI SDKs send (Authorization, Content-Type, OpenAI-*,
 * X-Stainless-*), plus any further headers the browser asks for. */
#ifndef CG_HTTP_CORS_H
#define CG_HTTP_CORS_H

#include <stdbool.h>
#include <stddef.h>
#include "http/exchange.h"
#include "util/common.h"
#include "util/str.h"

enum { CG_CORS_MAX_ORIGINS = 64, CG_CORS_ORIGIN_MAX_BYTES = 256 };

struct cg_cors_origin {
    char scheme[16];
    char host[CG_CORS_ORIGIN_MAX_BYTES]; /* "*.example.com" for a subdomain wildcard */
    char port[8];                        /* "" = default, "*" = any */
};

struct cg_cors {
    bool enabled;
    bool any;
    struct cg_cors_origin origins[CG_CORS_MAX_ORIGINS];
    size_t count;
};

/* Parses the allow-list ("*", or comma-separated origins). -1 with a message in errbuf for a
 * malformed entry. */
int cg_cors_init(struct cg_cors *c, bool enabled, const char *list, char *errbuf, size_t errlen)
    CG_MUST_CHECK;

bool cg_cors_allowed(const struct cg_cors *c, struct cg_str origin);

/* True for an OPTIONS request that is a CORS preflight. */
bool cg_cors_is_preflight(const struct cg_exchange *ex);

/* Adds the response headers for an ordinary request (nothing when CORS is off or the origin
 * is not allowed; Vary: Origin whenever CORS is on). */
void cg_cors_apply(const struct cg_cors *c, struct cg_exchange *ex);

/* Adds the preflight headers (after cg_cors_apply) for a route allowing `methods`. */
void cg_cors_preflight(const struct cg_cors *c, struct cg_exchange *ex, const char *methods);

#endif
