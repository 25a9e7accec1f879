/* helm.c: `helm template` by exec (posix_spawn, no shell). */
#include "core/common.h"

#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/yaml.h"
#include "gitops/helm.h"

extern char **environ;

bool idp_helm_find(char *out, size_t n) {
  const char *path = getenv("PATH");
  if (!path) return false;
  while (*path) {
    const char *c = strchr(path, ':');
    size_t l = c ? (size_t)(c - path) : strlen(path);
    if (l) {
      snprintf(out, n, "%.*s/helm", (int)l, path);
      struct stat st;
      if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0) return true;
    }
    path += l + (c ? 1 : 0);
  }
  return false;
}

/* Runs argv, collecting stdout (capped by out->max) and stderr (capped). */
static idp_code run_capture(char *const argv[], idp_buf *out, idp_buf *err, int *status,
                            idp_err *e) {
  int po[2], pe[2];
  if (pipe(po)) return idp_err_set(e, IDP_EIO, "pipe: %s", strerror(errno));
  if (pipe(pe)) {
    close(po[0]);
    close(po[1]);
    return idp_err_set(e, IDP_EIO, "pipe: %s", strerror(errno));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, po[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
  posix_spawn_file_actions_addclose(&fa, po[0]);
  posix_spawn_file_actions_addclose(&fa, pe[0]);
  pid_t pid;
  int src = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(po[1]);
  close(pe[1]);
  if (src) {
    close(po[0]);
    close(pe[0]);
    return idp_err_set(e, IDP_EIO, "%s: %s", argv[0], strerror(src));
  }
  struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
  int open_fds = 2;
  idp_code rc = IDP_OK;
  char buf[65536];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = read(fds[i].fd, buf, sizeof buf);
      if (r <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        open_fds--;
        continue;
      }
      /* stderr beyond its cap is dropped; stdout beyond its cap fails */
      idp_buf *b = i == 0 ? out : err;
      if (idp_buf_add(b, buf, (size_t)r) && i == 0 && !rc)
        rc = idp_err_set(e, IDP_ETOOLARGE, "helm template: output larger than %zu bytes",
                         out->max);
    }
  }
  for (int i = 0; i < 2; i++)
    if (fds[i].fd >= 0) close(fds[i].fd);
  while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
  }
  return rc;
}

static void arg(json_t *args, const char *s) { json_array_append_new(args, json_string(s)); }

idp_code idp_helm_template(const idp_helm_args *a, json_t **objects, idp_err *e) {
  *objects = NULL;
  char helm[PATH_MAX];
  if (!idp_helm_find(helm, sizeof helm))
    return idp_err_set(e, IDP_EUNAVAILABLE,
                       "%s: rendering this Helm chart needs helm, which is not installed: put "
                       "'helm' on PATH",
                       a->chart_dir);
  json_t *args = json_array();
  arg(args, helm);
  arg(args, "template");
  arg(args, a->release && *a->release ? a->release : "release-name");
  arg(args, a->chart_dir);
  if (a->namespace_ && *a->namespace_) {
    arg(args, "--namespace");
    arg(args, a->namespace_);
  }
  if (a->include_crds) arg(args, "--include-crds");
  if (a->skip_tests) arg(args, "--skip-tests");
  if (a->kube_version && *a->kube_version) {
    arg(args, "--kube-version");
    arg(args, a->kube_version);
  }
  size_t i;
  json_t *v;
  json_array_foreach(a->api_versions, i, v) {
    if (!json_is_string(v)) continue;
    arg(args, "--api-versions");
    arg(args, json_string_value(v));
  }
  json_array_foreach(a->value_files, i, v) {
    if (!json_is_string(v)) continue;
    arg(args, "--values");
    arg(args, json_string_value(v));
  }
  char tmpl[PATH_MAX];
  const char *tmpdir = getenv("TMPDIR");
  snprintf(tmpl, sizeof tmpl, "%s/idp-helm-values-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
  bool have_tmp = false;
  idp_code rc = IDP_OK;
  if (a->values || (a->values_text && *a->values_text)) {
    int fd = mkstemp(tmpl); /* mode 0600: values may hold secrets */
    if (fd < 0) {
      json_decref(args);
      return idp_err_set(e, IDP_EIO, "helm values: mkstemp: %s", strerror(errno));
    }
    have_tmp = true;
    char *text = a->values ? json_dumps(a->values, 0) : strdup(a->values_text);
    size_t tl = text ? strlen(text) : 0;
    bool ok = text && write(fd, text, tl) == (ssize_t)tl;
    free(text);
    close(fd);
    if (!ok) rc = idp_err_set(e, IDP_EIO, "helm values: cannot write a temporary file");
    arg(args, "--values");
    arg(args, tmpl);
  }
  json_array_foreach(a->parameters, i, v) {
    const char *pn = idp_json_get_str(v, "name", NULL), *pv = idp_json_get_str(v, "value", NULL);
    if (!pn) continue;
    idp_buf kv;
    idp_buf_init(&kv, 1 << 20);
    idp_buf_printf(&kv, "%s=%s", pn, pv ? pv : "");
    arg(args, json_is_true(json_object_get(v, "forceString")) ? "--set-string" : "--set");
    arg(args, idp_buf_str(&kv));
    idp_buf_free(&kv);
  }
  size_t na = json_array_size(args);
  char **argv = calloc(na + 1, sizeof *argv);
  if (!argv && !rc) rc = idp_err_set(e, IDP_ENOMEM, "out of memory");
  for (size_t k = 0; argv && k < na; k++)
    argv[k] = (char *)json_string_value(json_array_get(args, k));
  idp_buf out, err;
  idp_buf_init(&out, IDP_BUF_DEFAULT_MAX);
  idp_buf_init(&err, 8192);
  int status = 0;
  if (!rc) rc = run_capture(argv, &out, &err, &status, e);
  if (have_tmp) unlink(tmpl);
  if (!rc && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    rc = idp_err_set(e, IDP_EINVALID, "%s: helm template failed: %.600s", a->chart_dir,
                     idp_buf_str(&err));
  json_t *docs = NULL;
  if (!rc)
    rc = idp_yaml_load(idp_buf_str(&out), out.len, "helm template output", NULL, &docs, e);
  if (!rc) {
    json_t *objs = json_array();
    json_array_foreach(docs, i, v) {
      if (json_is_object(v)) json_array_append(objs, v);
    }
    *objects = objs;
  }
  json_decref(docs);
  idp_buf_free(&out);
  idp_buf_free(&err);
  free(argv);
  json_decref(args);
  return rc;
}
