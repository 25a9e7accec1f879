#include "core/common.h"

#include "apiserver/api_int.h"
#include "core/json.h"
#include "kube/selector.h"
#include "kube/table.h"

/* Field selectors: metadata.name and metadata.namespace for every resource,
 * plus the per-kind fields kube-apiserver indexes (data, not code). */
typedef struct field_row {
  const char *group, *kind, *fields; /* comma list of dotted paths */
} field_row;

static const field_row selectable_fields[] = {
    {"", "Pod",
     "spec.nodeName,spec.restartPolicy,spec.schedulerName,spec.serviceAccountName,"
     "spec.hostNetwork,status.phase,status.podIP,status.nominatedNodeName"},
    {"", "Secret", "type"},
    {"", "Namespace", "status.phase"},
    {"", "Event",
     "involvedObject.kind,involvedObject.namespace,involvedObject.name,involvedObject.uid,"
     "involvedObject.apiVersion,involvedObject.resourceVersion,involvedObject.fieldPath,reason,"
     "reportingComponent,source,type"},
    {"", "Service", "spec.clusterIP,spec.type"},
    {"", "PersistentVolumeClaim", "spec.volumeName"},
    {"apps", "ReplicaSet", "status.replicas"},
    {"batch", "Job", "status.successful"},
};

enum { MAX_FIELD_REQS = 16 };

typedef struct field_req {
  char path[128];
  char value[256];
  bool neq;
} field_req;

struct api_filter {
  idp_selector *labels;
  field_req f[MAX_FIELD_REQS];
  size_t nf;
};

static bool field_allowed(const api_resource *r, const char *path) {
  if (!strcmp(path, "metadata.name") || !strcmp(path, "metadata.namespace")) return true;
  for (size_t i = 0; i < IDP_ARRAY_LEN(selectable_fields); i++) {
    const field_row *fr = &selectable_fields[i];
    if (strcmp(fr->group, r->group) || strcmp(fr->kind, r->kind)) continue;
    size_t pl = strlen(path);
    for (const char *p = fr->fields; p && *p;) {
      const char *c = strchr(p, ',');
      size_t n = c ? (size_t)(c - p) : strlen(p);
      if (n == pl && !memcmp(p, path, n)) return true;
      p = c ? c + 1 : NULL;
    }
  }
  return false;
}

static idp_code parse_fields(const api_resource *r, const char *text, api_filter *f, idp_err *e) {
  const char *p = text;
  while (p && *p) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    if (n == 0) {
      p = comma ? comma + 1 : NULL;
      continue;
    }
    if (f->nf == MAX_FIELD_REQS)
      return idp_err_set(e, IDP_EINVAL, "fieldSelector: more than %d requirements", MAX_FIELD_REQS);
    field_req *q = &f->f[f->nf];
    const char *op = NULL;
    size_t oplen = 0;
    for (size_t i = 0; i < n; i++) {
      if (p[i] == '!' && i + 1 < n && p[i + 1] == '=') {
        op = p + i, oplen = 2, q->neq = true;
        break;
      }
      if (p[i] == '=') {
        op = p + i, oplen = (i + 1 < n && p[i + 1] == '=') ? 2 : 1, q->neq = false;
        break;
      }
    }
    if (!op)
      return idp_err_set(e, IDP_EINVAL, "invalid field selector \"%.*s\": expected field=value",
                         (int)n, p);
    size_t kl = (size_t)(op - p), vl = n - kl - oplen;
    if (kl == 0 || kl >= sizeof q->path || vl >= sizeof q->value)
      return idp_err_set(e, IDP_EINVAL, "invalid field selector \"%.*s\"", (int)n, p);
    memcpy(q->path, p, kl);
    q->path[kl] = '\0';
    memcpy(q->value, op + oplen, vl);
    q->value[vl] = '\0';
    if (!field_allowed(r, q->path))
      return idp_err_set(e, IDP_EINVAL, "field label not supported: %s", q->path);
    f->nf++;
    p = comma ? comma + 1 : NULL;
  }
  return IDP_OK;
}

idp_code api_filter_new(const api_ctx *c, api_filter **out, idp_err *e) {
  *out = NULL;
  const char *ls = api_query(c->rq, "labelSelector");
  const char *fs = api_query(c->rq, "fieldSelector");
  if ((!ls || !*ls) && (!fs || !*fs)) return IDP_OK;
  api_filter *f = calloc(1, sizeof *f);
  if (!f) return idp_err_set(e, IDP_ENOMEM, "allocating a selector");
  idp_code code = IDP_OK;
  if (ls && *ls) {
    if (strlen(ls) > 16384)
      code = idp_err_set(e, IDP_EINVAL, "labelSelector longer than 16 KiB");
    else if ((code = idp_selector_parse(ls, &f->labels, e)))
      idp_err_prefix(e, "unable to parse requirement"), code = IDP_EINVAL, e->code = IDP_EINVAL;
  }
  if (!code && fs && *fs) code = parse_fields(c->res, fs, f, e);
  if (code) {
    api_filter_free(f);
    return code;
  }
  *out = f;
  return IDP_OK;
}

static void scalar_text(const json_t *v, char *buf, size_t n) {
  if (json_is_string(v))
    snprintf(buf, n, "%s", json_string_value(v));
  else if (json_is_integer(v))
    snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  else if (json_is_true(v))
    snprintf(buf, n, "true");
  else if (json_is_false(v))
    snprintf(buf, n, "false");
  else
    buf[0] = '\0';
}

bool api_filter_match(const api_filter *f, const json_t *obj) {
  if (!f) return true;
  if (f->labels && !idp_selector_matches(f->labels, idp_json_get(obj, "metadata", "labels", NULL)))
    return false;
  for (size_t i = 0; i < f->nf; i++) {
    char val[512];
    scalar_text(idp_json_path(obj, f->f[i].path), val, sizeof val);
    bool eq = !strcmp(val, f->f[i].value);
    if (eq == f->f[i].neq) return false;
  }
  return true;
}

void api_filter_free(api_filter *f) {
  if (!f) return;
  idp_selector_free(f->labels);
  free(f);
}

bool api_wants_table(const api_ctx *c) {
  const char *a = c->rq->accept;
  return a && strstr(a, "as=Table") && strstr(a, "g=meta.k8s.io");
}

json_t *api_table(const api_resource *r, const json_t *objects, bool include_object,
                  const char *rv, const char *cont) {
  const json_t *cols = r->crd ? r->columns : idp_table_builtin_columns(r->group, r->kind);
  return idp_table_new(cols, objects, include_object, rv, cont);
}

static bool include_full_object(const api_ctx *c) {
  const char *io = api_query(c->rq, "includeObject");
  return io && !strcmp(io, "Object");
}

/* GET of an item (and its status subresource). */
void api_get(api_ctx *c) {
  idp_err e = IDP_ERR_INIT;
  api_resource *r = c->res;
  if (c->p.sub[0] && strcmp(c->p.sub, "status") && strcmp(c->p.sub, "scale")) {
    idp_err_set(&e, IDP_ENOTFOUND, "the server could not find the requested resource");
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  json_t *obj = NULL;
  idp_code code = idp_store_get(c->srv->store, r->store_key, c->p.ns, c->p.name, &obj, &e);
  if (code == IDP_ENOTFOUND) api_err_notfound(r, c->p.name, &e);
  if (code) {
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  api_set_type(r, obj);
  if (!strcmp(c->p.sub, "scale")) {
    json_t *sc = api_scale_from(r, obj, &e);
    json_decref(obj);
    if (!sc) {
      api_status_error(c, &e, NULL, NULL);
      return;
    }
    api_reply_json(c, 200, sc);
    return;
  }
  if (api_wants_table(c)) {
    json_t *arr = json_pack("[o]", obj);
    json_t *t = api_table(r, arr, include_full_object(c), NULL, NULL);
    json_decref(arr);
    api_reply_json(c, 200, t);
    return;
  }
  api_reply_json(c, 200, obj);
}

static idp_code parse_limit(const api_ctx *c, size_t *limit, idp_err *e) {
  *limit = 0;
  const char *l = api_query(c->rq, "limit");
  if (!l || !*l) return IDP_OK;
  char *end;
  errno = 0;
  long long v = strtoll(l, &end, 10);
  if (errno || *end || v < 0) return idp_err_set(e, IDP_EINVAL, "limit: invalid value \"%s\"", l);
  *limit = (size_t)v;
  return IDP_OK;
}

/* Lists into *items (new array); filtering happens page by page so that a
 * limited list returns at most `limit` matching items and a continue token
 * that resumes right after the last one read. */
idp_code api_list_items(idp_apiserver *s, const api_resource *r, const char *ns,
                        const api_filter *f, size_t limit, const char *cont, json_t **items,
                        int64_t *rev, char **next, idp_err *e) {
  *items = json_array();
  *next = NULL;
  *rev = 0;
  char *token = NULL;
  const char *at = (cont && *cont) ? cont : NULL;
  for (;;) {
    idp_store_list_opts o = {.ns = ns, .cont = at, .limit = limit ? limit - json_array_size(*items) : 0};
    json_t *page = NULL;
    char *pnext = NULL;
    int64_t prev = 0;
    idp_code code = idp_store_list(s->store, r->store_key, &o, &page, &prev, &pnext, e);
    free(token);
    token = NULL;
    if (code) {
      json_decref(*items);
      *items = NULL;
      if (code == IDP_EGONE)
        idp_err_set(e, IDP_EGONE,
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter.");
      return code;
    }
    if (!*rev) *rev = prev;
    size_t i;
    json_t *it;
    json_array_foreach(page, i, it) {
      if (!api_filter_match(f, it)) continue;
      api_set_type(r, it);
      json_array_append(*items, it);
    }
    json_decref(page);
    if (!pnext) break;
    if (!limit || json_array_size(*items) >= limit) {
      *next = pnext;
      break;
    }
    token = pnext;
    at = token;
  }
  free(token);
  return IDP_OK;
}

static const char expired_continue[] =
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter.";

/* The whole (filtered) list as a snapshot: straight from the store's JSON
 * text when nothing needs rewriting, else parsed, filtered and re-encoded. */
static idp_code list_snapshot(api_ctx *c, const api_filter *f, api_snap **out, idp_err *e) {
  const api_resource *r = c->res;
  const char *ns = c->p.has_ns ? c->p.ns : NULL;
  int64_t rev = 0;
  char *next = NULL;
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  idp_code code;
  *out = NULL;
  if (!f && r->single_version) {
    idp_store_list_opts o = {.ns = ns};
    code = idp_store_list_raw(c->srv->store, r->store_key, &o, &b, NULL, &rev, &next, e);
  } else {
    json_t *items = NULL;
    code = api_list_items(c->srv, r, ns, f, 0, NULL, &items, &rev, &next, e);
    size_t i;
    json_t *it;
    if (!code) code = idp_buf_addc(&b, '[');
    json_array_foreach(items, i, it) {
      char *txt = idp_json_dump(it);
      if (!code && (!txt || (i && idp_buf_addc(&b, ',')) || idp_buf_adds(&b, txt)))
        code = idp_err_set(e, IDP_ETOOLARGE, "the list of %s is too large", r->plural);
      free(txt);
    }
    if (!code && idp_buf_addc(&b, ']'))
      code = idp_err_set(e, IDP_ETOOLARGE, "the list of %s is too large", r->plural);
    json_decref(items);
  }
  free(next);
  if (code) {
    idp_buf_free(&b);
    return code;
  }
  size_t len = 0;
  char *raw = idp_buf_detach(&b, &len);
  *out = raw ? api_snap_new(raw, len, rev) : NULL;
  if (!*out) return idp_err_set(e, IDP_EINTERNAL, "listing %s: malformed stored list", r->plural);
  return IDP_OK;
}

/* Writes items [a, b) of the snapshot as a List or a Table. */
static void reply_page(api_ctx *c, const api_snap *s, size_t a, size_t b, const char *next) {
  const api_resource *r = c->res;
  char rvs[32];
  snprintf(rvs, sizeof rvs, "%" PRId64, s->rev);
  if (api_wants_table(c)) {
    json_t *items = json_array();
    for (size_t i = a; i < b; i++) {
      const char *p;
      size_t n;
      api_snap_item(s, i, &p, &n);
      json_t *it = json_loadb(p, n, 0, NULL);
      if (!it) continue;
      api_set_type(r, it);
      json_array_append_new(items, it);
    }
    json_t *t = api_table(r, items, include_full_object(c), rvs, next);
    json_decref(items);
    api_reply_json(c, 200, t);
    return;
  }
  char gv[600];
  api_gv(r, gv, sizeof gv);
  idp_buf *out = &c->rs->body;
  idp_buf_reset(out);
  idp_code code = idp_buf_printf(out,
                                 "{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"metadata\":{"
                                 "\"resourceVersion\":\"%s\"%s%s%s},\"items\":[",
                                 r->list_kind, gv, rvs, next ? ",\"continue\":\"" : "",
                                 next ? next : "", next ? "\"" : "");
  if (!code && b > a)
    code = idp_buf_add(out, s->raw + s->off[a], s->off[b] - 1 - s->off[a]);
  if (!code) code = idp_buf_adds(out, "]}");
  if (code) {
    idp_err e;
    idp_err_set(&e, IDP_ETOOLARGE, "the list of %s is too large", r->plural);
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  c->rs->status = 200;
  c->rs->content_type = "application/json";
}

void api_list(api_ctx *c) {
  idp_err e = IDP_ERR_INIT;
  api_filter *f = NULL;
  size_t limit = 0;
  if (parse_limit(c, &limit, &e) || api_filter_new(c, &f, &e)) {
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  api_snap *snap = NULL;
  size_t off = 0;
  const char *cont = api_query(c->rq, "continue");
  idp_code code;
  if (cont && *cont) {
    code = api_pager_get(c->srv->pager, cont, idp_store_compacted(c->srv->store), &snap, &off);
    if (code == IDP_EGONE)
      idp_err_set(&e, IDP_EGONE, "%s", expired_continue);
    else if (code)
      code = idp_err_set(&e, IDP_EINVAL, "continue: invalid continue token \"%.64s\"", cont);
  } else {
    code = list_snapshot(c, f, &snap, &e);
  }
  api_filter_free(f);
  if (code) {
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  size_t end = limit && off + limit < snap->n ? off + limit : snap->n;
  char token[128];
  bool more = end < snap->n;
  if (more) api_pager_put(c->srv->pager, snap, end, token, sizeof token);
  reply_page(c, snap, off, end, more ? token : NULL);
  api_snap_unref(snap);
}
