/* exec.h: `fake-codex exec --json`, the one-shot CLI (one prompt in, JSONL events out), and the
 * blocking plumbing it shares with `fake-codex proto`: whole-line writes, pauses, hanging,
 * crashing and the `family` child. Neither mode uses the event loop. */
#ifndef FC_EXEC_H
#define FC_EXEC_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "scenario.h"
#include "turn.h"

/* The scenario a prompt asks for: its `fake:` markers, else FAKE_CODEX_SCENARIO, else text. */
struct fc_exec_pick {
    const char *name;
    const char *arg; /* NULL when absent */
    struct fc_usage usage;
    struct fc_markers text_m;
    struct fc_markers env_m;
};

/* Runs `fake-codex exec ...` (argv[1] is "exec") and returns the exit status. */
int fc_exec_main(int argc, char **argv);

/* Fills `p` from text[0..len); `name` and `arg` point into `p` until fc_exec_pick_dispose. */
void fc_exec_pick(struct fc_exec_pick *p, const char *text, size_t len);
void fc_exec_pick_dispose(struct fc_exec_pick *p);

/* One line on stdout, written whole before returning (waits while the pipe is full). Exits the
 * process with status 1 once stdout is gone. */
void fc_exec_line(const char *line, size_t len);
/* One JSON value as a compact line; borrows `v`. */
void fc_exec_json(json_t *v);
/* A JSON string of s[0..len), with bytes that are not UTF-8 replaced by '?'. New reference. */
json_t *fc_exec_string(const char *s, size_t len);
void fc_exec_sleep_ms(uint64_t ms);
/* BYTES of noise lines on stderr (blocking: a reader that never drains stderr stalls us). */
void fc_exec_stderr_flood(uint64_t bytes);
/* Forks one child that only waits, and logs its pid to FAKE_CODEX_LOG as "child". In our
 * process group; with `escape` in a session of its own, holding our stdout (a grandchild a
 * group kill cannot reach). */
void fc_exec_fork_child(bool escape);
/* Never returns: waits for a signal; `stubborn` ignores SIGTERM (only SIGKILL ends it). */
_Noreturn void fc_exec_hang(bool stubborn);
/* Never returns: exit status 1, or SIGKILL itself when `by_signal`. */
_Noreturn void fc_exec_crash(bool by_signal);
/* Strips one pair of matching quotes from a `-c key=value` value; returns a new string when the
 * key is `key`, else NULL. */
char *fc_exec_config_value(const char *kv, const char *key);

#endif
