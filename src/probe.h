/* probe.h: `codex-gateway probe [PATH] [--port N] [--forward-auth]`, the health check of a
 * container image that has no curl: one HTTP/1.1 GET to the local listener. */
#ifndef CG_PROBE_H
#define CG_PROBE_H

/* argv[0] is the program, argv[1] "probe". Exit code: 0 on a 2xx answer, 1 on anything else
 * (one line on stderr saying what), 2 for a bad argument. */
int cg_probe_main(int argc, char **argv);

#endif
