/* match.c: rule match / exclude (pkg/engine/utils/match.go semantics).
 *
 * A resource filter lists criteria (kinds, names, namespaces, annotations,
 * selector, namespaceSelector, operations, subjects, roles, clusterRoles);
 * all present criteria must hold.  `match.any` needs one filter, `match.all`
 * every filter, and the legacy form is one filter written directly under
 * match.  `exclude.any` excludes when one filter holds, `exclude.all` only
 * when all do.  A namespaced Policy only sees resources of its namespace. */
#include "core/common.h"

#include "core/json.h"
#include "policy/internal.h"

/* version-looking path segment: v\d((alpha|beta)\d)? anywhere, like Kyverno */
static bool looks_version(const char *s, size_t n) {
  if (n == 1 && s[0] == '*') return true;
  for (size_t i = 0; i + 1 < n; i++)
    if (s[i] == 'v' && s[i + 1] >= '0' && s[i + 1] <= '9') return true;
  return false;
}

bool pol_kind_matches(const char *entry, const char *api_version, const char *kind,
                      const char *subresource) {
  if (strcmp(entry, "*") == 0) return true;
  char buf[512];
  snprintf(buf, sizeof buf, "%s", entry);
  char *parts[4];
  size_t np = 0;
  for (char *p = buf; np < 4;) {
    parts[np++] = p;
    char *sl = strchr(p, '/');
    if (!sl) break;
    *sl = 0;
    p = sl + 1;
  }
  const char *group = "*", *version = "*", *k = NULL, *sub = "";
  if (np == 1) {
    k = parts[0];
  } else if (np == 2) {
    if (looks_version(parts[0], strlen(parts[0]))) {
      version = parts[0];
      k = parts[1];
    } else {
      k = parts[0];
      sub = parts[1];
    }
  } else if (np == 3) {
    if (looks_version(parts[0], strlen(parts[0]))) {
      version = parts[0];
      k = parts[1];
      sub = parts[2];
    } else {
      group = parts[0];
      version = parts[1];
      k = parts[2];
    }
  } else {
    group = parts[0];
    version = parts[1];
    k = parts[2];
    sub = parts[3];
  }
  char kb[256];
  snprintf(kb, sizeof kb, "%s", k);
  char *dot = strchr(kb, '.');
  if (dot && !*sub) { /* Pod.status */
    *dot = 0;
    sub = k + (dot - kb) + 1;
  }
  if (np >= 2 && strcmp(version, "*") != 0 && strcmp(group, "*") == 0) group = "";
  if (np == 2 && strcmp(parts[0], "*") == 0) group = "*";
  /* resource GVK */
  char rg[256] = "", rv[128] = "";
  const char *av = api_version ? api_version : "";
  const char *sl = strchr(av, '/');
  if (sl) {
    snprintf(rg, sizeof rg, "%.*s", (int)(sl - av), av);
    snprintf(rv, sizeof rv, "%s", sl + 1);
  } else {
    snprintf(rv, sizeof rv, "%s", av);
  }
  if (!pol_wild(group, rg) && !(strcmp(group, "*") == 0)) return false;
  if (!pol_wild(version, rv)) return false;
  if (!pol_wild(kb, kind ? kind : "")) return false;
  const char *rs = subresource ? subresource : "";
  if (*sub || *rs) return pol_wild(sub, rs);
  return true;
}

bool pol_selector_matches(const json_t *sel, const json_t *labels) {
  if (!json_is_object(sel)) return false;
  const json_t *ml = json_object_get(sel, "matchLabels");
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)ml, k, v) {
    bool found = false;
    const char *lk;
    json_t *lv;
    json_object_foreach((json_t *)labels, lk, lv) {
      if ((strcmp(k, lk) == 0 || pol_wild(k, lk)) && json_is_string(lv) && json_is_string(v) &&
          (strcmp(json_string_value(v), json_string_value(lv)) == 0 ||
           pol_wild(json_string_value(v), json_string_value(lv)))) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  const json_t *me = json_object_get(sel, "matchExpressions");
  for (size_t i = 0; i < json_array_size(me); i++) {
    const json_t *x = json_array_get(me, i);
    const char *key = idp_json_get_str(x, "key", NULL);
    const char *op = idp_json_get_str(x, "operator", NULL);
    const json_t *vals = json_object_get(x, "values");
    if (!key || !op) return false;
    const json_t *lv = json_object_get(labels, key);
    bool in = false;
    for (size_t j = 0; lv && j < json_array_size(vals); j++)
      if (json_is_string(json_array_get(vals, j)) && json_is_string(lv) &&
          strcmp(json_string_value(json_array_get(vals, j)), json_string_value(lv)) == 0)
        in = true;
    if (strcmp(op, "In") == 0) {
      if (!in) return false;
    } else if (strcmp(op, "NotIn") == 0) {
      if (in) return false;
    } else if (strcmp(op, "Exists") == 0) {
      if (!lv) return false;
    } else if (strcmp(op, "DoesNotExist") == 0) {
      if (lv) return false;
    } else {
      return false;
    }
  }
  return true;
}

static bool list_has_wild(const json_t *list, const char *s) {
  for (size_t i = 0; i < json_array_size(list); i++) {
    const char *p = json_string_value(json_array_get(list, i));
    if (p && s && pol_wild(p, s)) return true;
  }
  return false;
}

static bool subjects_match(const json_t *subjects, const json_t *ui) {
  const char *user = idp_json_get_str(ui, "username", NULL);
  const json_t *groups = json_object_get(ui, "groups");
  for (size_t i = 0; i < json_array_size(subjects); i++) {
    const json_t *s = json_array_get(subjects, i);
    const char *kind = idp_json_get_str(s, "kind", NULL);
    const char *name = idp_json_get_str(s, "name", NULL);
    if (!kind || !name) continue;
    if (strcmp(kind, "ServiceAccount") == 0) {
      char sa[512];
      snprintf(sa, sizeof sa, "system:serviceaccount:%s:%s",
               idp_json_get_str(s, "namespace", NULL) ? idp_json_get_str(s, "namespace", NULL) : "",
               name);
      if (user && pol_wild(sa, user)) return true;
    } else if (strcmp(kind, "User") == 0) {
      if (user && pol_wild(name, user)) return true;
    } else if (strcmp(kind, "Group") == 0) {
      if (list_has_wild(groups, name)) return true;
      for (size_t j = 0; j < json_array_size(groups); j++)
        if (pol_wild(name, json_string_value(json_array_get(groups, j)))) return true;
    }
  }
  return false;
}

static bool any_in(const json_t *want, const json_t *have) {
  for (size_t i = 0; i < json_array_size(want); i++)
    for (size_t j = 0; j < json_array_size(have); j++)
      if (json_equal(json_array_get(want, i), json_array_get(have, j))) return true;
  return false;
}

/* One resource filter: true when every present criterion holds. */
static bool filter_matches(const json_t *f, const json_t *res, const pol_admission *adm,
                           const char *subresource) {
  const json_t *rd = json_object_get(f, "resources");
  const char *kind = adm->kind ? adm->kind : idp_json_get_str(res, "kind", NULL);
  const char *apiv = adm->kind ? adm->api_version : idp_json_get_str(res, "apiVersion", NULL);
  const json_t *meta = json_object_get(res, "metadata");
  const char *name = idp_json_get_str(meta, "name", NULL);
  if (!name || !*name) name = idp_json_get_str(meta, "generateName", NULL);
  const char *ns = idp_json_get_str(meta, "namespace", NULL);
  bool any = false;
  if (json_is_object(rd)) {
    const json_t *kinds = json_object_get(rd, "kinds");
    if (json_array_size(kinds) > 0) {
      any = true;
      bool ok = false;
      for (size_t i = 0; i < json_array_size(kinds) && !ok; i++) {
        const char *k = json_string_value(json_array_get(kinds, i));
        if (k && pol_kind_matches(k, apiv, kind, subresource)) ok = true;
      }
      if (!ok) return false;
    }
    const json_t *names = json_object_get(rd, "names");
    const char *single = idp_json_get_str(rd, "name", NULL);
    if (single) {
      any = true;
      if (!name || !pol_wild(single, name)) return false;
    }
    if (json_array_size(names) > 0) {
      any = true;
      if (!list_has_wild(names, name ? name : "")) return false;
    }
    const json_t *nss = json_object_get(rd, "namespaces");
    if (json_array_size(nss) > 0) {
      any = true;
      const char *rns = (kind && strcmp(kind, "Namespace") == 0) ? name : ns;
      if (!list_has_wild(nss, rns ? rns : "")) return false;
    }
    const json_t *ann = json_object_get(rd, "annotations");
    if (json_object_size(ann) > 0) {
      any = true;
      const json_t *ra = json_object_get(meta, "annotations");
      const char *k;
      json_t *v;
      json_object_foreach((json_t *)ann, k, v) {
        bool found = false;
        const char *rk;
        json_t *rv;
        json_object_foreach((json_t *)ra, rk, rv) {
          if (pol_wild(k, rk) && json_is_string(v) && json_is_string(rv) &&
              pol_wild(json_string_value(v), json_string_value(rv)))
            found = true;
        }
        if (!found) return false;
      }
    }
    const json_t *sel = json_object_get(rd, "selector");
    if (json_is_object(sel)) {
      any = true;
      if (!pol_selector_matches(sel, json_object_get(meta, "labels"))) return false;
    }
    const json_t *nsel = json_object_get(rd, "namespaceSelector");
    if (json_is_object(nsel)) {
      any = true;
      if (kind && strcmp(kind, "Namespace") == 0) return false;
      const json_t *labels = ns && adm->namespace_labels
                                 ? json_object_get(adm->namespace_labels, ns)
                                 : NULL;
      json_t *empty = json_object();
      bool ok = pol_selector_matches(nsel, labels ? labels : empty);
      json_decref(empty);
      if (!ok) return false;
    }
    const json_t *ops = json_object_get(rd, "operations");
    if (json_array_size(ops) > 0) {
      any = true;
      const char *op = adm->operation ? adm->operation : "CREATE";
      bool ok = false;
      for (size_t i = 0; i < json_array_size(ops); i++)
        if (json_is_string(json_array_get(ops, i)) &&
            strcmp(json_string_value(json_array_get(ops, i)), op) == 0)
          ok = true;
      if (!ok) return false;
    }
  }
  const json_t *roles = json_object_get(f, "roles");
  if (json_array_size(roles) > 0) {
    any = true;
    if (!any_in(roles, adm->roles)) return false;
  }
  const json_t *croles = json_object_get(f, "clusterRoles");
  if (json_array_size(croles) > 0) {
    any = true;
    if (!any_in(croles, adm->cluster_roles)) return false;
  }
  const json_t *subj = json_object_get(f, "subjects");
  if (json_array_size(subj) > 0) {
    any = true;
    if (!subjects_match(subj, adm->user_info)) return false;
  }
  return any;
}

/* The legacy form {resources, subjects, roles, clusterRoles} directly in
 * match/exclude is one filter. */
static bool legacy_nonempty(const json_t *m) {
  return json_object_get(m, "resources") || json_object_get(m, "subjects") ||
         json_object_get(m, "roles") || json_object_get(m, "clusterRoles");
}

bool pol_rule_matches(const pol_policy *p, const json_t *rule, const json_t *res,
                      const pol_admission *adm, const char *subresource) {
  if (p && p->namespaced) {
    const char *ns = idp_json_get_str(res, "metadata", "namespace", NULL);
    if (!ns || !p->ns || strcmp(ns, p->ns) != 0) return false;
  }
  const json_t *m = json_object_get(rule, "match");
  const json_t *any = json_object_get(m, "any");
  const json_t *all = json_object_get(m, "all");
  if (json_array_size(any) > 0) {
    bool one = false;
    for (size_t i = 0; i < json_array_size(any) && !one; i++)
      one = filter_matches(json_array_get(any, i), res, adm, subresource);
    if (!one) return false;
  } else if (json_array_size(all) > 0) {
    for (size_t i = 0; i < json_array_size(all); i++)
      if (!filter_matches(json_array_get(all, i), res, adm, subresource)) return false;
  } else {
    if (!legacy_nonempty(m) || !filter_matches(m, res, adm, subresource)) return false;
  }
  const json_t *x = json_object_get(rule, "exclude");
  if (!json_is_object(x)) return true;
  const json_t *xany = json_object_get(x, "any");
  const json_t *xall = json_object_get(x, "all");
  if (json_array_size(xany) > 0) {
    for (size_t i = 0; i < json_array_size(xany); i++)
      if (filter_matches(json_array_get(xany, i), res, adm, subresource)) return false;
  } else if (json_array_size(xall) > 0) {
    bool all_hit = true;
    for (size_t i = 0; i < json_array_size(xall) && all_hit; i++)
      all_hit = filter_matches(json_array_get(xall, i), res, adm, subresource);
    if (all_hit) return false;
  } else if (legacy_nonempty(x)) {
    if (filter_matches(x, res, adm, subresource)) return false;
  }
  return true;
}
