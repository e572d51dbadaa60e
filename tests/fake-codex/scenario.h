/* scenario.h: picks a turn's scenario (a `fake:<name>[=<arg>]` marker in the input, the last
 * injected user message, or FAKE_CODEX_SCENARIO) and appends its program to the turn. */
#ifndef FC_SCENARIO_H
#define FC_SCENARIO_H
#include <jansson.h>
#include "turn.h"

/* Appends the whole program of a turn started by turn/start `params` (borrowed). */
void fc_scenario_start(struct fc_turn *turn, json_t *params);
/* Appends the program that follows a steering turn/start: its userMessage, then the model
 * response chosen by the new input. */
void fc_scenario_steer(struct fc_turn *turn, json_t *params);

#endif
