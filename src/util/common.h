/* common.h: the handful of macros every file uses (attributes, container_of, array size). */
#ifndef CG_UTIL_COMMON_H
#define CG_UTIL_COMMON_H

#include <stddef.h>

#define CG_MUST_CHECK       __attribute__((warn_unused_result))
#define CG_PRINTF(fmt, arg) __attribute__((format(printf, fmt, arg)))
#define CG_NORETURN         __attribute__((noreturn))

#define CG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Recovers the struct that embeds `ptr` as its member `member` (libuv's handle idiom). */
#define CG_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define CG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CG_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
