#include "core/common.h"
#include "client/watch.h"
#include "client/internal.h"
#include "core/json.h"

#include <pthread.h>
#include <time.h>

#define DEFAULT_WATCH_TIMEOUT_S 300L
#define IDLE_GRACE_S 30L /* beyond timeoutSeconds before a silent stream is dead */
#define ERR_BODY_MAX ((size_t)64 << 10)

static const char *const type_names[] = {
    [IDP_WATCH_ADDED] = "ADDED",       [IDP_WATCH_MODIFIED] = "MODIFIED",
    [IDP_WATCH_DELETED] = "DELETED",   [IDP_WATCH_BOOKMARK] = "BOOKMARK",
    [IDP_WATCH_ERROR] = "ERROR",
};

const char *idp_watch_type_name(idp_watch_type t) {
  return (unsigned)t < IDP_ARRAY_LEN(type_names) ? type_names[t] : "?";
}

/* ---- Line parser ---------------------------------------------------- */

void idp_watch_parser_init(idp_watch_parser *p, size_t max_line, idp_watch_cb cb, void *ud) {
  memset(p, 0, sizeof *p);
  idp_buf_init(&p->line, max_line ? max_line : IDP_WATCH_DEFAULT_MAX_LINE);
  p->cb = cb;
  p->ud = ud;
  p->what = "watch";
}

void idp_watch_parser_free(idp_watch_parser *p) { idp_buf_free(&p->line); }

static idp_code parse_line(idp_watch_parser *p, const char *s, size_t n, idp_err *e) {
  size_t i = 0;
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
  if (i == n) return IDP_OK; /* blank line (keep-alive) */
  json_error_t je;
  json_t *ev = json_loadb(s, n, 0, &je);
  if (!json_is_object(ev)) {
    json_decref(ev);
    return idp_err_set(e, IDP_EIO, "%s: event is not a JSON object: %s", p->what,
                       ev ? "wrong type" : je.text);
  }
  const char *type = idp_json_get_str(ev, "type", NULL);
  json_t *obj = json_object_get(ev, "object");
  int t = -1;
  for (size_t k = 0; type && k < IDP_ARRAY_LEN(type_names); k++)
    if (strcmp(type, type_names[k]) == 0) t = (int)k;
  if (t < 0 || !json_is_object(obj)) {
    idp_code rc = idp_err_set(e, IDP_EIO, "%s: event with %s \"%.32s\"", p->what,
                              t < 0 ? "unknown type" : "no object for type",
                              type ? type : "(none)");
    json_decref(ev);
    return rc;
  }
  idp_watch_event we = {(idp_watch_type)t, obj};
  bool more = p->cb ? p->cb(p->ud, &we) : true;
  idp_code rc = IDP_OK;
  if (t == IDP_WATCH_ERROR) {
    char *txt = json_dumps(obj, JSON_COMPACT);
    /* 500 when the Status carries no code: an ERROR always ends the watch. */
    rc = idp_kstatus_error(e, "WATCH", p->what, 500, txt, txt ? strlen(txt) : 0);
    free(txt);
    p->end_rc = rc;
  } else if (!more) {
    p->stopped = true;
  }
  json_decref(ev);
  return rc;
}

idp_code idp_watch_parser_feed(idp_watch_parser *p, const char *data, size_t len, idp_err *e) {
  if (p->end_rc) return p->end_rc;
  while (len > 0 && !p->stopped) {
    const char *nl = memchr(data, '\n', len);
    size_t part = nl ? (size_t)(nl - data) : len;
    idp_code rc;
    if (p->line.len == 0 && nl) {
      if (part > p->line.max) goto too_large;
      rc = parse_line(p, data, part, e); /* whole line in this chunk: no copy */
    } else {
      if (idp_buf_add(&p->line, data, part) != IDP_OK) goto too_large;
      rc = IDP_OK;
      if (nl) {
        rc = parse_line(p, p->line.data, p->line.len, e);
        idp_buf_reset(&p->line);
      }
    }
    if (rc) return rc;
    if (!nl) break;
    data += part + 1;
    len -= part + 1;
  }
  return IDP_OK;
too_large:
  idp_buf_reset(&p->line);
  p->end_rc = IDP_ETOOLARGE;
  return idp_err_set(e, IDP_ETOOLARGE, "%s: event larger than %zu bytes", p->what,
                     p->line.max);
}

idp_code idp_watch_parser_finish(idp_watch_parser *p, idp_err *e) {
  if (p->end_rc) return p->end_rc;
  if (p->stopped || p->line.len == 0) return IDP_OK;
  idp_code rc = parse_line(p, p->line.data, p->line.len, e);
  idp_buf_reset(&p->line);
  return rc;
}

/* ---- Cancellation --------------------------------------------------- */

struct idp_kcancel {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool fired;
  CURLM *multi; /* the running watch, woken on fire */
};

idp_kcancel *idp_kcancel_new(void) {
  idp_kcancel *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  pthread_mutex_init(&k->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&k->cv, &ca);
  pthread_condattr_destroy(&ca);
  return k;
}

void idp_kcancel_free(idp_kcancel *k) {
  if (!k) return;
  pthread_mutex_destroy(&k->mu);
  pthread_cond_destroy(&k->cv);
  free(k);
}

void idp_kcancel_fire(idp_kcancel *k) {
  pthread_mutex_lock(&k->mu);
  k->fired = true;
  if (k->multi) curl_multi_wakeup(k->multi);
  pthread_cond_broadcast(&k->cv);
  pthread_mutex_unlock(&k->mu);
}

bool idp_kcancel_fired(idp_kcancel *k) {
  pthread_mutex_lock(&k->mu);
  bool f = k->fired;
  pthread_mutex_unlock(&k->mu);
  return f;
}

bool idp_kcancel_sleep(idp_kcancel *k, long ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&k->mu);
  while (!k->fired)
    if (pthread_cond_timedwait(&k->cv, &k->mu, &ts) == ETIMEDOUT) break;
  bool f = k->fired;
  pthread_mutex_unlock(&k->mu);
  return f;
}

/* ---- Streaming watch ------------------------------------------------ */

typedef struct watch_ctx {
  CURL *h;
  idp_watch_parser parser;
  bool started; /* status line checked */
  bool http_ok;
  idp_buf errbody;
  idp_code rc;
  idp_err *e;
  time_t last_byte;
} watch_ctx;

static time_t mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

static size_t watch_write(char *data, size_t size, size_t n, void *ud) {
  watch_ctx *w = ud;
  size_t len = size * n;
  w->last_byte = mono_s();
  if (!w->started) {
    long http = 0;
    curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &http);
    w->http_ok = http >= 200 && http <= 299;
    w->started = true;
  }
  if (!w->http_ok) {
    /* Keep the head of an error body; the rest is not needed. */
    size_t room = w->errbody.max - w->errbody.len;
    idp_buf_add(&w->errbody, data, len < room ? len : room);
    return len;
  }
  w->rc = idp_watch_parser_feed(&w->parser, data, len, w->e);
  if (w->rc || w->parser.stopped) return 0; /* abort the transfer */
  return len;
}

idp_code idp_kclient_watch(idp_kclient *c, const idp_kref *r, const idp_watch_opts *o,
                           idp_watch_cb cb, void *ud, idp_err *e) {
  idp_watch_opts wo = o ? *o : (idp_watch_opts){0};
  if (wo.timeout_seconds <= 0) wo.timeout_seconds = DEFAULT_WATCH_TIMEOUT_S;
  if (r->name && *r->name)
    return idp_err_set(e, IDP_EINVAL, "watch %s: watch a collection (use fieldSelector "
                       "metadata.name=%s)", r->resource, r->name);
  idp_buf pq, url;
  idp_buf_init(&pq, 64 << 10);
  idp_buf_init(&url, 64 << 10);
  idp_code rc = idp_kref_path(r, &pq, e);
  if (rc) goto out_bufs;
  char pth[512];
  snprintf(pth, sizeof pth, "%s", idp_buf_str(&pq));
  rc = idp_buf_adds(&pq, "?watch=1");
  if (!rc && wo.resource_version && *wo.resource_version) {
    rc = idp_buf_adds(&pq, "&resourceVersion=");
    if (!rc) rc = idp_url_escape(&pq, wo.resource_version);
  }
  if (!rc && !wo.no_bookmarks) rc = idp_buf_adds(&pq, "&allowWatchBookmarks=true");
  if (!rc) rc = idp_buf_printf(&pq, "&timeoutSeconds=%ld", wo.timeout_seconds);
  if (!rc && wo.label_selector && *wo.label_selector) {
    rc = idp_buf_adds(&pq, "&labelSelector=");
    if (!rc) rc = idp_url_escape(&pq, wo.label_selector);
  }
  if (!rc && wo.field_selector && *wo.field_selector) {
    rc = idp_buf_adds(&pq, "&fieldSelector=");
    if (!rc) rc = idp_url_escape(&pq, wo.field_selector);
  }
  if (!rc) rc = kc_url(c, idp_buf_str(&pq), &url);
  if (rc) {
    rc = idp_err_set(e, rc, "watch %s: URL too long", pth);
    goto out_bufs;
  }

  watch_ctx w;
  memset(&w, 0, sizeof w);
  w.e = e;
  w.last_byte = mono_s();
  idp_buf_init(&w.errbody, ERR_BODY_MAX);
  idp_watch_parser_init(&w.parser, wo.max_line, cb, ud);
  w.parser.what = pth;
  char errbuf[CURL_ERROR_SIZE] = {0};
  struct curl_slist *hdr = kc_headers(c, NULL);
  w.h = kc_handle_new(c);
  CURLM *m = curl_multi_init();
  if (!hdr || !w.h || !m) {
    rc = idp_err_set(e, IDP_ENOMEM, "watch %s: out of memory", pth);
    goto out;
  }
  curl_easy_setopt(w.h, CURLOPT_URL, idp_buf_str(&url));
  curl_easy_setopt(w.h, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(w.h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(w.h, CURLOPT_WRITEFUNCTION, watch_write);
  curl_easy_setopt(w.h, CURLOPT_WRITEDATA, &w);
  curl_multi_add_handle(m, w.h);
  if (wo.cancel) {
    pthread_mutex_lock(&wo.cancel->mu);
    wo.cancel->multi = m;
    pthread_mutex_unlock(&wo.cancel->mu);
  }
  CURLcode done = CURLE_OK;
  bool finished = false, cancelled = false, idle = false;
  long idle_limit = wo.timeout_seconds + IDLE_GRACE_S;
  for (;;) {
    int running = 0;
    CURLMcode mc = curl_multi_perform(m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)))
      if (msg->msg == CURLMSG_DONE) {
        done = msg->data.result;
        finished = true;
      }
    if (finished || mc != CURLM_OK) break;
    if (wo.cancel && idp_kcancel_fired(wo.cancel)) {
      cancelled = true;
      break;
    }
    if (mono_s() - w.last_byte > idle_limit) {
      idle = true;
      break;
    }
    curl_multi_poll(m, NULL, 0, 1000, NULL);
  }
  if (wo.cancel) {
    pthread_mutex_lock(&wo.cancel->mu);
    wo.cancel->multi = NULL;
    pthread_mutex_unlock(&wo.cancel->mu);
  }
  curl_multi_remove_handle(m, w.h);

  if (cancelled || w.parser.stopped) {
    rc = IDP_OK;
  } else if (w.rc) {
    rc = w.rc; /* e already filled by the parser */
  } else if (idle) {
    rc = idp_err_set(e, IDP_ETIMEOUT, "WATCH %s: no data for %ld s", pth, idle_limit);
  } else if (!finished) {
    rc = idp_err_set(e, IDP_EIO, "WATCH %s: transfer failed", pth);
  } else if (done != CURLE_OK) {
    rc = kc_curl_error(e, "WATCH", pth, done, errbuf);
  } else {
    long http = 0;
    curl_easy_getinfo(w.h, CURLINFO_RESPONSE_CODE, &http);
    if (http < 200 || http > 299)
      rc = idp_kstatus_error(e, "WATCH", pth, http, w.errbody.data, w.errbody.len);
    else
      rc = idp_watch_parser_finish(&w.parser, e);
  }
out:
  if (m) curl_multi_cleanup(m);
  if (w.h) curl_easy_cleanup(w.h);
  curl_slist_free_all(hdr);
  idp_buf_free(&w.errbody);
  idp_watch_parser_free(&w.parser);
out_bufs:
  idp_buf_free(&pq);
  idp_buf_free(&url);
  return rc;
}
