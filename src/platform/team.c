#include "core/common.h"

#include "core/json.h"
#include "platform/internal.h"
#include "platform/platform.h"

/* Team -> desired objects (pure).  See platform.h for the contract. */

/* Verbs tables: roles are data. */
static const char *const rw_verbs[] = {"get", "list", "watch", "create", "update", "patch",
                                       "delete", NULL};
static const char *const ro_verbs[] = {"get", "list", "watch", NULL};

typedef struct rule_row {
  const char *group;
  const char *resources; /* comma separated */
  bool write;            /* developer may write */
  bool viewer;           /* viewer may read */
} rule_row;

/* developer: edit-like on workloads; secrets/quota/limits/netpol read-only */
static const rule_row role_rules[] = {
    {"", "pods,services,configmaps,persistentvolumeclaims,serviceaccounts", true, true},
    {"", "pods/log,pods/portforward,pods/exec", false, false},
    {"", "secrets", false, false},
    {"", "events,resourcequotas,limitranges,endpoints", false, true},
    {"apps", "deployments,replicasets,statefulsets,daemonsets", true, true},
    {"batch", "jobs,cronjobs", true, true},
    {"autoscaling", "horizontalpodautoscalers", true, true},
    {"policy", "poddisruptionbudgets", true, true},
    {"networking.k8s.io", "ingresses", true, true},
    {"networking.k8s.io", "networkpolicies", false, true},
    {"gateway.networking.k8s.io", "httproutes", true, true},
    {"external-secrets.io", "externalsecrets", true, true},
    {"platform.idp.io", "webapplications", true, true},
    {"monitoring.coreos.com", "servicemonitors", true, true},
};

static json_t *str_array(const char *const *v) {
  json_t *a = json_array();
  for (; *v; v++) json_array_append_new(a, json_string(*v));
  return a;
}

static json_t *csv_array(const char *csv) {
  json_t *a = json_array();
  const char *p = csv;
  while (*p) {
    const char *c = strchr(p, ',');
    size_t n = c ? (size_t)(c - p) : strlen(p);
    json_array_append_new(a, json_stringn(p, n));
    p += n + (c ? 1 : 0);
  }
  return a;
}

static json_t *role_rules_for(bool developer) {
  json_t *rules = json_array();
  for (size_t i = 0; i < IDP_ARRAY_LEN(role_rules); i++) {
    const rule_row *r = &role_rules[i];
    const char *const *verbs;
    if (developer) {
      /* pods/log etc. are reads (get) except exec/portforward (create) */
      if (!strcmp(r->resources, "pods/log,pods/portforward,pods/exec")) {
        json_array_append_new(rules, json_pack("{s:[s],s:[s],s:[s]}", "apiGroups", "",
                                               "resources", "pods/log", "verbs", "get"));
        json_array_append_new(rules, json_pack("{s:[s],s:[s,s],s:[s]}", "apiGroups", "",
                                               "resources", "pods/portforward", "pods/exec",
                                               "verbs", "create"));
        continue;
      }
      verbs = r->write ? rw_verbs : ro_verbs;
    } else {
      if (!r->viewer) {
        if (!strcmp(r->resources, "pods/log,pods/portforward,pods/exec"))
          json_array_append_new(rules, json_pack("{s:[s],s:[s],s:[s]}", "apiGroups", "",
                                                 "resources", "pods/log", "verbs", "get"));
        continue;
      }
      verbs = ro_verbs;
    }
    json_array_append_new(rules, json_pack("{s:[s],s:o,s:o}", "apiGroups", r->group,
                                           "resources", csv_array(r->resources), "verbs",
                                           str_array(verbs)));
  }
  return rules;
}

/* metadata {name, namespace?, labels, annotations?, ownerReferences?} */
json_t *pl_meta(const char *name, const char *ns, json_t *labels, json_t *owner) {
  json_t *m = json_pack("{s:s}", "name", name);
  if (ns) json_object_set_new(m, "namespace", json_string(ns));
  if (labels) json_object_set_new(m, "labels", labels);
  if (owner) json_object_set_new(m, "ownerReferences", json_pack("[o]", json_deep_copy(owner)));
  return m;
}

json_t *pl_owner_ref(const json_t *owner) {
  const char *uid = idp_json_get_str(owner, "metadata", "uid", NULL);
  const char *api = idp_json_get_str(owner, "apiVersion", NULL);
  const char *kind = idp_json_get_str(owner, "kind", NULL);
  if (!uid || !kind) return NULL;
  return json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "apiVersion", api ? api : PL_GROUP "/" PL_VERSION,
                   "kind", kind, "name", idp_json_get_str(owner, "metadata", "name", NULL), "uid",
                   uid, "controller", 1, "blockOwnerDeletion", 1);
}

static json_t *obj(const char *api, const char *kind, json_t *meta) {
  return json_pack("{s:s,s:s,s:o}", "apiVersion", api, "kind", kind, "metadata", meta);
}

/* Quantities are strings in the API; integers from YAML become "40". */
static json_t *quantity(const json_t *v) {
  if (json_is_integer(v)) {
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)json_integer_value(v));
    return json_string(b);
  }
  if (json_is_real(v)) {
    char b[64];
    snprintf(b, sizeof b, "%g", json_real_value(v));
    return json_string(b);
  }
  return json_deep_copy(v);
}

static json_t *quantity_map(const json_t *m) {
  json_t *out = json_object();
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)m, k, v) json_object_set_new(out, k, quantity(v));
  return out;
}

static json_t *team_labels(const char *team) {
  return json_pack("{s:s,s:s}", PL_TEAM_LABEL, team, "app.kubernetes.io/managed-by",
                   PL_MANAGER);
}

static json_t *ns_sel(const char *ns) {
  return json_pack("{s:{s:{s:s}}}", "namespaceSelector", "matchLabels",
                   "kubernetes.io/metadata.name", ns);
}

static void add_netpols(json_t *out, const json_t *spec, const char *team, const char *ns,
                        json_t *owner, const char *gw_ns) {
  json_t *np = json_object_get(spec, "networkPolicy");
  json_t *deny = obj("networking.k8s.io/v1", "NetworkPolicy",
                     pl_meta("default-deny-all", ns, team_labels(team), owner));
  json_object_set_new(deny, "spec", json_pack("{s:{},s:[s,s]}", "podSelector", "policyTypes",
                                              "Ingress", "Egress"));
  json_array_append_new(out, deny);

  json_t *dns = obj("networking.k8s.io/v1", "NetworkPolicy",
                    pl_meta("allow-dns", ns, team_labels(team), owner));
  json_object_set_new(
      dns, "spec",
      json_pack("{s:{},s:[s],s:[{s:[{s:{s:{s:s}},s:{s:{s:s}}}],s:[{s:s,s:i},{s:s,s:i}]}]}",
                "podSelector", "policyTypes", "Egress", "egress", "to", "namespaceSelector",
                "matchLabels", "kubernetes.io/metadata.name", "kube-system", "podSelector",
                "matchLabels", "k8s-app", "kube-dns", "ports", "protocol", "UDP", "port", 53,
                "protocol", "TCP", "port", 53));
  json_array_append_new(out, dns);

  json_t *same = obj("networking.k8s.io/v1", "NetworkPolicy",
                     pl_meta("allow-same-namespace", ns, team_labels(team), owner));
  json_object_set_new(same, "spec",
                      json_pack("{s:{},s:[s,s],s:[{s:[{s:{}}]}],s:[{s:[{s:{}}]}]}",
                                "podSelector", "policyTypes", "Ingress", "Egress", "ingress",
                                "from", "podSelector", "egress", "to", "podSelector"));
  json_array_append_new(out, same);

  /* CRD defaults: allowIngress false, allowEgress true */
  json_t *ai = json_object_get(np, "allowIngress"), *ae = json_object_get(np, "allowEgress");
  bool allow_in = json_is_true(ai), allow_eg = ae ? json_is_true(ae) : true;
  json_t *from = json_array();
  json_t *v;
  size_t i;
  json_array_foreach(json_object_get(np, "allowFromNamespaces"), i, v) {
    if (json_is_string(v)) json_array_append_new(from, ns_sel(json_string_value(v)));
  }
  if (allow_in) json_array_append_new(from, ns_sel(gw_ns));
  json_t *sp = json_pack("{s:{},s:[s]}", "podSelector", "policyTypes", "Ingress");
  json_object_set_new(sp, "ingress",
                      json_array_size(from) ? json_pack("[{s:o}]", "from", from)
                                            : (json_decref(from), json_array()));
  if (allow_eg) {
    json_array_append_new(json_object_get(sp, "policyTypes"), json_string("Egress"));
    json_object_set_new(sp, "egress", json_pack("[{}]"));
  }
  json_t *afn = obj("networking.k8s.io/v1", "NetworkPolicy",
                    pl_meta("allow-from-namespaces", ns, team_labels(team), owner));
  json_object_set_new(afn, "spec", sp);
  json_array_append_new(out, afn);
}

/* subjects of `role` from members (User) and groups (Group) */
static json_t *subjects(const json_t *spec, const char *role) {
  json_t *s = json_array();
  static const struct {
    const char *field, *kind;
  } src[] = {{"members", "User"}, {"groups", "Group"}};
  for (size_t k = 0; k < IDP_ARRAY_LEN(src); k++) {
    json_t *m;
    size_t i;
    json_array_foreach(json_object_get(spec, src[k].field), i, m) {
      const char *n = idp_json_get_str(m, "name", NULL), *r = idp_json_get_str(m, "role", NULL);
      if (n && r && !strcmp(r, role))
        json_array_append_new(s, json_pack("{s:s,s:s,s:s}", "kind", src[k].kind, "apiGroup",
                                           "rbac.authorization.k8s.io", "name", n));
    }
  }
  return s;
}

static json_t *group_names(const json_t *spec, const char *role) {
  json_t *s = json_array(), *m;
  size_t i;
  json_array_foreach(json_object_get(spec, "groups"), i, m) {
    const char *n = idp_json_get_str(m, "name", NULL), *r = idp_json_get_str(m, "role", NULL);
    if (n && r && !strcmp(r, role)) json_array_append_new(s, json_string(n));
  }
  return s;
}

static void add_argocd(json_t *out, const json_t *spec, const char *team, const char *ns,
                       json_t *owner, const char *argo_ns) {
  char proj[300], pol[600];
  snprintf(proj, sizeof proj, "team-%s", team);
  json_t *repos = json_array(), *a;
  size_t i;
  json_array_foreach(json_object_get(spec, "apps"), i, a) {
    const char *u = idp_json_get_str(a, "repoURL", NULL);
    if (!u) continue;
    bool dup = false;
    json_t *r;
    size_t j;
    json_array_foreach(repos, j, r) dup = dup || !strcmp(json_string_value(r), u);
    if (!dup) json_array_append_new(repos, json_string(u));
  }
  /* Argo CD RBAC policy lines: p, proj:<proj>:<role>, <resource>, <action>, <proj>/<app>, allow */
  static const struct {
    const char *role, *actions;
  } roles[] = {{"developer", "get,sync,action/*,logs,exec"}, {"viewer", "get,logs"}};
  json_t *jroles = json_array();
  for (size_t r = 0; r < IDP_ARRAY_LEN(roles); r++) {
    json_t *pols = json_array(), *acts = csv_array(roles[r].actions), *act;
    size_t k;
    json_array_foreach(acts, k, act) {
      const char *res = !strcmp(json_string_value(act), "logs")   ? "logs"
                        : !strcmp(json_string_value(act), "exec") ? "exec"
                                                                  : "applications";
      const char *verb = (!strcmp(res, "applications")) ? json_string_value(act)
                         : !strcmp(res, "logs")         ? "get"
                                                        : "create";
      snprintf(pol, sizeof pol, "p, proj:%s:%s, %s, %s, %s/*, allow", proj, roles[r].role, res,
               verb, proj);
      json_array_append_new(pols, json_string(pol));
    }
    json_decref(acts);
    json_t *jr = json_pack("{s:s,s:s,s:o}", "name", roles[r].role, "description",
                           !strcmp(roles[r].role, "developer") ? "Deploy and operate the team's applications"
                                                               : "Read-only access to the team's applications",
                           "policies", pols);
    json_t *g = group_names(spec, roles[r].role);
    if (json_array_size(g)) json_object_set_new(jr, "groups", g);
    else json_decref(g);
    json_array_append_new(jroles, jr);
  }
  json_t *ap = obj("argoproj.io/v1alpha1", "AppProject",
                   pl_meta(proj, argo_ns, json_pack("{s:s,s:s}", PL_TEAM_LABEL, team,
                                                    "app.kubernetes.io/managed-by", PL_MANAGER),
                           owner));
  const char *desc = idp_json_get_str(spec, "description", NULL);
  json_object_set_new(
      ap, "spec",
      json_pack("{s:s,s:o,s:[{s:s,s:s}],s:[],s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}],s:o}",
                "description", desc ? desc : team, "sourceRepos", repos, "destinations",
                "server", "https://kubernetes.default.svc", "namespace", ns,
                "clusterResourceWhitelist", "namespaceResourceBlacklist", "group", "", "kind",
                "ResourceQuota", "group", "", "kind", "LimitRange", "group", "networking.k8s.io",
                "kind", "NetworkPolicy", "roles", jroles));
  json_array_append_new(out, ap);

  json_array_foreach(json_object_get(spec, "apps"), i, a) {
    const char *an = idp_json_get_str(a, "name", NULL), *url = idp_json_get_str(a, "repoURL", NULL);
    if (!an || !url) continue;
    const char *path = idp_json_get_str(a, "path", NULL);
    const char *rev = idp_json_get_str(a, "targetRevision", NULL);
    const char *env = idp_json_get_str(a, "environment", NULL);
    char name[300];
    snprintf(name, sizeof name, "%s-%s", team, an);
    json_t *labels = json_pack("{s:s,s:s,s:s,s:s}", PL_TEAM_LABEL, team, "team", team,
                               "environment", env ? env : "development",
                               "app.kubernetes.io/managed-by", PL_MANAGER);
    json_t *app = obj("argoproj.io/v1alpha1", "Application", pl_meta(name, argo_ns, labels, owner));
    json_t *ann = json_object();
    const char *oe = idp_json_get_str(spec, "owner", "email", NULL);
    const char *os = idp_json_get_str(spec, "owner", "slack", NULL);
    if (oe) json_object_set_new(ann, "team.owner", json_string(oe));
    if (os) json_object_set_new(ann, "team.slack", json_string(os));
    json_object_set_new(json_object_get(app, "metadata"), "annotations", ann);
    json_object_set_new(
        app, "spec",
        json_pack("{s:s,s:{s:s,s:s,s:s},s:{s:s,s:s},s:{s:{s:b,s:b},s:[s,s],s:{s:i,s:{s:s,s:i,s:s}}}}",
                  "project", proj, "source", "repoURL", url, "path", path ? path : ".",
                  "targetRevision", rev ? rev : "HEAD", "destination", "server",
                  "https://kubernetes.default.svc", "namespace", ns, "syncPolicy", "automated",
                  "prune", 1, "selfHeal", 1, "syncOptions", "PruneLast=true",
                  "CreateNamespace=false", "retry", "limit", 5, "backoff", "duration", "5s",
                  "factor", 2, "maxDuration", "3m"));
    json_array_append_new(out, app);
  }
}

idp_code idp_team_objects(const json_t *team, const idp_platform_opts *o, bool argocd,
                          json_t **out, idp_err *e) {
  *out = NULL;
  const char *t = idp_json_get_str(team, "metadata", "name", NULL);
  if (!t || !*t) return idp_err_set(e, IDP_EINVALID, "Team: metadata.name is required");
  if (strlen(t) > 63 - 5)
    return idp_err_set(e, IDP_EINVALID, "Team %s: metadata.name: at most 58 characters (namespace team-<name>)", t);
  const json_t *spec = json_object_get(team, "spec");
  if (!json_is_object(spec)) return idp_err_set(e, IDP_EINVALID, "Team %s: spec: must be an object", t);
  const char *gw_ns = o && o->gateway_namespace ? o->gateway_namespace : "kube-system";
  const char *argo_ns = o && o->argocd_namespace ? o->argocd_namespace : "argocd";
  char ns[80], name[128];
  snprintf(ns, sizeof ns, "team-%s", t);
  json_t *owner = pl_owner_ref(team);
  json_t *res = json_array();

  /* Namespace */
  json_t *labels = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", PL_TEAM_LABEL, t,
                             "platform.idp.io/managed-by", "team-controller",
                             "app.kubernetes.io/managed-by", PL_MANAGER,
                             "pod-security.kubernetes.io/enforce", "restricted",
                             "pod-security.kubernetes.io/warn", "restricted",
                             "pod-security.kubernetes.io/audit", "restricted");
  json_t *nso = obj("v1", "Namespace", pl_meta(ns, NULL, labels, owner));
  json_t *ann = json_object();
  static const struct {
    const char *field, *ann;
  } owner_ann[] = {{"name", "platform.idp.io/owner-name"},
                   {"email", "platform.idp.io/owner-email"},
                   {"slack", "platform.idp.io/owner-slack"}};
  for (size_t i = 0; i < IDP_ARRAY_LEN(owner_ann); i++) {
    const char *v = idp_json_get_str(spec, "owner", owner_ann[i].field, NULL);
    if (v) json_object_set_new(ann, owner_ann[i].ann, json_string(v));
  }
  const char *desc = idp_json_get_str(spec, "description", NULL);
  if (desc) json_object_set_new(ann, "platform.idp.io/description", json_string(desc));
  json_t *nsel = json_object_get(spec, "nodeSelector");
  if (json_is_object(nsel) && json_object_size(nsel)) {
    idp_buf b;
    idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
    const char *k;
    json_t *v;
    json_object_foreach(nsel, k, v) {
      if (!json_is_string(v)) continue;
      idp_buf_printf(&b, "%s%s=%s", b.len ? "," : "", k, json_string_value(v));
    }
    json_object_set_new(ann, "scheduler.alpha.kubernetes.io/node-selector",
                        json_string(idp_buf_str(&b)));
    idp_buf_free(&b);
  }
  json_t *tol = json_object_get(spec, "tolerations");
  if (json_is_array(tol) && json_array_size(tol)) {
    char *s = json_dumps(tol, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_object_set_new(ann, "scheduler.alpha.kubernetes.io/defaultTolerations", json_string(s ? s : "[]"));
    free(s);
  }
  json_object_set_new(json_object_get(nso, "metadata"), "annotations", ann);
  json_array_append_new(res, nso);

  /* ResourceQuota */
  json_t *rq = json_object_get(spec, "resourceQuota");
  if (json_is_object(rq) && json_object_size(rq)) {
    json_t *hard = json_object();
    static const char *const groups[] = {"requests", "limits"};
    for (size_t g = 0; g < 2; g++) {
      const char *k;
      json_t *v;
      json_object_foreach(json_object_get(rq, groups[g]), k, v) {
        snprintf(name, sizeof name, "%s.%s", groups[g], k);
        json_object_set_new(hard, name, quantity(v));
      }
    }
    static const char *const counts[] = {"pods", "services", "configmaps", "secrets",
                                         "persistentvolumeclaims"};
    for (size_t c = 0; c < IDP_ARRAY_LEN(counts); c++) {
      json_t *v = json_object_get(rq, counts[c]);
      if (v && !json_is_null(v)) json_object_set_new(hard, counts[c], quantity(v));
    }
    snprintf(name, sizeof name, "%s-quota", t);
    json_t *q = obj("v1", "ResourceQuota", pl_meta(name, ns, team_labels(t), owner));
    json_object_set_new(q, "spec", json_pack("{s:o}", "hard", hard));
    json_array_append_new(res, q);
  }

  /* LimitRange */
  json_t *lr = json_object_get(spec, "limitRange");
  if (json_is_object(lr) && json_object_size(lr)) {
    json_t *item = json_pack("{s:s}", "type", "Container");
    static const char *const parts[] = {"default", "defaultRequest", "max"};
    for (size_t i = 0; i < IDP_ARRAY_LEN(parts); i++) {
      json_t *v = json_object_get(lr, parts[i]);
      if (json_is_object(v)) json_object_set_new(item, parts[i], quantity_map(v));
    }
    snprintf(name, sizeof name, "%s-limits", t);
    json_t *l = obj("v1", "LimitRange", pl_meta(name, ns, team_labels(t), owner));
    json_object_set_new(l, "spec", json_pack("{s:[o]}", "limits", item));
    json_array_append_new(res, l);
  }

  add_netpols(res, spec, t, ns, owner, gw_ns);

  snprintf(name, sizeof name, "%s-workload", t);
  json_t *sa = obj("v1", "ServiceAccount", pl_meta(name, ns, team_labels(t), owner));
  json_object_set_new(sa, "automountServiceAccountToken", json_false());
  json_array_append_new(res, sa);

  static const char *const roles[] = {"developer", "viewer"};
  for (size_t r = 0; r < 2; r++) {
    json_t *role = obj("rbac.authorization.k8s.io/v1", "Role",
                       pl_meta(roles[r], ns, team_labels(t), owner));
    json_object_set_new(role, "rules", role_rules_for(r == 0));
    json_array_append_new(res, role);
  }
  for (size_t r = 0; r < 2; r++) {
    json_t *subj = subjects(spec, roles[r]);
    if (!json_array_size(subj)) {
      json_decref(subj);
      continue;
    }
    json_t *rb = obj("rbac.authorization.k8s.io/v1", "RoleBinding",
                     pl_meta(roles[r], ns, team_labels(t), owner));
    json_object_set_new(rb, "subjects", subj);
    json_object_set_new(rb, "roleRef", json_pack("{s:s,s:s,s:s}", "apiGroup",
                                                 "rbac.authorization.k8s.io", "kind", "Role",
                                                 "name", roles[r]));
    json_array_append_new(res, rb);
  }

  if (argocd) add_argocd(res, spec, t, ns, owner, argo_ns);
  json_decref(owner);
  *out = res;
  return IDP_OK;
}

bool idp_platform_subset(const json_t *want, const json_t *have) {
  if (json_is_object(want)) {
    if (!json_is_object(have)) return false;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v) {
      if (!idp_platform_subset(v, json_object_get(have, k))) return false;
    }
    return true;
  }
  if (json_is_array(want)) {
    if (!json_is_array(have) || json_array_size(want) != json_array_size(have)) return false;
    for (size_t i = 0; i < json_array_size(want); i++)
      if (!idp_platform_subset(json_array_get(want, i), json_array_get(have, i))) return false;
    return true;
  }
  if (!have) return false;
  /* integer vs real of the same value (e.g. 53 vs 53.0) count as equal */
  if (json_is_number(want) && json_is_number(have))
    return json_number_value(want) == json_number_value(have);
  return json_equal((json_t *)want, (json_t *)have);
}
