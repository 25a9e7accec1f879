#include "core/common.h"

#include <time.h>

#include "apiserver/api_int.h"

/* Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf).
 *
 * kubectl's typed clients (kubectl create configmap|secret|namespace|service|role|deployment|job|cronjob|
 * serviceaccount) send protobuf: the bytes "k8s\0", then a runtime.Unknown
 * {typeMeta{apiVersion=1, kind=2}=1, raw=2, contentEncoding=3,
 * contentType=4} whose raw is the object's own message.  The messages we
 * decode are described as data below (field numbers from k8s.io/api
 * generated.proto); a field or kind we do not know is refused with 415
 * rather than dropped, so nothing is silently lost.
 *
 * gogo-protobuf writes non-pointer scalars even when empty, so zero values
 * of such fields are dropped to get the JSON a Go client would have sent
 * (omitempty); pointer fields (P) keep their zero. */

typedef enum {
  F_STR,      /* string, "" dropped */
  F_BYTES,    /* bytes -> base64 string */
  F_INT,      /* varint, 0 dropped */
  F_INT_P,    /* varint, kept */
  F_BOOL,     /* false dropped */
  F_BOOL_P,   /* kept */
  F_MSG,      /* nested message, {} dropped */
  F_MAP_STR,  /* map<string,string> */
  F_MAP_BYTES /* map<string,bytes> -> base64 values */,
  F_TIME,     /* meta.v1.Time {seconds=1, nanos=2} -> RFC 3339, zero dropped */
  F_INTSTR,   /* intstr.IntOrString {type=1, intVal=2, strVal=3} */
} field_type;

typedef struct pb_msg pb_msg;

typedef struct pb_field {
  unsigned num;
  const char *name;
  field_type type;
  bool repeated;
  const pb_msg *msg;
} pb_field;

struct pb_msg {
  const char *name;
  const pb_field *f;
  size_t n;
};

#define MSG(var, label, ...)                                  \
  static const pb_field var##_fields[] = {__VA_ARGS__};       \
  static const pb_msg var = {label, var##_fields, IDP_ARRAY_LEN(var##_fields)}

MSG(owner_ref, "OwnerReference", {1, "kind", F_STR, false, NULL}, {3, "name", F_STR, false, NULL},
    {4, "uid", F_STR, false, NULL}, {5, "apiVersion", F_STR, false, NULL},
    {6, "controller", F_BOOL_P, false, NULL}, {7, "blockOwnerDeletion", F_BOOL_P, false, NULL});

MSG(object_meta, "ObjectMeta", {1, "name", F_STR, false, NULL},
    {2, "generateName", F_STR, false, NULL}, {3, "namespace", F_STR, false, NULL},
    {4, "selfLink", F_STR, false, NULL}, {5, "uid", F_STR, false, NULL},
    {6, "resourceVersion", F_STR, false, NULL}, {7, "generation", F_INT, false, NULL},
    {8, "creationTimestamp", F_TIME, false, NULL}, {9, "deletionTimestamp", F_TIME, false, NULL},
    {10, "deletionGracePeriodSeconds", F_INT_P, false, NULL},
    {11, "labels", F_MAP_STR, false, NULL}, {12, "annotations", F_MAP_STR, false, NULL},
    {13, "ownerReferences", F_MSG, true, &owner_ref}, {14, "finalizers", F_STR, true, NULL});

MSG(config_map, "ConfigMap", {1, "metadata", F_MSG, false, &object_meta},
    {2, "data", F_MAP_STR, false, NULL}, {3, "binaryData", F_MAP_BYTES, false, NULL},
    {4, "immutable", F_BOOL_P, false, NULL});

MSG(secret, "Secret", {1, "metadata", F_MSG, false, &object_meta},
    {2, "data", F_MAP_BYTES, false, NULL}, {3, "type", F_STR, false, NULL},
    {4, "stringData", F_MAP_STR, false, NULL}, {5, "immutable", F_BOOL_P, false, NULL});

MSG(namespace_spec, "NamespaceSpec", {1, "finalizers", F_STR, true, NULL});
MSG(namespace_status, "NamespaceStatus", {1, "phase", F_STR, false, NULL});
MSG(namespace_, "Namespace", {1, "metadata", F_MSG, false, &object_meta},
    {2, "spec", F_MSG, false, &namespace_spec}, {3, "status", F_MSG, false, &namespace_status});

MSG(object_ref, "ObjectReference", {1, "kind", F_STR, false, NULL},
    {2, "namespace", F_STR, false, NULL}, {3, "name", F_STR, false, NULL},
    {4, "uid", F_STR, false, NULL}, {5, "apiVersion", F_STR, false, NULL},
    {6, "resourceVersion", F_STR, false, NULL}, {7, "fieldPath", F_STR, false, NULL});
MSG(local_ref, "LocalObjectReference", {1, "name", F_STR, false, NULL});
MSG(service_account, "ServiceAccount", {1, "metadata", F_MSG, false, &object_meta},
    {2, "secrets", F_MSG, true, &object_ref}, {3, "imagePullSecrets", F_MSG, true, &local_ref},
    {4, "automountServiceAccountToken", F_BOOL_P, false, NULL});

/* rbac.authorization.k8s.io/v1 */
MSG(policy_rule, "PolicyRule", {1, "verbs", F_STR, true, NULL}, {2, "apiGroups", F_STR, true, NULL},
    {3, "resources", F_STR, true, NULL}, {4, "resourceNames", F_STR, true, NULL},
    {5, "nonResourceURLs", F_STR, true, NULL});
MSG(role, "Role", {1, "metadata", F_MSG, false, &object_meta}, {2, "rules", F_MSG, true, &policy_rule});
MSG(subject, "Subject", {1, "kind", F_STR, false, NULL}, {2, "apiGroup", F_STR, false, NULL},
    {3, "name", F_STR, false, NULL}, {4, "namespace", F_STR, false, NULL});
MSG(role_ref, "RoleRef", {1, "apiGroup", F_STR, false, NULL}, {2, "kind", F_STR, false, NULL},
    {3, "name", F_STR, false, NULL});
MSG(role_binding, "RoleBinding", {1, "metadata", F_MSG, false, &object_meta},
    {2, "subjects", F_MSG, true, &subject}, {3, "roleRef", F_MSG, false, &role_ref});

/* pod templates, as kubectl create deployment|job|cronjob fill them */
MSG(label_req, "LabelSelectorRequirement", {1, "key", F_STR, false, NULL},
    {2, "operator", F_STR, false, NULL}, {3, "values", F_STR, true, NULL});
MSG(label_selector, "LabelSelector", {1, "matchLabels", F_MAP_STR, false, NULL},
    {2, "matchExpressions", F_MSG, true, &label_req});
MSG(container_port, "ContainerPort", {1, "name", F_STR, false, NULL},
    {2, "hostPort", F_INT, false, NULL}, {3, "containerPort", F_INT, false, NULL},
    {4, "protocol", F_STR, false, NULL}, {5, "hostIP", F_STR, false, NULL});
MSG(env_var, "EnvVar", {1, "name", F_STR, false, NULL}, {2, "value", F_STR, false, NULL});
MSG(container, "Container", {1, "name", F_STR, false, NULL}, {2, "image", F_STR, false, NULL},
    {3, "command", F_STR, true, NULL}, {4, "args", F_STR, true, NULL},
    {5, "workingDir", F_STR, false, NULL}, {6, "ports", F_MSG, true, &container_port},
    {7, "env", F_MSG, true, &env_var});
MSG(pod_spec, "PodSpec", {2, "containers", F_MSG, true, &container},
    {3, "restartPolicy", F_STR, false, NULL}, {6, "dnsPolicy", F_STR, false, NULL},
    {8, "serviceAccountName", F_STR, false, NULL}, {20, "initContainers", F_MSG, true, &container});
MSG(pod_template, "PodTemplateSpec", {1, "metadata", F_MSG, false, &object_meta},
    {2, "spec", F_MSG, false, &pod_spec});
MSG(rolling_update, "RollingUpdateDeployment", {1, "maxUnavailable", F_INTSTR, false, NULL},
    {2, "maxSurge", F_INTSTR, false, NULL});
MSG(deployment_strategy, "DeploymentStrategy", {1, "type", F_STR, false, NULL},
    {2, "rollingUpdate", F_MSG, false, &rolling_update});
MSG(deployment_spec, "DeploymentSpec", {1, "replicas", F_INT_P, false, NULL},
    {4, "strategy", F_MSG, false, &deployment_strategy},
    {2, "selector", F_MSG, false, &label_selector}, {3, "template", F_MSG, false, &pod_template},
    {5, "minReadySeconds", F_INT, false, NULL}, {6, "revisionHistoryLimit", F_INT_P, false, NULL},
    {7, "paused", F_BOOL, false, NULL}, {9, "progressDeadlineSeconds", F_INT_P, false, NULL});
static const pb_msg empty_status = {"Status", NULL, 0};
MSG(deployment, "Deployment", {1, "metadata", F_MSG, false, &object_meta},
    {2, "spec", F_MSG, false, &deployment_spec}, {3, "status", F_MSG, false, &empty_status});
MSG(job_spec, "JobSpec", {1, "parallelism", F_INT_P, false, NULL},
    {2, "completions", F_INT_P, false, NULL}, {3, "activeDeadlineSeconds", F_INT_P, false, NULL},
    {4, "selector", F_MSG, false, &label_selector}, {6, "template", F_MSG, false, &pod_template},
    {7, "backoffLimit", F_INT_P, false, NULL});
MSG(job, "Job", {1, "metadata", F_MSG, false, &object_meta}, {2, "spec", F_MSG, false, &job_spec},
    {3, "status", F_MSG, false, &empty_status});
MSG(job_template, "JobTemplateSpec", {1, "metadata", F_MSG, false, &object_meta},
    {2, "spec", F_MSG, false, &job_spec});
MSG(cronjob_spec, "CronJobSpec", {1, "schedule", F_STR, false, NULL},
    {2, "startingDeadlineSeconds", F_INT_P, false, NULL}, {3, "concurrencyPolicy", F_STR, false, NULL},
    {4, "suspend", F_BOOL_P, false, NULL}, {5, "jobTemplate", F_MSG, false, &job_template},
    {6, "successfulJobsHistoryLimit", F_INT_P, false, NULL},
    {7, "failedJobsHistoryLimit", F_INT_P, false, NULL});
MSG(cronjob, "CronJob", {1, "metadata", F_MSG, false, &object_meta},
    {2, "spec", F_MSG, false, &cronjob_spec}, {3, "status", F_MSG, false, &empty_status});

/* Service, as kubectl create service fills it */
MSG(service_port, "ServicePort", {1, "name", F_STR, false, NULL}, {2, "protocol", F_STR, false, NULL},
    {3, "port", F_INT, false, NULL}, {4, "targetPort", F_INTSTR, false, NULL},
    {5, "nodePort", F_INT, false, NULL});
MSG(service_spec, "ServiceSpec", {1, "ports", F_MSG, true, &service_port},
    {2, "selector", F_MAP_STR, false, NULL}, {3, "clusterIP", F_STR, false, NULL},
    {4, "type", F_STR, false, NULL}, {5, "externalIPs", F_STR, true, NULL},
    {11, "externalName", F_STR, false, NULL});
MSG(service, "Service", {1, "metadata", F_MSG, false, &object_meta},
    {2, "spec", F_MSG, false, &service_spec}, {3, "status", F_MSG, false, &empty_status});

static const struct {
  const char *api_version, *kind;
  const pb_msg *msg;
} pb_kinds[] = {
    {"v1", "ConfigMap", &config_map},
    {"v1", "Secret", &secret},
    {"v1", "Namespace", &namespace_},
    {"v1", "ServiceAccount", &service_account},
    {"v1", "Service", &service},
    {"rbac.authorization.k8s.io/v1", "Role", &role},
    {"rbac.authorization.k8s.io/v1", "ClusterRole", &role},
    {"rbac.authorization.k8s.io/v1", "RoleBinding", &role_binding},
    {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", &role_binding},
    {"apps/v1", "Deployment", &deployment},
    {"batch/v1", "Job", &job},
    {"batch/v1", "CronJob", &cronjob},
};

typedef struct rd {
  const unsigned char *p, *end;
} rd;

static bool varint(rd *r, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
    unsigned char b = *r->p++;
    *v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

/* Next field: number, wire type, and for length-delimited the bytes. */
static bool next_field(rd *r, unsigned *num, unsigned *wt, rd *sub, uint64_t *val) {
  uint64_t key;
  if (!varint(r, &key)) return false;
  *num = (unsigned)(key >> 3);
  *wt = (unsigned)(key & 7);
  switch (*wt) {
  case 0:
    return varint(r, val);
  case 2: {
    uint64_t len;
    if (!varint(r, &len) || len > (uint64_t)(r->end - r->p)) return false;
    sub->p = r->p;
    sub->end = r->p + len;
    r->p += len;
    return true;
  }
  case 1:
    if (r->end - r->p < 8) return false;
    r->p += 8;
    return true;
  case 5:
    if (r->end - r->p < 4) return false;
    r->p += 4;
    return true;
  default:
    return false;
  }
}

static json_t *b64(const unsigned char *s, size_t n) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *o = malloc(4 * ((n + 2) / 3) + 1);
  if (!o) return NULL;
  size_t w = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)s[i] << 16;
    if (i + 1 < n) v |= (uint32_t)s[i + 1] << 8;
    if (i + 2 < n) v |= s[i + 2];
    o[w++] = tbl[(v >> 18) & 63];
    o[w++] = tbl[(v >> 12) & 63];
    o[w++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
    o[w++] = i + 2 < n ? tbl[v & 63] : '=';
  }
  json_t *j = json_stringn(o, w);
  free(o);
  return j;
}

static idp_code decode_msg(const pb_msg *m, rd r, int depth, json_t **out, idp_err *e);

static idp_code bad(idp_err *e, const pb_msg *m, const char *what) {
  return idp_err_set(e, IDP_EINVAL, "protobuf body: %s in %s", what, m->name);
}

static idp_code map_entry(const pb_msg *m, rd r, bool bytes, json_t *obj, idp_err *e) {
  const unsigned char *k = NULL, *v = NULL;
  size_t kl = 0, vl = 0;
  while (r.p < r.end) {
    unsigned num, wt;
    rd sub = {0};
    uint64_t val;
    if (!next_field(&r, &num, &wt, &sub, &val) || wt != 2) return bad(e, m, "malformed map entry");
    if (num == 1) k = sub.p, kl = (size_t)(sub.end - sub.p);
    if (num == 2) v = sub.p, vl = (size_t)(sub.end - sub.p);
  }
  char *key = malloc(kl + 1);
  if (!key) return idp_err_set(e, IDP_ENOMEM, "protobuf body");
  if (kl) memcpy(key, k, kl);
  key[kl] = '\0';
  json_t *jv = bytes ? b64(v ? v : (const unsigned char *)"", vl)
                     : json_stringn(v ? (const char *)v : "", vl);
  if (!jv) {
    free(key);
    return bad(e, m, "map value is not UTF-8");
  }
  json_object_set_new(obj, key, jv);
  free(key);
  return IDP_OK;
}

static json_t *time_json(rd r) {
  int64_t secs = 0;
  while (r.p < r.end) {
    unsigned num, wt;
    rd sub;
    uint64_t val = 0;
    if (!next_field(&r, &num, &wt, &sub, &val)) return NULL;
    if (num == 1 && wt == 0) secs = (int64_t)val;
  }
  if (secs <= 0) return NULL; /* Go's zero time */
  time_t t = (time_t)secs;
  struct tm tm;
  char buf[32];
  gmtime_r(&t, &tm);
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return json_string(buf);
}

/* Does a length-delimited value read as a message made only of zeros
 * (empty strings, 0 varints, such messages)? */
static bool all_zero(rd r, int depth) {
  if (depth > 8) return false;
  while (r.p < r.end) {
    unsigned num, wt;
    rd sub = {0};
    uint64_t val = 0;
    if (!next_field(&r, &num, &wt, &sub, &val) || num == 0) return false;
    if (wt == 0 && val) return false;
    if (wt == 2 && sub.p != sub.end && !all_zero(sub, depth + 1)) return false;
    if (wt == 1 || wt == 5) return false;
  }
  return true;
}

static json_t *intstr_json(rd r) {
  uint64_t type = 0, ival = 0;
  const unsigned char *sp = NULL;
  size_t sl = 0;
  while (r.p < r.end) {
    unsigned num, wt;
    rd sub = {0};
    uint64_t val = 0;
    if (!next_field(&r, &num, &wt, &sub, &val)) return NULL;
    if (num == 1 && wt == 0) type = val;
    if (num == 2 && wt == 0) ival = val;
    if (num == 3 && wt == 2) sp = sub.p, sl = (size_t)(sub.end - sub.p);
  }
  if (type == 1) return json_stringn(sp ? (const char *)sp : "", sl);
  return json_integer((json_int_t)(int32_t)ival);
}

static void put(json_t *obj, const pb_field *f, json_t *v) {
  if (!v) return;
  if (f->repeated) {
    json_t *a = json_object_get(obj, f->name);
    if (!a) {
      a = json_array();
      json_object_set_new(obj, f->name, a);
    }
    json_array_append_new(a, v);
  } else {
    json_object_set_new(obj, f->name, v);
  }
}

static idp_code decode_msg(const pb_msg *m, rd r, int depth, json_t **out, idp_err *e) {
  *out = NULL;
  if (depth > 16) return bad(e, m, "nesting too deep");
  json_t *obj = json_object();
  while (r.p < r.end) {
    unsigned num, wt;
    rd sub = {0};
    uint64_t val = 0;
    if (!next_field(&r, &num, &wt, &sub, &val)) {
      json_decref(obj);
      return bad(e, m, "truncated or malformed field");
    }
    const pb_field *f = NULL;
    for (size_t i = 0; i < m->n && !f; i++)
      if (m->f[i].num == num) f = &m->f[i];
    /* gogo writes zero values of non-pointer fields: an unknown field that
     * holds only zeros is what a JSON client would have omitted */
    if (!f && ((wt == 0 && val == 0) || (wt == 2 && all_zero(sub, 0)))) continue;
    if (!f) {
      json_decref(obj);
      return idp_err_set(e, IDP_EUNSUPPORTED,
                         "protobuf body: field %u of %s is not supported by this server; send "
                         "the object as application/json",
                         num, m->name);
    }
    bool varint_type = f->type == F_INT || f->type == F_INT_P || f->type == F_BOOL || f->type == F_BOOL_P;
    if (varint_type != (wt == 0)) {
      json_decref(obj);
      return bad(e, m, "wire type does not match the field");
    }
    idp_code c = IDP_OK;
    switch (f->type) {
    case F_STR: {
      size_t n = (size_t)(sub.end - sub.p);
      if (n || f->repeated) {
        json_t *s = json_stringn((const char *)sub.p, n);
        if (!s) c = bad(e, m, "string is not UTF-8");
        put(obj, f, s);
      }
      break;
    }
    case F_BYTES:
      put(obj, f, b64(sub.p, (size_t)(sub.end - sub.p)));
      break;
    case F_INT:
      if (val) put(obj, f, json_integer((json_int_t)(int64_t)val));
      break;
    case F_INT_P:
      put(obj, f, json_integer((json_int_t)(int64_t)val));
      break;
    case F_BOOL:
      if (val) put(obj, f, json_true());
      break;
    case F_BOOL_P:
      put(obj, f, json_boolean(val != 0));
      break;
    case F_TIME:
      put(obj, f, time_json(sub));
      break;
    case F_INTSTR:
      put(obj, f, intstr_json(sub));
      break;
    case F_MAP_STR:
    case F_MAP_BYTES: {
      json_t *mo = json_object_get(obj, f->name);
      if (!mo) {
        mo = json_object();
        json_object_set_new(obj, f->name, mo);
      }
      c = map_entry(m, sub, f->type == F_MAP_BYTES, mo, e);
      break;
    }
    case F_MSG: {
      json_t *child = NULL;
      c = decode_msg(f->msg, sub, depth + 1, &child, e);
      if (!c && (json_object_size(child) || f->repeated))
        put(obj, f, child);
      else
        json_decref(child);
      break;
    }
    }
    if (c) {
      json_decref(obj);
      return c;
    }
  }
  *out = obj;
  return IDP_OK;
}

idp_code api_protobuf_decode(const char *data, size_t len, json_t **out, idp_err *e) {
  *out = NULL;
  static const char magic[4] = {'k', '8', 's', 0};
  if (len < 4 || memcmp(data, magic, 4))
    return idp_err_set(e, IDP_EINVAL, "protobuf body: missing the k8s\\0 prefix");
  rd r = {(const unsigned char *)data + 4, (const unsigned char *)data + len};
  char av[128] = "", kind[128] = "";
  rd raw = {0};
  while (r.p < r.end) {
    unsigned num, wt;
    rd sub = {0};
    uint64_t val;
    if (!next_field(&r, &num, &wt, &sub, &val))
      return idp_err_set(e, IDP_EINVAL, "protobuf body: malformed envelope");
    if (num == 1 && wt == 2) {
      rd tm = sub;
      while (tm.p < tm.end) {
        unsigned n2, w2;
        rd s2 = {0};
        uint64_t v2;
        if (!next_field(&tm, &n2, &w2, &s2, &v2) || w2 != 2)
          return idp_err_set(e, IDP_EINVAL, "protobuf body: malformed type meta");
        char *dst = n2 == 1 ? av : n2 == 2 ? kind : NULL;
        size_t l = (size_t)(s2.end - s2.p);
        if (dst && l < 128) {
          memcpy(dst, s2.p, l);
          dst[l] = '\0';
        }
      }
    } else if (num == 2 && wt == 2) {
      raw = sub;
    } else if (num == 3 && wt == 2 && sub.end != sub.p) {
      return idp_err_set(e, IDP_EUNSUPPORTED, "protobuf body: content encodings are not supported");
    }
  }
  for (size_t i = 0; i < IDP_ARRAY_LEN(pb_kinds); i++) {
    if (strcmp(pb_kinds[i].api_version, av) || strcmp(pb_kinds[i].kind, kind)) continue;
    json_t *obj = NULL;
    idp_code c = decode_msg(pb_kinds[i].msg, raw, 0, &obj, e);
    if (c) return c;
    /* type meta first, as a JSON client would send it */
    json_t *o = json_pack("{s:s, s:s}", "apiVersion", av, "kind", kind);
    json_object_update(o, obj);
    json_decref(obj);
    *out = o;
    return IDP_OK;
  }
  return idp_err_set(e, IDP_EUNSUPPORTED,
                     "protobuf bodies are not supported for %s %s; send application/json (for "
                     "example kubectl create ... --dry-run=client -o yaml | kubectl apply -f -)",
                     *av ? av : "?", *kind ? kind : "?");
}
