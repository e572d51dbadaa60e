/* line_scan.h: a fast, strict reader for the JSON lines a worker writes and the bodies clients
 * send: builds what jansson would build, or reads a few members without building anything, and
 * declines whatever it does not read exactly as jansson does. */
#ifndef CG_UTIL_LINE_SCAN_H
#define CG_UTIL_LINE_SCAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/common.h"
#include "util/str.h"

/* Codex nests its items a handful of levels deep. */
#define CG_LINE_SCAN_DEPTH_MAX 32

/* A new reference to the object in text[0..len) (takes nothing; the text is only read): the
 * value json_loadb(text, len, allow_nul ? JSON_ALLOW_NUL : 0) builds, for the plain shapes
 * Codex and clients send (objects, arrays, strings, integers, literals). NULL when the scan
 * declines: a top-level value that is not an object, real numbers, integers of more than 18
 * digits, nesting deeper than CG_LINE_SCAN_DEPTH_MAX, a repeated key in any object, a NUL in a
 * key (or, without allow_nul, in any string), and anything that is not valid JSON; the caller
 * then parses the text with jansson, which decides. */
json_t *cg_line_scan_load(const char *text, size_t len, bool allow_nul) CG_MUST_CHECK;

/* What a member read by cg_line_scan_fields turned out to be. */
enum cg_line_scan_type {
    CG_LINE_SCAN_ABSENT, /* no such member, or a step of its path is not an object */
    CG_LINE_SCAN_STRING,
    CG_LINE_SCAN_INTEGER,
    CG_LINE_SCAN_TRUE,
    CG_LINE_SCAN_FALSE,
    CG_LINE_SCAN_NULL,
    CG_LINE_SCAN_OBJECT,
    CG_LINE_SCAN_ARRAY,
};

enum { CG_LINE_SCAN_PATH_MAX = 3, CG_LINE_SCAN_FIELDS_MAX = 16 };

struct cg_line_scan_field {
    /* In: the member names from the top level down, NULL-terminated. */
    const char *path[CG_LINE_SCAN_PATH_MAX + 1];
    /* Out: */
    enum cg_line_scan_type type;
    struct cg_str str; /* STRING: the decoded bytes, in the line or in the caller's scratch */
    bool has_nul;      /* STRING: the bytes hold a NUL (from \u0000) */
    int64_t integer;   /* INTEGER */
};

/* Reads the members named by fields[0..n) from the object in line[0..len) without building
 * anything: what json_object_get along each path would find in jansson's reading of the line.
 * The whole line is checked by cg_line_scan_load's rules (except that a key repeated off the
 * paths is let through, as jansson lets it through), so true means jansson reads the line as
 * valid JSON with exactly these members. Decoded strings go to scratch[0..cap) (only
 * strings with escapes go there, each needing room for its escaped length; `scratch` must not be
 * NULL). False (decline) for whatever
 * cg_line_scan_load declines, a repeated key along any path, or too little scratch. */
bool cg_line_scan_fields(const char *line, size_t len, struct cg_line_scan_field *fields, size_t n,
                         char *scratch, size_t cap) CG_MUST_CHECK;

#endif
