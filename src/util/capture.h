/* capture.h: runs a short command to its end (a `--version` or `--help`), synchronously, for
 * the start checks and `doctor`: stdout captured, stderr discarded, stdin /dev/null, a hard
 * deadline after which it is killed. Never on the event loop of a running gateway. */
#ifndef CG_UTIL_CAPTURE_H
#define CG_UTIL_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

/* Runs `argv` (argv[0] looked up on PATH) with `env`. Returns its exit status, or -1 when it
 * could not run (the reason in `out`), was killed by a signal, or outlived `timeout_ms` (then
 * it is killed). `out` holds up to outlen-1 bytes of its stdout, NUL-terminated. */
int cg_capture_run(char *const *argv, char *const *env, uint64_t timeout_ms, char *out,
                   size_t outlen);

#endif
