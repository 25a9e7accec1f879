#include "core/common.h"
#include "core/buf.h"

void idp_buf_init(idp_buf *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max ? max : IDP_BUF_DEFAULT_MAX;
}

void idp_buf_free(idp_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void idp_buf_reset(idp_buf *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

static idp_code buf_grow(idp_buf *b, size_t extra) {
  if (extra > b->max || b->len > b->max - extra) return IDP_ETOOLARGE;
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return IDP_OK;
  size_t ncap = b->cap ? b->cap : 64;
  while (ncap < need) ncap *= 2;
  char *p = realloc(b->data, ncap);
  if (!p) return IDP_ENOMEM;
  b->data = p;
  b->cap = ncap;
  return IDP_OK;
}

idp_code idp_buf_add(idp_buf *b, const void *p, size_t n) {
  idp_code rc = buf_grow(b, n);
  if (rc) return rc;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return IDP_OK;
}

idp_code idp_buf_adds(idp_buf *b, const char *s) { return idp_buf_add(b, s, strlen(s)); }

idp_code idp_buf_addc(idp_buf *b, char c) { return idp_buf_add(b, &c, 1); }

idp_code idp_buf_printf(idp_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return IDP_EINTERNAL;
  idp_code rc = buf_grow(b, (size_t)n);
  if (rc) return rc;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return IDP_OK;
}

const char *idp_buf_str(const idp_buf *b) { return b->data ? b->data : ""; }

char *idp_buf_detach(idp_buf *b, size_t *len) {
  char *p = b->data;
  if (!p) p = calloc(1, 1);
  if (len) *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}

idp_code idp_buf_read_file(idp_buf *b, const char *path, idp_err *e) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return idp_err_set(e, errno == ENOENT ? IDP_ENOTFOUND : IDP_EIO, "%s: %s", path,
                       strerror(errno));
  char chunk[65536];
  size_t n;
  idp_code rc = IDP_OK;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    rc = idp_buf_add(b, chunk, n);
    if (rc) {
      idp_err_set(e, rc, "%s: file larger than %zu bytes", path, b->max);
      break;
    }
  }
  if (!rc && ferror(f)) rc = idp_err_set(e, IDP_EIO, "%s: read error", path);
  fclose(f);
  return rc;
}
