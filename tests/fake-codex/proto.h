/* proto.h: `fake-codex proto`, the old per-request protocol (research/reference-spec.md §7):
 * session_configured, then one task per `user_input` submission line on stdin. */
#ifndef FC_PROTO_H
#define FC_PROTO_H

/* Runs `fake-codex proto ...` (argv[1] is "proto") and returns the exit status. */
int fc_proto_main(int argc, char **argv);

#endif
