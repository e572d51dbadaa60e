/* errors.h: the one error table. Every error a client can see is a cg_err; this table gives its
 * HTTP status, OpenAI error `type` and `code`, and default message. Only the HTTP writer turns a
 * cg_err into a status line or an in-band stream error. */
#ifndef CG_CORE_ERRORS_H
#define CG_CORE_ERRORS_H

#include <stdbool.h>
#include <stddef.h>
#include "util/buf.h"
#include "util/common.h"

/* X(name, http status, OpenAI type, OpenAI code, default message) */
#define CG_ERR_MAP(X)                                                                              \
    X(OK, 200, NULL, NULL, "ok")                                                                   \
    X(BAD_REQUEST, 400, "invalid_request_error", "bad_request", "The HTTP request is malformed.")  \
    X(INVALID_JSON, 400, "invalid_request_error", "invalid_json",                                  \
      "We could not parse the JSON body of your request.")                                         \
    X(INVALID_REQUEST, 400, "invalid_request_error", "invalid_request_error",                      \
      "The request body is invalid.")                                                              \
    X(UNSUPPORTED_PARAM, 400, "invalid_request_error", "unsupported_parameter",                    \
      "This parameter is not supported.")                                                          \
    X(UNSUPPORTED_VALUE, 400, "invalid_request_error", "unsupported_value",                        \
      "This value is not supported.")                                                              \
    X(CONTEXT_LENGTH, 400, "invalid_request_error", "context_length_exceeded",                     \
      "The input exceeds the context window of this model.")                                       \
    X(CONTENT_POLICY, 400, "invalid_request_error", "content_policy_violation",                    \
      "The request was rejected by the upstream content policy.")                                  \
    X(UPSTREAM_BAD_REQUEST, 400, "invalid_request_error", "upstream_bad_request",                  \
      "The upstream model provider rejected the request.")                                         \
    X(INVALID_API_KEY, 401, "invalid_request_error", "invalid_api_key",                            \
      "Incorrect API key provided.")                                                               \
    X(MISSING_API_KEY, 401, "invalid_request_error", "invalid_api_key",                            \
      "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.")                  \
    X(LOOPBACK_ONLY, 403, "permission_error", "loopback_only",                                     \
      "No API key is configured (PROXY_API_KEY), so only loopback clients are served.")           \
    X(NOT_FOUND, 404, "invalid_request_error", "unknown_url", "Unknown request URL.")              \
    X(MODEL_NOT_FOUND, 404, "invalid_request_error", "model_not_found",                            \
      "The model does not exist or you do not have access to it.")                                 \
    X(RESPONSE_NOT_FOUND, 404, "invalid_request_error", "not_found",                            \
      "No stored response has this id.")                                                           \
    X(PREVIOUS_RESPONSE_NOT_FOUND, 400, "invalid_request_error", "previous_response_not_found",   \
      "The previous response was not found.")                                                      \
    X(CHAIN_TOO_LONG, 400, "invalid_request_error", "previous_response_chain_too_long",           \
      "The chain of previous responses is longer than the gateway replays.")                      \
    X(METHOD_NOT_ALLOWED, 405, "invalid_request_error", "method_not_allowed",                      \
      "This method is not allowed for this URL.")                                                  \
    X(REQUEST_TIMEOUT, 408, "invalid_request_error", "request_timeout",                            \
      "The request was not received in time.")                                                     \
    X(TOO_LARGE, 413, "invalid_request_error", "request_too_large",                                \
      "The request body is too large.")                                                            \
    X(URI_TOO_LONG, 414, "invalid_request_error", "uri_too_long", "The request URL is too long.")  \
    X(UNSUPPORTED_MEDIA, 415, "invalid_request_error", "unsupported_media_type",                   \
      "The request body must be JSON (Content-Type: application/json).")                           \
    X(RATE_LIMITED, 429, "rate_limit_error", "rate_limit_exceeded",                                \
      "Rate limit reached for this API key.")                                                      \
    X(AUTH_THROTTLED, 429, "rate_limit_error", "rate_limit_exceeded",                              \
      "Too many failed authentications from this address; retry after the indicated delay.")     \
    X(QUEUE_FULL, 429, "rate_limit_error", "server_busy",                                          \
      "All Codex workers are busy; retry after the indicated delay.")                              \
    X(UPSTREAM_RATE_LIMIT, 429, "rate_limit_error", "rate_limit_exceeded",                         \
      "The upstream model provider is rate limiting requests.")                                    \
    X(QUOTA_EXCEEDED, 429, "insufficient_quota", "insufficient_quota",                             \
      "The Codex account has reached its usage limit.")                                            \
    X(HEADERS_TOO_LARGE, 431, "invalid_request_error", "headers_too_large",                        \
      "The request headers are too large.")                                                        \
    X(CLIENT_CLOSED, 499, "invalid_request_error", "client_closed",                                \
      "The client closed the connection.")                                                         \
    X(INTERNAL, 500, "server_error", "internal_error", "The gateway hit an internal error.")        \
    X(STORE_FAILED, 500, "server_error", "store_error",                                           \
      "The gateway could not read or write its response store.")                                   \
    X(BACKEND_ERROR, 502, "server_error", "backend_error", "The Codex backend reported an error.") \
    X(UPSTREAM_AUTH, 401, "invalid_request_error", "invalid_api_key",                              \
      "The upstream model provider rejected Codex's login; log Codex in again.")                   \
    X(NOT_IMPLEMENTED, 501, "invalid_request_error", "unsupported_transfer_coding",                \
      "Only the chunked transfer coding is supported for request bodies.")                         \
    X(HTTP_VERSION, 505, "invalid_request_error", "http_version_not_supported",                    \
      "Only HTTP/1.0 and HTTP/1.1 are served here.")                                               \
    X(OVERLOADED, 503, "server_error", "server_overloaded",                                        \
      "Too many connections; retry later.")                                                        \
    X(BUFFERS_FULL, 503, "server_error", "server_overloaded",                                      \
      "The gateway is holding too much client data right now; retry later.")                       \
    X(SHUTTING_DOWN, 503, "server_error", "shutting_down", "The gateway is shutting down.")        \
    X(BACKEND_UNAVAILABLE, 503, "server_error", "backend_unavailable",                             \
      "No Codex worker is ready.")                                                                 \
    X(LOGIN_REQUIRED, 503, "server_error", "codex_login_required",                                 \
      "Codex is not logged in.")                                                                   \
    X(UPSTREAM_OVERLOADED, 503, "server_error", "upstream_overloaded",                             \
      "The upstream model provider is overloaded; retry later.")                                   \
    X(TIMEOUT, 504, "server_error", "timeout", "The request timed out.")

enum cg_err {
#define CG_ERR_ENUM(name, status, type, code, msg) CG_ERR_##name,
    CG_ERR_MAP(CG_ERR_ENUM)
#undef CG_ERR_ENUM
        CG_ERR__COUNT
};

#define CG_OK CG_ERR_OK

enum { CG_ERROR_PARAM_BYTES = 96, CG_ERROR_MESSAGE_BYTES = 512 };

/* An error with its details, fixed size so the error path never allocates (anet). */
struct cg_error {
    enum cg_err code;
    unsigned retry_after_s; /* 0 = no Retry-After header */
    char param[CG_ERROR_PARAM_BYTES];
    char message[CG_ERROR_MESSAGE_BYTES]; /* empty = the table's default message */
};

int cg_err_status(enum cg_err e);
const char *cg_err_type(enum cg_err e);
const char *cg_err_code(enum cg_err e);
const char *cg_err_message(enum cg_err e);
const char *cg_err_name(enum cg_err e);

/* Sets code, clears param and message. */
void cg_error_init(struct cg_error *err, enum cg_err code);

/* Sets code, param (may be NULL) and a formatted message (NULL fmt = default message). */
void cg_error_set(struct cg_error *err, enum cg_err code, const char *param, const char *fmt, ...)
    CG_PRINTF(4, 5);

const char *cg_error_message(const struct cg_error *err);

/* Appends {"error":{"message","type","param","code"}}. */
int cg_error_to_json(const struct cg_error *err, struct cg_buf *out) CG_MUST_CHECK;

#endif
