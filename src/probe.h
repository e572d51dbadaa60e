/* probe.h: `codex-gateway probe [PATH] [--port N] [--forward-auth]`, the health check of a
 * container image that has no curl: one HTTP/1.1 GET to the local listener. */
#ifndef CG_PROBE_H
#define CG_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* argv[0] is the program, argv[1] "probe". Exit code: 0 on a 2xx answer, 1 on anything else
 * (one line on stderr saying what), 2 for a bad argument. */
int cg_probe_main(int argc, char **argv);

/* One HTTP/1.1 GET of `path` to `addr` with the Host header `host_header`, bounded by
 * `timeout_ms` in all: the status code (100..599) with the status line (cut) in `what`, or
 * CG_PROBE_NO_CONNECTION / CG_PROBE_NO_ANSWER (connected, but no HTTP status line came) with
 * what failed in `what`. Blocks the calling thread: for commands, never the serving loop. */
enum { CG_PROBE_NO_CONNECTION = -1, CG_PROBE_NO_ANSWER = -2 };
int cg_probe_get(const struct sockaddr *addr, socklen_t alen, const char *host_header,
                 const char *path, uint64_t timeout_ms, char *what, size_t whatlen);

#endif
