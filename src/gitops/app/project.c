#include "core/common.h"

#include "core/json.h"
#include "gitops/app/git.h"
#include "gitops/app/project.h"

static const char *pname(const json_t *proj) {
  const char *n = idp_json_get_str(proj, "metadata", "name", NULL);
  return n ? n : "?";
}

/* allow/deny glob list over one value; match(entry, value). */
static bool globs_permit(const json_t *list, bool (*match)(const json_t *, const void *, bool),
                         const void *v) {
  bool allowed = false;
  size_t i;
  json_t *x;
  json_array_foreach(list, i, x) {
    bool deny = false;
    if (match(x, v, false)) allowed = true;
    if (match(x, v, true)) deny = true;
    if (deny) return false;
  }
  return allowed;
}

static bool glob1(const char *pat, const char *val, bool deny) {
  if (!pat) return false;
  bool is_deny = pat[0] == '!';
  if (is_deny != deny) return false;
  return idp_wildcard_match(is_deny ? pat + 1 : pat, val ? val : "");
}

static bool repo_match(const json_t *x, const void *v, bool deny) {
  const char *pat = json_string_value(x);
  if (!pat) return false;
  char np[1024], nv[1024];
  const char *raw = deny && pat[0] == '!' ? pat + 1 : pat;
  if (deny && pat[0] != '!') return false;
  if (!deny && pat[0] == '!') return false;
  if (strcmp(raw, "*") == 0) return true;
  idp_git_url_normalize(raw, np, sizeof np);
  idp_git_url_normalize(v, nv, sizeof nv);
  return idp_wildcard_match(np, nv);
}

idp_code idp_app_project_check_source(const json_t *proj, const char *repo_url, idp_err *e) {
  if (globs_permit(json_object_get(json_object_get(proj, "spec"), "sourceRepos"), repo_match,
                   repo_url))
    return IDP_OK;
  return idp_err_set(e, IDP_EFORBIDDEN, "application repo %s is not permitted in project '%s'",
                     repo_url, pname(proj));
}

typedef struct dest {
  const char *server, *name, *ns;
} dest;

static bool dest_match(const json_t *x, const void *v, bool deny) {
  const dest *d = v;
  const char *s = json_string_value(json_object_get(x, "server"));
  const char *n = json_string_value(json_object_get(x, "name"));
  const char *ns = json_string_value(json_object_get(x, "namespace"));
  bool srv_ok;
  if (deny) {
    /* a deny entry: any of its negated globs matching denies */
    bool any = false;
    if (s && s[0] == '!' && d->server && glob1(s, d->server, true)) any = true;
    if (n && n[0] == '!' && d->name && glob1(n, d->name, true)) any = true;
    if (ns && ns[0] == '!' && glob1(ns, d->ns, true)) any = true;
    return any;
  }
  if ((s && s[0] == '!') || (n && n[0] == '!') || (ns && ns[0] == '!')) return false;
  srv_ok =
      (s && d->server && glob1(s, d->server, false)) || (n && d->name && glob1(n, d->name, false));
  return srv_ok && glob1(ns ? ns : "", d->ns, false);
}

idp_code idp_app_project_check_dest(const json_t *proj, const char *server, const char *name,
                                    const char *ns, idp_err *e) {
  dest d = {server, name, ns ? ns : ""};
  if (globs_permit(json_object_get(json_object_get(proj, "spec"), "destinations"), dest_match, &d))
    return IDP_OK;
  return idp_err_set(e, IDP_EFORBIDDEN,
                     "application destination server '%s' and namespace '%s' do not match any "
                     "of the allowed destinations in project '%s'",
                     server ? server : (name ? name : ""), d.ns, pname(proj));
}

static bool gk_in(const json_t *list, const char *group, const char *kind, const char *name) {
  size_t i;
  json_t *x;
  json_array_foreach(list, i, x) {
    const char *g = json_string_value(json_object_get(x, "group"));
    const char *k = json_string_value(json_object_get(x, "kind"));
    const char *n = json_string_value(json_object_get(x, "name"));
    if (idp_wildcard_match(g ? g : "", group ? group : "") && k && idp_wildcard_match(k, kind) &&
        (!n || !*n || idp_wildcard_match(n, name ? name : "")))
      return true;
  }
  return false;
}

idp_code idp_app_project_check_resource(const json_t *proj, const char *group, const char *kind,
                                        const char *name, bool namespaced, idp_err *e) {
  const json_t *spec = json_object_get(proj, "spec");
  const char *g = group && *group ? group : "";
  bool ok;
  if (!namespaced) {
    ok = gk_in(json_object_get(spec, "clusterResourceWhitelist"), g, kind, name) &&
         !gk_in(json_object_get(spec, "clusterResourceBlacklist"), g, kind, name);
  } else {
    json_t *wl = json_object_get(spec, "namespaceResourceWhitelist");
    ok = (!json_is_array(wl) || gk_in(wl, g, kind, name)) &&
         !gk_in(json_object_get(spec, "namespaceResourceBlacklist"), g, kind, name);
  }
  if (ok) return IDP_OK;
  return idp_err_set(e, IDP_EFORBIDDEN, "resource %s:%s is not permitted in project %s",
                     *g ? g : "", kind, pname(proj));
}

json_t *idp_app_project_default(const char *ns) {
  return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:[s], s:[{s:s, s:s, s:s}], s:[{s:s, s:s}]}}",
                   "apiVersion", "argoproj.io/v1alpha1", "kind", "AppProject", "metadata", "name",
                   "default", "namespace", ns, "spec", "sourceRepos", "*", "destinations", "server",
                   "*", "namespace", "*", "name", "*", "clusterResourceWhitelist", "group", "*",
                   "kind", "*");
}
