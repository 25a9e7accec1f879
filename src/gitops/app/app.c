#include "core/common.h"

#include <sys/stat.h>
#include <time.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/yaml.h"
#include "gitops/app/app_int.h"
#include "gitops/app/diff.h"
#include "gitops/app/health.h"
#include "gitops/app/project.h"
#include "gitops/app/sync.h"
#include "gitops/render.h"
#include "patch/patch.h"

extern const char *const idp_app_crd_yaml[];

static const idp_kref APPS = {"argoproj.io", "v1alpha1", "applications", NULL, NULL, NULL};
static const idp_kref PROJECTS = {"argoproj.io", "v1alpha1", "appprojects", NULL, NULL, NULL};

int64_t app_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void app_rfc3339(char *buf, size_t n) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- CRDs ---------------------------------------------------------------- */

idp_code idp_app_install_crds(idp_kclient *kc, idp_err *e) {
  for (size_t i = 0; idp_app_crd_yaml[i]; i++) {
    json_t *crd = NULL;
    idp_code rc = idp_yaml_load_one(idp_app_crd_yaml[i], strlen(idp_app_crd_yaml[i]),
                                    "gitops/app/crds", NULL, &crd, e);
    if (rc) return rc;
    const char *name = idp_json_get_str(crd, "metadata", "name", NULL);
    idp_kref r = {"apiextensions.k8s.io", "v1", "customresourcedefinitions", NULL, name, NULL};
    json_t *live = NULL;
    rc = idp_kclient_get(kc, &r, &live, e);
    if (rc == IDP_ENOTFOUND) {
      rc = idp_kclient_create(kc, &r, crd, NULL, NULL, e);
      if (rc == IDP_EEXIST) rc = IDP_OK;
    } else if (rc == IDP_OK && !idp_app_compare(crd, live, NULL, NULL, 0)) {
      json_t *upd = json_deep_copy(crd);
      json_object_set(json_object_get(upd, "metadata"), "resourceVersion",
                      idp_json_get(live, "metadata", "resourceVersion", NULL));
      rc = idp_kclient_update(kc, &r, upd, NULL, NULL, e);
      json_decref(upd);
    }
    json_decref(live);
    json_decref(crd);
    if (rc) {
      idp_err_prefix(e, "installing CRD %s", name);
      return rc;
    }
  }
  /* Served once discovery knows both kinds. */
  idp_kgvr g;
  for (int i = 0; i < 100; i++) {
    idp_kclient_discovery_reset(kc);
    if (idp_kclient_resolve(kc, "argoproj.io/v1alpha1", "Application", &g, NULL) == IDP_OK &&
        idp_kclient_resolve(kc, "argoproj.io/v1alpha1", "AppProject", &g, NULL) == IDP_OK)
      return IDP_OK;
    struct timespec ts = {0, 100 * 1000000};
    nanosleep(&ts, NULL);
  }
  return idp_err_set(e, IDP_ETIMEOUT, "Application CRDs are not served after 10 s");
}

/* ---- small helpers ------------------------------------------------------- */

static bool split_key(const char *key, char *ns, size_t nn, char *name, size_t mn) {
  return idp_key_split(key, ns, nn, name, mn);
}

static const char *ann(const json_t *o, const char *k) {
  return idp_json_get_str(o, "metadata", "annotations", k, NULL);
}

static void instance_name(const idp_app *a, const char *ns, const char *name, char *out, size_t n) {
  if (!ns || !*ns || strcmp(ns, a->ns) == 0)
    snprintf(out, n, "%s", name);
  else
    snprintf(out, n, "%s_%s", ns, name);
}

/* Application key from a tracking id's <app> part. */
static void key_of_instance(const idp_app *a, const char *inst, char *out, size_t n) {
  const char *us = strchr(inst, '_');
  if (us)
    snprintf(out, n, "%.*s/%s", (int)(us - inst), inst, us + 1);
  else
    snprintf(out, n, "%s/%s", a->ns, inst);
}

static void group_of(const char *av, char *g, size_t n) {
  const char *s = av ? strchr(av, '/') : NULL;
  snprintf(g, n, "%.*s", s ? (int)(s - av) : 0, s ? av : "");
}

/* ---- managed-object informers ------------------------------------------- */

static void dyn_event(idp_app *a, const json_t *obj) {
  const char *id = ann(obj, IDP_APP_TRACKING_ANNOTATION);
  char inst[300], key[600];
  if (!idp_app_tracking_parse(id, inst, sizeof inst, NULL, 0, NULL, 0, NULL, 0, NULL, 0)) return;
  key_of_instance(a, inst, key, sizeof key);
  idp_controller_enqueue(a->ctl, key);
}
static void dyn_add(void *ud, const json_t *o) {
  dyn_event(ud, o);
}
static void dyn_upd(void *ud, const json_t *o, const json_t *n) {
  dyn_event(ud, o);
  if (n != o) dyn_event(ud, n);
}
static void dyn_del(void *ud, const json_t *o) {
  dyn_event(ud, o);
}

static idp_informer *dyn_informer(idp_app *a, const idp_kgvr *g) {
  char key[700];
  snprintf(key, sizeof key, "%s/%s/%s", g->group, g->version, g->resource);
  idp_informer *inf = NULL;
  pthread_mutex_lock(&a->mu);
  for (size_t i = 0; i < a->ndyn; i++)
    if (strcmp(a->dyns[i].key, key) == 0) inf = a->dyns[i].inf;
  if (!inf && a->ndyn < 512) {
    if (a->ndyn == a->capdyn) {
      size_t nc = a->capdyn ? a->capdyn * 2 : 16;
      app_dyn *nd = realloc(a->dyns, nc * sizeof *nd);
      if (!nd) goto out;
      a->dyns = nd;
      a->capdyn = nc;
    }
    idp_informer_opts io = {.resource = {g->group, g->version, g->resource, NULL, NULL, NULL}};
    idp_informer_handlers h = {dyn_add, dyn_upd, dyn_del, a};
    idp_err e = IDP_ERR_INIT;
    if (idp_informer_new(a->kc, &io, &h, &inf, &e) == IDP_OK) {
      if (idp_informer_start(inf, &e) != IDP_OK) {
        idp_informer_free(inf);
        inf = NULL;
      } else {
        app_dyn *d = &a->dyns[a->ndyn++];
        snprintf(d->key, sizeof d->key, "%s", key);
        d->gvr = *g;
        d->inf = inf;
      }
    }
  }
out:
  pthread_mutex_unlock(&a->mu);
  if (inf && !idp_informer_wait_synced(inf, 30000)) return NULL;
  return inf;
}

idp_code app_live_get(idp_app *a, const app_dest *d, const idp_kgvr *g, const char *ns,
                      const char *name, json_t **out, idp_err *e) {
  *out = NULL;
  const char *n = g->namespaced ? ns : NULL;
  if (d->in_cluster) {
    idp_informer *inf = dyn_informer(a, g);
    if (inf) {
      *out = idp_informer_get(inf, n, name);
      return IDP_OK;
    }
  }
  idp_kref r = {g->group, g->version, g->resource, n, name, NULL};
  idp_code rc = idp_kclient_get(d->kc, &r, out, e);
  if (rc == IDP_ENOTFOUND) {
    idp_err_clear(e);
    *out = NULL;
    return IDP_OK;
  }
  return rc;
}

idp_code app_resolve(idp_app *a, const app_dest *d, const char *api_version, const char *kind,
                     const json_t *desired, idp_kgvr *g, idp_err *e) {
  IDP_UNUSED(a);
  idp_code rc = idp_kclient_resolve(d->kc, api_version, kind, g, e);
  if (rc != IDP_ENOTFOUND) return rc;
  /* A CRD of the same sync may define it. */
  char grp[256];
  group_of(api_version, grp, sizeof grp);
  size_t i;
  json_t *o;
  json_array_foreach(desired, i, o) {
    const char *k = idp_json_get_str(o, "kind", NULL);
    if (!k || strcmp(k, "CustomResourceDefinition") != 0) continue;
    const char *cg = idp_json_get_str(o, "spec", "group", NULL);
    const char *ck = idp_json_get_str(o, "spec", "names", "kind", NULL);
    const char *plural = idp_json_get_str(o, "spec", "names", "plural", NULL);
    const char *scope = idp_json_get_str(o, "spec", "scope", NULL);
    if (cg && ck && plural && strcmp(cg, grp) == 0 && strcmp(ck, kind) == 0) {
      memset(g, 0, sizeof *g);
      snprintf(g->group, sizeof g->group, "%s", cg);
      const char *v = strchr(api_version, '/');
      snprintf(g->version, sizeof g->version, "%s", v ? v + 1 : api_version);
      snprintf(g->resource, sizeof g->resource, "%s", plural);
      snprintf(g->kind, sizeof g->kind, "%s", ck);
      g->namespaced = !scope || strcmp(scope, "Cluster") != 0;
      idp_err_clear(e);
      return IDP_OK;
    }
  }
  return rc;
}

/* ---- secrets: repositories and clusters ---------------------------------- */

static char *secret_field(const json_t *s, const char *k) {
  const char *v = idp_json_get_str(s, "data", k, NULL);
  if (v) {
    char *out;
    size_t n;
    if (idp_base64_decode(v, strlen(v), &out, &n) == IDP_OK) return out;
    return NULL;
  }
  v = idp_json_get_str(s, "stringData", k, NULL);
  return v ? strdup(v) : NULL;
}

/* Credentials of the repository Secret whose url matches (exact), else of a
 * repo-creds Secret whose url is a prefix.  Strings malloc'd into creds. */
static void repo_creds(idp_app *a, const char *url, char **user, char **pass) {
  *user = *pass = NULL;
  json_t *list = idp_informer_list(a->secrets, a->ns);
  char nu[1024], ns_[1024];
  idp_git_url_normalize(url, nu, sizeof nu);
  size_t best = 0, i;
  json_t *s;
  json_array_foreach(list, i, s) {
    const char *type =
        idp_json_get_str(s, "metadata", "labels", "argocd.argoproj.io/secret-type", NULL);
    if (!type || (strcmp(type, "repository") != 0 && strcmp(type, "repo-creds") != 0)) continue;
    char *su = secret_field(s, "url");
    if (!su) continue;
    idp_git_url_normalize(su, ns_, sizeof ns_);
    free(su);
    size_t l = strlen(ns_);
    bool exact = strcmp(ns_, nu) == 0;
    bool prefix = strcmp(type, "repo-creds") == 0 && strncmp(ns_, nu, l) == 0;
    size_t score = exact ? 100000 : (prefix ? l : 0);
    if (score > best) {
      best = score;
      free(*user);
      free(*pass);
      *user = secret_field(s, "username");
      *pass = secret_field(s, "password");
    }
  }
  json_decref(list);
}

static idp_code cluster_client(idp_app *a, const json_t *sec, const char *server, idp_kclient **out,
                               idp_err *e) {
  const char *rv = idp_json_get_str(sec, "metadata", "resourceVersion", NULL);
  pthread_mutex_lock(&a->mu);
  for (size_t i = 0; i < a->ncl; i++) {
    if (strcmp(a->clusters[i].server, server) == 0 && rv &&
        strcmp(a->clusters[i].secret_rv, rv) == 0) {
      *out = a->clusters[i].kc;
      pthread_mutex_unlock(&a->mu);
      return IDP_OK;
    }
  }
  pthread_mutex_unlock(&a->mu);
  char *cfgs = secret_field(sec, "config");
  json_t *cfg = cfgs ? json_loads(cfgs, 0, NULL) : json_object();
  free(cfgs);
  if (!cfg)
    return idp_err_set(e, IDP_EINVALID, "cluster secret %s: config is not JSON",
                       idp_json_get_str(sec, "metadata", "name", NULL));
  idp_kconfig kc = {0};
  kc.server = (char *)server;
  kc.namespace_ = "default";
  kc.token = (char *)idp_json_get_str(cfg, "bearerToken", NULL);
  kc.username = (char *)idp_json_get_str(cfg, "username", NULL);
  kc.password = (char *)idp_json_get_str(cfg, "password", NULL);
  kc.insecure = json_is_true(idp_json_get(cfg, "tlsClientConfig", "insecure", NULL));
  char *bufs[3] = {NULL, NULL, NULL};
  size_t lens[3] = {0, 0, 0};
  const char *fields[3] = {"caData", "certData", "keyData"};
  for (int i = 0; i < 3; i++) {
    const char *v = idp_json_get_str(cfg, "tlsClientConfig", fields[i], NULL);
    if (v) idp_base64_decode(v, strlen(v), &bufs[i], &lens[i]);
  }
  kc.ca_data = bufs[0];
  kc.ca_data_len = lens[0];
  kc.cert_data = bufs[1];
  kc.cert_data_len = lens[1];
  kc.key_data = bufs[2];
  kc.key_data_len = lens[2];
  idp_kclient *c = NULL;
  idp_code rc = idp_kclient_new(&kc, NULL, &c, e);
  for (int i = 0; i < 3; i++) free(bufs[i]);
  json_decref(cfg);
  if (rc) return rc;
  pthread_mutex_lock(&a->mu);
  app_cluster *nc = realloc(a->clusters, (a->ncl + 1) * sizeof *nc);
  if (!nc) {
    pthread_mutex_unlock(&a->mu);
    idp_kclient_free(c);
    return idp_err_set(e, IDP_ENOMEM, "out of memory");
  }
  a->clusters = nc;
  app_cluster *x = &a->clusters[a->ncl++];
  memset(x, 0, sizeof *x);
  snprintf(x->server, sizeof x->server, "%s", server);
  snprintf(x->secret_rv, sizeof x->secret_rv, "%s", rv ? rv : "");
  x->kc = c; /* older clients of this server stay until stop (in use) */
  pthread_mutex_unlock(&a->mu);
  *out = c;
  return IDP_OK;
}

/* Fills d for spec.destination. */
static idp_code dest_for(idp_app *a, const json_t *dst, app_dest *d, char *srvbuf, size_t sn,
                         idp_err *e) {
  const char *server = idp_json_get_str(dst, "server", NULL);
  const char *name = idp_json_get_str(dst, "name", NULL);
  d->ns = idp_json_get_str(dst, "namespace", NULL);
  d->name = name;
  if (server && *server && name && *name)
    return idp_err_set(e, IDP_EINVALID,
                       "application destination can't have both name and server defined: %s %s",
                       name, server);
  if ((!server || !*server) && (!name || !*name))
    return idp_err_set(e, IDP_EINVALID, "Destination server missing from app spec");
  if ((server &&
       (strcmp(server, APP_IN_CLUSTER) == 0 || strcmp(server, idp_kclient_server(a->kc)) == 0)) ||
      (name && strcmp(name, "in-cluster") == 0)) {
    d->kc = a->kc;
    d->in_cluster = true;
    d->server = APP_IN_CLUSTER;
    if (!d->name || !*d->name) d->name = "in-cluster";
    return IDP_OK;
  }
  json_t *list = idp_informer_list(a->secrets, a->ns);
  size_t i;
  json_t *s;
  idp_code rc = idp_err_set(e, IDP_EINVALID,
                            "unable to find destination server: there are no clusters with "
                            "this %s: %s",
                            server && *server ? "URL" : "name", server && *server ? server : name);
  json_array_foreach(list, i, s) {
    const char *type =
        idp_json_get_str(s, "metadata", "labels", "argocd.argoproj.io/secret-type", NULL);
    if (!type || strcmp(type, "cluster") != 0) continue;
    char *ss = secret_field(s, "server"), *sname = secret_field(s, "name");
    bool match = ss && ((server && *server && strcmp(ss, server) == 0) ||
                        (name && *name && sname && strcmp(sname, name) == 0));
    if (match) {
      snprintf(srvbuf, sn, "%s", ss);
      idp_err_clear(e);
      rc = cluster_client(a, s, srvbuf, &d->kc, e);
      d->in_cluster = false;
      d->server = srvbuf;
    }
    free(ss);
    free(sname);
    if (match) break;
  }
  json_decref(list);
  return rc;
}

/* ---- rendering ------------------------------------------------------------ */

static const char *source_type(const char *dir) {
  static const struct {
    const char *file, *type;
  } probes[] = {{"kustomization.yaml", "Kustomize"},
                {"kustomization.yml", "Kustomize"},
                {"Kustomization", "Kustomize"},
                {"Chart.yaml", "Helm"}};
  char p[4200];
  struct stat st;
  for (size_t i = 0; i < IDP_ARRAY_LEN(probes); i++) {
    snprintf(p, sizeof p, "%s/%s", dir, probes[i].file);
    if (stat(p, &st) == 0) return probes[i].type;
  }
  return "Directory";
}

/* Renders one source at revision; *objects new.  sha 41 bytes out. */
static idp_code render_source(idp_app *a, const json_t *src, const char *revision, bool refresh,
                              bool hard, char sha[41], const char **stype, json_t **objects,
                              idp_err *e) {
  const char *url = idp_json_get_str(src, "repoURL", NULL);
  const char *path = idp_json_get_str(src, "path", NULL);
  if (!url || !*url) return idp_err_set(e, IDP_EINVALID, "spec.source.repoURL is required");
  if (idp_json_get_str(src, "chart", NULL) && !path)
    return idp_err_set(e, IDP_EUNSUPPORTED,
                       "Helm chart repositories (spec.source.chart) are not supported; use a "
                       "Git path");
  if (refresh) idp_git_invalidate(a->git, url);
  char *user, *pass;
  repo_creds(a, url, &user, &pass);
  idp_git_creds creds = {user, pass};
  char *tree = NULL;
  idp_code rc = idp_git_resolve(a->git, url, revision, user ? &creds : NULL, sha, &tree, e);
  free(user);
  free(pass);
  if (rc) return rc;
  const char *p = path ? path : ".";
  if (p[0] == '/' || strstr(p, "..")) {
    free(tree);
    return idp_err_set(e, IDP_EFORBIDDEN,
                       "spec.source.path %s: must be relative, inside the "
                       "repository",
                       p);
  }
  char dir[4400];
  snprintf(dir, sizeof dir, "%s/%s", tree, p);
  free(tree);
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return idp_err_set(e, IDP_ENOTFOUND, "%s: app path does not exist", p);
  *stype = source_type(dir);
  char *sd = idp_json_dump(src);
  char ckey[8192];
  snprintf(ckey, sizeof ckey, "%s\n%s\n%s", sha, p, sd ? sd : "");
  free(sd);
  pthread_mutex_lock(&a->mu);
  json_t *hit = hard ? NULL : json_object_get(a->rcache, ckey);
  if (hit) {
    *objects = json_incref(hit);
    a->cache_hits++;
  }
  pthread_mutex_unlock(&a->mu);
  if (hit) return IDP_OK;
  rc = idp_render_path(dir, src, objects, e);
  if (rc) return rc;
  pthread_mutex_lock(&a->mu);
  if (json_object_size(a->rcache) >= 128)
    json_object_clear(a->rcache); /* bounded: the
                               no-change path needs no render */
  json_object_set(a->rcache, ckey, *objects);
  pthread_mutex_unlock(&a->mu);
  return IDP_OK;
}

/* ---- status helpers ---------------------------------------------------- */

static json_t *condition(const char *type, const char *msg) {
  char now[32];
  app_rfc3339(now, sizeof now);
  return json_pack("{s:s, s:s, s:s}", "type", type, "message", msg, "lastTransitionTime", now);
}

static void add_images(json_t *set, const json_t *v) {
  if (json_is_object(v)) {
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
      if ((strcmp(k, "containers") == 0 || strcmp(k, "initContainers") == 0) && json_is_array(x)) {
        size_t i;
        json_t *c;
        json_array_foreach(x, i, c) {
          const char *img = json_string_value(json_object_get(c, "image"));
          if (img) json_object_set_new(set, img, json_true());
        }
      } else if (json_is_object(x)) {
        add_images(set, x);
      }
    }
  }
}

/* Ingress hosts as Argo CD lists them in summary.externalURLs (https when
 * the host is in spec.tls). */
static void add_urls(json_t *set, const json_t *o) {
  const char *kind = idp_json_get_str(o, "kind", NULL);
  if (!kind || strcmp(kind, "Ingress") != 0) return;
  size_t i, j, k;
  json_t *rule, *tls, *h;
  json_array_foreach(idp_json_get(o, "spec", "rules", NULL), i, rule) {
    const char *host = json_string_value(json_object_get(rule, "host"));
    if (!host || !*host) continue;
    bool secure = false;
    json_array_foreach(idp_json_get(o, "spec", "tls", NULL), j, tls) {
      json_array_foreach(json_object_get(tls, "hosts"), k, h) {
        const char *th = json_string_value(h);
        if (th && strcmp(th, host) == 0) secure = true;
      }
    }
    char url[600];
    snprintf(url, sizeof url, "%s://%s", secure ? "https" : "http", host);
    json_object_set_new(set, url, json_true());
  }
}

static json_t *set_keys(json_t *set) {
  json_t *arr = json_array();
  const char *k;
  json_t *v;
  json_object_foreach(set, k, v) json_array_append_new(arr, json_string(k));
  return arr;
}

static json_t *summary(const json_t *resources_desired) {
  json_t *set = json_object(), *out = json_object(), *urls = json_object();
  size_t i;
  json_t *o;
  json_array_foreach(resources_desired, i, o) {
    add_images(set, json_object_get(o, "spec"));
    add_urls(urls, o);
  }
  if (json_object_size(urls)) json_object_set_new(out, "externalURLs", set_keys(urls));
  json_decref(urls);
  if (json_object_size(set)) json_object_set_new(out, "images", set_keys(set));
  json_decref(set);
  return out;
}

/* A resource status entry. */
static json_t *res_entry(const idp_kgvr *g, const json_t *obj, const char *status,
                         const json_t *live, bool hook, bool prune) {
  json_t *r = json_object();
  json_object_set_new(r, "group", json_string(g->group));
  json_object_set_new(r, "version", json_string(g->version));
  json_object_set_new(r, "kind", json_string(g->kind));
  const char *ns = idp_json_get_str(obj, "metadata", "namespace", NULL);
  if (ns && g->namespaced) json_object_set_new(r, "namespace", json_string(ns));
  json_object_set_new(r, "name", json_string(idp_json_get_str(obj, "metadata", "name", NULL)));
  json_object_set_new(r, "status", json_string(status));
  if (hook) json_object_set_new(r, "hook", json_true());
  if (prune) json_object_set_new(r, "requiresPruning", json_true());
  if (!hook && !prune) {
    idp_health h;
    if (!live) {
      json_object_set_new(r, "health", json_pack("{s:s}", "status", "Missing"));
    } else if (idp_health_assess(live, &h)) {
      json_t *hh = json_pack("{s:s}", "status", idp_health_name(h.status));
      if (h.message[0]) json_object_set_new(hh, "message", json_string(h.message));
      json_object_set_new(r, "health", hh);
    }
  }
  return r;
}

/* ---- per-app memory (automated sync bookkeeping) ------------------------- */

static json_t *state_get(idp_app *a, const char *key) {
  pthread_mutex_lock(&a->mu);
  json_t *s = json_object_get(a->state, key);
  if (!s) {
    s = json_object();
    json_object_set_new(a->state, key, s);
  }
  json_t *c = json_deep_copy(s);
  pthread_mutex_unlock(&a->mu);
  return c;
}

/* Stores the automated-sync bookkeeping of s (rev, failed, retries, next),
 * leaving the other keys (gen, fp) as they are now. */
static void state_put(idp_app *a, const char *key, json_t *s) {
  static const char *const keys[] = {"rev", "failed", "retries", "next"};
  pthread_mutex_lock(&a->mu);
  json_t *cur = json_object_get(a->state, key);
  if (!cur) {
    cur = json_object();
    json_object_set_new(a->state, key, cur);
  }
  for (size_t i = 0; i < IDP_ARRAY_LEN(keys); i++) {
    json_t *v = json_object_get(s, keys[i]);
    if (v)
      json_object_set(cur, keys[i], v);
    else
      json_object_del(cur, keys[i]);
  }
  pthread_mutex_unlock(&a->mu);
}

static void state_forget(idp_app *a, const char *key) {
  pthread_mutex_lock(&a->mu);
  json_object_del(a->state, key);
  pthread_mutex_unlock(&a->mu);
}

/* Our own writes bump the Application's metadata.generation (no status
 * subresource, as in Argo CD).  The generation of the last write is kept so
 * that a reconcile reading an older copy from the informer cache (the watch
 * event of our write not yet delivered) is skipped instead of writing stale
 * state over the new one. */
static void note_write(idp_app *a, const json_t *app, json_t *written /* stolen, may be NULL */) {
  json_t *g = idp_json_get(written, "metadata", "generation", NULL);
  if (json_is_integer(g)) {
    char key[600];
    snprintf(key, sizeof key, "%s/%s", idp_json_get_str(app, "metadata", "namespace", NULL),
             idp_json_get_str(app, "metadata", "name", NULL));
    pthread_mutex_lock(&a->mu);
    json_t *s = json_object_get(a->state, key);
    if (!s) {
      s = json_object();
      json_object_set_new(a->state, key, s);
    }
    json_object_set(s, "gen", g);
    pthread_mutex_unlock(&a->mu);
  }
  json_decref(written);
}

static bool stale_read(idp_app *a, const char *key, const json_t *app) {
  json_t *g = idp_json_get(app, "metadata", "generation", NULL);
  pthread_mutex_lock(&a->mu);
  json_t *w = json_object_get(json_object_get(a->state, key), "gen");
  bool stale =
      json_is_integer(g) && json_is_integer(w) && json_integer_value(g) < json_integer_value(w);
  pthread_mutex_unlock(&a->mu);
  return stale;
}

/* ---- finalizer: cascading delete ------------------------------------------ */

static idp_code finalize(idp_app *a, const json_t *app, int64_t *again, idp_err *e) {
  json_t *fins = idp_json_get(app, "metadata", "finalizers", NULL);
  bool ours = false;
  size_t i;
  json_t *f;
  const char *prop = "Foreground";
  json_array_foreach(fins, i, f) {
    const char *s = json_string_value(f);
    if (s && strcmp(s, APP_FINALIZER) == 0) ours = true;
    if (s && strcmp(s, APP_FINALIZER_BG) == 0) {
      ours = true;
      prop = "Background";
    }
  }
  if (!ours) return IDP_OK;
  const char *ns = idp_json_get_str(app, "metadata", "namespace", NULL);
  const char *name = idp_json_get_str(app, "metadata", "name", NULL);
  char inst[600], srv[512];
  instance_name(a, ns, name, inst, sizeof inst);
  app_dest d = {0};
  idp_err de = IDP_ERR_INIT;
  int remaining = 0;
  if (dest_for(a, idp_json_get(app, "spec", "destination", NULL), &d, srv, sizeof srv, &de) ==
      IDP_OK) {
    json_t *r;
    json_array_foreach(idp_json_get(app, "status", "resources", NULL), i, r) {
      if (json_is_true(json_object_get(r, "hook"))) continue;
      const char *grp = json_string_value(json_object_get(r, "group"));
      const char *ver = json_string_value(json_object_get(r, "version"));
      const char *kind = json_string_value(json_object_get(r, "kind"));
      const char *rns = json_string_value(json_object_get(r, "namespace"));
      const char *rname = json_string_value(json_object_get(r, "name"));
      char av[600];
      snprintf(av, sizeof av, "%s%s%s", grp && *grp ? grp : "", grp && *grp ? "/" : "",
               ver ? ver : "v1");
      idp_kgvr g;
      if (!kind || !rname || idp_kclient_resolve(d.kc, av, kind, &g, &de) != IDP_OK) continue;
      idp_kref ref = {g.group, g.version, g.resource, g.namespaced ? rns : NULL, rname, NULL};
      json_t *live = NULL;
      if (idp_kclient_get(d.kc, &ref, &live, &de) != IDP_OK) continue;
      char want[1024];
      idp_app_tracking_id(inst, live, want, sizeof want);
      const char *id = ann(live, IDP_APP_TRACKING_ANNOTATION);
      char owner[600];
      bool mine =
          id &&
          idp_app_tracking_parse(id, owner, sizeof owner, NULL, 0, NULL, 0, NULL, 0, NULL, 0) &&
          strcmp(owner, inst) == 0;
      const char *delopt = ann(live, "argocd.argoproj.io/sync-options");
      bool keep = delopt && strstr(delopt, "Delete=false");
      if (mine && !keep) {
        remaining++;
        if (!idp_json_get(live, "metadata", "deletionTimestamp", NULL)) {
          idp_kdelete_opts dopt = {.propagation_policy = prop};
          idp_kclient_delete(d.kc, &ref, &dopt, NULL, &de);
        }
      }
      json_decref(live);
    }
  }
  if (remaining > 0) {
    *again = 1000;
    return IDP_OK;
  }
  json_t *keep = json_array();
  json_array_foreach(fins, i, f) {
    const char *s = json_string_value(f);
    if (s && strcmp(s, APP_FINALIZER) != 0 && strcmp(s, APP_FINALIZER_BG) != 0)
      json_array_append(keep, f);
  }
  json_t *patch = json_pack("{s:{s:o}}", "metadata", "finalizers", keep);
  idp_kref r = APPS;
  r.ns = ns;
  r.name = name;
  idp_code rc = idp_kclient_patch(a->kc, &r, IDP_PATCH_MERGE, patch, NULL, NULL, e);
  json_decref(patch);
  if (rc == IDP_ENOTFOUND) {
    idp_err_clear(e);
    rc = IDP_OK;
  }
  return rc;
}

/* ---- reconcile ------------------------------------------------------------ */

typedef struct desired_item {
  json_t *obj; /* borrowed from the desired array */
  idp_kgvr g;
  bool resolved;
} desired_item;

/* Sets namespace, tracking and labels; splits hooks; checks the project.
 * Returns a new array of prepared objects in *out. */
static idp_code prepare(idp_app *a, const app_dest *d, const json_t *proj, const char *inst,
                        const json_t *rendered, json_t **out, json_t *conds, idp_err *e) {
  json_t *res = json_array();
  json_t *seen = json_object();
  size_t i;
  json_t *o;
  idp_code rc = IDP_OK;
  json_array_foreach(rendered, i, o) {
    const char *av = idp_json_get_str(o, "apiVersion", NULL);
    const char *kind = idp_json_get_str(o, "kind", NULL);
    const char *name = idp_json_get_str(o, "metadata", "name", NULL);
    /* hooks may use generateName (a new object per run, as Argo CD) */
    if (!name && idp_app_hook_phases(o) && idp_json_get_str(o, "metadata", "generateName", NULL))
      name = idp_json_get_str(o, "metadata", "generateName", NULL);
    if (!av || !kind || !name) {
      const char *kn = idp_json_get_str(o, "kind", NULL);
      rc = idp_err_set(e, IDP_EINVALID, "rendered object #%zu%s%s has no %s", i,
                       kn ? " of kind " : "", kn ? kn : "",
                       !av     ? "apiVersion"
                       : !kind ? "kind"
                               : "metadata.name");
      break;
    }
    json_t *c = json_deep_copy(o);
    idp_kgvr g;
    idp_err re = IDP_ERR_INIT;
    bool namespaced = true;
    if (app_resolve(a, d, av, kind, rendered, &g, &re) == IDP_OK) namespaced = g.namespaced;
    json_t *md = json_object_get(c, "metadata");
    if (namespaced) {
      if (!json_string_value(json_object_get(md, "namespace")) ||
          !*json_string_value(json_object_get(md, "namespace")))
        json_object_set_new(md, "namespace", json_string(d->ns && *d->ns ? d->ns : "default"));
    } else {
      json_object_del(md, "namespace");
    }
    char tid[1200];
    idp_app_tracking_id(inst, c, tid, sizeof tid);
    json_object_set_new(idp_json_child_object(md, "annotations"), IDP_APP_TRACKING_ANNOTATION,
                        json_string(tid));
    if (a->label_key) {
      char lv[64];
      snprintf(lv, sizeof lv, "%.63s", inst);
      json_object_set_new(idp_json_child_object(md, "labels"), a->label_key, json_string(lv));
    }
    char grp[256];
    group_of(av, grp, sizeof grp);
    idp_err pe = IDP_ERR_INIT;
    if (idp_app_project_check_resource(proj, grp, kind, name, namespaced, &pe)) {
      json_array_append_new(conds, condition("InvalidSpecError", pe.msg));
      rc = IDP_EFORBIDDEN;
    }
    if (namespaced && d->ns) {
      const char *ons = json_string_value(json_object_get(md, "namespace"));
      if (ons && strcmp(ons, d->ns) != 0 &&
          idp_app_project_check_dest(proj, d->server, d->name, ons, &pe)) {
        json_array_append_new(conds, condition("InvalidSpecError", pe.msg));
        rc = IDP_EFORBIDDEN;
      }
    }
    if (idp_app_hook_phases(c) & IDP_HOOK_SKIP) {
      json_decref(c);
      continue;
    }
    /* Repeated resources: the last one wins (RepeatedResourceWarning). */
    if (json_object_get(seen, tid) && !idp_app_hook_phases(c)) {
      size_t at = json_integer_value(json_object_get(seen, tid));
      json_array_set_new(res, at, c);
      char m[1400];
      snprintf(m, sizeof m, "Resource %s appeared multiple times", tid);
      json_array_append_new(conds, condition("RepeatedResourceWarning", m));
      continue;
    }
    json_object_set_new(seen, tid, json_integer((json_int_t)json_array_size(res)));
    json_array_append_new(res, c);
  }
  json_decref(seen);
  if (rc && rc != IDP_EFORBIDDEN) {
    json_decref(res);
    return rc;
  }
  *out = res;
  return rc;
}

/* Records what a comparison read: the object and its resourceVersion, as
 * one "group\tversion\tresource\tns\tname\trv\n" line (compact: kept per
 * Application between reconciles; Kubernetes names hold no tabs). */
static void fp_add(idp_buf *fp, const idp_kgvr *g, bool resolved, const char *ns, const char *name,
                   const json_t *live) {
  const char *rv = live ? idp_json_get_str(live, "metadata", "resourceVersion", NULL) : "";
  idp_buf_printf(fp, "%s\t%s\t%s\t%s\t%s\t%s\n", g->group, g->version, resolved ? g->resource : "",
                 g->namespaced && ns ? ns : "", name ? name : "", rv ? rv : "");
}

typedef struct compare_result {
  json_t *resources; /* status.resources */
  bool out_of_sync;
  bool only_prune; /* every OutOfSync resource only requires pruning */
  idp_health_status health;
  size_t n_desired;
  idp_buf fp; /* what was read (fp_add lines) */
} compare_result;

/* Compares desired (non-hook) resources with live and lists prune
 * candidates from prev status.resources. */
/* Live object for a comparison: what a write just returned (overrides,
 * "kind/ns/name", JSON null = deleted) when known, else the cache/API. */
static void live_for(idp_app *a, const app_dest *d, const json_t *overrides, const idp_kgvr *g,
                     const char *kind, const char *ns, const char *name, json_t **live,
                     idp_err *e) {
  if (overrides) {
    char k[800];
    snprintf(k, sizeof k, "%s/%s/%s", kind, g->namespaced && ns ? ns : "", name);
    json_t *o = json_object_get(overrides, k);
    if (o) {
      *live = json_is_null(o) ? NULL : json_incref(o);
      return;
    }
  }
  app_live_get(a, d, g, ns, name, live, e);
}

static idp_code compare(idp_app *a, const app_dest *d, const json_t *spec, const char *inst,
                        const json_t *desired, const json_t *prev, const json_t *overrides,
                        compare_result *cr, idp_err *e) {
  IDP_UNUSED(e);
  cr->resources = json_array();
  cr->out_of_sync = false;
  cr->only_prune = true;
  cr->health = IDP_HEALTH_HEALTHY;
  cr->n_desired = 0;
  idp_buf_init(&cr->fp, (size_t)16 << 20);
  json_t *ignores = json_object_get(spec, "ignoreDifferences");
  json_t *keys = json_object();
  size_t i;
  json_t *o;
  json_array_foreach(desired, i, o) {
    if (idp_app_hook_phases(o)) continue;
    cr->n_desired++;
    const char *av = idp_json_get_str(o, "apiVersion", NULL);
    const char *kind = idp_json_get_str(o, "kind", NULL);
    const char *ns = idp_json_get_str(o, "metadata", "namespace", NULL);
    const char *name = idp_json_get_str(o, "metadata", "name", NULL);
    idp_kgvr g;
    idp_err le = IDP_ERR_INIT;
    json_t *live = NULL;
    bool resolved = app_resolve(a, d, av, kind, desired, &g, &le) == IDP_OK;
    if (!resolved) {
      memset(&g, 0, sizeof g);
      group_of(av, g.group, sizeof g.group);
      const char *v = strchr(av, '/');
      snprintf(g.version, sizeof g.version, "%s", v ? v + 1 : av);
      snprintf(g.kind, sizeof g.kind, "%s", kind);
      g.namespaced = ns != NULL;
    } else {
      live_for(a, d, overrides, &g, kind, ns, name, &live, &le);
    }
    char tid[1200];
    idp_app_tracking_id(inst, o, tid, sizeof tid);
    json_object_set_new(keys, tid, json_true());
    fp_add(&cr->fp, &g, resolved, ns, name, live);
    bool synced = live && idp_app_compare(o, live, ignores, NULL, 0);
    if (!synced) {
      cr->out_of_sync = true;
      cr->only_prune = false;
    }
    json_t *r = res_entry(&g, o, synced ? "Synced" : "OutOfSync", live, false, false);
    json_t *h = idp_json_get(r, "health", "status", NULL);
    if (h) {
      idp_health_status hs = idp_health_parse(json_string_value(h));
      if (hs > cr->health) cr->health = hs;
    }
    json_array_append_new(cr->resources, r);
    json_decref(live);
  }
  /* Extraneous objects: tracked by this app, no longer in Git. */
  json_t *r;
  json_array_foreach(prev, i, r) {
    if (json_is_true(json_object_get(r, "hook"))) continue;
    const char *grp = json_string_value(json_object_get(r, "group"));
    const char *ver = json_string_value(json_object_get(r, "version"));
    const char *kind = json_string_value(json_object_get(r, "kind"));
    const char *rns = json_string_value(json_object_get(r, "namespace"));
    const char *rname = json_string_value(json_object_get(r, "name"));
    if (!kind || !rname) continue;
    char av[600], tid[1200];
    snprintf(av, sizeof av, "%s%s%s", grp && *grp ? grp : "", grp && *grp ? "/" : "",
             ver ? ver : "v1");
    snprintf(tid, sizeof tid, "%s:%s/%s:%s/%s", inst, grp ? grp : "", kind, rns ? rns : "", rname);
    if (json_object_get(keys, tid)) continue;
    idp_kgvr g;
    idp_err le = IDP_ERR_INIT;
    if (idp_kclient_resolve(d->kc, av, kind, &g, &le) != IDP_OK) continue;
    json_t *live = NULL;
    live_for(a, d, overrides, &g, kind, rns, rname, &live, &le);
    const char *id = live ? ann(live, IDP_APP_TRACKING_ANNOTATION) : NULL;
    fp_add(&cr->fp, &g, true, rns, rname, live);
    if (id && strcmp(id, tid) == 0) {
      json_object_set_new(keys, tid, json_true());
      const char *co = ann(live, "argocd.argoproj.io/compare-options");
      bool ignore_extraneous = co && strstr(co, "IgnoreExtraneous");
      if (!ignore_extraneous) cr->out_of_sync = true;
      json_array_append_new(cr->resources, res_entry(&g, live, "OutOfSync", live, false, true));
    }
    json_decref(live);
  }
  json_decref(keys);
  if (!cr->out_of_sync) cr->only_prune = false;
  return IDP_OK;
}

static long jitter(const idp_app *a) {
  if (a->o.jitter_ms <= 0) return 0;
  /* spread only: a shared LCG is enough (rand() is not thread-safe) */
  static _Atomic uint64_t seed = 88172645463325252ULL;
  uint64_t x = seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  return (long)((x >> 33) % (uint64_t)(a->o.jitter_ms + 1));
}

/* Drops fields that change on every write so "nothing changed" is cheap. */
static bool conds_equal(const json_t *a, const json_t *b) {
  if (json_array_size(a) != json_array_size(b)) return false;
  for (size_t i = 0; i < json_array_size(a); i++) {
    const json_t *x = json_array_get(a, i), *y = json_array_get(b, i);
    static const char *const keys[] = {"type", "message", "status"};
    for (size_t k = 0; k < IDP_ARRAY_LEN(keys); k++) {
      const json_t *p = json_object_get(x, keys[k]), *q = json_object_get(y, keys[k]);
      if ((p || q) && (!p || !q || !json_equal((json_t *)p, (json_t *)q))) return false;
    }
  }
  return true;
}

/* Keys of status this controller removes when it no longer has them. */
static const char *const status_nullable[] = {"conditions", "summary", "resources", "sourceType"};

/* Would writing `b` over `a` change anything (reconciledAt and conditions'
 * transition times aside)?  Keys absent from b are left alone by the write
 * (merge patch), except the nullable ones. */
static bool status_equal(const json_t *a, const json_t *b) {
  if (!a || !b) return a == b;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)b, k, v) {
    if (strcmp(k, "reconciledAt") == 0) continue;
    json_t *w = json_object_get(a, k);
    if (!w) return false;
    if (strcmp(k, "conditions") == 0 ? !conds_equal(v, w) : !idp_json_equal(v, w)) return false;
  }
  for (size_t i = 0; i < IDP_ARRAY_LEN(status_nullable); i++)
    if (json_object_get(a, status_nullable[i]) && !json_object_get(b, status_nullable[i]))
      return false;
  return true;
}

static idp_code write_status(idp_app *a, const json_t *app, json_t *status, bool clear_op,
                             idp_err *e) {
  json_t *old = json_object_get(app, "status");
  if (!clear_op && status_equal(old, status)) return IDP_OK;
  char now[32];
  app_rfc3339(now, sizeof now);
  json_object_set_new(status, "reconciledAt", json_string(now));
  /* keep the transition time of conditions that did not change */
  size_t i, j;
  json_t *c, *oc;
  json_array_foreach(json_object_get(status, "conditions"), i, c) {
    json_array_foreach(json_object_get(old, "conditions"), j, oc) {
      if (json_equal(json_object_get(c, "type"), json_object_get(oc, "type")) &&
          json_equal(json_object_get(c, "message"), json_object_get(oc, "message")) &&
          json_object_get(oc, "lastTransitionTime"))
        json_object_set(c, "lastTransitionTime", json_object_get(oc, "lastTransitionTime"));
    }
  }
  json_t *st = json_deep_copy(status);
  for (size_t i = 0; i < IDP_ARRAY_LEN(status_nullable); i++)
    if (json_object_get(old, status_nullable[i]) && !json_object_get(st, status_nullable[i]))
      json_object_set_new(st, status_nullable[i], json_null());
  json_t *patch = json_pack("{s:o}", "status", st);
  if (clear_op) json_object_set_new(patch, "operation", json_null());
  idp_kref r = APPS;
  r.ns = idp_json_get_str(app, "metadata", "namespace", NULL);
  r.name = idp_json_get_str(app, "metadata", "name", NULL);
  json_t *written = NULL;
  idp_code rc = idp_kclient_patch(a->kc, &r, IDP_PATCH_MERGE, patch, NULL, &written, e);
  json_decref(patch);
  note_write(a, app, written);
  a->status_writes++;
  if (rc == IDP_ENOTFOUND) {
    idp_err_clear(e);
    rc = IDP_OK;
  }
  return rc;
}

void app_write_running(idp_app *a, const json_t *app, const json_t *os) {
  json_t *st = json_deep_copy(os);
  json_object_set_new(st, "phase", json_string("Running"));
  json_t *patch = json_pack("{s:{s:o}}", "status", "operationState", st);
  idp_kref r = APPS;
  r.ns = idp_json_get_str(app, "metadata", "namespace", NULL);
  r.name = idp_json_get_str(app, "metadata", "name", NULL);
  idp_err e = IDP_ERR_INIT;
  json_t *written = NULL;
  idp_kclient_patch(a->kc, &r, IDP_PATCH_MERGE, patch, NULL, &written, &e);
  note_write(a, app, written);
  a->status_writes++;
  json_decref(patch);
}

static bool automated_on(const json_t *spec, const json_t **autom) {
  *autom = idp_json_get(spec, "syncPolicy", "automated", NULL);
  if (!json_is_object(*autom)) return false;
  json_t *en = json_object_get(*autom, "enabled");
  return !en || json_is_true(en);
}

static long retry_backoff(const json_t *retry, int attempt) {
  long dur = 5000, max = 180000;
  double factor = 2;
  const char *ds = idp_json_get_str(retry, "backoff", "duration", NULL);
  const char *ms = idp_json_get_str(retry, "backoff", "maxDuration", NULL);
  json_t *fj = idp_json_get(retry, "backoff", "factor", NULL);
  if (json_is_number(fj)) factor = json_number_value(fj);
  /* durations: "5s", "3m", "1h", "500ms" or seconds as an integer */
  const char *strs[2] = {ds, ms};
  long *dst[2] = {&dur, &max};
  for (int i = 0; i < 2; i++) {
    if (!strs[i]) continue;
    char *end;
    double v = strtod(strs[i], &end);
    if (end == strs[i]) continue;
    double mult = 1000;
    if (strcmp(end, "ms") == 0)
      mult = 1;
    else if (strcmp(end, "m") == 0)
      mult = 60000;
    else if (strcmp(end, "h") == 0)
      mult = 3600000;
    *dst[i] = (long)(v * mult);
  }
  double d = (double)dur;
  for (int i = 1; i < attempt; i++) d *= factor;
  return d > (double)max ? max : (long)d;
}

/* apps-in-any-namespace: the project must allow the app's namespace. */
static bool project_allows_ns(const json_t *proj, const char *ns, const char *ctl_ns) {
  if (strcmp(ns, ctl_ns) == 0) return true;
  size_t i;
  json_t *x;
  json_array_foreach(idp_json_get(proj, "spec", "sourceNamespaces", NULL), i, x) {
    const char *g = json_string_value(x);
    if (g && idp_wildcard_match(g, ns)) return true;
  }
  return false;
}

/* ---- no-change fast path --------------------------------------------------
 * A reconcile whose inputs (application generation, project version, source
 * commits) and every object it read (same resourceVersion in the informer
 * caches) are unchanged since the last full comparison cannot produce a
 * different status: it is skipped.  Only for in-cluster destinations (the
 * caches) and results that need no sync. */

static void fp_inputs(const json_t *app, const json_t *proj, const char *shas, char *out,
                      size_t n) {
  snprintf(out, n, "%lld|%s|%s",
           (long long)json_integer_value(idp_json_get(app, "metadata", "generation", NULL)),
           proj ? idp_json_get_str(proj, "metadata", "resourceVersion", NULL) : "", shas);
}

static void fp_store(idp_app *a, const char *key, json_t *fp /* stolen, NULL = forget */) {
  pthread_mutex_lock(&a->mu);
  json_t *s = json_object_get(a->state, key);
  if (!s) {
    s = json_object();
    json_object_set_new(a->state, key, s);
  }
  if (fp)
    json_object_set_new(s, "fp", fp);
  else
    json_object_del(s, "fp");
  pthread_mutex_unlock(&a->mu);
}

static bool fast_path(idp_app *a, const char *key, const json_t *app, const json_t *proj,
                      const json_t *sources) {
  pthread_mutex_lock(&a->mu);
  json_t *fp = json_object_get(json_object_get(a->state, key), "fp");
  json_incref(fp);
  pthread_mutex_unlock(&a->mu);
  if (!fp) return false;
  bool ok = false;
  char shas[1024] = "", inputs[1400];
  size_t i;
  json_t *src;
  json_array_foreach(sources, i, src) {
    if (idp_json_get_str(src, "ref", NULL) && !idp_json_get_str(src, "path", NULL) &&
        !idp_json_get_str(src, "chart", NULL))
      continue;
    const char *url = idp_json_get_str(src, "repoURL", NULL);
    const char *rev = idp_json_get_str(src, "targetRevision", NULL);
    char *user, *pass, sha[41], *tree = NULL;
    repo_creds(a, url ? url : "", &user, &pass);
    idp_git_creds c = {user, pass};
    idp_err e = IDP_ERR_INIT;
    idp_code rc = idp_git_resolve(a->git, url ? url : "", rev ? rev : "HEAD", user ? &c : NULL, sha,
                                  &tree, &e);
    free(user);
    free(pass);
    free(tree);
    if (rc) goto out;
    size_t l = strlen(shas);
    snprintf(shas + l, sizeof shas - l, "%s%s", l ? "," : "", sha);
  }
  fp_inputs(app, proj, shas, inputs, sizeof inputs);
  const char *want = json_string_value(json_object_get(fp, "inputs"));
  if (!want || strcmp(want, inputs) != 0) goto out;
  const char *p = json_string_value(json_object_get(fp, "live"));
  while (p && *p) {
    const char *nl = strchr(p, '\n');
    if (!nl) break;
    char line[1400];
    size_t ll = (size_t)(nl - p);
    if (ll >= sizeof line) goto out;
    memcpy(line, p, ll);
    line[ll] = 0;
    p = nl + 1;
    char *parts[6] = {0};
    char *c = line;
    for (int k = 0; k < 6; k++) {
      parts[k] = c;
      c = strchr(c, '\t');
      if (!c && k < 5) goto out;
      if (c) *c++ = 0;
    }
    if (!*parts[2]) goto out; /* an unresolved kind: compare again */
    idp_kgvr g = {0};
    snprintf(g.group, sizeof g.group, "%s", parts[0]);
    snprintf(g.version, sizeof g.version, "%s", parts[1]);
    snprintf(g.resource, sizeof g.resource, "%s", parts[2]);
    g.namespaced = *parts[3] != 0;
    idp_informer *inf = dyn_informer(a, &g);
    if (!inf) goto out;
    json_t *live = idp_informer_get(inf, g.namespaced ? parts[3] : NULL, parts[4]);
    const char *rv = live ? idp_json_get_str(live, "metadata", "resourceVersion", NULL) : "";
    bool same = strcmp(rv ? rv : "", parts[5]) == 0;
    json_decref(live);
    if (!same) goto out;
  }
  ok = true;
out:
  json_decref(fp);
  return ok;
}

static idp_code reconcile_app(idp_app *a, const char *key, const json_t *app, int64_t *again,
                              idp_err *e) {
  char ns[254], name[254], inst[600], srv[512];
  split_key(key, ns, sizeof ns, name, sizeof name);
  instance_name(a, ns, name, inst, sizeof inst);
  *again = a->o.resync_ms + jitter(a);
  if (idp_json_get(app, "metadata", "deletionTimestamp", NULL)) return finalize(a, app, again, e);
  if (stale_read(a, key, app)) { /* our last write's event is on its way */
    *again = 200;
    return IDP_OK;
  }

  const json_t *spec = json_object_get(app, "spec");
  const json_t *old_status = json_object_get(app, "status");
  json_t *conds = json_array();
  json_t *status = json_object();
  idp_code rc = IDP_OK;
  bool hard = false;
  const char *refresh = ann(app, "argocd.argoproj.io/refresh");
  if (refresh) {
    hard = strcmp(refresh, "hard") == 0;
    json_t *p = json_pack("{s:{s:{s:n}}}", "metadata", "annotations", "argocd.argoproj.io/refresh");
    idp_kref r = APPS;
    r.ns = ns;
    r.name = name;
    idp_err pe = IDP_ERR_INIT;
    idp_kclient_patch(a->kc, &r, IDP_PATCH_MERGE, p, NULL, NULL, &pe);
    json_decref(p);
  }
  /* Keep what we cannot recompute: history, last operation, resources. */
  json_t *history = json_deep_copy(json_object_get(old_status, "history"));
  if (!history) history = json_array();
  json_t *op_state = json_deep_copy(json_object_get(old_status, "operationState"));
  json_t *prev_res = json_object_get(old_status, "resources");
  json_object_set_new(status, "controllerNamespace", json_string(a->ns));

  /* Project */
  const char *pname = idp_json_get_str(spec, "project", NULL);
  if (!pname || !*pname) pname = "default";
  json_t *proj = idp_informer_get(a->projects, a->ns, pname);
  json_t *src = json_object_get(spec, "source");
  json_t *srcs = json_object_get(spec, "sources");
  json_t *sources = json_array();
  if (json_is_object(src)) json_array_append(sources, src);
  size_t si;
  json_t *sx;
  json_array_foreach(srcs, si, sx) json_array_append(sources, sx);
  app_dest d = {0};
  idp_err ve = IDP_ERR_INIT;
  bool invalid = false;
  if (!proj) {
    char m[600];
    snprintf(m, sizeof m, "Application referencing project %s which does not exist", pname);
    json_array_append_new(conds, condition("InvalidSpecError", m));
    invalid = true;
  } else if (!project_allows_ns(proj, ns, a->ns)) {
    char m[800];
    snprintf(m, sizeof m, "application '%s' in namespace '%s' is not permitted to use project '%s'",
             name, ns, pname);
    json_array_append_new(conds, condition("InvalidSpecError", m));
    invalid = true;
  } else if (json_array_size(sources) == 0) {
    json_array_append_new(conds,
                          condition("InvalidSpecError", "spec.source or spec.sources is required"));
    invalid = true;
  } else {
    json_array_foreach(sources, si, sx) {
      const char *u = idp_json_get_str(sx, "repoURL", NULL);
      if (idp_app_project_check_source(proj, u ? u : "", &ve)) {
        json_array_append_new(conds, condition("InvalidSpecError", ve.msg));
        invalid = true;
      }
    }
    if (dest_for(a, json_object_get(spec, "destination"), &d, srv, sizeof srv, &ve)) {
      json_array_append_new(conds, condition("InvalidSpecError", ve.msg));
      invalid = true;
    } else if (idp_app_project_check_dest(proj, d.server, d.name, d.ns, &ve)) {
      json_array_append_new(conds, condition("InvalidSpecError", ve.msg));
      invalid = true;
    }
  }

  /* Operation requested? */
  const json_t *op = idp_json_get(app, "operation", "sync", NULL);
  bool clear_op = idp_json_get(app, "operation", NULL) != NULL;
  json_t *rendered = json_array(), *desired = NULL;
  char sha[41] = "";
  json_t *revisions = json_array();
  const char *stype = "Directory";
  if (!invalid && !clear_op && !refresh && d.in_cluster && fast_path(a, key, app, proj, sources)) {
    a->fast_paths++;
    json_decref(conds);
    goto out;
  }
  if (!invalid) {
    json_array_foreach(sources, si, sx) {
      /* a multi-source "ref" entry only names a repository for $ref value
       * files: it renders nothing itself */
      if (idp_json_get_str(sx, "ref", NULL) && !idp_json_get_str(sx, "path", NULL) &&
          !idp_json_get_str(sx, "chart", NULL))
        continue;
      const char *rev = idp_json_get_str(sx, "targetRevision", NULL);
      const json_t *use = sx;
      if (op && json_array_size(sources) == 1) {
        const char *orev = idp_json_get_str(op, "revision", NULL);
        if (orev && *orev) rev = orev;
        json_t *osrc = json_object_get(op, "source");
        if (json_is_object(osrc)) {
          use = osrc;
          const char *r2 = idp_json_get_str(osrc, "targetRevision", NULL);
          if (!orev && r2) rev = r2;
        }
      }
      json_t *objs = NULL;
      char s1[41];
      idp_err re = IDP_ERR_INIT;
      if (render_source(a, use, rev ? rev : "HEAD", refresh != NULL, hard, s1, &stype, &objs,
                        &re)) {
        char m[1200];
        snprintf(m, sizeof m, "Failed to load target state: %s", re.msg);
        json_array_append_new(conds, condition("ComparisonError", m));
        invalid = true;
        if (*again > 30000) *again = 30000; /* a fixed repository is seen soon */
        break;
      }
      if (!sha[0]) memcpy(sha, s1, 41);
      json_array_append_new(revisions, json_string(s1));
      json_array_extend(rendered, objs);
      json_decref(objs);
    }
  }
  if (!invalid) {
    idp_err pe = IDP_ERR_INIT;
    idp_code prc = prepare(a, &d, proj, inst, rendered, &desired, conds, &pe);
    if (prc == IDP_EFORBIDDEN) {
      invalid = true;
    } else if (prc) {
      char m[1200];
      snprintf(m, sizeof m, "Failed to load target state: %s", pe.msg);
      json_array_append_new(conds, condition("ComparisonError", m));
      invalid = true;
    }
  }

  json_t *sync = json_object();
  json_object_set_new(status, "sync", sync);
  json_t *compared = json_object();
  if (json_is_object(src)) json_object_set(compared, "source", src);
  if (json_is_array(srcs)) json_object_set(compared, "sources", srcs);
  json_object_set(compared, "destination", json_object_get(spec, "destination"));
  json_object_set_new(sync, "comparedTo", compared);

  if (invalid) {
    /* Nothing is applied; the last known resources and health stay. */
    json_object_set_new(sync, "status", json_string("Unknown"));
    if (prev_res) json_object_set(status, "resources", prev_res);
    json_t *oh = json_object_get(old_status, "health");
    json_object_set(status, "health", oh ? oh : json_pack("{s:s}", "status", "Unknown"));
    if (!oh) json_decref(json_object_get(status, "health"));
    if (op) {
      char now[32];
      app_rfc3339(now, sizeof now);
      json_decref(op_state);
      op_state = json_pack("{s:O, s:s, s:s, s:s, s:s}", "operation",
                           json_object_get(app, "operation"), "phase", "Error", "message",
                           json_string_value(json_object_get(json_array_get(conds, 0), "message")),
                           "startedAt", now, "finishedAt", now);
    }
    json_object_set_new(status, "conditions", conds);
    if (op_state && op) json_object_set(status, "operationState", op_state);
    rc = write_status(a, app, status, clear_op, e);
    goto out;
  }

  json_object_set_new(sync, "revision", json_string(sha));
  if (json_is_array(srcs)) json_object_set(sync, "revisions", revisions);
  json_object_set_new(status, "sourceType", json_string(stype));

  compare_result cr;
  compare(a, &d, spec, inst, desired, prev_res, NULL, &cr, e);

  /* Decide on a sync. */
  const json_t *autom = NULL;
  bool automated = automated_on(spec, &autom);
  json_t *st = state_get(a, key);
  /* What an automated attempt is "the same" as (Argo CD's
   * alreadyAttemptedSync): the commit(s) and the source/destination. */
  char attempt[8192];
  {
    char *sd = idp_json_dump(json_object_get(spec, "source"));
    char *ms = idp_json_dump(json_object_get(spec, "sources"));
    char *dd = idp_json_dump(json_object_get(spec, "destination"));
    char shas[1024] = "";
    size_t ri;
    json_t *rv;
    json_array_foreach(revisions, ri, rv) {
      size_t l = strlen(shas);
      snprintf(shas + l, sizeof shas - l, "%s%s", l ? "," : "", json_string_value(rv));
    }
    snprintf(attempt, sizeof attempt, "%s|%s|%s|%s", shas, sd ? sd : "", ms ? ms : "",
             dd ? dd : "");
    free(sd);
    free(ms);
    free(dd);
  }
  json_t *auto_op = NULL;
  const json_t *run = op;
  if (!run && automated && cr.out_of_sync) {
    bool prune = json_is_true(json_object_get(autom, "prune"));
    bool heal = json_is_true(json_object_get(autom, "selfHeal"));
    bool allow_empty = json_is_true(json_object_get(autom, "allowEmpty"));
    const char *lrev = json_string_value(json_object_get(st, "rev"));
    bool same = lrev && strcmp(lrev, attempt) == 0;
    bool failed = json_is_true(json_object_get(st, "failed"));
    long long retries = json_integer_value(json_object_get(st, "retries"));
    json_t *retry = idp_json_get(spec, "syncPolicy", "retry", NULL);
    long long limit = retry ? (json_is_integer(json_object_get(retry, "limit"))
                                   ? json_integer_value(json_object_get(retry, "limit"))
                                   : 5)
                            : 0;
    bool go = true;
    if (!prune && cr.only_prune) go = false;
    if (prune && cr.n_desired == 0 && !allow_empty) {
      json_array_append_new(conds, condition("SyncError",
                                             "auto-sync will wipe out all resources; set "
                                             "allowEmpty to allow it"));
      go = false;
    }
    if (go && same && failed) {
      bool can = limit < 0 || retries < limit;
      long long next = json_integer_value(json_object_get(st, "next"));
      /* A failed attempt on this revision is not repeated, selfHeal or not
       * (Argo CD's alreadyAttemptedSync): only syncPolicy.retry retries. */
      if (!can)
        go = false;
      else if (app_now_ms() < next) {
        go = false;
        *again = next - app_now_ms();
      }
    } else if (go && same && !failed && !heal) {
      go = false; /* already synced this revision: drift only with selfHeal */
    } else if (go && same && !failed) {
      /* Self-heal: the first correction is immediate; corrections that keep
       * coming (another writer fighting Git) back off 2 s x 3^n up to 5 min,
       * as Argo CD 3's self.heal.backoff does. */
      int64_t now = app_now_ms();
      pthread_mutex_lock(&a->mu);
      json_t *hs = json_object_get(a->state, key);
      int64_t at = json_integer_value(json_object_get(hs, "heal_at"));
      long long n = json_integer_value(json_object_get(hs, "heal_n"));
      pthread_mutex_unlock(&a->mu);
      if (at && now - at > 60000) n = 0;
      long long delay = 0;
      if (at && n > 0) {
        delay = 2000;
        for (long long k = 1; k < n && delay < 300000; k++) delay *= 3;
        if (delay > 300000) delay = 300000;
      }
      if (at && now < at + delay) {
        go = false;
        *again = at + delay - now;
      } else {
        pthread_mutex_lock(&a->mu);
        if (hs) {
          json_object_set_new(hs, "heal_at", json_integer(now));
          json_object_set_new(hs, "heal_n", json_integer(n + 1));
        }
        pthread_mutex_unlock(&a->mu);
      }
    }
    if (go) {
      auto_op = json_pack("{s:s, s:b}", "revision", sha, "prune", prune);
      run = auto_op;
    }
  }

  if (run) {
    a->syncs++;
    json_t *os = json_object();
    json_t *opfull = op ? json_deep_copy(json_object_get(app, "operation"))
                        : json_pack("{s:O, s:{s:s, s:b}}", "sync", auto_op, "initiatedBy",
                                    "username", "", "automated", 1);
    json_object_set_new(os, "operation", opfull);
    char started[32];
    app_rfc3339(started, sizeof started);
    json_object_set_new(os, "startedAt", json_string(started));
    json_t *after = json_object();
    bool ok = app_sync_run(a, app, &d, run, desired, cr.resources, sha, os, after);
    char fin[32];
    app_rfc3339(fin, sizeof fin);
    json_object_set_new(os, "finishedAt", json_string(fin));
    json_decref(op_state);
    op_state = os;
    if (!op) {
      long long retries = json_integer_value(json_object_get(st, "retries"));
      const char *lrev = json_string_value(json_object_get(st, "rev"));
      if (!lrev || strcmp(lrev, attempt) != 0) retries = 0;
      json_object_set_new(st, "rev", json_string(attempt));
      json_object_set_new(st, "failed", json_boolean(!ok));
      json_object_set_new(st, "retries", json_integer(ok ? 0 : retries + 1));
      if (!ok) {
        long b = retry_backoff(idp_json_get(spec, "syncPolicy", "retry", NULL), (int)retries + 1);
        json_object_set_new(st, "next", json_integer(app_now_ms() + b));
        json_object_set_new(os, "retryCount", json_integer(retries + 1));
        if (b < *again) *again = b;
      }
      state_put(a, key, st);
    } else {
      /* A manual sync counts as this revision's attempt for auto-sync. */
      json_object_set_new(st, "rev", json_string(attempt));
      json_object_set_new(st, "failed", json_boolean(!ok));
      json_object_set_new(st, "retries", json_integer(0));
      state_put(a, key, st);
    }
    if (ok) {
      json_int_t id = 0;
      size_t hi;
      json_t *h;
      json_array_foreach(history, hi, h) {
        json_int_t x = json_integer_value(json_object_get(h, "id"));
        if (x >= id) id = x + 1;
      }
      json_t *ent = json_pack("{s:I, s:s, s:s, s:s}", "id", id, "revision", sha, "deployStartedAt",
                              started, "deployedAt", fin);
      const json_t *hsrc =
          op && json_is_object(json_object_get(op, "source")) ? json_object_get(op, "source") : src;
      if (json_is_object(hsrc)) json_object_set(ent, "source", (json_t *)hsrc);
      if (json_is_array(srcs)) {
        json_object_set(ent, "sources", srcs);
        json_object_set(ent, "revisions", revisions);
      }
      json_t *ib = idp_json_get(op_state, "operation", "initiatedBy", NULL);
      if (ib) json_object_set(ent, "initiatedBy", ib);
      json_array_append_new(history, ent);
      json_t *lim = json_object_get(spec, "revisionHistoryLimit");
      size_t max = json_is_integer(lim) && json_integer_value(lim) >= 0
                       ? (size_t)json_integer_value(lim)
                       : 10;
      while (json_array_size(history) > max) json_array_remove(history, 0);
    } else {
      json_array_append_new(
          conds, condition("SyncError", json_string_value(json_object_get(os, "message"))
                                            ? json_string_value(json_object_get(os, "message"))
                                            : "sync failed"));
    }
    /* Fresh comparison after the sync. */
    json_t *prev2 = json_incref(cr.resources);
    json_decref(cr.resources);
    idp_buf_free(&cr.fp);
    /* what the sync wrote comes from its answers; the rest from the caches */
    compare(a, &d, spec, inst, desired, prev2, after, &cr, e);
    json_decref(after);
    json_decref(prev2);
    /* Objects still waiting for health: look again soon. */
    if (cr.health == IDP_HEALTH_PROGRESSING && *again > 2000) *again = 2000;
  }
  json_decref(st);
  json_decref(auto_op);

  json_object_set_new(sync, "status", json_string(cr.out_of_sync ? "OutOfSync" : "Synced"));
  json_object_set_new(status, "resources", cr.resources);
  json_object_set_new(status, "health", json_pack("{s:s}", "status", idp_health_name(cr.health)));
  json_object_set_new(status, "summary", summary(desired));
  if (json_array_size(conds)) json_object_set(status, "conditions", conds);
  if (!run && automated) {
    /* A failed automated attempt on this revision stays visible. */
    const char *ph = json_string_value(json_object_get(op_state, "phase"));
    const char *orev = idp_json_get_str(op_state, "syncResult", "revision", NULL);
    if (ph && orev && strcmp(orev, sha) == 0 &&
        (strcmp(ph, "Failed") == 0 || strcmp(ph, "Error") == 0)) {
      char m[1400];
      snprintf(m, sizeof m, "Failed sync attempt to %s: %s", sha,
               json_string_value(json_object_get(op_state, "message")) ?: "");
      if (!json_object_get(status, "conditions")) json_object_set(status, "conditions", conds);
      json_array_append_new(conds, condition("SyncError", m));
    }
  }
  json_decref(conds);
  if (op_state && run) json_object_set(status, "operationState", op_state);
  if (run && json_array_size(history)) json_object_set(status, "history", history);
  if (cr.health == IDP_HEALTH_PROGRESSING && *again > 5000) *again = 5000;
  if (!run && d.in_cluster && (!automated || !cr.out_of_sync)) {
    char shas[1024] = "", inputs[1400];
    size_t ri;
    json_t *rv;
    json_array_foreach(revisions, ri, rv) {
      size_t l = strlen(shas);
      snprintf(shas + l, sizeof shas - l, "%s%s", l ? "," : "", json_string_value(rv));
    }
    fp_inputs(app, proj, shas, inputs, sizeof inputs);
    fp_store(a, key,
             json_pack("{s:s, s:s%}", "inputs", inputs, "live", idp_buf_str(&cr.fp), cr.fp.len));
  } else {
    fp_store(a, key, NULL);
  }
  idp_buf_free(&cr.fp);
  rc = write_status(a, app, status, clear_op, e);
out:
  json_decref(status);
  json_decref(history);
  json_decref(op_state);
  json_decref(rendered);
  json_decref(desired);
  json_decref(revisions);
  json_decref(sources);
  json_decref(proj);
  return rc;
}

/* Is an Application in namespace ns processed (control-plane namespace or
 * one of --application-namespaces)? */
static bool ns_allowed(const idp_app *a, const char *ns) {
  if (strcmp(ns, a->ns) == 0) return true;
  if (!a->app_namespaces) return false;
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", a->app_namespaces);
  for (char *p = buf, *c; p && *p; p = c ? c + 1 : NULL) {
    c = strchr(p, ',');
    if (c) *c = 0;
    while (*p == ' ') p++;
    if (*p && idp_wildcard_match(p, ns)) return true;
  }
  return false;
}

static idp_code reconcile(void *ud, const char *key, int64_t *again, idp_err *e) {
  idp_app *a = ud;
  char kns[254], kname[254];
  if (idp_key_split(key, kns, sizeof kns, kname, sizeof kname) && !ns_allowed(a, kns))
    return IDP_OK; /* not ours: another namespace not listed */
  a->reconciles++;
  json_t *app = idp_informer_get_key(a->apps, key);
  if (!app) {
    state_forget(a, key);
    a->reconciles_done++;
    return IDP_OK;
  }
  idp_code rc = reconcile_app(a, key, app, again, e);
  json_decref(app);
  a->reconciles_done++;
  return rc;
}

/* ---- lifecycle ------------------------------------------------------------ */

static void enqueue_all(idp_app *a) {
  json_t *list = idp_informer_list(a->apps, NULL);
  size_t i;
  json_t *o;
  json_array_foreach(list, i, o) idp_controller_enqueue_object(a->ctl, o);
  json_decref(list);
}
static void all_add(void *ud, const json_t *o) {
  IDP_UNUSED(o);
  enqueue_all(ud);
}
static void all_upd(void *ud, const json_t *o, const json_t *n) {
  IDP_UNUSED(o);
  IDP_UNUSED(n);
  enqueue_all(ud);
}

void idp_app_refresh(idp_app *a, const char *key, bool hard) {
  char k[600];
  if (!strchr(key, '/'))
    snprintf(k, sizeof k, "%s/%s", a->ns, key);
  else
    snprintf(k, sizeof k, "%s", key);
  if (hard) {
    json_t *app = idp_informer_get_key(a->apps, k);
    const char *url = idp_json_get_str(app, "spec", "source", "repoURL", NULL);
    if (url) idp_git_invalidate(a->git, url);
    json_decref(app);
  }
  idp_controller_enqueue(a->ctl, k);
}

void idp_app_get_stats(idp_app *a, idp_app_stats *out) {
  out->reconciles = a->reconciles;
  out->reconciles_done = a->reconciles_done;
  out->syncs = a->syncs;
  out->applies = a->applies;
  out->prunes = a->prunes;
  out->status_writes = a->status_writes;
  out->render_cache_hits = a->cache_hits;
  out->fast_paths = a->fast_paths;
}

int idp_app_webhook_port(const idp_app *a) {
  return a->port;
}

idp_code app_webhook_start(idp_app *a, idp_err *e); /* webhook.c */
void app_webhook_stop(idp_app *a);

/* Argo CD's argocd-cm settings for tracking: resourceTrackingMethod
 * "annotation+label" (or "label") also sets the instance label, whose key is
 * application.instanceLabelKey (default app.kubernetes.io/instance).  Read
 * once at start; an explicit opts.instance_label_key wins. */
static void tracking_config(idp_app *a) {
  if (a->label_key) return;
  idp_kref r = {"", "v1", "configmaps", a->ns, "argocd-cm", NULL};
  json_t *cm = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_kclient_get(a->kc, &r, &cm, &e) != IDP_OK) return;
  const char *m = idp_json_get_str(cm, "data", "application.resourceTrackingMethod", NULL);
  const char *k = idp_json_get_str(cm, "data", "application.instanceLabelKey", NULL);
  if (m && strstr(m, "label")) {
    a->label_key = strdup(k && *k ? k : "app.kubernetes.io/instance");
    a->o.instance_label_key = a->label_key;
  }
  json_decref(cm);
}

static idp_code ensure_basics(idp_app *a, idp_err *e) {
  idp_kref nsr = {"", "v1", "namespaces", NULL, a->ns, NULL};
  json_t *nso = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                          "metadata", "name", a->ns);
  idp_code rc = idp_kclient_create(a->kc, &nsr, nso, NULL, NULL, e);
  json_decref(nso);
  if (rc && rc != IDP_EEXIST) return rc;
  idp_err_clear(e);
  json_t *p = idp_app_project_default(a->ns);
  idp_kref pr = PROJECTS;
  pr.ns = a->ns;
  rc = idp_kclient_create(a->kc, &pr, p, NULL, NULL, e);
  json_decref(p);
  if (rc && rc != IDP_EEXIST) return rc;
  idp_err_clear(e);
  return IDP_OK;
}

idp_code idp_app_start(idp_kclient *kc, const idp_app_opts *o, idp_app **out, idp_err *e) {
  if (!o || !o->data_dir) return idp_err_set(e, IDP_EINVAL, "gitops app: data_dir is required");
  idp_app *a = calloc(1, sizeof *a);
  if (!a) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  a->kc = kc;
  a->o = *o;
  snprintf(a->ns, sizeof a->ns, "%s", o->namespace_ ? o->namespace_ : "argocd");
  a->data_dir = strdup(o->data_dir);
  a->label_key = o->instance_label_key ? strdup(o->instance_label_key) : NULL;
  a->gh_secret = o->webhook_github_secret ? strdup(o->webhook_github_secret) : NULL;
  a->gl_secret = o->webhook_gitlab_secret ? strdup(o->webhook_gitlab_secret) : NULL;
  a->app_namespaces = o->application_namespaces && *o->application_namespaces
                          ? strdup(o->application_namespaces)
                          : NULL;
  a->o.application_namespaces = a->app_namespaces;
  a->o.data_dir = a->data_dir;
  a->o.instance_label_key = a->label_key;
  a->o.webhook_github_secret = a->gh_secret;
  a->o.webhook_gitlab_secret = a->gl_secret;
  a->o.webhook_listen = NULL; /* not kept */
  if (a->o.workers <= 0) a->o.workers = 4;
  if (a->o.resync_ms <= 0) a->o.resync_ms = 120000;
  if (a->o.jitter_ms == 0) a->o.jitter_ms = 60000;
  if (a->o.wave_delay_ms == 0) a->o.wave_delay_ms = 2000;
  if (a->o.health_timeout_ms <= 0) a->o.health_timeout_ms = 300000;
  pthread_mutex_init(&a->mu, NULL);
  a->rcache = json_object();
  a->state = json_object();
  char gitdir[4200];
  snprintf(gitdir, sizeof gitdir, "%s/git", o->data_dir);
  idp_code rc = idp_git_new(gitdir, o->repo_ttl_ms, &a->git, e);
  if (rc) goto fail;
  if (!o->skip_crds && (rc = idp_app_install_crds(kc, e))) goto fail;
  if ((rc = ensure_basics(a, e))) goto fail;
  tracking_config(a);
  idp_controller_opts co = {
      .name = "gitops-app", .workers = a->o.workers, .reconcile = reconcile, .ud = a};
  if ((rc = idp_controller_new(&co, &a->ctl, e))) goto fail;
  idp_informer_handlers ah = idp_controller_handlers(a->ctl);
  idp_informer_handlers all = {all_add, all_upd, all_add, a};
  idp_informer_opts io = {.resource = APPS};
  io.resource.ns = a->app_namespaces ? NULL : a->ns; /* apps in any namespace: all */
  if ((rc = idp_informer_new(kc, &io, &ah, &a->apps, e))) goto fail;
  idp_informer_opts po = {.resource = PROJECTS};
  po.resource.ns = a->ns;
  if ((rc = idp_informer_new(kc, &po, &all, &a->projects, e))) goto fail;
  idp_informer_opts so = {.resource = {"", "v1", "secrets", a->ns, NULL, NULL},
                          .label_selector = "argocd.argoproj.io/secret-type"};
  if ((rc = idp_informer_new(kc, &so, &all, &a->secrets, e))) goto fail;
  /* Projects and secrets first, so the first reconciles see them. */
  if ((rc = idp_informer_start(a->projects, e)) || (rc = idp_informer_start(a->secrets, e)))
    goto fail;
  idp_informer_wait_synced(a->projects, 30000);
  idp_informer_wait_synced(a->secrets, 30000);
  if ((rc = idp_informer_start(a->apps, e))) goto fail;
  idp_informer_wait_synced(a->apps, 30000);
  if ((rc = idp_controller_start(a->ctl, e))) goto fail;
  if (o->webhook_listen) {
    a->o.webhook_listen = o->webhook_listen;
    rc = app_webhook_start(a, e);
    a->o.webhook_listen = NULL;
    if (rc) goto fail;
  }
  idp_log(IDP_LOG_INFO, "gitops application controller started", "namespace", a->ns, NULL);
  *out = a;
  return IDP_OK;
fail:
  idp_app_stop(a);
  return rc;
}

void idp_app_stop(idp_app *a) {
  if (!a) return;
  a->stopping = true;
  app_webhook_stop(a);
  if (a->ctl) idp_controller_stop(a->ctl);
  idp_informer_free(a->apps);
  idp_informer_free(a->projects);
  idp_informer_free(a->secrets);
  for (size_t i = 0; i < a->ndyn; i++) idp_informer_free(a->dyns[i].inf);
  free(a->dyns);
  idp_controller_free(a->ctl);
  for (size_t i = 0; i < a->ncl; i++) idp_kclient_free(a->clusters[i].kc);
  free(a->clusters);
  idp_git_free(a->git);
  json_decref(a->rcache);
  json_decref(a->state);
  pthread_mutex_destroy(&a->mu);
  free(a->data_dir);
  free(a->label_key);
  free(a->gh_secret);
  free(a->gl_secret);
  free(a->app_namespaces);
  free(a);
}

/* ---- diff without a controller ------------------------------------------- */

idp_code idp_app_diff(idp_kclient *kc, const char *ns, const char *name, const char *data_dir,
                      json_t **out, idp_err *e) {
  *out = NULL;
  idp_app *a = calloc(1, sizeof *a);
  if (!a) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  a->kc = kc;
  snprintf(a->ns, sizeof a->ns, "%s", ns ? ns : "argocd");
  pthread_mutex_init(&a->mu, NULL);
  a->rcache = json_object();
  a->state = json_object();
  json_t *app = NULL, *proj = NULL, *sources = json_array(), *rendered = json_array();
  json_t *desired = NULL, *res = json_array();
  char gitdir[4200], srv[512], inst[600];
  snprintf(gitdir, sizeof gitdir, "%s/git", data_dir);
  idp_code rc = idp_git_new(gitdir, 0, &a->git, e);
  if (rc) goto out;
  idp_informer_opts so = {.resource = {"", "v1", "secrets", a->ns, NULL, NULL},
                          .label_selector = "argocd.argoproj.io/secret-type"};
  if ((rc = idp_informer_new(kc, &so, NULL, &a->secrets, e)) ||
      (rc = idp_informer_start(a->secrets, e)))
    goto out;
  idp_informer_wait_synced(a->secrets, 30000);
  tracking_config(a);
  idp_kref r = APPS;
  r.ns = a->ns;
  r.name = name;
  if ((rc = idp_kclient_get(kc, &r, &app, e))) goto out;
  const json_t *spec = json_object_get(app, "spec");
  const char *pname = idp_json_get_str(spec, "project", NULL);
  idp_kref pr = PROJECTS;
  pr.ns = a->ns;
  pr.name = pname && *pname ? pname : "default";
  if ((rc = idp_kclient_get(kc, &pr, &proj, e))) goto out;
  if (json_is_object(json_object_get(spec, "source")))
    json_array_append(sources, json_object_get(spec, "source"));
  json_array_extend(sources, json_object_get(spec, "sources"));
  app_dest d = {0};
  if ((rc = dest_for(a, json_object_get(spec, "destination"), &d, srv, sizeof srv, e))) goto out;
  d.in_cluster = false; /* read live objects directly */
  size_t i;
  json_t *src;
  json_array_foreach(sources, i, src) {
    const char *rev = idp_json_get_str(src, "targetRevision", NULL);
    char sha[41];
    const char *stype;
    json_t *objs = NULL;
    if ((rc = render_source(a, src, rev ? rev : "HEAD", true, true, sha, &stype, &objs, e)))
      goto out;
    json_array_extend(rendered, objs);
    json_decref(objs);
  }
  instance_name(a, a->ns, name, inst, sizeof inst);
  json_t *conds = json_array();
  rc = prepare(a, &d, proj, inst, rendered, &desired, conds, e);
  if (rc == IDP_EFORBIDDEN) {
    snprintf(e->msg, sizeof e->msg, "%s",
             json_string_value(json_object_get(json_array_get(conds, 0), "message")));
  }
  json_decref(conds);
  if (rc) goto out;
  json_t *ignores = json_object_get(spec, "ignoreDifferences");
  json_t *o;
  json_array_foreach(desired, i, o) {
    if (idp_app_hook_phases(o)) continue;
    const char *av = idp_json_get_str(o, "apiVersion", NULL);
    const char *kind = idp_json_get_str(o, "kind", NULL);
    const char *ons = idp_json_get_str(o, "metadata", "namespace", NULL);
    const char *oname = idp_json_get_str(o, "metadata", "name", NULL);
    idp_kgvr g;
    idp_err le = IDP_ERR_INIT;
    json_t *live = NULL;
    if (app_resolve(a, &d, av, kind, desired, &g, &le) == IDP_OK)
      app_live_get(a, &d, &g, ons, oname, &live, &le);
    char why[512] = "";
    bool eq = live && idp_app_compare(o, live, ignores, why, sizeof why);
    char grp[256];
    group_of(av, grp, sizeof grp);
    json_t *ent = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "group", grp, "kind", kind,
                            "namespace", ons ? ons : "", "name", oname, "status",
                            !live ? "Missing"
                            : eq  ? "Synced"
                                  : "OutOfSync",
                            "field", why);
    json_object_set_new(ent, "desired", idp_app_normalize(o));
    if (live) json_object_set_new(ent, "live", idp_app_normalize(live));
    json_array_append_new(res, ent);
    json_decref(live);
  }
  /* Extraneous: what the last reconcile saw as requiring pruning. */
  json_t *x;
  json_array_foreach(idp_json_get(app, "status", "resources", NULL), i, x) {
    if (!json_is_true(json_object_get(x, "requiresPruning"))) continue;
    json_t *ent =
        json_pack("{s:O?, s:O?, s:O?, s:O?, s:s, s:s}", "group", json_object_get(x, "group"),
                  "kind", json_object_get(x, "kind"), "namespace", json_object_get(x, "namespace"),
                  "name", json_object_get(x, "name"), "status", "Extraneous", "field", "");
    if (ent) json_array_append_new(res, ent);
  }
  *out = json_incref(res);
out:
  json_decref(res);
  json_decref(desired);
  json_decref(rendered);
  json_decref(sources);
  json_decref(proj);
  json_decref(app);
  idp_informer_free(a->secrets);
  for (size_t k = 0; k < a->ncl; k++) idp_kclient_free(a->clusters[k].kc);
  free(a->clusters);
  idp_git_free(a->git);
  json_decref(a->rcache);
  json_decref(a->state);
  pthread_mutex_destroy(&a->mu);
  free(a->label_key);
  free(a);
  return rc;
}
