/* pss.c: validate.podSecurity — Pod Security Standards (baseline and
 * restricted) as a table of controls, each a check over the pod spec and
 * its containers.  `exclude` entries waive a control (for the listed
 * images only when `images` is given). */
#include "core/common.h"

#include "core/json.h"
#include "policy/internal.h"

typedef enum { LVL_BASELINE = 1, LVL_RESTRICTED = 2 } pss_level;

typedef struct {
  const json_t *spec;
  const json_t *meta; /* pod (template) metadata: AppArmor annotations */
  const json_t *exclude;
  char *msg;
  size_t n;
  bool failed;
} pss_ctx;

static const char *const container_lists[] = {"containers", "initContainers", "ephemeralContainers"};

static bool excluded(const pss_ctx *c, const char *control, const json_t *container) {
  for (size_t i = 0; i < json_array_size(c->exclude); i++) {
    const json_t *x = json_array_get(c->exclude, i);
    const char *cn = idp_json_get_str(x, "controlName", NULL);
    if (!cn || strcasecmp(cn, control) != 0) continue;
    const json_t *imgs = json_object_get(x, "images");
    if (!json_array_size(imgs)) return true;
    const char *img = idp_json_get_str(container, "image", NULL);
    for (size_t j = 0; img && j < json_array_size(imgs); j++)
      if (pol_wild(json_string_value(json_array_get(imgs, j)), img)) return true;
  }
  return false;
}

static void violate(pss_ctx *c, const char *control, const char *detail) {
  size_t l = strlen(c->msg);
  snprintf(c->msg + l, c->n - l, "%s%s (%s)", c->failed ? "; " : "", control, detail);
  c->failed = true;
}

/* Pod-level check helper: container == NULL means pod level. */
typedef void (*check_fn)(pss_ctx *c, const char *control, const json_t *container);

static void each_container(pss_ctx *c, const char *control, check_fn fn) {
  for (size_t l = 0; l < IDP_ARRAY_LEN(container_lists); l++) {
    const json_t *cs = json_object_get(c->spec, container_lists[l]);
    for (size_t i = 0; i < json_array_size(cs); i++) {
      const json_t *ct = json_array_get(cs, i);
      if (!excluded(c, control, ct)) fn(c, control, ct);
    }
  }
}

static void c_host_ns(pss_ctx *c, const char *control, const json_t *ct) {
  IDP_UNUSED(ct);
  static const char *const f[] = {"hostNetwork", "hostPID", "hostIPC"};
  for (size_t i = 0; i < 3; i++)
    if (json_is_true(json_object_get(c->spec, f[i]))) violate(c, control, f[i]);
}

static void c_privileged(pss_ctx *c, const char *control, const json_t *ct) {
  if (json_is_true(idp_json_get(ct, "securityContext", "privileged", NULL)))
    violate(c, control, "privileged");
}

static void c_host_process(pss_ctx *c, const char *control, const json_t *ct) {
  const json_t *sc = ct ? json_object_get(ct, "securityContext") : json_object_get(c->spec, "securityContext");
  if (json_is_true(idp_json_get(sc, "windowsOptions", "hostProcess", NULL)))
    violate(c, control, "hostProcess");
}

static const char *const baseline_caps[] = {"AUDIT_WRITE", "CHOWN",  "DAC_OVERRIDE", "FOWNER",
                                            "FSETID",      "KILL",   "MKNOD",        "NET_BIND_SERVICE",
                                            "SETFCAP",     "SETGID", "SETPCAP",      "SETUID",
                                            "SYS_CHROOT"};

static void c_caps_baseline(pss_ctx *c, const char *control, const json_t *ct) {
  const json_t *add = idp_json_get(ct, "securityContext", "capabilities", "add", NULL);
  for (size_t i = 0; i < json_array_size(add); i++) {
    const char *cap = json_string_value(json_array_get(add, i));
    bool ok = false;
    for (size_t k = 0; cap && k < IDP_ARRAY_LEN(baseline_caps); k++)
      if (strcmp(cap, baseline_caps[k]) == 0) ok = true;
    if (!ok) violate(c, control, cap ? cap : "capability");
  }
}

static void c_host_ports(pss_ctx *c, const char *control, const json_t *ct) {
  const json_t *ports = json_object_get(ct, "ports");
  for (size_t i = 0; i < json_array_size(ports); i++) {
    double hp;
    if (pol_json_number(json_object_get(json_array_get(ports, i), "hostPort"), &hp) && hp != 0)
      violate(c, control, "hostPort");
  }
}

static void c_selinux(pss_ctx *c, const char *control, const json_t *ct) {
  const json_t *se = ct ? idp_json_get(ct, "securityContext", "seLinuxOptions", NULL)
                        : idp_json_get(c->spec, "securityContext", "seLinuxOptions", NULL);
  if (!json_is_object(se)) return;
  const char *type = idp_json_get_str(se, "type", NULL);
  if (type && *type && strcmp(type, "container_t") != 0 && strcmp(type, "container_init_t") != 0 &&
      strcmp(type, "container_kvm_t") != 0)
    violate(c, control, "seLinuxOptions.type");
  if (idp_json_get_str(se, "user", NULL) && *idp_json_get_str(se, "user", NULL))
    violate(c, control, "seLinuxOptions.user");
  if (idp_json_get_str(se, "role", NULL) && *idp_json_get_str(se, "role", NULL))
    violate(c, control, "seLinuxOptions.role");
}

static void c_proc_mount(pss_ctx *c, const char *control, const json_t *ct) {
  const char *pm = idp_json_get_str(ct, "securityContext", "procMount", NULL);
  if (pm && strcmp(pm, "Default") != 0) violate(c, control, "procMount");
}

static bool seccomp_bad_baseline(const json_t *sc) {
  const char *t = idp_json_get_str(sc, "seccompProfile", "type", NULL);
  return t && strcmp(t, "Unconfined") == 0;
}

static void c_seccomp_baseline(pss_ctx *c, const char *control, const json_t *ct) {
  const json_t *sc = ct ? json_object_get(ct, "securityContext") : json_object_get(c->spec, "securityContext");
  if (seccomp_bad_baseline(sc)) violate(c, control, "seccompProfile Unconfined");
}

static void c_apparmor(pss_ctx *c, const char *control, const json_t *ct) {
  const char *t = ct ? idp_json_get_str(ct, "securityContext", "appArmorProfile", "type", NULL)
                     : idp_json_get_str(c->spec, "securityContext", "appArmorProfile", "type", NULL);
  if (t && strcmp(t, "RuntimeDefault") != 0 && strcmp(t, "Localhost") != 0)
    violate(c, control, "appArmorProfile");
  if (ct) return;
  /* the annotation form: runtime/default or localhost/<profile> only */
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)json_object_get(c->meta, "annotations"), k, v) {
    if (strncmp(k, "container.apparmor.security.beta.kubernetes.io/", 47) != 0) continue;
    const char *val = json_string_value(v);
    if (!val || (strcmp(val, "runtime/default") != 0 && strncmp(val, "localhost/", 10) != 0))
      violate(c, control, k);
  }
}

static const char *const safe_sysctls[] = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes"};

static void c_sysctls(pss_ctx *c, const char *control, const json_t *ct) {
  IDP_UNUSED(ct);
  const json_t *s = idp_json_get(c->spec, "securityContext", "sysctls", NULL);
  for (size_t i = 0; i < json_array_size(s); i++) {
    const char *n = idp_json_get_str(json_array_get(s, i), "name", NULL);
    bool ok = false;
    for (size_t k = 0; n && k < IDP_ARRAY_LEN(safe_sysctls); k++)
      if (strcmp(n, safe_sysctls[k]) == 0) ok = true;
    if (!ok) violate(c, control, n ? n : "sysctl");
  }
}

static void c_host_path(pss_ctx *c, const char *control, const json_t *ct) {
  IDP_UNUSED(ct);
  const json_t *vols = json_object_get(c->spec, "volumes");
  for (size_t i = 0; i < json_array_size(vols); i++)
    if (json_object_get(json_array_get(vols, i), "hostPath")) violate(c, control, "hostPath");
}

static const char *const restricted_volumes[] = {"configMap", "csi", "downwardAPI", "emptyDir",
                                                 "ephemeral", "persistentVolumeClaim", "projected",
                                                 "secret"};

static void c_volume_types(pss_ctx *c, const char *control, const json_t *ct) {
  IDP_UNUSED(ct);
  const json_t *vols = json_object_get(c->spec, "volumes");
  for (size_t i = 0; i < json_array_size(vols); i++) {
    const char *k;
    json_t *v;
    json_object_foreach(json_array_get(vols, i), k, v) {
      if (strcmp(k, "name") == 0) continue;
      bool ok = false;
      for (size_t r = 0; r < IDP_ARRAY_LEN(restricted_volumes); r++)
        if (strcmp(k, restricted_volumes[r]) == 0) ok = true;
      if (!ok) violate(c, control, k);
    }
  }
}

static void c_priv_esc(pss_ctx *c, const char *control, const json_t *ct) {
  if (!json_is_false(idp_json_get(ct, "securityContext", "allowPrivilegeEscalation", NULL)))
    violate(c, control, "allowPrivilegeEscalation != false");
}

static void c_non_root(pss_ctx *c, const char *control, const json_t *ct) {
  const json_t *pod = idp_json_get(c->spec, "securityContext", "runAsNonRoot", NULL);
  const json_t *v = idp_json_get(ct, "securityContext", "runAsNonRoot", NULL);
  if (json_is_false(v) || (!v && !json_is_true(pod))) violate(c, control, "runAsNonRoot != true");
}

static void c_non_root_user(pss_ctx *c, const char *control, const json_t *ct) {
  double u;
  const json_t *v = ct ? idp_json_get(ct, "securityContext", "runAsUser", NULL)
                       : idp_json_get(c->spec, "securityContext", "runAsUser", NULL);
  if (pol_json_number(v, &u) && u == 0) violate(c, control, "runAsUser=0");
}

static void c_seccomp_restricted(pss_ctx *c, const char *control, const json_t *ct) {
  const char *pod = idp_json_get_str(c->spec, "securityContext", "seccompProfile", "type", NULL);
  const char *t = idp_json_get_str(ct, "securityContext", "seccompProfile", "type", NULL);
  const char *eff = t ? t : pod;
  if (!eff || (strcmp(eff, "RuntimeDefault") != 0 && strcmp(eff, "Localhost") != 0))
    violate(c, control, "seccompProfile");
}

static void c_caps_restricted(pss_ctx *c, const char *control, const json_t *ct) {
  const json_t *caps = idp_json_get(ct, "securityContext", "capabilities", NULL);
  const json_t *drop = json_object_get(caps, "drop");
  bool all = false;
  for (size_t i = 0; i < json_array_size(drop); i++)
    if (json_is_string(json_array_get(drop, i)) &&
        strcmp(json_string_value(json_array_get(drop, i)), "ALL") == 0)
      all = true;
  if (!all) violate(c, control, "capabilities.drop must include ALL");
  const json_t *add = json_object_get(caps, "add");
  for (size_t i = 0; i < json_array_size(add); i++) {
    const char *cap = json_string_value(json_array_get(add, i));
    if (!cap || strcmp(cap, "NET_BIND_SERVICE") != 0) violate(c, control, cap ? cap : "capability");
  }
}

/* The controls: name, level, pod-level check, container-level check. */
static const struct {
  const char *name;
  pss_level level;
  check_fn pod, container;
} controls[] = {
    {"HostProcess", LVL_BASELINE, c_host_process, c_host_process},
    {"Host Namespaces", LVL_BASELINE, c_host_ns, NULL},
    {"Privileged Containers", LVL_BASELINE, NULL, c_privileged},
    {"Capabilities", LVL_BASELINE, NULL, c_caps_baseline},
    {"HostPath Volumes", LVL_BASELINE, c_host_path, NULL},
    {"Host Ports", LVL_BASELINE, NULL, c_host_ports},
    {"AppArmor", LVL_BASELINE, c_apparmor, c_apparmor},
    {"SELinux", LVL_BASELINE, c_selinux, c_selinux},
    {"/proc Mount Type", LVL_BASELINE, NULL, c_proc_mount},
    {"Seccomp", LVL_BASELINE, c_seccomp_baseline, c_seccomp_baseline},
    {"Sysctls", LVL_BASELINE, c_sysctls, NULL},
    {"Volume Types", LVL_RESTRICTED, c_volume_types, NULL},
    {"Privilege Escalation", LVL_RESTRICTED, NULL, c_priv_esc},
    {"Running as Non-root", LVL_RESTRICTED, NULL, c_non_root},
    {"Running as Non-root user", LVL_RESTRICTED, c_non_root_user, c_non_root_user},
    {"Seccomp", LVL_RESTRICTED, NULL, c_seccomp_restricted},
    {"Capabilities", LVL_RESTRICTED, NULL, c_caps_restricted},
};

static const json_t *pod_spec(const json_t *obj) {
  const char *kind = idp_json_get_str(obj, "kind", NULL);
  if (!kind) return NULL;
  if (strcmp(kind, "Pod") == 0) return json_object_get(obj, "spec");
  if (strcmp(kind, "CronJob") == 0)
    return idp_json_get(obj, "spec", "jobTemplate", "spec", "template", "spec", NULL);
  return idp_json_get(obj, "spec", "template", "spec", NULL);
}

int pol_pss_check(const json_t *obj, const json_t *ps, char *msg, size_t n) {
  const char *level = idp_json_get_str(ps, "level", NULL);
  msg[0] = 0;
  if (!level || strcmp(level, "privileged") == 0) return 1;
  pss_level lvl = strcmp(level, "restricted") == 0 ? LVL_RESTRICTED : LVL_BASELINE;
  const json_t *spec = pod_spec(obj);
  if (!json_is_object(spec)) return 1;
  const char *kind = idp_json_get_str(obj, "kind", NULL);
  const json_t *meta = strcmp(kind, "Pod") == 0 ? json_object_get(obj, "metadata")
                       : strcmp(kind, "CronJob") == 0
                           ? idp_json_get(obj, "spec", "jobTemplate", "spec", "template", "metadata", NULL)
                           : idp_json_get(obj, "spec", "template", "metadata", NULL);
  pss_ctx c = {spec, meta, json_object_get(ps, "exclude"), msg, n, false};
  for (size_t i = 0; i < IDP_ARRAY_LEN(controls); i++) {
    if (controls[i].level > lvl) continue;
    /* the restricted Seccomp/Capabilities replace the baseline ones */
    if (lvl == LVL_RESTRICTED && controls[i].level == LVL_BASELINE &&
        (strcmp(controls[i].name, "Capabilities") == 0 || strcmp(controls[i].name, "Seccomp") == 0))
      continue;
    bool pod_excluded = false;
    for (size_t j = 0; j < json_array_size(c.exclude); j++) {
      const json_t *x = json_array_get(c.exclude, j);
      const char *cn = idp_json_get_str(x, "controlName", NULL);
      if (cn && strcasecmp(cn, controls[i].name) == 0 && !json_array_size(json_object_get(x, "images")))
        pod_excluded = true;
    }
    if (controls[i].pod && !pod_excluded) controls[i].pod(&c, controls[i].name, NULL);
    if (controls[i].container) each_container(&c, controls[i].name, controls[i].container);
  }
  return c.failed ? 0 : 1;
}
