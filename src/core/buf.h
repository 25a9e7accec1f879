/* buf.h: length-carrying, size-capped byte buffers (curl's dynbuf).
 *
 * An idp_buf owns its bytes.  Every buffer has a hard maximum set at init;
 * growth past it fails with IDP_ETOOLARGE and leaves the contents as they
 * were.  The data is always NUL-terminated (the NUL is not counted in len)
 * so it can be handed to C string APIs. */
#ifndef IDP_BUF_H
#define IDP_BUF_H

#include <stddef.h>

#include "core/err.h"

typedef struct idp_buf {
  char *data; /* NULL until the first append */
  size_t len;
  size_t cap;
  size_t max;
} idp_buf;

#define IDP_BUF_DEFAULT_MAX ((size_t)64 << 20)

void idp_buf_init(idp_buf *b, size_t max);
void idp_buf_free(idp_buf *b);
void idp_buf_reset(idp_buf *b); /* len = 0, keeps memory */

idp_code idp_buf_add(idp_buf *b, const void *p, size_t n);
idp_code idp_buf_adds(idp_buf *b, const char *s);
idp_code idp_buf_addc(idp_buf *b, char c);
idp_code idp_buf_printf(idp_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Always a valid C string ("" when empty); owned by the buffer. */
const char *idp_buf_str(const idp_buf *b);

/* Hands the bytes to the caller (free() them); the buffer is left empty. */
char *idp_buf_detach(idp_buf *b, size_t *len);

/* Reads a whole file into b; IDP_ETOOLARGE past b->max, IDP_ENOTFOUND or
 * IDP_EIO with the path in e. */
idp_code idp_buf_read_file(idp_buf *b, const char *path, idp_err *e);

#endif
