/* rpc.h: dispatches one JSON-RPC message from the client (request, notification, or answer to
 * one of the fake's own requests) to the handshake, thread and turn handlers. */
#ifndef FC_RPC_H
#define FC_RPC_H
#include <jansson.h>

/* Handles one parsed line (a JSON object; borrowed). */
void fc_rpc_handle(json_t *msg);

#endif
