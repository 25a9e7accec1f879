#include "core/common.h"

#include "certs/controller/shim.h"
#include "certs/controller/spec.h"
#include "core/json.h"

#define ANN "cert-manager.io/"

static const char *ann(const json_t *obj, const char *key) {
  const char *v = json_string_value(json_object_get(idp_json_get(obj, "metadata", "annotations", NULL), key));
  return v && *v ? v : NULL;
}

/* secretName -> array of hostnames (insertion ordered, de-duplicated). */
static void add_host(json_t *by_secret, const char *secret, const char *host) {
  json_t *hosts = json_object_get(by_secret, secret);
  if (!hosts) {
    hosts = json_array();
    json_object_set_new(by_secret, secret, hosts);
  }
  if (!host) return;
  size_t i;
  json_t *h;
  json_array_foreach(hosts, i, h) if (strcmp(json_string_value(h), host) == 0) return;
  json_array_append_new(hosts, json_string(host));
}

static void gateway_hosts(const json_t *gw, json_t *by_secret) {
  const char *ns = idp_json_get_str(gw, "metadata", "namespace", NULL);
  size_t i, j;
  const json_t *l, *ref;
  json_array_foreach(idp_json_get(gw, "spec", "listeners", NULL), i, l) {
    const json_t *tls = json_object_get(l, "tls");
    if (!json_is_object(tls)) continue;
    const char *mode = json_string_value(json_object_get(tls, "mode"));
    if (mode && strcmp(mode, "Terminate") != 0) continue; /* Passthrough */
    const char *host = json_string_value(json_object_get(l, "hostname"));
    if (!host || !*host) continue; /* cert-manager requires a hostname */
    json_array_foreach(json_object_get(tls, "certificateRefs"), j, ref) {
      const char *name = json_string_value(json_object_get(ref, "name"));
      const char *kind = json_string_value(json_object_get(ref, "kind"));
      const char *group = json_string_value(json_object_get(ref, "group"));
      const char *rns = json_string_value(json_object_get(ref, "namespace"));
      if (!name || !*name) continue;
      if (kind && *kind && strcmp(kind, "Secret") != 0) continue;
      if (group && *group) continue;
      if (rns && *rns && (!ns || strcmp(rns, ns) != 0)) continue;
      add_host(by_secret, name, host);
    }
  }
}

static void ingress_hosts(const json_t *ing, json_t *by_secret) {
  size_t i, j;
  const json_t *t, *h;
  json_array_foreach(idp_json_get(ing, "spec", "tls", NULL), i, t) {
    const char *secret = json_string_value(json_object_get(t, "secretName"));
    if (!secret || !*secret) continue;
    add_host(by_secret, secret, NULL);
    json_array_foreach(json_object_get(t, "hosts"), j, h) {
      if (json_is_string(h) && *json_string_value(h)) add_host(by_secret, secret, json_string_value(h));
    }
  }
}

/* "a, b,c" -> ["a","b","c"] */
static json_t *csv(const char *s) {
  json_t *a = json_array();
  const char *p = s;
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    const char *b = p, *end = p + n;
    while (b < end && (*b == ' ' || *b == '\t')) b++;
    while (end > b && (end[-1] == ' ' || end[-1] == '\t')) end--;
    if (end > b) json_array_append_new(a, json_stringn(b, (size_t)(end - b)));
    if (!comma) break;
    p = comma + 1;
  }
  return a;
}

static idp_code check_duration(const char *key, const char *v, idp_err *e) {
  int64_t ns;
  if (idp_cm_duration_parse(v, &ns, e))
    return idp_err_set(e, IDP_EINVALID, "annotation %s: invalid duration \"%s\"", key, v);
  return IDP_OK;
}

/* The spec fields cert-manager's shims take from annotations. */
static idp_code annotated_spec(const json_t *obj, json_t *spec, idp_err *e) {
  const char *v;
  idp_code c;
  if ((v = ann(obj, ANN "common-name"))) json_object_set_new(spec, "commonName", json_string(v));
  if ((v = ann(obj, ANN "email-sans"))) json_object_set_new(spec, "emailAddresses", csv(v));
  if ((v = ann(obj, ANN "duration"))) {
    if ((c = check_duration(ANN "duration", v, e))) return c;
    json_object_set_new(spec, "duration", json_string(v));
  }
  if ((v = ann(obj, ANN "renew-before"))) {
    if ((c = check_duration(ANN "renew-before", v, e))) return c;
    json_object_set_new(spec, "renewBefore", json_string(v));
  }
  if ((v = ann(obj, ANN "usages"))) json_object_set_new(spec, "usages", csv(v));
  if ((v = ann(obj, ANN "revision-history-limit"))) {
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end || n < 1 || n > INT32_MAX)
      return idp_err_set(e, IDP_EINVALID, "annotation " ANN "revision-history-limit: \"%s\" is not a positive integer", v);
    json_object_set_new(spec, "revisionHistoryLimit", json_integer(n));
  }
  json_t *pk = json_object();
  if ((v = ann(obj, ANN "private-key-algorithm"))) json_object_set_new(pk, "algorithm", json_string(v));
  if ((v = ann(obj, ANN "private-key-encoding"))) json_object_set_new(pk, "encoding", json_string(v));
  if ((v = ann(obj, ANN "private-key-rotation-policy"))) json_object_set_new(pk, "rotationPolicy", json_string(v));
  if ((v = ann(obj, ANN "private-key-size"))) {
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end || n <= 0 || n > 65536) {
      json_decref(pk);
      return idp_err_set(e, IDP_EINVALID, "annotation " ANN "private-key-size: \"%s\" is not a key size", v);
    }
    json_object_set_new(pk, "size", json_integer(n));
  }
  if (json_object_size(pk)) json_object_set_new(spec, "privateKey", pk);
  else json_decref(pk);
  /* subject-* annotations */
  static const struct {
    const char *a, *field;
    bool list;
  } subj[] = {
      {ANN "subject-organizations", "organizations", true},
      {ANN "subject-organizationalunits", "organizationalUnits", true},
      {ANN "subject-countries", "countries", true},
      {ANN "subject-provinces", "provinces", true},
      {ANN "subject-localities", "localities", true},
      {ANN "subject-postalcodes", "postalCodes", true},
      {ANN "subject-streetaddresses", "streetAddresses", true},
      {ANN "subject-serialnumber", "serialNumber", false},
  };
  json_t *s = json_object();
  for (size_t i = 0; i < IDP_ARRAY_LEN(subj); i++)
    if ((v = ann(obj, subj[i].a)))
      json_object_set_new(s, subj[i].field, subj[i].list ? csv(v) : json_string(v));
  if (json_object_size(s)) json_object_set_new(spec, "subject", s);
  else json_decref(s);
  return IDP_OK;
}

idp_code idp_cm_shim_certificates(const json_t *obj, json_t **out, idp_err *e) {
  *out = NULL;
  const char *kind = json_string_value(json_object_get(obj, "kind"));
  const char *api = json_string_value(json_object_get(obj, "apiVersion"));
  const char *name = idp_json_get_str(obj, "metadata", "name", NULL);
  const char *ns = idp_json_get_str(obj, "metadata", "namespace", NULL);
  const char *uid = idp_json_get_str(obj, "metadata", "uid", NULL);
  bool gateway = kind && strcmp(kind, "Gateway") == 0;
  if (!kind || !api || !name || (!gateway && strcmp(kind, "Ingress") != 0))
    return idp_err_set(e, IDP_EINVAL, "shim: not a Gateway or Ingress");
  const char *issuer = ann(obj, ANN "issuer"), *cissuer = ann(obj, ANN "cluster-issuer");
  json_t *certs = json_array();
  if (!issuer && !cissuer) {
    *out = certs;
    return IDP_OK;
  }
  if (issuer && cissuer) {
    json_decref(certs);
    return idp_err_set(e, IDP_EINVALID,
                       "%s %s/%s: both " ANN "issuer and " ANN "cluster-issuer are set", kind,
                       ns ? ns : "", name);
  }
  const char *ikind = ann(obj, ANN "issuer-kind");
  const char *igroup = ann(obj, ANN "issuer-group");
  json_t *issuer_ref = json_pack("{s:s,s:s,s:s}", "name", issuer ? issuer : cissuer, "kind",
                                 ikind ? ikind : (issuer ? "Issuer" : "ClusterIssuer"), "group",
                                 igroup ? igroup : IDP_CM_GROUP);
  json_t *by_secret = json_object();
  if (gateway) gateway_hosts(obj, by_secret);
  else ingress_hosts(obj, by_secret);
  json_t *base = json_object();
  idp_code c = annotated_spec(obj, base, e);
  if (c) {
    idp_err_prefix(e, "%s %s/%s", kind, ns ? ns : "", name);
    goto out;
  }
  const char *secret;
  json_t *hosts;
  json_object_foreach(by_secret, secret, hosts) {
    json_t *spec = json_deep_copy(base);
    json_object_set_new(spec, "secretName", json_string(secret));
    if (json_array_size(hosts)) json_object_set(spec, "dnsNames", hosts);
    json_object_set(spec, "issuerRef", issuer_ref);
    json_t *owner = json_pack("{s:s,s:s,s:s,s:b,s:b}", "apiVersion", api, "kind", kind, "name", name,
                              "controller", 1, "blockOwnerDeletion", 1);
    if (uid) json_object_set_new(owner, "uid", json_string(uid));
    json_t *meta = json_pack("{s:s,s:[o]}", "name", secret, "ownerReferences", owner);
    if (ns) json_object_set_new(meta, "namespace", json_string(ns));
    json_array_append_new(certs, json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", "cert-manager.io/v1",
                                           "kind", "Certificate", "metadata", meta, "spec", spec));
  }
out:
  json_decref(base);
  json_decref(by_secret);
  json_decref(issuer_ref);
  if (c) {
    json_decref(certs);
    return c;
  }
  *out = certs;
  return IDP_OK;
}
