#include "core/common.h"

#include <microhttpd.h>

#include "core/buf.h"
#include "double.h"

struct dbl {
  struct MHD_Daemon *d;
  dbl_fn fn;
  void *ud;
};

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **ptr) {
  (void)version;
  dbl *d = cls;
  idp_buf *b = *ptr;
  if (!b) {
    b = calloc(1, sizeof *b);
    idp_buf_init(b, 1 << 20);
    *ptr = b;
    return MHD_YES;
  }
  if (*upload_size) {
    idp_buf_add(b, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  dbl_req r = {.method = method, .url = url, .body = idp_buf_str(b), .body_len = b->len, .conn = c};
  char *resp = NULL;
  int st = d->fn(d->ud, &r, &resp);
  const char *text = resp ? resp : "";
  struct MHD_Response *rs = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(rs, "Content-Type", "application/json");
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)st, rs);
  MHD_destroy_response(rs);
  free(resp);
  idp_buf_free(b);
  free(b);
  *ptr = NULL;
  return ret;
}

dbl *dbl_start(dbl_fn fn, void *ud, unsigned short *port) {
  dbl *d = calloc(1, sizeof *d);
  d->fn = fn;
  d->ud = ud;
  d->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
                          handler, d, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
  if (!d->d) {
    free(d);
    return NULL;
  }
  const union MHD_DaemonInfo *i = MHD_get_daemon_info(d->d, MHD_DAEMON_INFO_BIND_PORT);
  *port = i ? i->port : 0;
  return d;
}

void dbl_stop(dbl *d) {
  if (!d) return;
  MHD_stop_daemon(d->d);
  free(d);
}

const char *dbl_header(const dbl_req *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *dbl_query(const dbl_req *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

typedef struct hv {
  void (*fn)(void *, const char *, const char *);
  void *ud;
} hv;

static enum MHD_Result each(void *cls, enum MHD_ValueKind kind, const char *k, const char *v) {
  (void)kind;
  hv *h = cls;
  h->fn(h->ud, k, v ? v : "");
  return MHD_YES;
}

void dbl_headers(const dbl_req *r, void (*fn)(void *ud, const char *name, const char *value), void *ud) {
  hv h = {fn, ud};
  MHD_get_connection_values(r->conn, MHD_HEADER_KIND, each, &h);
}
