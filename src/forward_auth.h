/* forward_auth.h: `codex-gateway forward-auth`, the verifier an edge proxy asks before it
 * forwards a request (Traefik ForwardAuth, nginx auth_request, Caddy forward_auth). */
#ifndef CG_FORWARD_AUTH_H
#define CG_FORWARD_AUTH_H

/* Runs the verifier until SIGTERM/SIGINT; the process exit code: 0 after a clean stop, 2 for a
 * bad setting (one line on stderr), 1 when its address cannot be listened on. Settings come
 * from the environment. */
int cg_forward_auth_main(void);

#endif
