/* scenario.h: picks a turn's scenario (a `fake:<name>[=<arg>]` marker in the input, the last
 * injected user message, or FAKE_CODEX_SCENARIO) and appends its program to the turn. */
#ifndef FC_SCENARIO_H
#define FC_SCENARIO_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "turn.h"

#define FC_SCENARIO_NAME_MAX_BYTES 32

/* What the markers of one text asked for. */
struct fc_markers {
    bool has_scenario;
    char name[FC_SCENARIO_NAME_MAX_BYTES];
    char *arg; /* NULL: no "=..." */
    bool has_usage;
    bool usage_bad;
    struct fc_usage usage;
};

/* Fills `m` (zeroed by the caller) from the first `fake:<name>[=<arg>]` marker and the first
 * `fake:usage=I,C,O[,R]` of text[0..len) (prefixed), or from the space-separated markers of
 * FAKE_CODEX_SCENARIO (not prefixed). Later markers of the same kind are ignored. */
void fc_scenario_scan(const char *text, size_t len, bool prefixed, struct fc_markers *m);
void fc_scenario_markers_dispose(struct fc_markers *m);
/* The message of an `error=KIND` (server, ratelimit, usage, ...), or NULL for an unknown KIND. */
const char *fc_scenario_error_message(const char *kind);

/* Appends the whole program of a turn started by turn/start `params` (borrowed). */
void fc_scenario_start(struct fc_turn *turn, json_t *params);
/* Appends the program that follows a steering turn/start: its userMessage, then the model
 * response chosen by the new input. */
void fc_scenario_steer(struct fc_turn *turn, json_t *params);

#endif
