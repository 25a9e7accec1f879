/* common.h: the first include of every idp .c file.  Pulls in the standard
 * headers every module uses, jansson (the one object model), the project
 * error type, and finally banned.h so unsafe calls fail to compile. */
#ifndef IDP_COMMON_H
#define IDP_COMMON_H

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/err.h"

#define IDP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define IDP_UNUSED(x) ((void)(x))

/* Defensive branches that cannot happen: assert in debug, guard in release
 * (SQLite's ALWAYS/NEVER). */
#ifdef NDEBUG
#define IDP_NEVER(x) (x)
#else
#define IDP_NEVER(x) ((x) ? (assert(!#x), 1) : 0)
#endif

/* qsort with the empty case handled: qsort(NULL, 0, ...) is undefined
 * behaviour (UBSan reports it), and empty lists are everywhere. */
static inline void idp_sort(void *base, size_t n, size_t size,
                            int (*cmp)(const void *, const void *)) {
  if (n > 1) qsort(base, n, size, cmp);
}

#include "core/banned.h"

#endif
