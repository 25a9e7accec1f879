/* fakeapi.c: see fakeapi.h.  Test code: favours clarity over speed. */
#include "core/common.h"
#include "fakeapi.h"
#include "core/buf.h"
#include "core/json.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <time.h>

typedef struct res_def {
  const char *group, *version, *plural, *kind;
  bool namespaced;
} res_def;

static const res_def resources[] = {
    {"", "v1", "configmaps", "ConfigMap", true},
    {"", "v1", "namespaces", "Namespace", false},
    {"example.com", "v1", "widgets", "Widget", true},
    {"coordination.k8s.io", "v1", "leases", "Lease", true},
};

struct fakeapi {
  struct MHD_Daemon *d;
  char url[64];
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stopping;
  int64_t rv, compacted;
  unsigned close_gen;
  json_t *store;  /* "plural|ns|name" -> object */
  json_t *events; /* [{type, rv, plural, object}] */
  bool gone_http;
  int fail_count, fail_code;
  char fail_reason[64], fail_msg[256];
  char *token;
  json_t *log; /* request lines */
  char last_ctype[128];
  idp_buf last_body;
  int open_watches;
};

/* ---- helpers ---------------------------------------------------------- */

static const res_def *find_res(const char *group, const char *version, const char *plural) {
  for (size_t i = 0; i < IDP_ARRAY_LEN(resources); i++)
    if (strcmp(resources[i].group, group) == 0 && strcmp(resources[i].version, version) == 0 &&
        strcmp(resources[i].plural, plural) == 0)
      return &resources[i];
  return NULL;
}

static const res_def *res_by_plural(const char *plural) {
  for (size_t i = 0; i < IDP_ARRAY_LEN(resources); i++)
    if (strcmp(resources[i].plural, plural) == 0) return &resources[i];
  return NULL;
}

static void api_version(const res_def *r, char *buf, size_t n) {
  if (*r->group)
    snprintf(buf, n, "%s/%s", r->group, r->version);
  else
    snprintf(buf, n, "%s", r->version);
}

static void store_key(char *buf, size_t n, const char *plural, const char *ns, const char *name) {
  snprintf(buf, n, "%s|%s|%s", plural, ns ? ns : "", name);
}

static void set_rv(json_t *obj, int64_t rv) {
  char b[32];
  snprintf(b, sizeof b, "%" PRId64, rv);
  json_object_set_new(idp_json_child_object(obj, "metadata"), "resourceVersion", json_string(b));
}

static int64_t obj_rv(const json_t *o) {
  const char *s = idp_json_get_str(o, "metadata", "resourceVersion", NULL);
  return s ? strtoll(s, NULL, 10) : 0;
}

/* Locked: records a write. */
static void record(fakeapi *f, const char *type, const char *plural, json_t *obj) {
  json_array_append_new(f->events, json_pack("{s:s,s:I,s:s,s:O}", "type", type, "rv",
                                             (json_int_t)f->rv, "plural", plural, "object", obj));
  pthread_cond_broadcast(&f->cv);
}

static void merge_patch(json_t *target, const json_t *patch) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)patch, k, v) {
    if (json_is_null(v)) {
      json_object_del(target, k);
    } else if (json_is_object(v)) {
      json_t *t = json_object_get(target, k);
      if (!json_is_object(t)) {
        t = json_object();
        json_object_set_new(target, k, t);
      }
      merge_patch(t, v);
    } else {
      json_object_set(target, k, v);
    }
  }
}

static bool label_match(const json_t *obj, const char *sel) {
  if (!sel || !*sel) return true;
  const char *eq = strchr(sel, '=');
  if (!eq) return true;
  char key[128];
  snprintf(key, sizeof key, "%.*s", (int)(eq - sel), sel);
  const char *v = idp_json_get_str(obj, "metadata", "labels", key, NULL);
  return v && strcmp(v, eq + 1) == 0;
}

/* ---- responses ------------------------------------------------------ */

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned code, json_t *body) {
  char *t = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(t), t, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ret = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return ret;
}

static json_t *status_obj(int code, const char *reason, const char *msg) {
  return json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                   "metadata", "status", "Failure", "message", msg, "reason", reason, "code",
                   code);
}

static enum MHD_Result send_status(struct MHD_Connection *c, int code, const char *reason,
                                   const char *msg) {
  return send_json(c, (unsigned)code, status_obj(code, reason, msg));
}

/* ---- watch streams ---------------------------------------------------- */

typedef struct watch_ctx {
  fakeapi *f;
  const res_def *res;
  char ns[128];
  char label[128];
  bool bookmarks;
  int64_t rv;
  size_t next_event; /* index into f->events to scan from */
  unsigned gen;
  time_t deadline;
  idp_buf out; /* pending bytes */
  size_t out_off;
  bool end_after_out;
} watch_ctx;

static void line_out(watch_ctx *w, const char *type, json_t *obj) {
  json_t *ev = json_pack("{s:s,s:O}", "type", type, "object", obj);
  char *t = json_dumps(ev, JSON_COMPACT);
  idp_buf_adds(&w->out, t);
  idp_buf_addc(&w->out, '\n');
  free(t);
  json_decref(ev);
}

static bool event_matches(watch_ctx *w, json_t *ev) {
  const char *plural = idp_json_get_str(ev, "plural", NULL);
  if (strcmp(plural, "*") == 0) return true;
  if (strcmp(plural, w->res->plural) != 0) return false;
  json_t *obj = json_object_get(ev, "object");
  if (*w->ns) {
    const char *ons = idp_json_get_str(obj, "metadata", "namespace", NULL);
    if (!ons || strcmp(ons, w->ns) != 0) return false;
  }
  return label_match(obj, w->label);
}

static ssize_t watch_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  watch_ctx *w = cls;
  fakeapi *f = w->f;
  pthread_mutex_lock(&f->mu);
  for (;;) {
    if (w->out_off < w->out.len) {
      size_t n = w->out.len - w->out_off;
      if (n > max) n = max;
      memcpy(buf, w->out.data + w->out_off, n);
      w->out_off += n;
      if (w->out_off == w->out.len) {
        idp_buf_reset(&w->out);
        w->out_off = 0;
      }
      pthread_mutex_unlock(&f->mu);
      return (ssize_t)n;
    }
    if (w->end_after_out || f->stopping || w->gen != f->close_gen || time(NULL) >= w->deadline)
      break;
    size_t n = json_array_size(f->events);
    for (; w->next_event < n; w->next_event++) {
      json_t *ev = json_array_get(f->events, w->next_event);
      int64_t erv = json_integer_value(json_object_get(ev, "rv"));
      const char *type = idp_json_get_str(ev, "type", NULL);
      bool bm = strcmp(type, "BOOKMARK") == 0;
      if ((bm ? erv < w->rv : erv <= w->rv) || !event_matches(w, ev)) continue;
      if (bm && !w->bookmarks) continue;
      line_out(w, type, json_object_get(ev, "object"));
      w->rv = erv;
    }
    if (w->out.len) continue;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&f->cv, &f->mu, &ts);
  }
  pthread_mutex_unlock(&f->mu);
  return MHD_CONTENT_READER_END_OF_STREAM;
}

static void watch_free(void *cls) {
  watch_ctx *w = cls;
  /* Atomic, not f->mu: MHD calls this holding its own locks. */
  __atomic_fetch_sub(&w->f->open_watches, 1, __ATOMIC_SEQ_CST);
  idp_buf_free(&w->out);
  free(w);
}

/* Locked.  On success *wout is the stream to answer with once f->mu is
 * released (MHD's response locks must not nest inside f->mu). */
static enum MHD_Result start_watch(fakeapi *f, struct MHD_Connection *c, const res_def *res,
                                   const char *ns, watch_ctx **wout) {
  const char *rvs = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "resourceVersion");
  const char *bm = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "allowWatchBookmarks");
  const char *to = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "timeoutSeconds");
  const char *ls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "labelSelector");
  watch_ctx *w = calloc(1, sizeof *w);
  w->f = f;
  w->res = res;
  snprintf(w->ns, sizeof w->ns, "%s", ns ? ns : "");
  snprintf(w->label, sizeof w->label, "%s", ls ? ls : "");
  w->bookmarks = bm && strcmp(bm, "true") == 0;
  w->gen = f->close_gen;
  w->deadline = time(NULL) + (to ? strtol(to, NULL, 10) : 60);
  idp_buf_init(&w->out, 0);
  int64_t rv = rvs && *rvs ? strtoll(rvs, NULL, 10) : 0;
  if (rv == 0) {
    /* Synthetic ADDED for the current state. */
    const char *k;
    json_t *v;
    json_object_foreach(f->store, k, v) {
      json_t *ev = json_pack("{s:s,s:O}", "plural", res->plural, "object", v);
      size_t pl = strlen(res->plural);
      if (strncmp(k, res->plural, pl) == 0 && k[pl] == '|' && event_matches(w, ev))
        line_out(w, "ADDED", v);
      json_decref(ev);
    }
    rv = f->rv;
  } else if (rv < f->compacted) {
    char msg[128];
    snprintf(msg, sizeof msg, "too old resource version: %" PRId64 " (%" PRId64 ")", rv,
             f->compacted);
    if (f->gone_http) {
      idp_buf_free(&w->out);
      free(w);
      return send_status(c, 410, "Expired", msg);
    }
    json_t *st = status_obj(410, "Expired", msg);
    line_out(w, "ERROR", st);
    json_decref(st);
    w->end_after_out = true;
  }
  w->rv = rv;
  w->next_event = 0;
  __atomic_fetch_add(&f->open_watches, 1, __ATOMIC_SEQ_CST);
  *wout = w;
  return MHD_YES;
}

static enum MHD_Result answer_watch(struct MHD_Connection *c, watch_ctx *w) {
  struct MHD_Response *r =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, watch_read, w, watch_free);
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ret = MHD_queue_response(c, 200, r);
  MHD_destroy_response(r);
  return ret;
}

/* ---- request handling ----------------------------------------------- */

typedef struct req {
  idp_buf body;
} req;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value) {
  (void)kind;
  idp_buf *b = cls;
  idp_buf_printf(b, "%c%s=%s", strchr(idp_buf_str(b), '?') ? '&' : '?', key,
                 value ? value : "");
  return MHD_YES;
}

static json_t *list_items(fakeapi *f, const res_def *res, const char *ns, const char *label) {
  json_t *items = json_array();
  const char *k;
  json_t *v;
  size_t pl = strlen(res->plural);
  json_object_foreach(f->store, k, v) {
    if (strncmp(k, res->plural, pl) != 0 || k[pl] != '|') continue;
    const char *ons = idp_json_get_str(v, "metadata", "namespace", NULL);
    if (ns && *ns && (!ons || strcmp(ons, ns) != 0)) continue;
    if (!label_match(v, label)) continue;
    json_array_append(items, v);
  }
  return items;
}

static enum MHD_Result handle(fakeapi *f, struct MHD_Connection *c, const char *method,
                              const char *url, const char *body, size_t blen,
                              watch_ctx **wout) {
  /* Discovery */
  if (strcmp(url, "/api") == 0)
    return send_json(c, 200, json_pack("{s:s,s:[s]}", "kind", "APIVersions", "versions", "v1"));
  if (strcmp(url, "/apis") == 0) {
    json_t *groups = json_array();
    for (size_t i = 0; i < IDP_ARRAY_LEN(resources); i++) {
      if (!*resources[i].group) continue;
      char gv[128];
      api_version(&resources[i], gv, sizeof gv);
      json_array_append_new(groups, json_pack("{s:s,s:[{s:s,s:s}]}", "name", resources[i].group,
                                              "versions", "groupVersion", gv, "version",
                                              resources[i].version));
    }
    return send_json(c, 200, json_pack("{s:s,s:o}", "kind", "APIGroupList", "groups", groups));
  }
  /* Split the path. */
  char path[512];
  snprintf(path, sizeof path, "%s", url);
  char *seg[12];
  int n = 0;
  for (char *p = path + 1; n < 12 && p && *p;) {
    seg[n++] = p;
    char *s = strchr(p, '/');
    if (s) *s++ = '\0';
    p = s;
  }
  const char *group, *version;
  int i;
  if (n >= 2 && strcmp(seg[0], "api") == 0) {
    group = "";
    version = seg[1];
    i = 2;
  } else if (n >= 3 && strcmp(seg[0], "apis") == 0) {
    group = seg[1];
    version = seg[2];
    i = 3;
  } else {
    return send_status(c, 404, "NotFound", "the server could not find the requested resource");
  }
  if (i == n) { /* group-version discovery */
    json_t *list = json_array();
    for (size_t k = 0; k < IDP_ARRAY_LEN(resources); k++) {
      if (strcmp(resources[k].group, group) || strcmp(resources[k].version, version)) continue;
      json_array_append_new(list, json_pack("{s:s,s:s,s:b,s:[s,s,s,s,s,s,s]}", "name",
                                            resources[k].plural, "kind", resources[k].kind,
                                            "namespaced", resources[k].namespaced, "verbs",
                                            "get", "list", "watch", "create", "update", "patch",
                                            "delete"));
      char sub[128];
      snprintf(sub, sizeof sub, "%s/status", resources[k].plural);
      json_array_append_new(list, json_pack("{s:s,s:s,s:b}", "name", sub, "kind",
                                            resources[k].kind, "namespaced",
                                            resources[k].namespaced));
    }
    if (!json_array_size(list)) {
      json_decref(list);
      return send_status(c, 404, "NotFound", "group version not served");
    }
    char gv[256];
    snprintf(gv, sizeof gv, "%s%s%s", group, *group ? "/" : "", version);
    return send_json(c, 200, json_pack("{s:s,s:s,s:o}", "kind", "APIResourceList",
                                       "groupVersion", gv, "resources", list));
  }
  const char *ns = NULL, *plural = NULL, *name = NULL, *sub = NULL;
  if (n - i >= 3 && strcmp(seg[i], "namespaces") == 0) {
    ns = seg[i + 1];
    i += 2;
  }
  plural = seg[i++];
  if (i < n) name = seg[i++];
  if (i < n) sub = seg[i++];
  if (i < n) return send_status(c, 404, "NotFound", "path too long");
  const res_def *res = find_res(group, version, plural);
  if (!res) return send_status(c, 404, "NotFound", "the server could not find the requested resource");
  char key[600], msg[512];
  char av[128];
  api_version(res, av, sizeof av);

  if (!name) {
    if (strcmp(method, "GET") == 0) {
      const char *watch = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "watch");
      if (watch && (strcmp(watch, "1") == 0 || strcmp(watch, "true") == 0))
        return start_watch(f, c, res, ns, wout);
      const char *ls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "labelSelector");
      const char *lim = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
      const char *cont = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "continue");
      json_t *items = list_items(f, res, ns, ls);
      int64_t list_rv = f->rv;
      size_t off = 0;
      if (cont && *cont) {
        int64_t crv = strtoll(cont, NULL, 10);
        const char *colon = strchr(cont, ':');
        if (crv < f->compacted || !colon) {
          json_decref(items);
          return send_status(c, 410, "Expired",
                             "The provided continue parameter is too old to display a "
                             "consistent list result.");
        }
        off = (size_t)strtoll(colon + 1, NULL, 10);
        list_rv = crv;
      }
      size_t limit = lim ? (size_t)strtoll(lim, NULL, 10) : 0;
      json_t *page = json_array();
      size_t total = json_array_size(items), k;
      for (k = off; k < total && (!limit || k < off + limit); k++)
        json_array_append(page, json_array_get(items, k));
      json_decref(items);
      char rvb[32], kind[160];
      snprintf(rvb, sizeof rvb, "%" PRId64, list_rv);
      snprintf(kind, sizeof kind, "%sList", res->kind);
      json_t *md = json_pack("{s:s}", "resourceVersion", rvb);
      if (k < total) {
        char tok[64];
        snprintf(tok, sizeof tok, "%" PRId64 ":%zu", list_rv, k);
        json_object_set_new(md, "continue", json_string(tok));
      }
      /* Like typed lists: items carry no kind/apiVersion. */
      size_t j;
      json_t *it;
      json_array_foreach(page, j, it) {
        json_t *copy = json_deep_copy(it);
        json_object_del(copy, "kind");
        json_object_del(copy, "apiVersion");
        json_array_set_new(page, j, copy);
      }
      return send_json(c, 200, json_pack("{s:s,s:s,s:o,s:o}", "kind", kind, "apiVersion", av,
                                         "metadata", md, "items", page));
    }
    if (strcmp(method, "POST") == 0) {
      json_t *obj = json_loadb(body, blen, 0, NULL);
      const char *nm = idp_json_get_str(obj, "metadata", "name", NULL);
      if (!json_is_object(obj) || !nm) {
        json_decref(obj);
        return send_status(c, 422, "Invalid", "metadata.name: Required value");
      }
      store_key(key, sizeof key, res->plural, ns, nm);
      if (json_object_get(f->store, key)) {
        snprintf(msg, sizeof msg, "%s \"%s\" already exists", res->plural, nm);
        json_decref(obj);
        return send_status(c, 409, "AlreadyExists", msg);
      }
      if (ns) json_object_set_new(idp_json_child_object(obj, "metadata"), "namespace",
                                  json_string(ns));
      json_object_set_new(obj, "kind", json_string(res->kind));
      json_object_set_new(obj, "apiVersion", json_string(av));
      set_rv(obj, ++f->rv);
      json_object_set(f->store, key, obj);
      record(f, "ADDED", res->plural, obj);
      return send_json(c, 201, obj);
    }
    return send_status(c, 405, "MethodNotAllowed", "method not allowed on a collection");
  }

  store_key(key, sizeof key, res->plural, ns, name);
  json_t *cur = json_object_get(f->store, key);
  snprintf(msg, sizeof msg, "%s \"%s\" not found", res->plural, name);
  if (strcmp(method, "GET") == 0) {
    if (!cur) return send_status(c, 404, "NotFound", msg);
    return send_json(c, 200, json_incref(cur));
  }
  if (strcmp(method, "DELETE") == 0) {
    if (!cur) return send_status(c, 404, "NotFound", msg);
    json_t *opts = json_loadb(body, blen, 0, NULL);
    const char *prv = idp_json_get_str(opts, "preconditions", "resourceVersion", NULL);
    if (prv && strtoll(prv, NULL, 10) != obj_rv(cur)) {
      json_decref(opts);
      return send_status(c, 409, "Conflict", "precondition failed: resourceVersion");
    }
    json_decref(opts);
    json_t *old = json_incref(cur);
    json_object_del(f->store, key);
    ++f->rv;
    record(f, "DELETED", res->plural, old);
    return send_json(c, 200, old);
  }
  if (strcmp(method, "PATCH") == 0) {
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (!ct || strcmp(ct, "application/json-patch+json") == 0)
      return send_status(c, 415, "UnsupportedMediaType", "the fake does not do JSON patch");
  }
  json_t *in = json_loadb(body, blen, 0, NULL);
  if (!json_is_object(in)) {
    json_decref(in);
    return send_status(c, 400, "BadRequest", "body is not a JSON object");
  }
  json_t *next;
  if (strcmp(method, "PUT") == 0) {
    if (!cur) {
      json_decref(in);
      return send_status(c, 404, "NotFound", msg);
    }
    int64_t want = obj_rv(in);
    if (want && want != obj_rv(cur)) {
      json_decref(in);
      snprintf(msg, sizeof msg,
               "Operation cannot be fulfilled on %s \"%s\": the object has been modified; "
               "please apply your changes to the latest version and try again",
               res->plural, name);
      return send_status(c, 409, "Conflict", msg);
    }
    if (sub && strcmp(sub, "status") == 0) {
      next = json_deep_copy(cur);
      json_t *st = json_object_get(in, "status");
      if (st) json_object_set(next, "status", st);
      json_decref(in);
    } else {
      next = in;
    }
  } else if (strcmp(method, "PATCH") == 0) {
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    bool apply = ct && strcmp(ct, "application/apply-patch+yaml") == 0;
    if (apply && !MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fieldManager")) {
      json_decref(in);
      return send_status(c, 400, "BadRequest", "PatchOptions.meta.k8s.io \"\" is invalid: "
                                               "fieldManager: Required value");
    }
    if (!cur && !apply) {
      json_decref(in);
      return send_status(c, 404, "NotFound", msg);
    }
    next = cur ? json_deep_copy(cur) : json_object();
    merge_patch(next, in);
    json_decref(in);
  } else {
    json_decref(in);
    return send_status(c, 405, "MethodNotAllowed", "method not allowed");
  }
  json_t *md = idp_json_child_object(next, "metadata");
  json_object_set_new(md, "name", json_string(name));
  if (ns) json_object_set_new(md, "namespace", json_string(ns));
  json_object_set_new(next, "kind", json_string(res->kind));
  json_object_set_new(next, "apiVersion", json_string(av));
  set_rv(next, ++f->rv);
  json_object_set(f->store, key, next);
  record(f, cur ? "MODIFIED" : "ADDED", res->plural, next);
  return send_json(c, cur ? 200 : 201, next);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version,
                                 const char *upload, size_t *upload_size, void **con_cls) {
  (void)version;
  fakeapi *f = cls;
  req *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    idp_buf_init(&r->body, 0);
    *con_cls = r;
    return MHD_YES;
  }
  if (*upload_size) {
    idp_buf_add(&r->body, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  idp_buf line;
  idp_buf_init(&line, 0);
  idp_buf_printf(&line, "%s %s", method, url);
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &line);
  pthread_mutex_lock(&f->mu);
  json_array_append_new(f->log, json_string(idp_buf_str(&line)));
  idp_buf_free(&line);
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
  snprintf(f->last_ctype, sizeof f->last_ctype, "%s", ct ? ct : "");
  idp_buf_reset(&f->last_body);
  idp_buf_add(&f->last_body, r->body.data ? r->body.data : "", r->body.len);
  enum MHD_Result ret;
  watch_ctx *w = NULL;
  const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  char want[256];
  if (f->token) snprintf(want, sizeof want, "Bearer %s", f->token);
  if (f->token && (!auth || strcmp(auth, want) != 0)) {
    ret = send_status(c, 401, "Unauthorized", "Unauthorized");
  } else if (f->fail_count > 0) {
    f->fail_count--;
    ret = send_status(c, f->fail_code, f->fail_reason, f->fail_msg);
  } else {
    ret = handle(f, c, method, url, r->body.data ? r->body.data : "", r->body.len, &w);
  }
  pthread_mutex_unlock(&f->mu);
  if (w) ret = answer_watch(c, w);
  return ret;
}

static void completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  req *r = *con_cls;
  if (r) {
    idp_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
  }
}

/* ---- API -------------------------------------------------------------- */

fakeapi *fakeapi_start(void) {
  fakeapi *f = calloc(1, sizeof *f);
  pthread_mutex_init(&f->mu, NULL);
  pthread_cond_init(&f->cv, NULL);
  f->store = json_object();
  f->events = json_array();
  f->log = json_array();
  f->rv = 1;
  idp_buf_init(&f->last_body, 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  f->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                          NULL, NULL, access_cb, f, MHD_OPTION_SOCK_ADDR, &sa,
                          MHD_OPTION_NOTIFY_COMPLETED, completed_cb, f, MHD_OPTION_END);
  if (!f->d) {
    free(f);
    return NULL;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
  snprintf(f->url, sizeof f->url, "http://127.0.0.1:%u", (unsigned)di->port);
  return f;
}

void fakeapi_stop(fakeapi *f) {
  if (!f) return;
  pthread_mutex_lock(&f->mu);
  f->stopping = true;
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
  MHD_stop_daemon(f->d);
  json_decref(f->store);
  json_decref(f->events);
  json_decref(f->log);
  idp_buf_free(&f->last_body);
  free(f->token);
  pthread_mutex_destroy(&f->mu);
  pthread_cond_destroy(&f->cv);
  free(f);
}

const char *fakeapi_url(fakeapi *f) { return f->url; }

void fakeapi_put(fakeapi *f, const char *plural, json_t *obj) {
  const res_def *res = res_by_plural(plural);
  assert(res);
  json_t *o = json_deep_copy(obj);
  char key[600], av[128];
  store_key(key, sizeof key, plural, idp_json_get_str(o, "metadata", "namespace", NULL),
            idp_json_get_str(o, "metadata", "name", NULL));
  api_version(res, av, sizeof av);
  json_object_set_new(o, "kind", json_string(res->kind));
  json_object_set_new(o, "apiVersion", json_string(av));
  pthread_mutex_lock(&f->mu);
  bool exists = json_object_get(f->store, key) != NULL;
  set_rv(o, ++f->rv);
  json_object_set(f->store, key, o);
  record(f, exists ? "MODIFIED" : "ADDED", plural, o);
  pthread_mutex_unlock(&f->mu);
  json_decref(o);
}

void fakeapi_del(fakeapi *f, const char *plural, const char *ns, const char *name) {
  char key[600];
  store_key(key, sizeof key, plural, ns, name);
  pthread_mutex_lock(&f->mu);
  json_t *cur = json_incref(json_object_get(f->store, key));
  if (cur) {
    json_object_del(f->store, key);
    ++f->rv;
    json_t *o = json_deep_copy(cur);
    set_rv(o, f->rv);
    record(f, "DELETED", plural, o);
    json_decref(o);
    json_decref(cur);
  }
  pthread_mutex_unlock(&f->mu);
}

void fakeapi_bookmark(fakeapi *f) {
  pthread_mutex_lock(&f->mu);
  json_t *o = json_object();
  set_rv(o, f->rv);
  record(f, "BOOKMARK", "*", o);
  json_decref(o);
  pthread_mutex_unlock(&f->mu);
}

void fakeapi_compact(fakeapi *f) {
  pthread_mutex_lock(&f->mu);
  f->compacted = ++f->rv; /* nothing older than now can be resumed */
  pthread_mutex_unlock(&f->mu);
}

void fakeapi_gone_as_http(fakeapi *f, bool http) {
  pthread_mutex_lock(&f->mu);
  f->gone_http = http;
  pthread_mutex_unlock(&f->mu);
}

void fakeapi_close_watches(fakeapi *f) {
  pthread_mutex_lock(&f->mu);
  f->close_gen++;
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
}

void fakeapi_fail_next(fakeapi *f, int count, int code, const char *reason, const char *msg) {
  pthread_mutex_lock(&f->mu);
  f->fail_count = count;
  f->fail_code = code;
  snprintf(f->fail_reason, sizeof f->fail_reason, "%s", reason);
  snprintf(f->fail_msg, sizeof f->fail_msg, "%s", msg);
  pthread_mutex_unlock(&f->mu);
}

void fakeapi_require_token(fakeapi *f, const char *token) {
  pthread_mutex_lock(&f->mu);
  free(f->token);
  f->token = NULL;
  if (token) {
    size_t n = strlen(token);
    f->token = malloc(n + 1);
    memcpy(f->token, token, n + 1);
  }
  pthread_mutex_unlock(&f->mu);
}

int64_t fakeapi_rv(fakeapi *f) {
  pthread_mutex_lock(&f->mu);
  int64_t rv = f->rv;
  pthread_mutex_unlock(&f->mu);
  return rv;
}

int fakeapi_open_watches(fakeapi *f) {
  return __atomic_load_n(&f->open_watches, __ATOMIC_SEQ_CST);
}

int fakeapi_count(fakeapi *f, const char *prefix) {
  int n = 0;
  pthread_mutex_lock(&f->mu);
  size_t i;
  json_t *v;
  json_array_foreach(f->log, i, v) {
    if (strncmp(json_string_value(v), prefix, strlen(prefix)) == 0) n++;
  }
  pthread_mutex_unlock(&f->mu);
  return n;
}

void fakeapi_last(fakeapi *f, char *line, size_t ln, char *ctype, size_t cn, char *body,
                  size_t bn) {
  pthread_mutex_lock(&f->mu);
  size_t n = json_array_size(f->log);
  if (line) snprintf(line, ln, "%s", n ? json_string_value(json_array_get(f->log, n - 1)) : "");
  if (ctype) snprintf(ctype, cn, "%s", f->last_ctype);
  if (body) snprintf(body, bn, "%s", idp_buf_str(&f->last_body));
  pthread_mutex_unlock(&f->mu);
}
