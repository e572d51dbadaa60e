/* line_scan.h: a fast reader for the JSON lines a worker writes, building the same jansson
 * value json_loadb(line, len, JSON_ALLOW_NUL) would, for the plain shapes Codex sends (objects,
 * arrays, strings, integers, literals), in one pass without jansson's lexer.
 *
 * It declines (returns NULL) whatever it does not read exactly as jansson does: a top-level
 * value that is not an object, real numbers, integers of more than 18 digits, nesting deeper
 * than CG_LINE_SCAN_DEPTH_MAX, a repeated key in any object, a NUL in a key, and anything that
 * is not valid JSON. The caller then parses the line with jansson, which decides. */
#ifndef CG_BACKEND_LINE_SCAN_H
#define CG_BACKEND_LINE_SCAN_H

#include <jansson.h>
#include <stddef.h>

/* Codex nests its items a handful of levels deep. */
#define CG_LINE_SCAN_DEPTH_MAX 32

/* A new reference to the object in line[0..len) (takes nothing; the line is only read), or
 * NULL when the scan declines. */
json_t *cg_line_scan_load(const char *line, size_t len);

#endif
