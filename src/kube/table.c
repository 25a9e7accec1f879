/* table.c: meta.k8s.io/v1 Table rendering.
 *
 * Column definitions are data (the builtin table below is JSON text parsed
 * once); a cell is either a JSONPath (first match, converted by column
 * type as apiextensions' tableconvertor does) or a named computed cell from
 * the `cells` table, for values kube-apiserver's printers compute in Go. */
#include "core/common.h"
#include "core/buf.h"
#include "core/json.h"
#include "kube/jsonpath.h"
#include "kube/selector.h"
#include "kube/table.h"

#include <pthread.h>

static time_t fixed_now;

void idp_table_set_now(time_t now) { fixed_now = now; }

static time_t now_time(void) { return fixed_now ? fixed_now : time(NULL); }

/* ---- durations ---- */

const char *idp_duration_human(long long sec, char *buf, size_t n) {
  /* k8s.io/apimachinery/pkg/util/duration.HumanDuration */
  if (sec < -1) {
    snprintf(buf, n, "<invalid>");
    return buf;
  }
  if (sec < 0) sec = 0;
  if (sec < 120) {
    snprintf(buf, n, "%llds", sec);
    return buf;
  }
  long long min = sec / 60;
  if (min < 10) {
    if (sec % 60) snprintf(buf, n, "%lldm%llds", min, sec % 60);
    else snprintf(buf, n, "%lldm", min);
    return buf;
  }
  if (min < 180) {
    snprintf(buf, n, "%lldm", min);
    return buf;
  }
  long long h = sec / 3600;
  if (h < 8) {
    if (min % 60) snprintf(buf, n, "%lldh%lldm", h, min % 60);
    else snprintf(buf, n, "%lldh", h);
  } else if (h < 48) {
    snprintf(buf, n, "%lldh", h);
  } else if (h < 24 * 8) {
    if (h % 24) snprintf(buf, n, "%lldd%lldh", h / 24, h % 24);
    else snprintf(buf, n, "%lldd", h / 24);
  } else if (h < 24 * 365 * 2) {
    snprintf(buf, n, "%lldd", h / 24);
  } else if (h < 24 * 365 * 8) {
    long long d = (h / 24) % 365;
    if (d) snprintf(buf, n, "%lldy%lldd", h / 24 / 365, d);
    else snprintf(buf, n, "%lldy", h / 24 / 365);
  } else {
    snprintf(buf, n, "%lldy", h / 24 / 365);
  }
  return buf;
}

long long idp_age_seconds(const char *ts, time_t now) {
  if (!ts) return -1;
  struct tm tm = {0};
  int consumed = 0;
  if (sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
             &tm.tm_min, &tm.tm_sec, &consumed) != 6)
    return -1;
  const char *p = ts + consumed;
  if (*p == '.')
    for (p++; *p >= '0' && *p <= '9'; p++) {
    }
  long off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om;
    if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2) return -1;
    off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    return -1;
  }
  if (*p) return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = timegm(&tm);
  if (t == (time_t)-1) return -1;
  return (long long)(now - (t - off));
}

/* ---- computed cells ---- */

typedef json_t *(*cell_fn)(const json_t *obj);

static json_t *cell_age(const json_t *obj) {
  const char *ts = idp_json_get_str(obj, "metadata", "creationTimestamp", NULL);
  if (!ts) return json_string("<unknown>");
  long long s = idp_age_seconds(ts, now_time());
  char b[32];
  return json_string(idp_duration_human(s, b, sizeof b));
}

static json_t *cell_created_at(const json_t *obj) {
  const char *ts = idp_json_get_str(obj, "metadata", "creationTimestamp", NULL);
  return ts ? json_string(ts) : json_null();
}

static long long int_at(const json_t *obj, const char *dotted, long long dflt) {
  const json_t *v = idp_json_path(obj, dotted);
  return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

static json_t *ratio(long long a, long long b) {
  char s[64];
  snprintf(s, sizeof s, "%lld/%lld", a, b);
  return json_string(s);
}

static json_t *cell_pod_ready(const json_t *obj) {
  const json_t *cs = idp_json_path(obj, "status.containerStatuses");
  long long ready = 0;
  size_t i;
  json_t *c;
  json_array_foreach(cs, i, c) {
    if (json_is_true(json_object_get(c, "ready"))) ready++;
  }
  return ratio(ready, (long long)json_array_size(idp_json_path(obj, "spec.containers")));
}

static json_t *cell_pod_status(const json_t *obj) {
  const char *reason = idp_json_get_str(obj, "status", "reason", NULL);
  if (!reason) reason = idp_json_get_str(obj, "status", "phase", NULL);
  if (!reason) reason = "Pending";
  /* a container's waiting/terminated reason wins over the phase, as in the printer */
  const json_t *cs = idp_json_path(obj, "status.containerStatuses");
  size_t i;
  json_t *c;
  json_array_foreach(cs, i, c) {
    const char *w = idp_json_get_str(c, "state", "waiting", "reason", NULL);
    const char *t = idp_json_get_str(c, "state", "terminated", "reason", NULL);
    if (w && *w) reason = w;
    else if (t && *t) reason = t;
  }
  if (idp_json_get(obj, "metadata", "deletionTimestamp", NULL)) reason = "Terminating";
  return json_string(reason);
}

static json_t *cell_pod_restarts(const json_t *obj) {
  const json_t *cs = idp_json_path(obj, "status.containerStatuses");
  long long n = 0;
  size_t i;
  json_t *c;
  json_array_foreach(cs, i, c) n += int_at(c, "restartCount", 0);
  return json_integer(n);
}

static json_t *cell_replicas_ready(const json_t *obj) {
  return ratio(int_at(obj, "status.readyReplicas", 0), int_at(obj, "spec.replicas", 1));
}

static json_t *join_field(const json_t *list, const char *field) {
  idp_buf b;
  idp_buf_init(&b, 1 << 16);
  size_t i;
  json_t *c;
  json_array_foreach(list, i, c) {
    const char *s = json_string_value(json_object_get(c, field));
    if (s) idp_buf_printf(&b, "%s%s", b.len ? "," : "", s);
  }
  json_t *r = json_string(idp_buf_str(&b));
  idp_buf_free(&b);
  return r;
}

static const json_t *pod_spec_containers(const json_t *obj) {
  const json_t *c = idp_json_path(obj, "spec.template.spec.containers");
  if (!c) c = idp_json_path(obj, "spec.jobTemplate.spec.template.spec.containers");
  return c;
}

static json_t *cell_containers(const json_t *obj) {
  return join_field(pod_spec_containers(obj), "name");
}

static json_t *cell_images(const json_t *obj) {
  return join_field(pod_spec_containers(obj), "image");
}

static json_t *cell_selector(const json_t *obj) {
  const json_t *sel = idp_json_path(obj, "spec.selector");
  if (!sel) return json_string("<none>");
  idp_selector *s;
  if (idp_selector_from_json(sel, &s, NULL)) return json_string("<invalid>");
  char *txt = idp_selector_string(s);
  idp_selector_free(s);
  json_t *r = json_string(txt && *txt ? txt : "<none>");
  free(txt);
  return r;
}

/* map[string]string selector (Service, ReplicationController), sorted by key. */
static json_t *cell_map_selector(const json_t *obj) {
  const json_t *sel = idp_json_path(obj, "spec.selector");
  if (!json_is_object(sel) || json_object_size(sel) == 0) return json_string("<none>");
  const char *keys[256];
  size_t n = 0;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)sel, k, v) {
    if (n < IDP_ARRAY_LEN(keys)) keys[n++] = k;
  }
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
      const char *t = keys[j];
      keys[j] = keys[j - 1];
      keys[j - 1] = t;
    }
  idp_buf b;
  idp_buf_init(&b, 1 << 16);
  for (size_t i = 0; i < n; i++) {
    const char *val = json_string_value(json_object_get(sel, keys[i]));
    idp_buf_printf(&b, "%s%s=%s", i ? "," : "", keys[i], val ? val : "");
  }
  json_t *r = json_string(idp_buf_str(&b));
  idp_buf_free(&b);
  return r;
}

static json_t *cell_service_ports(const json_t *obj) {
  const json_t *ports = idp_json_path(obj, "spec.ports");
  if (json_array_size(ports) == 0) return json_string("<none>");
  idp_buf b;
  idp_buf_init(&b, 1 << 16);
  size_t i;
  json_t *p;
  json_array_foreach(ports, i, p) {
    const char *proto = json_string_value(json_object_get(p, "protocol"));
    long long port = int_at(p, "port", 0), node = int_at(p, "nodePort", 0);
    if (node) idp_buf_printf(&b, "%s%lld:%lld/%s", i ? "," : "", port, node, proto ? proto : "TCP");
    else idp_buf_printf(&b, "%s%lld/%s", i ? "," : "", port, proto ? proto : "TCP");
  }
  json_t *r = json_string(idp_buf_str(&b));
  idp_buf_free(&b);
  return r;
}

static json_t *cell_external_ip(const json_t *obj) {
  const char *type = idp_json_get_str(obj, "spec", "type", NULL);
  idp_buf b;
  idp_buf_init(&b, 1 << 16);
  size_t i;
  json_t *x;
  json_array_foreach(idp_json_path(obj, "spec.externalIPs"), i, x) {
    if (json_is_string(x)) idp_buf_printf(&b, "%s%s", b.len ? "," : "", json_string_value(x));
  }
  json_array_foreach(idp_json_path(obj, "status.loadBalancer.ingress"), i, x) {
    const char *s = json_string_value(json_object_get(x, "ip"));
    if (!s) s = json_string_value(json_object_get(x, "hostname"));
    if (s) idp_buf_printf(&b, "%s%s", b.len ? "," : "", s);
  }
  const char *ext = idp_json_get_str(obj, "spec", "externalName", NULL);
  if (!b.len && type && !strcmp(type, "ExternalName") && ext) idp_buf_adds(&b, ext);
  if (!b.len) idp_buf_adds(&b, type && !strcmp(type, "LoadBalancer") ? "<pending>" : "<none>");
  json_t *r = json_string(idp_buf_str(&b));
  idp_buf_free(&b);
  return r;
}

static json_t *cell_data_count(const json_t *obj) {
  return json_integer((json_int_t)(json_object_size(json_object_get(obj, "data")) +
                                   json_object_size(json_object_get(obj, "binaryData")) +
                                   json_object_size(json_object_get(obj, "stringData"))));
}

static json_t *cell_ns_status(const json_t *obj) {
  const char *p = idp_json_get_str(obj, "status", "phase", NULL);
  return json_string(p ? p : "Active");
}

static json_t *cell_node_status(const json_t *obj) {
  const json_t *conds = idp_json_path(obj, "status.conditions");
  size_t i;
  json_t *c;
  json_array_foreach(conds, i, c) {
    const char *t = json_string_value(json_object_get(c, "type"));
    const char *s = json_string_value(json_object_get(c, "status"));
    if (t && s && !strcmp(t, "Ready")) return json_string(!strcmp(s, "True") ? "Ready" : "NotReady");
  }
  return json_string("Unknown");
}

static json_t *cell_job_completions(const json_t *obj) {
  return ratio(int_at(obj, "status.succeeded", 0), int_at(obj, "spec.completions", 1));
}

static json_t *cell_count_secrets(const json_t *obj) {
  return json_integer((json_int_t)json_array_size(json_object_get(obj, "secrets")));
}

static const struct {
  const char *name;
  cell_fn fn;
} cells[] = {
    {"age", cell_age},
    {"created-at", cell_created_at},
    {"pod-ready", cell_pod_ready},
    {"pod-status", cell_pod_status},
    {"pod-restarts", cell_pod_restarts},
    {"replicas-ready", cell_replicas_ready},
    {"containers", cell_containers},
    {"images", cell_images},
    {"selector", cell_selector},
    {"map-selector", cell_map_selector},
    {"service-ports", cell_service_ports},
    {"external-ip", cell_external_ip},
    {"data-count", cell_data_count},
    {"namespace-status", cell_ns_status},
    {"node-status", cell_node_status},
    {"job-completions", cell_job_completions},
    {"secret-count", cell_count_secrets},
};

static cell_fn find_cell(const char *name) {
  for (size_t i = 0; name && i < IDP_ARRAY_LEN(cells); i++)
    if (!strcmp(cells[i].name, name)) return cells[i].fn;
  return NULL;
}

/* ---- builtin columns (pkg/printers/internalversion/printers.go), as data ---- */

#define COL(n, t, how) "{\"name\":\"" n "\",\"type\":\"" t "\"," how "}"
#define COLP(n, t, how) "{\"name\":\"" n "\",\"type\":\"" t "\",\"priority\":1," how "}"
#define JP(p) "\"jsonPath\":\"" p "\""
#define CELL(c) "\"cell\":\"" c "\""
#define AGE COL("Age", "string", CELL("age"))

static const char builtin_text[] =
    "{"
    "\"Pod\":[" COL("Ready", "string", CELL("pod-ready")) "," COL("Status", "string", CELL("pod-status"))
    "," COL("Restarts", "string", CELL("pod-restarts")) "," AGE "," COLP("IP", "string", JP(".status.podIP"))
    "," COLP("Node", "string", JP(".spec.nodeName")) "," COLP("Nominated Node", "string",
    JP(".status.nominatedNodeName")) "," COLP("Readiness Gates", "string", JP(".spec.readinessGates")) "],"
    "\"apps/Deployment\":[" COL("Ready", "string", CELL("replicas-ready")) "," COL("Up-to-date", "integer",
    JP(".status.updatedReplicas")) "," COL("Available", "integer", JP(".status.availableReplicas")) "," AGE
    "," COLP("Containers", "string", CELL("containers")) "," COLP("Images", "string", CELL("images"))
    "," COLP("Selector", "string", CELL("selector")) "],"
    "\"apps/ReplicaSet\":[" COL("Desired", "integer", JP(".spec.replicas")) "," COL("Current", "integer",
    JP(".status.replicas")) "," COL("Ready", "integer", JP(".status.readyReplicas")) "," AGE
    "," COLP("Containers", "string", CELL("containers")) "," COLP("Images", "string", CELL("images"))
    "," COLP("Selector", "string", CELL("selector")) "],"
    "\"apps/StatefulSet\":[" COL("Ready", "string", CELL("replicas-ready")) "," AGE
    "," COLP("Containers", "string", CELL("containers")) "," COLP("Images", "string", CELL("images")) "],"
    "\"apps/DaemonSet\":[" COL("Desired", "integer", JP(".status.desiredNumberScheduled")) ","
    COL("Current", "integer", JP(".status.currentNumberScheduled")) "," COL("Ready", "integer",
    JP(".status.numberReady")) "," COL("Up-to-date", "integer", JP(".status.updatedNumberScheduled"))
    "," COL("Available", "integer", JP(".status.numberAvailable")) "," COL("Node Selector", "string",
    JP(".spec.template.spec.nodeSelector")) "," AGE "," COLP("Containers", "string", CELL("containers"))
    "," COLP("Images", "string", CELL("images")) "," COLP("Selector", "string", CELL("selector")) "],"
    "\"batch/Job\":[" COL("Completions", "string", CELL("job-completions")) "," AGE
    "," COLP("Containers", "string", CELL("containers")) "," COLP("Images", "string", CELL("images"))
    "," COLP("Selector", "string", CELL("selector")) "],"
    "\"batch/CronJob\":[" COL("Schedule", "string", JP(".spec.schedule")) "," COL("Suspend", "boolean",
    JP(".spec.suspend")) "," COL("Last Schedule", "date", JP(".status.lastScheduleTime")) "," AGE
    "," COLP("Containers", "string", CELL("containers")) "," COLP("Images", "string", CELL("images")) "],"
    "\"Service\":[" COL("Type", "string", JP(".spec.type")) "," COL("Cluster-IP", "string", JP(".spec.clusterIP"))
    "," COL("External-IP", "string", CELL("external-ip")) "," COL("Port(s)", "string", CELL("service-ports"))
    "," AGE "," COLP("Selector", "string", CELL("map-selector")) "],"
    "\"ConfigMap\":[" COL("Data", "integer", CELL("data-count")) "," AGE "],"
    "\"Secret\":[" COL("Type", "string", JP(".type")) "," COL("Data", "integer", CELL("data-count")) "," AGE "],"
    "\"Namespace\":[" COL("Status", "string", CELL("namespace-status")) "," AGE "],"
    "\"ServiceAccount\":[" COL("Secrets", "integer", CELL("secret-count")) "," AGE "],"
    "\"Node\":[" COL("Status", "string", CELL("node-status")) "," AGE "," COL("Version", "string",
    JP(".status.nodeInfo.kubeletVersion")) "],"
    "\"PersistentVolumeClaim\":[" COL("Status", "string", JP(".status.phase")) "," COL("Volume", "string",
    JP(".spec.volumeName")) "," COL("Storage Class", "string", JP(".spec.storageClassName")) "," AGE "],"
    "\"Event\":[" COL("Last Seen", "date", JP(".lastTimestamp")) "," COL("Type", "string", JP(".type"))
    "," COL("Reason", "string", JP(".reason")) "," COL("Message", "string", JP(".message")) "],"
    "\"networking.k8s.io/Ingress\":[" COL("Class", "string", JP(".spec.ingressClassName")) "," COL("Hosts",
    "string", JP(".spec.rules[*].host")) "," AGE "],"
    "\"coordination.k8s.io/Lease\":[" COL("Holder", "string", JP(".spec.holderIdentity")) "," AGE "],"
    "\"apiextensions.k8s.io/CustomResourceDefinition\":[" COL("Created At", "date", CELL("created-at")) "]"
    "}";

static json_t *builtins;
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;

static void load_builtins(void) {
  json_error_t je;
  builtins = json_loads(builtin_text, 0, &je);
  assert(builtins); /* the table above is a constant; a parse error is a bug */
}

const json_t *idp_table_builtin_columns(const char *group, const char *kind) {
  if (!kind) return NULL;
  pthread_once(&builtins_once, load_builtins);
  char key[256];
  if (group && *group) snprintf(key, sizeof key, "%s/%s", group, kind);
  else snprintf(key, sizeof key, "%s", kind);
  return json_object_get(builtins, key);
}

/* ---- table ---- */

static const char name_description[] =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

static const char created_description[] =
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "
    "may not set this value. It is represented in RFC3339 form and is in UTC.";

/* Converts the first JSONPath match to a cell of the column's type
 * (apiextensions tableconvertor cellForJSONValue). */
static json_t *typed_cell(const char *type, const json_t *v) {
  if (!v || json_is_null(v)) return json_null();
  if (!strcmp(type, "integer")) {
    if (json_is_integer(v)) return json_incref((json_t *)v);
    if (json_is_real(v)) return json_integer((json_int_t)json_real_value(v));
    return json_null();
  }
  if (!strcmp(type, "number")) return json_is_number(v) ? json_incref((json_t *)v) : json_null();
  if (!strcmp(type, "boolean")) return json_is_boolean(v) ? json_incref((json_t *)v) : json_null();
  if (!strcmp(type, "date")) {
    if (!json_is_string(v)) return json_null();
    long long s = idp_age_seconds(json_string_value(v), now_time());
    char b[32];
    return json_string(s == -1 && !strchr(json_string_value(v), 'T')
                           ? "<invalid>"
                           : idp_duration_human(s, b, sizeof b));
  }
  /* string (and unknown types): printed as jsonpath prints it */
  if (json_is_string(v)) return json_incref((json_t *)v);
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  json_t *r = json_string(s ? s : "");
  free(s);
  return r;
}

static json_t *make_cell(const json_t *col, const json_t *obj) {
  const char *cell = json_string_value(json_object_get(col, "cell"));
  const char *type = json_string_value(json_object_get(col, "type"));
  if (!type) type = "string";
  cell_fn fn = find_cell(cell);
  if (fn) return fn(obj);
  const char *jp = json_string_value(json_object_get(col, "jsonPath"));
  if (!jp) return json_null();
  json_t *res = NULL;
  if (idp_jsonpath_eval(jp, obj, &res, NULL)) return json_null();
  json_t *v = typed_cell(type, json_array_get(res, 0));
  json_decref(res);
  return v;
}

static json_t *column_def(const char *name, const char *type, const char *format,
                          const char *desc, json_int_t priority) {
  return json_pack("{s:s,s:s,s:s,s:s,s:I}", "name", name, "type", type, "format",
                   format ? format : "", "description", desc ? desc : "", "priority", priority);
}

json_t *idp_table_new(const json_t *columns, const json_t *objects, bool include_object,
                      const char *list_rv, const char *cont) {
  json_t *dflt = NULL;
  if (!columns) {
    /* a CR without additionalPrinterColumns prints its age (apiextensions'
     * default column for custom resources) */
    dflt = json_pack("[{s:s,s:s,s:s,s:s}]", "name", "Age", "type", "date", "jsonPath",
                     ".metadata.creationTimestamp", "description", created_description);
    columns = dflt;
  }
  json_t *table = json_pack("{s:s,s:s,s:{},s:[],s:[]}", "kind", "Table", "apiVersion",
                            "meta.k8s.io/v1", "metadata", "columnDefinitions", "rows");
  if (!table) goto fail;
  json_t *meta = json_object_get(table, "metadata");
  if (list_rv && *list_rv) json_object_set_new(meta, "resourceVersion", json_string(list_rv));
  if (cont && *cont) json_object_set_new(meta, "continue", json_string(cont));
  json_t *defs = json_object_get(table, "columnDefinitions");
  if (json_array_append_new(defs, column_def("Name", "string", "name", name_description, 0)))
    goto fail;
  size_t i;
  json_t *col;
  json_array_foreach(columns, i, col) {
    const char *name = json_string_value(json_object_get(col, "name"));
    const char *type = json_string_value(json_object_get(col, "type"));
    json_t *pr = json_object_get(col, "priority");
    if (json_array_append_new(
            defs, column_def(name ? name : "", type ? type : "string",
                             json_string_value(json_object_get(col, "format")),
                             json_string_value(json_object_get(col, "description")),
                             json_is_integer(pr) ? json_integer_value(pr) : 0)))
      goto fail;
  }
  json_t *rows = json_object_get(table, "rows");
  json_t *obj;
  json_array_foreach(objects, i, obj) {
    const char *name = idp_json_get_str(obj, "metadata", "name", NULL);
    json_t *cells_arr = json_array();
    if (!cells_arr) goto fail;
    json_array_append_new(cells_arr, json_string(name ? name : ""));
    size_t j;
    json_array_foreach(columns, j, col) {
      json_t *cell = make_cell(col, obj);
      if (!cell || json_array_append_new(cells_arr, cell)) {
        json_decref(cells_arr);
        goto fail;
      }
    }
    json_t *ro;
    if (include_object) {
      ro = json_incref(obj);
    } else {
      json_t *md = json_object_get(obj, "metadata");
      ro = json_pack("{s:s,s:s,s:o}", "kind", "PartialObjectMetadata", "apiVersion",
                     "meta.k8s.io/v1", "metadata", md ? json_incref(md) : json_object());
    }
    json_t *row = json_pack("{s:o,s:o}", "cells", cells_arr, "object", ro);
    if (!row || json_array_append_new(rows, row)) goto fail;
  }
  json_decref(dflt);
  return table;
fail:
  json_decref(dflt);
  json_decref(table);
  return NULL;
}
