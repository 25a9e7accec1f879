/* controller.c: the ApplicationSet controller (see appset.h): informers on
 * ApplicationSets, Applications and cluster Secrets, a work queue keyed by
 * ApplicationSet, and Argo CD's reconcile: generate, validate, create /
 * update / delete the owned Applications as the sync policy allows, then
 * write the status conditions.  A poller re-resolves the Git revisions each
 * ApplicationSet read and requeues it when one moved. */
#include "core/common.h"

#include <ctype.h>
#include <pthread.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "core/yaml.h"
#include "gitops/appset/appset.h"
#include "patch/patch.h"

extern const char *const idp_appset_crd_yaml[];

#define GROUP "argoproj.io"
#define VERSION "v1alpha1"
#define API_VERSION "argoproj.io/v1alpha1"
#define RESOURCES_FINALIZER "resources-finalizer.argocd.argoproj.io"
#define POST_DELETE_FINALIZER "post-delete-finalizer.argocd.argoproj.io"
#define REQUEUE_ON_ERROR_MS (180 * 1000)
#define MAX_STATUS_RESOURCES 5000
#define REFRESH_ANNOTATION "argocd.argoproj.io/application-set-refresh"

/* Annotations Argo CD never overwrites on generated Applications. */
static const char *const preserved_annotations[] = {"notified.notifications.argoproj.io",
                                                    "argocd.argoproj.io/refresh"};

/* syncPolicy.applicationsSync -> what the controller may do. */
static const struct policy {
  const char *name;
  bool update, del;
} policies[] = {
    {"create-only", false, false},
    {"create-update", true, false},
    {"create-delete", false, true},
    {"sync", true, true},
};

struct idp_appset {
  idp_kclient *kc;
  char *ns;
  char *policy;
  bool no_override;
  long poll_ms;
  idp_asgit *git;
  idp_informer *appsets, *apps, *secrets;
  idp_controller *ctl;
  pthread_t poller;
  bool poller_started;
  idp_kcancel *cancel;
  pthread_mutex_t lock; /* reads, stats */
  json_t *reads;        /* appset key -> [[url, revision, sha], ...] */
  idp_appset_stats stats;
};

static void stat_add(idp_appset *a, unsigned long *field) {
  pthread_mutex_lock(&a->lock);
  (*field)++;
  pthread_mutex_unlock(&a->lock);
}

void idp_appset_get_stats(idp_appset *a, idp_appset_stats *out) {
  pthread_mutex_lock(&a->lock);
  *out = a->stats;
  pthread_mutex_unlock(&a->lock);
}

static void now_rfc3339(char *buf, size_t n) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- CRDs ---------------------------------------------------------------- */

idp_code idp_appset_install_crds(idp_kclient *kc, idp_err *e) {
  for (size_t i = 0; idp_appset_crd_yaml[i]; i++) {
    json_t *crd = NULL;
    idp_code rc = idp_yaml_load_one(idp_appset_crd_yaml[i], strlen(idp_appset_crd_yaml[i]),
                                    "gitops/appset/crds", NULL, &crd, e);
    if (rc) return rc;
    const char *name = idp_json_get_str(crd, "metadata", "name", NULL);
    idp_kref r = {"apiextensions.k8s.io", "v1", "customresourcedefinitions", NULL, name, NULL};
    json_t *live = NULL;
    rc = idp_kclient_get(kc, &r, &live, e);
    if (rc == IDP_ENOTFOUND) {
      idp_err_clear(e);
      rc = idp_kclient_create(kc, &r, crd, NULL, NULL, e);
      if (rc == IDP_EEXIST) rc = IDP_OK, idp_err_clear(e);
    } else if (!rc && !idp_json_equal(json_object_get(crd, "spec"), json_object_get(live, "spec"))) {
      json_t *upd = json_deep_copy(live);
      json_object_set(upd, "spec", json_object_get(crd, "spec"));
      rc = idp_kclient_update(kc, &r, upd, NULL, NULL, e);
      json_decref(upd);
    }
    json_decref(live);
    json_decref(crd);
    if (rc) {
      idp_err_prefix(e, "installing CRD %s", name ? name : "?");
      return rc;
    }
  }
  /* wait until the API serves the kind (CRDs are established asynchronously) */
  idp_kgvr g;
  for (int i = 0; i < 100; i++) {
    idp_err te = IDP_ERR_INIT;
    if (!idp_kclient_resolve(kc, API_VERSION, "ApplicationSet", &g, &te)) return IDP_OK;
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return idp_err_set(e, IDP_EUNAVAILABLE, "CRD applicationsets.argoproj.io is not served after 10 s");
}

/* ---- helpers --------------------------------------------------------------------- */

static bool controller_ref_to(const json_t *obj, const char *appset_name) {
  size_t i;
  json_t *r;
  json_array_foreach(idp_json_get(obj, "metadata", "ownerReferences", NULL), i, r) {
    if (!json_is_true(json_object_get(r, "controller"))) continue;
    const char *k = json_string_value(json_object_get(r, "kind"));
    const char *av = json_string_value(json_object_get(r, "apiVersion"));
    const char *n = json_string_value(json_object_get(r, "name"));
    return k && av && n && !strcmp(k, "ApplicationSet") && !strcmp(av, API_VERSION) &&
           (!appset_name || !strcmp(n, appset_name));
  }
  return false;
}

static const char *controller_owner(const json_t *obj) {
  size_t i;
  json_t *r;
  json_array_foreach(idp_json_get(obj, "metadata", "ownerReferences", NULL), i, r) {
    if (!json_is_true(json_object_get(r, "controller"))) continue;
    const char *k = json_string_value(json_object_get(r, "kind"));
    if (k && !strcmp(k, "ApplicationSet")) return json_string_value(json_object_get(r, "name"));
    return NULL;
  }
  return NULL;
}

static json_t *owner_ref(const json_t *appset) {
  return json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "apiVersion", API_VERSION, "kind", "ApplicationSet",
                   "name", idp_json_get_str(appset, "metadata", "name", NULL), "uid",
                   idp_json_get_str(appset, "metadata", "uid", NULL) ? idp_json_get_str(appset, "metadata", "uid", NULL) : "",
                   "controller", 1, "blockOwnerDeletion", 1);
}

/* ownerReferences of `meta` with the controller reference set to `ref`. */
static void set_controller_ref(json_t *meta, const json_t *ref) {
  json_t *refs = json_object_get(meta, "ownerReferences");
  json_t *nr = json_array();
  size_t i;
  json_t *r;
  json_array_foreach(refs, i, r) {
    if (json_is_true(json_object_get(r, "controller"))) continue;
    const char *uid = json_string_value(json_object_get(r, "uid"));
    const char *ruid = json_string_value(json_object_get(ref, "uid"));
    if (uid && ruid && !strcmp(uid, ruid)) continue;
    json_array_append(nr, r);
  }
  json_array_append(nr, (json_t *)ref);
  json_object_set_new(meta, "ownerReferences", nr);
}

/* RFC 6901 pointer helpers for ignoreApplicationDifferences. */
static json_t *ptr_get(json_t *root, const char *ptr, json_t **parent, char *last, size_t lastn) {
  json_t *cur = root;
  *parent = NULL;
  if (!*ptr) return root;
  const char *p = ptr;
  while (*p == '/') {
    p++;
    char tok[512];
    size_t k = 0;
    while (*p && *p != '/' && k + 1 < sizeof tok) {
      if (*p == '~' && p[1] == '1') tok[k++] = '/', p += 2;
      else if (*p == '~' && p[1] == '0') tok[k++] = '~', p += 2;
      else tok[k++] = *p++;
    }
    tok[k] = 0;
    *parent = cur;
    snprintf(last, lastn, "%s", tok);
    if (json_is_object(cur)) cur = json_object_get(cur, tok);
    else if (json_is_array(cur)) {
      char *end;
      long ix = strtol(tok, &end, 10);
      cur = (*end || ix < 0) ? NULL : json_array_get(cur, (size_t)ix);
    } else cur = NULL;
    if (!cur && *p) return NULL;
  }
  return cur;
}

/* Makes `dst` carry the live value (or absence) at `ptr`. */
static void copy_pointer(json_t *dst, json_t *live, const char *ptr) {
  char last[512], dlast[512];
  json_t *lparent, *dparent;
  json_t *lv = ptr_get(live, ptr, &lparent, last, sizeof last);
  json_t *dv = ptr_get(dst, ptr, &dparent, dlast, sizeof dlast);
  IDP_UNUSED(dv);
  if (!dparent) return;
  if (json_is_object(dparent)) {
    if (lv) json_object_set_new(dparent, dlast, json_deep_copy(lv));
    else json_object_del(dparent, dlast);
  } else if (json_is_array(dparent) && lv) {
    char *end;
    long ix = strtol(dlast, &end, 10);
    if (!*end && ix >= 0 && (size_t)ix < json_array_size(dparent))
      json_array_set_new(dparent, (size_t)ix, json_deep_copy(lv));
  }
}

static bool str_in(const json_t *arr, const char *s) {
  size_t i;
  json_t *x;
  json_array_foreach(arr, i, x) if (json_is_string(x) && !strcmp(json_string_value(x), s)) return true;
  return false;
}

/* The part of an Application the controller owns, for "changed?" checks. */
static bool same_managed(const json_t *a, const json_t *b) {
  static const char *const meta[] = {"labels", "annotations", "finalizers", "ownerReferences"};
  if (!idp_json_equal(json_object_get(a, "spec"), json_object_get(b, "spec"))) return false;
  if (!idp_json_equal(json_object_get(a, "operation"), json_object_get(b, "operation"))) return false;
  for (size_t i = 0; i < IDP_ARRAY_LEN(meta); i++) {
    json_t *x = idp_json_get(a, "metadata", meta[i], NULL), *y = idp_json_get(b, "metadata", meta[i], NULL);
    bool ex = !x || (json_is_object(x) && !json_object_size(x)) || (json_is_array(x) && !json_array_size(x));
    bool ey = !y || (json_is_object(y) && !json_object_size(y)) || (json_is_array(y) && !json_array_size(y));
    if (ex && ey) continue;
    if (!idp_json_equal(x, y)) return false;
  }
  return true;
}

/* ---- per-reconcile environment ------------------------------------------------------ */

typedef struct recon {
  idp_appset *a;
  json_t *reads;
} recon;

static const char *secret_type(const json_t *s) {
  const char *t = idp_json_get_str(s, "metadata", "labels", "argocd.argoproj.io/secret-type", NULL);
  return t ? t : "";
}

static idp_code list_clusters(void *ud, json_t **out, idp_err *e) {
  recon *r = ud;
  IDP_UNUSED(e);
  json_t *all = idp_informer_list(r->a->secrets, r->a->ns);
  json_t *res = json_array();
  size_t i;
  json_t *s;
  json_array_foreach(all, i, s) if (!strcmp(secret_type(s), "cluster")) json_array_append(res, s);
  json_decref(all);
  *out = res;
  return IDP_OK;
}

/* A Secret data field, base64-decoded (new malloc'd, NULL when absent). */
static char *secret_data(const json_t *s, const char *key) {
  const char *sd = idp_json_get_str(s, "stringData", key, NULL);
  if (sd) return strdup(sd);
  const char *d = idp_json_get_str(s, "data", key, NULL);
  if (!d) return NULL;
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n = strlen(d), o = 0;
  char *out = malloc(n + 1);
  if (!out) return NULL;
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n && d[i] != '='; i++) {
    const char *p = strchr(tbl, d[i]);
    if (!p || !d[i]) continue;
    acc = acc << 6 | (unsigned)(p - tbl);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (char)(acc >> bits & 0xFF);
    }
  }
  out[o] = 0;
  return out;
}

void idp_appset_url_key(const char *u, char *out, size_t n) {
  char tmp[2048];
  const char *sep = strstr(u, "://");
  if (!sep) {
    const char *colon = strchr(u, ':'), *slash = strchr(u, '/');
    if (colon && (!slash || colon < slash)) { /* scp-like [user@]host:org/repo */
      const char *at = memchr(u, '@', (size_t)(colon - u));
      const char *host = at ? at + 1 : u;
      snprintf(tmp, sizeof tmp, "https://%.*s/%s", (int)(colon - host), host, colon + 1);
    } else {
      snprintf(tmp, sizeof tmp, "%s", u);
    }
  } else {
    const char *rest = sep + 3;
    const char *slash = strchr(rest, '/');
    const char *at = memchr(rest, '@', slash ? (size_t)(slash - rest) : strlen(rest));
    if (at) rest = at + 1; /* user info is not part of the identity */
    bool ssh = !strncmp(u, "ssh://", 6);
    snprintf(tmp, sizeof tmp, "%.*s://%s", ssh ? 5 : (int)(sep - u), ssh ? "https" : u, rest);
  }
  size_t l = strlen(tmp);
  while (l && tmp[l - 1] == '/') tmp[--l] = 0;
  if (l > 4 && !strcmp(tmp + l - 4, ".git")) tmp[l -= 4] = 0;
  char *hs = strstr(tmp, "://");
  char *he = hs ? strchr(hs + 3, '/') : NULL;
  for (char *p = tmp; *p && hs && (!he || p < he); p++) *p = (char)tolower((unsigned char)*p);
  snprintf(out, n, "%s", tmp);
}

/* Argo CD repository credentials: a `repository` Secret whose url equals
 * the repoURL, else the `repo-creds` Secret with the longest url prefix. */
static bool repo_creds(void *ud, const char *url, char **username, char **password) {
  idp_appset *a = ud;
  char want[2048];
  idp_appset_url_key(url, want, sizeof want);
  json_t *all = idp_informer_list(a->secrets, a->ns);
  const json_t *best = NULL;
  size_t best_len = 0;
  bool exact = false;
  size_t i;
  json_t *s;
  json_array_foreach(all, i, s) {
    const char *t = secret_type(s);
    bool repo = !strcmp(t, "repository"), tmpl = !strcmp(t, "repo-creds");
    if (!repo && !tmpl) continue;
    char *su = secret_data(s, "url");
    if (!su) continue;
    char have[2048];
    idp_appset_url_key(su, have, sizeof have);
    free(su);
    size_t hl = strlen(have);
    if (repo && !strcmp(have, want)) {
      best = s;
      exact = true;
      break;
    }
    if (tmpl && !exact && !strncmp(want, have, hl) && hl > best_len) {
      best = s;
      best_len = hl;
    }
  }
  bool found = false;
  if (best) {
    *username = secret_data(best, "username");
    *password = secret_data(best, "password");
    found = *username || *password;
  }
  json_decref(all);
  return found;
}

static void on_git_read(void *ud, const char *url, const char *rev, const char *sha) {
  recon *r = ud;
  size_t i;
  json_t *x;
  json_array_foreach(r->reads, i, x) {
    if (!strcmp(json_string_value(json_array_get(x, 0)), url) &&
        !strcmp(json_string_value(json_array_get(x, 1)), rev))
      return;
  }
  json_array_append_new(r->reads, json_pack("[sss]", url, rev, sha));
}

/* ---- status ------------------------------------------------------------------------- */

typedef struct cond {
  const char *type, *status, *reason;
  char message[IDP_ERR_MSG_MAX + 64];
} cond;

/* Argo CD's setApplicationSetStatusCondition: the three conditions derived
 * from one event (an error, or "up to date"). */
static void make_conditions(bool error, bool params_generated, const char *message, const char *reason,
                            cond out[3]) {
  static const char *ok_params = "Successfully generated parameters for all Applications";
  out[0] = (cond){"ErrorOccurred", error ? "True" : "False", error ? reason : "ApplicationSetUpToDate", {0}};
  snprintf(out[0].message, sizeof out[0].message, "%s", error ? message : ok_params);
  out[1] = (cond){"ParametersGenerated", params_generated ? "True" : "False",
                  params_generated ? "ParametersGenerated" : "ErrorOccurred", {0}};
  snprintf(out[1].message, sizeof out[1].message, "%s", params_generated ? ok_params : message);
  out[2] = (cond){"ResourcesUpToDate", error ? "False" : "True", error ? reason : "ApplicationSetUpToDate", {0}};
  snprintf(out[2].message, sizeof out[2].message, "%s", error ? message : "ApplicationSet up to date");
}

static json_t *status_resources(idp_appset *a, const char *name) {
  json_t *all = idp_informer_list(a->apps, a->ns);
  json_t *res = json_array();
  size_t i;
  json_t *app;
  json_array_foreach(all, i, app) {
    if (!controller_ref_to(app, name)) continue;
    if (json_array_size(res) >= MAX_STATUS_RESOURCES) break;
    json_t *r = json_pack("{s:s,s:s,s:s,s:s,s:s}", "group", GROUP, "version", VERSION, "kind", "Application",
                          "namespace", idp_json_get_str(app, "metadata", "namespace", NULL) ? idp_json_get_str(app, "metadata", "namespace", NULL) : "",
                          "name", idp_json_get_str(app, "metadata", "name", NULL));
    const char *sync = idp_json_get_str(app, "status", "sync", "status", NULL);
    if (sync) json_object_set_new(r, "status", json_string(sync));
    json_t *health = idp_json_get(app, "status", "health", NULL);
    if (json_is_object(health)) json_object_set(r, "health", health);
    json_array_append_new(res, r);
  }
  json_decref(all);
  return res;
}

/* The status `appset` should carry: conditions (keeping lastTransitionTime
 * of unchanged ones, and conditions of other types) and resources.  New
 * reference. */
static json_t *desired_status(idp_appset *a, const json_t *appset, const cond conds[3]) {
  const char *name = idp_json_get_str(appset, "metadata", "name", NULL);
  json_t *old = json_object_get(appset, "status");
  json_t *status = json_is_object(old) ? json_deep_copy(old) : json_object();
  json_t *oldc = json_object_get(status, "conditions");
  json_t *nc = json_array();
  char now[32];
  now_rfc3339(now, sizeof now);
  size_t i;
  json_t *c;
  json_array_foreach(oldc, i, c) {
    const char *t = json_string_value(json_object_get(c, "type"));
    bool ours = false;
    for (int k = 0; k < 3; k++) ours |= t && !strcmp(t, conds[k].type);
    if (!ours) json_array_append(nc, c);
  }
  for (int k = 0; k < 3; k++) {
    const char *ltt = now;
    json_array_foreach(oldc, i, c) {
      const char *t = json_string_value(json_object_get(c, "type"));
      const char *st = json_string_value(json_object_get(c, "status"));
      if (t && st && !strcmp(t, conds[k].type) && !strcmp(st, conds[k].status) &&
          json_string_value(json_object_get(c, "lastTransitionTime")))
        ltt = json_string_value(json_object_get(c, "lastTransitionTime"));
    }
    json_array_append_new(nc, json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", conds[k].type, "message",
                                        conds[k].message, "lastTransitionTime", ltt, "reason",
                                        conds[k].reason, "status", conds[k].status));
  }
  json_object_set_new(status, "conditions", nc);
  json_object_set_new(status, "resources", status_resources(a, name));
  return status;
}

/* Writes the status when it differs from the live one; on a conflict (the
 * cache was behind) re-reads the object and tries again, as Argo CD's
 * RetryOnConflict. */
static idp_code write_status(idp_appset *a, const json_t *appset, const cond conds[3], idp_err *e) {
  const char *name = idp_json_get_str(appset, "metadata", "name", NULL);
  idp_kref r = {GROUP, VERSION, "applicationsets", a->ns, name, "status"};
  json_t *cur = json_incref((json_t *)appset);
  idp_code rc = IDP_OK;
  for (int attempt = 0; attempt < 5; attempt++) {
    json_t *status = desired_status(a, cur, conds);
    json_t *old = json_object_get(cur, "status");
    if (old && idp_json_equal(old, status)) {
      json_decref(status);
      rc = IDP_OK;
      break;
    }
    json_t *obj = json_deep_copy(cur);
    json_object_set_new(obj, "status", status);
    rc = idp_kclient_update_status(a->kc, &r, obj, NULL, NULL, e);
    json_decref(obj);
    if (rc != IDP_ECONFLICT) break;
    idp_err_clear(e);
    json_decref(cur);
    cur = NULL;
    idp_kref g = {GROUP, VERSION, "applicationsets", a->ns, name, NULL};
    if ((rc = idp_kclient_get(a->kc, &g, &cur, e))) break;
  }
  json_decref(cur);
  if (rc == IDP_ENOTFOUND) rc = IDP_OK, idp_err_clear(e);
  return rc;
}

/* ---- writes to Applications --------------------------------------------------------- */

/* The live Application updated to the generated one: spec (and
 * operation), generated labels/annotations plus the preserved live ones,
 * generated finalizers plus live post-delete ones, the controller
 * reference, and live values at ignoreApplicationDifferences pointers.
 * New reference. */
static json_t *updated_app(const json_t *appset, const json_t *desired, const json_t *live,
                           const json_t *ref) {
  const char *name = idp_json_get_str(desired, "metadata", "name", NULL);
  json_t *upd = json_deep_copy(live);
  json_t *md = json_object_get(upd, "metadata");
  json_object_set(upd, "spec", json_object_get(desired, "spec"));
  json_t *op = json_object_get(desired, "operation");
  if (op) json_object_set(upd, "operation", op);
  const json_t *spec = json_object_get(appset, "spec");
  json_t *pf_ann = idp_json_get(spec, "preservedFields", "annotations", NULL);
  json_t *pf_lab = idp_json_get(spec, "preservedFields", "labels", NULL);
  json_t *ann = json_deep_copy(idp_json_get(desired, "metadata", "annotations", NULL));
  if (!json_is_object(ann)) {
    json_decref(ann);
    ann = json_object();
  }
  const char *k;
  json_t *v;
  json_object_foreach(idp_json_get(live, "metadata", "annotations", NULL), k, v) {
    bool keep = str_in(pf_ann, k);
    for (size_t i = 0; i < IDP_ARRAY_LEN(preserved_annotations); i++) keep |= !strcmp(k, preserved_annotations[i]);
    if (keep) json_object_set(ann, k, v);
  }
  if (json_object_size(ann)) json_object_set(md, "annotations", ann);
  else json_object_del(md, "annotations");
  json_decref(ann);
  json_t *lab = json_deep_copy(idp_json_get(desired, "metadata", "labels", NULL));
  if (!json_is_object(lab)) {
    json_decref(lab);
    lab = json_object();
  }
  json_object_foreach(idp_json_get(live, "metadata", "labels", NULL), k, v)
    if (str_in(pf_lab, k)) json_object_set(lab, k, v);
  if (json_object_size(lab)) json_object_set(md, "labels", lab);
  else json_object_del(md, "labels");
  json_decref(lab);
  json_t *fin = json_deep_copy(idp_json_get(desired, "metadata", "finalizers", NULL));
  if (!json_is_array(fin)) {
    json_decref(fin);
    fin = json_array();
  }
  size_t i;
  json_array_foreach(idp_json_get(live, "metadata", "finalizers", NULL), i, v) {
    const char *f = json_string_value(v);
    if (f && !strncmp(f, POST_DELETE_FINALIZER, strlen(POST_DELETE_FINALIZER)) && !str_in(fin, f))
      json_array_append(fin, v);
  }
  if (json_array_size(fin)) json_object_set(md, "finalizers", fin);
  else json_object_del(md, "finalizers");
  json_decref(fin);
  set_controller_ref(md, ref);
  json_t *ign;
  json_array_foreach(json_object_get(spec, "ignoreApplicationDifferences"), i, ign) {
    const char *in = json_string_value(json_object_get(ign, "name"));
    if (in && *in && name && strcmp(in, name)) continue;
    size_t j;
    json_t *ptr;
    json_array_foreach(json_object_get(ign, "jsonPointers"), j, ptr)
      if (json_is_string(ptr)) copy_pointer(upd, (json_t *)live, json_string_value(ptr));
  }
  return upd;
}

/* Creates or updates one generated Application.  The informer may lag
 * behind our own writes: "already exists" and conflicts re-read the live
 * object and try again. */
static idp_code create_or_update(idp_appset *a, const json_t *appset, const json_t *desired,
                                 bool allow_update, idp_err *e) {
  const char *name = idp_json_get_str(desired, "metadata", "name", NULL);
  const char *ns = idp_json_get_str(desired, "metadata", "namespace", NULL);
  if (!ns) ns = a->ns;
  const char *asname = idp_json_get_str(appset, "metadata", "name", NULL);
  json_t *ref = owner_ref(appset);
  json_t *live = idp_informer_get(a->apps, ns, name);
  idp_kref r = {GROUP, VERSION, "applications", ns, name, NULL};
  idp_code rc = IDP_OK;
  for (int attempt = 0; attempt < 4; attempt++) {
    if (!live) {
      json_t *obj = json_deep_copy(desired);
      set_controller_ref(json_object_get(obj, "metadata"), ref);
      idp_kref cr = r;
      cr.name = NULL;
      rc = idp_kclient_create(a->kc, &cr, obj, NULL, NULL, e);
      json_decref(obj);
      if (!rc) {
        stat_add(a, &a->stats.created);
        idp_log(IDP_LOG_INFO, "created Application", "applicationset", asname, "app", name, NULL);
      }
    } else if (allow_update && !idp_json_get(live, "metadata", "deletionTimestamp", NULL)) {
      json_t *upd = updated_app(appset, desired, live, ref);
      if (!same_managed(upd, live)) {
        rc = idp_kclient_update(a->kc, &r, upd, NULL, NULL, e);
        if (!rc) {
          stat_add(a, &a->stats.updated);
          idp_log(IDP_LOG_INFO, "updated Application", "applicationset", asname, "app", name, NULL);
        }
      }
      json_decref(upd);
    }
    if (rc != IDP_EEXIST && rc != IDP_ECONFLICT) break;
    idp_err_clear(e);
    json_decref(live);
    live = NULL;
    rc = idp_kclient_get(a->kc, &r, &live, e);
    if (rc == IDP_ENOTFOUND) rc = IDP_OK, idp_err_clear(e), live = NULL;
    if (rc) break;
  }
  json_decref(live);
  json_decref(ref);
  if (rc) idp_err_prefix(e, "Application %s/%s", ns, name ? name : "");
  return rc;
}

static idp_code delete_app(idp_appset *a, const json_t *app, bool preserve, idp_err *e) {
  const char *name = idp_json_get_str(app, "metadata", "name", NULL);
  const char *ns = idp_json_get_str(app, "metadata", "namespace", NULL);
  idp_kref r = {GROUP, VERSION, "applications", ns, name, NULL};
  idp_code rc = IDP_OK;
  if (idp_json_get(app, "metadata", "deletionTimestamp", NULL)) return IDP_OK;
  json_t *fins = idp_json_get(app, "metadata", "finalizers", NULL);
  if (preserve && json_array_size(fins)) {
    /* keep the deployed resources: drop the cascading-delete finalizers first */
    json_t *nf = json_array();
    size_t i;
    json_t *f;
    json_array_foreach(fins, i, f) {
      const char *s = json_string_value(f);
      if (s && !strncmp(s, RESOURCES_FINALIZER, strlen(RESOURCES_FINALIZER))) continue;
      json_array_append(nf, f);
    }
    if (json_array_size(nf) != json_array_size(fins)) {
      json_t *upd = json_deep_copy(app);
      json_object_set(json_object_get(upd, "metadata"), "finalizers", nf);
      rc = idp_kclient_update(a->kc, &r, upd, NULL, NULL, e);
      json_decref(upd);
    }
    json_decref(nf);
  }
  if (!rc) {
    idp_kdelete_opts d = {.precondition_uid = idp_json_get_str(app, "metadata", "uid", NULL)};
    rc = idp_kclient_delete(a->kc, &r, &d, NULL, e);
    if (rc == IDP_ENOTFOUND) rc = IDP_OK, idp_err_clear(e);
    else if (!rc) {
      stat_add(a, &a->stats.deleted);
      idp_log(IDP_LOG_INFO, "deleted Application", "app", name, NULL);
    }
  }
  if (rc) idp_err_prefix(e, "deleting Application %s/%s", ns ? ns : "", name ? name : "");
  return rc;
}

static json_t *owned_apps(idp_appset *a, const char *appset_name) {
  json_t *all = idp_informer_list(a->apps, a->ns);
  json_t *res = json_array();
  size_t i;
  json_t *app;
  json_array_foreach(all, i, app) if (controller_ref_to(app, appset_name)) json_array_append(res, app);
  json_decref(all);
  return res;
}

static const struct policy *effective_policy(idp_appset *a, const json_t *appset) {
  const char *name = a->policy ? a->policy : "sync";
  const char *own = idp_json_get_str(appset, "spec", "syncPolicy", "applicationsSync", NULL);
  if (own && !a->no_override) name = own;
  for (size_t i = 0; i < IDP_ARRAY_LEN(policies); i++)
    if (!strcmp(policies[i].name, name)) return &policies[i];
  return &policies[3];
}

/* ---- reconcile ------------------------------------------------------------------------ */

static bool project_exists(idp_appset *a, const char *project, bool *checked) {
  idp_kgvr g;
  idp_err te = IDP_ERR_INIT;
  if (idp_kclient_resolve(a->kc, API_VERSION, "AppProject", &g, &te)) {
    *checked = false; /* AppProjects not served here: nothing to validate against */
    return true;
  }
  *checked = true;
  idp_kref r = {GROUP, VERSION, "appprojects", a->ns, project, NULL};
  json_t *p = NULL;
  idp_code rc = idp_kclient_get(a->kc, &r, &p, &te);
  json_decref(p);
  return rc != IDP_ENOTFOUND;
}

static idp_code on_deleting(idp_appset *a, const json_t *appset, idp_err *e) {
  const char *name = idp_json_get_str(appset, "metadata", "name", NULL);
  if (!effective_policy(a, appset)->del) { /* keep the Applications: orphan them */
    json_t *apps = owned_apps(a, name);
    size_t i;
    json_t *app;
    json_array_foreach(apps, i, app) {
      json_t *upd = json_deep_copy(app);
      json_t *md = json_object_get(upd, "metadata");
      json_t *nr = json_array();
      size_t k;
      json_t *ref;
      json_array_foreach(json_object_get(md, "ownerReferences"), k, ref) {
        const char *kind = json_string_value(json_object_get(ref, "kind"));
        const char *rn = json_string_value(json_object_get(ref, "name"));
        if (kind && rn && !strcmp(kind, "ApplicationSet") && !strcmp(rn, name)) continue;
        json_array_append(nr, ref);
      }
      json_object_set_new(md, "ownerReferences", nr);
      idp_kref r = {GROUP, VERSION, "applications", a->ns, idp_json_get_str(app, "metadata", "name", NULL), NULL};
      idp_code rc = idp_kclient_update(a->kc, &r, upd, NULL, NULL, e);
      json_decref(upd);
      if (rc && rc != IDP_ENOTFOUND) {
        json_decref(apps);
        return rc;
      }
    }
    json_decref(apps);
  }
  json_t *fins = idp_json_get(appset, "metadata", "finalizers", NULL);
  if (str_in(fins, RESOURCES_FINALIZER)) {
    json_t *upd = json_deep_copy(appset);
    json_t *nf = json_array();
    size_t i;
    json_t *f;
    json_array_foreach(fins, i, f) if (strcmp(json_string_value(f), RESOURCES_FINALIZER)) json_array_append(nf, f);
    json_object_set_new(json_object_get(upd, "metadata"), "finalizers", nf);
    idp_kref r = {GROUP, VERSION, "applicationsets", a->ns, name, NULL};
    idp_code rc = idp_kclient_update(a->kc, &r, upd, NULL, NULL, e);
    json_decref(upd);
    if (rc && rc != IDP_ENOTFOUND) return rc;
  }
  return IDP_OK;
}

static idp_code reconcile(void *ud, const char *key, int64_t *again, idp_err *e) {
  idp_appset *a = ud;
  stat_add(a, &a->stats.reconciles);
  json_t *appset = idp_informer_get_key(a->appsets, key);
  if (!appset) {
    pthread_mutex_lock(&a->lock);
    json_object_del(a->reads, key);
    pthread_mutex_unlock(&a->lock);
    return IDP_OK; /* deleted: owned Applications go with it (ownerReferences) */
  }
  const char *name = idp_json_get_str(appset, "metadata", "name", NULL);
  idp_code rc = IDP_OK;
  if (idp_json_get(appset, "metadata", "deletionTimestamp", NULL)) {
    rc = on_deleting(a, appset, e);
    json_decref(appset);
    return rc;
  }
  recon r = {a, json_array()};
  bool refresh = idp_json_get(appset, "metadata", "annotations", REFRESH_ANNOTATION, NULL) != NULL;
  idp_appset_env env = {.git = a->git, .namespace = a->ns, .list_clusters = list_clusters,
                        .ud = &r, .on_git_read = on_git_read, .refresh = refresh};
  json_t *desired = NULL;
  idp_appset_reason reason;
  int64_t requeue = 0;
  idp_err ge = IDP_ERR_INIT;
  rc = idp_appset_generate(&env, appset, &desired, &reason, &requeue, &ge);
  pthread_mutex_lock(&a->lock);
  json_object_set(a->reads, key, r.reads);
  pthread_mutex_unlock(&a->lock);
  json_decref(r.reads);
  cond conds[3];
  if (rc) {
    stat_add(a, &a->stats.errors);
    idp_log(IDP_LOG_WARN, "ApplicationSet generation failed", "applicationset", key, "error", ge.msg, NULL);
    make_conditions(true, false, ge.msg,
                    reason == IDP_APPSET_RENDER_ERROR ? "RenderTemplateParamsError" : "ApplicationGenerationFromParamsError",
                    conds);
    rc = write_status(a, appset, conds, e);
    json_decref(appset);
    *again = REQUEUE_ON_ERROR_MS;
    return rc;
  }
  /* validation: unique names, existing projects */
  size_t n = json_array_size(desired);
  bool *invalid = calloc(n ? n : 1, sizeof *invalid);
  char vmsg[IDP_ERR_MSG_MAX] = "";
  size_t nerr = 0;
  json_t *names = json_object(), *projects = json_object();
  for (size_t i = 0; i < n && invalid; i++) {
    json_t *app = json_array_get(desired, i);
    json_t *spec = json_object_get(app, "spec");
    const char *an = idp_json_get_str(app, "metadata", "name", NULL);
    if (json_is_object(spec) && !json_string_value(json_object_get(spec, "project")))
      json_object_set_new(spec, "project", json_string("default"));
    const char *proj = idp_json_get_str(app, "spec", "project", NULL);
    if (!an || !*an) {
      invalid[i] = true;
      snprintf(vmsg, sizeof vmsg, "ApplicationSet %s generated an application without a name", name);
    } else if (json_object_get(names, an)) {
      invalid[i] = true;
      snprintf(vmsg, sizeof vmsg, "ApplicationSet %s contains applications with duplicate name: %s", name, an);
    } else {
      json_object_set_new(names, an, json_true());
      json_t *known = proj ? json_object_get(projects, proj) : NULL;
      bool ok = true, checked = false;
      if (known) ok = json_is_true(known);
      else if (proj) {
        ok = project_exists(a, proj, &checked);
        json_object_set_new(projects, proj, json_boolean(ok));
      }
      if (!ok) {
        invalid[i] = true;
        snprintf(vmsg, sizeof vmsg, "application references project %s which does not exist", proj);
      }
    }
    if (invalid[i]) nerr++;
  }
  json_decref(projects);
  if (nerr > 1) {
    size_t l = strlen(vmsg);
    snprintf(vmsg + l, sizeof vmsg - l, " (and %zu more)", nerr - 1);
  }
  const struct policy *pol = effective_policy(a, appset);
  bool preserve = json_is_true(idp_json_get(appset, "spec", "syncPolicy", "preserveResourcesOnDeletion", NULL));
  json_t *current = owned_apps(a, name);
  /* create / update */
  idp_err we = IDP_ERR_INIT;
  idp_code wrc = IDP_OK;
  const char *wreason = NULL;
  for (size_t i = 0; i < n && invalid; i++) {
    if (invalid[i]) continue;
    json_t *app = json_array_get(desired, i);
    idp_err one = IDP_ERR_INIT;
    idp_code c = create_or_update(a, appset, app, pol->update, &one);
    if (c && !wrc) {
      wrc = c;
      we = one;
      wreason = pol->update ? "UpdateApplicationError" : "CreateApplicationError";
    }
  }
  /* delete what the generators no longer produce (even invalid ones stay) */
  if (!wrc && pol->del) {
    size_t i;
    json_t *app;
    json_array_foreach(current, i, app) {
      const char *an = idp_json_get_str(app, "metadata", "name", NULL);
      if (an && json_object_get(names, an)) continue;
      bool generated = false;
      for (size_t k = 0; k < n && !generated; k++) {
        const char *dn = idp_json_get_str(json_array_get(desired, k), "metadata", "name", NULL);
        generated = dn && an && !strcmp(dn, an);
      }
      if (generated) continue;
      idp_err one = IDP_ERR_INIT;
      idp_code c = delete_app(a, app, preserve, &one);
      if (c && !wrc) {
        wrc = c;
        we = one;
        wreason = "DeleteApplicationError";
      }
    }
  }
  json_decref(names);
  json_decref(current);
  if (wrc) {
    stat_add(a, &a->stats.errors);
    make_conditions(true, true, we.msg, wreason, conds);
  } else if (nerr) {
    make_conditions(true, true, vmsg, "ApplicationValidationError", conds);
  } else {
    make_conditions(false, true, NULL, NULL, conds);
  }
  free(invalid);
  json_decref(desired);
  if (refresh && !wrc) { /* the refresh was done: drop the request */
    json_t *upd = json_deep_copy(appset);
    json_object_del(idp_json_get(upd, "metadata", "annotations", NULL), REFRESH_ANNOTATION);
    idp_kref ar = {GROUP, VERSION, "applicationsets", a->ns, name, NULL};
    idp_err re = IDP_ERR_INIT;
    json_t *fresh = NULL;
    if (idp_kclient_update(a->kc, &ar, upd, NULL, &fresh, &re) == IDP_OK && fresh) {
      json_decref(appset); /* write the status over the new resourceVersion */
      appset = fresh;
    }
    json_decref(upd);
  }
  rc = write_status(a, appset, conds, e);
  json_decref(appset);
  if (wrc) {
    *e = we;
    return wrc; /* backoff retry */
  }
  if (requeue == 0 && nerr) requeue = REQUEUE_ON_ERROR_MS;
  *again = requeue;
  return rc;
}

/* ---- event handlers -------------------------------------------------------------- */

static void enqueue_owner(idp_appset *a, const json_t *app) {
  const char *owner = controller_owner(app);
  const char *ns = idp_json_get_str(app, "metadata", "namespace", NULL);
  if (!owner || !ns) return;
  char key[600];
  snprintf(key, sizeof key, "%s/%s", ns, owner);
  idp_controller_enqueue(a->ctl, key);
}

static void app_add(void *ud, const json_t *obj) { enqueue_owner(ud, obj); }
static void app_delete(void *ud, const json_t *obj) { enqueue_owner(ud, obj); }
static void app_update(void *ud, const json_t *old_obj, const json_t *new_obj) {
  /* status-only changes (the Application controller's) do not matter here */
  if (same_managed(old_obj, new_obj) &&
      idp_json_equal(idp_json_get(old_obj, "metadata", "deletionTimestamp", NULL),
                     idp_json_get(new_obj, "metadata", "deletionTimestamp", NULL)) &&
      idp_json_equal(idp_json_get(old_obj, "status", "sync", "status", NULL),
                     idp_json_get(new_obj, "status", "sync", "status", NULL)) &&
      idp_json_equal(idp_json_get(old_obj, "status", "health", NULL),
                     idp_json_get(new_obj, "status", "health", NULL)))
    return;
  enqueue_owner(ud, new_obj);
}

/* ApplicationSet updates that only touch status (our own writes) do not
 * need a reconcile. */
static void appset_add(void *ud, const json_t *obj) {
  idp_appset *a = ud;
  idp_controller_enqueue_object(a->ctl, obj);
}
static void appset_update(void *ud, const json_t *old_obj, const json_t *new_obj) {
  static const char *const meta[] = {"labels", "annotations", "finalizers", "deletionTimestamp", "generation"};
  bool same = idp_json_equal(json_object_get(old_obj, "spec"), json_object_get(new_obj, "spec"));
  for (size_t i = 0; same && i < IDP_ARRAY_LEN(meta); i++)
    same = idp_json_equal(idp_json_get(old_obj, "metadata", meta[i], NULL), idp_json_get(new_obj, "metadata", meta[i], NULL));
  if (!same) appset_add(ud, new_obj);
}

static void enqueue_all(idp_appset *a) {
  json_t *all = idp_informer_list(a->appsets, a->ns);
  size_t i;
  json_t *s;
  json_array_foreach(all, i, s) idp_controller_enqueue_object(a->ctl, s);
  json_decref(all);
}

static void secret_add(void *ud, const json_t *obj) {
  IDP_UNUSED(obj);
  enqueue_all(ud);
}
static void secret_update(void *ud, const json_t *o, const json_t *n) {
  IDP_UNUSED(o);
  IDP_UNUSED(n);
  enqueue_all(ud);
}

/* ---- git poller -------------------------------------------------------------------- */

static void *poller_main(void *arg) {
  idp_appset *a = arg;
  while (!idp_kcancel_sleep(a->cancel, a->poll_ms)) {
    pthread_mutex_lock(&a->lock);
    json_t *reads = json_deep_copy(a->reads);
    pthread_mutex_unlock(&a->lock);
    json_t *resolved = json_object(); /* "url\nrev" -> sha, one resolve per pair */
    const char *key;
    json_t *list;
    json_object_foreach(reads, key, list) {
      bool moved = false;
      size_t i;
      json_t *x;
      json_array_foreach(list, i, x) {
        const char *url = json_string_value(json_array_get(x, 0));
        const char *rev = json_string_value(json_array_get(x, 1));
        const char *sha = json_string_value(json_array_get(x, 2));
        char pair[2048];
        snprintf(pair, sizeof pair, "%s\n%s", url, rev);
        json_t *known = json_object_get(resolved, pair);
        if (!known) {
          char now[41];
          idp_err pe = IDP_ERR_INIT;
          known = json_string(idp_asgit_resolve(a->git, url, rev, now, &pe) ? "" : now);
          json_object_set_new(resolved, pair, known);
        }
        const char *cur = json_string_value(known);
        if (*cur && strcmp(cur, sha)) moved = true;
      }
      if (moved) idp_controller_enqueue(a->ctl, key);
    }
    json_decref(resolved);
    json_decref(reads);
  }
  return NULL;
}

int idp_appset_notify_push(idp_appset *a, const char *repo_url) {
  char want[2048];
  idp_appset_url_key(repo_url, want, sizeof want);
  int n = 0;
  pthread_mutex_lock(&a->lock);
  json_t *reads = json_deep_copy(a->reads);
  pthread_mutex_unlock(&a->lock);
  const char *key;
  json_t *list;
  json_object_foreach(reads, key, list) {
    bool hit = false;
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) {
      const char *url = json_string_value(json_array_get(x, 0));
      char have[2048];
      idp_appset_url_key(url, have, sizeof have);
      if (strcmp(have, want)) continue;
      idp_asgit_invalidate(a->git, url);
      hit = true;
    }
    if (hit) {
      idp_controller_enqueue(a->ctl, key);
      n++;
    }
  }
  json_decref(reads);
  return n;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

void idp_appset_stop(idp_appset *a) {
  if (!a) return;
  if (a->cancel) idp_kcancel_fire(a->cancel);
  if (a->poller_started) pthread_join(a->poller, NULL);
  if (a->ctl) idp_controller_stop(a->ctl);
  idp_informer_free(a->appsets);
  idp_informer_free(a->apps);
  idp_informer_free(a->secrets);
  idp_controller_free(a->ctl);
  idp_kcancel_free(a->cancel);
  idp_asgit_free(a->git);
  json_decref(a->reads);
  pthread_mutex_destroy(&a->lock);
  free(a->ns);
  free(a->policy);
  free(a);
}

idp_code idp_appset_start(idp_kclient *kc, const idp_appset_opts *o, idp_appset **out,
                          idp_err *e) {
  *out = NULL;
  idp_appset_opts def = {0};
  if (!o) o = &def;
  if (o->policy) {
    bool known = false;
    for (size_t i = 0; i < IDP_ARRAY_LEN(policies); i++) known |= !strcmp(policies[i].name, o->policy);
    if (!known)
      return idp_err_set(e, IDP_EINVAL, "applicationset policy %s: must be create-only, create-update, create-delete or sync", o->policy);
  }
  idp_code rc;
  if (!o->skip_crds && (rc = idp_appset_install_crds(kc, e))) return rc;
  idp_appset *a = calloc(1, sizeof *a);
  if (!a) return idp_err_set(e, IDP_ENOMEM, "applicationset controller: out of memory");
  pthread_mutex_init(&a->lock, NULL);
  a->kc = kc;
  a->ns = strdup(o->namespace ? o->namespace : "argocd");
  a->policy = o->policy ? strdup(o->policy) : NULL;
  a->no_override = o->no_policy_override;
  a->poll_ms = o->git_poll_ms ? o->git_poll_ms : 15000;
  a->reads = json_object();
  a->cancel = idp_kcancel_new();
  char cache[4096];
  if (o->git_cache) snprintf(cache, sizeof cache, "%s", o->git_cache);
  else snprintf(cache, sizeof cache, "%s/idp-appset-git", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!a->ns || !a->reads || !a->cancel) {
    rc = idp_err_set(e, IDP_ENOMEM, "applicationset controller: out of memory");
    goto fail;
  }
  if ((rc = idp_asgit_new(cache, 0, &a->git, e))) goto fail;
  idp_asgit_set_creds(a->git, repo_creds, a);
  idp_controller_opts co = {.name = "applicationset", .workers = o->workers > 0 ? o->workers : 2,
                            .reconcile = reconcile, .ud = a};
  if ((rc = idp_controller_new(&co, &a->ctl, e))) goto fail;
  idp_informer_handlers h = {appset_add, appset_update, appset_add, a};
  if ((rc = idp_informer_new(kc, &(idp_informer_opts){.resource = {GROUP, VERSION, "applicationsets", a->ns, NULL, NULL}},
                             &h, &a->appsets, e)))
    goto fail;
  idp_informer_handlers ah = {app_add, app_update, app_delete, a};
  if ((rc = idp_informer_new(kc, &(idp_informer_opts){.resource = {GROUP, VERSION, "applications", a->ns, NULL, NULL}},
                             &ah, &a->apps, e)))
    goto fail;
  idp_informer_handlers sh = {secret_add, secret_update, secret_add, a};
  if ((rc = idp_informer_new(kc, &(idp_informer_opts){.resource = {"", "v1", "secrets", a->ns, NULL, NULL},
                                                      .label_selector = "argocd.argoproj.io/secret-type in (cluster,repository,repo-creds)"},
                             &sh, &a->secrets, e)))
    goto fail;
  if ((rc = idp_informer_start(a->apps, e)) || (rc = idp_informer_start(a->secrets, e)) ||
      (rc = idp_informer_start(a->appsets, e)))
    goto fail;
  if (!idp_informer_wait_synced(a->apps, 30000) || !idp_informer_wait_synced(a->secrets, 30000) ||
      !idp_informer_wait_synced(a->appsets, 30000)) {
    rc = idp_err_set(e, IDP_EUNAVAILABLE,
                     "applicationset controller: caches not synced after 30 s (are the Application and ApplicationSet CRDs installed in namespace %s?)",
                     a->ns);
    goto fail;
  }
  if ((rc = idp_controller_start(a->ctl, e))) goto fail;
  if (a->poll_ms > 0) {
    if (pthread_create(&a->poller, NULL, poller_main, a)) {
      rc = idp_err_set(e, IDP_ENOMEM, "applicationset controller: cannot start the git poller");
      goto fail;
    }
    a->poller_started = true;
  }
  idp_log(IDP_LOG_INFO, "applicationset controller started", "namespace", a->ns, NULL);
  *out = a;
  return IDP_OK;
fail:
  idp_appset_stop(a);
  return rc;
}
