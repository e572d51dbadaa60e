/* out.h: everything the fake writes: JSON-RPC lines on stdout (buffered, written without
 * blocking once per loop iteration), lines on stderr, and the optional FAKE_CODEX_LOG file. */
#ifndef FC_OUT_H
#define FC_OUT_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opens FAKE_CODEX_LOG (when set) and writes its "start" line. */
void fc_out_init(int argc, char **argv);
void fc_out_dispose(void);

/* Drops all further stdout output (used while exiting and after a "garbage" handshake). */
void fc_out_mute(void);

/* Makes a pipe on stdout non-blocking; call once the loop exists. */
void fc_out_set_nonblocking(void);
/* Writes as much buffered stdout as the pipe takes now and leaves the rest to the loop.
 * Returns false once stdout is gone (EPIPE and friends). */
bool fc_out_flush(void);
/* Bytes buffered for stdout and not yet written. */
size_t fc_out_pending(void);
/* Writes everything buffered, waiting up to `timeout_ms` (used when exiting). */
void fc_out_drain(int timeout_ms);

/* One raw line on stdout (a newline is added). */
void fc_out_raw(const char *line, size_t len);
/* One JSON value on stdout as a compact line. Borrows `msg`. */
void fc_out_json(json_t *msg);

/* {"id":id,"result":result}; steals `result`; borrows `id`. */
void fc_out_result(json_t *id, json_t *result);
/* {"id":id,"error":{"code":code,"message":message}}; borrows `id`. */
void fc_out_error(json_t *id, int code, const char *message);
/* {"method":m,"params":params,"emittedAtMs":now}; steals `params`. */
void fc_out_notify(const char *method, json_t *params);
/* Stops fc_out_notify from sending these methods (a JSON array of strings, borrowed). */
void fc_out_opt_out(json_t *methods);
/* {"id":id,"method":m,"params":params}; borrows `params`. */
void fc_out_request(int64_t id, const char *method, json_t *params);
/* item/agentMessage/delta written without building a JSON tree (the hot path). */
void fc_out_delta(const char *thread_id, const char *turn_id, const char *item_id,
                  const char *delta, size_t len);

/* Appends {"event":"recv","line":...} to FAKE_CODEX_LOG; `parsed` may be NULL (raw string). */
void fc_out_log_recv(const char *line, size_t len, json_t *parsed);

#endif
