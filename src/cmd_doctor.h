/* cmd_doctor.h: `codex-gateway doctor`: checks a setup item by item with the settings `serve`
 * would use, and prints one line per item: "ok", "warn", "FAIL" or "skip" (an item that
 * depends on a failed one, or is not configured), its name and a detail. Each check is bounded
 * (DOCTOR_CHECK_MS at most). */
#ifndef CG_CMD_DOCTOR_H
#define CG_CMD_DOCTOR_H

/* 0 when no item failed; else 1, after a last line naming the first failed item. */
int cg_cmd_doctor_run(void);

#endif
