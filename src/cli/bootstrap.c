/* bootstrap.c: see bootstrap.h. */
#include "core/common.h"
#include "cli/bootstrap.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/yaml.h"

#include <fcntl.h>
#include <ftw.h>
#include <git2.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLACEHOLDER "REPO_URL"

static bool is_yaml(const char *path) {
  size_t n = strlen(path);
  return (n > 5 && !strcmp(path + n - 5, ".yaml")) || (n > 4 && !strcmp(path + n - 4, ".yml"));
}

/* Copies one file, replacing the placeholder in YAML files. */
static idp_code copy_file(const char *from, const char *to, const char *url, idp_err *e) {
  idp_buf in, out;
  idp_buf_init(&in, (size_t)16 << 20);
  idp_buf_init(&out, (size_t)32 << 20);
  idp_code rc = idp_buf_read_file(&in, from, e);
  if (!rc && is_yaml(from)) {
    const char *p = idp_buf_str(&in);
    const char *hit;
    while (!rc && (hit = strstr(p, PLACEHOLDER)) != NULL) {
      rc = idp_buf_add(&out, p, (size_t)(hit - p));
      if (!rc) rc = idp_buf_adds(&out, url);
      p = hit + strlen(PLACEHOLDER);
    }
    if (!rc) rc = idp_buf_adds(&out, p);
  } else if (!rc) {
    rc = idp_buf_add(&out, idp_buf_str(&in), in.len);
  }
  if (!rc) {
    FILE *f = fopen(to, "wb");
    if (!f || fwrite(idp_buf_str(&out), 1, out.len, f) != out.len)
      rc = idp_err_set(e, IDP_EIO, "%s: %s", to, strerror(errno));
    if (f && fclose(f) && !rc) rc = idp_err_set(e, IDP_EIO, "%s: %s", to, strerror(errno));
  } else if (rc != IDP_ENOTFOUND && rc != IDP_EIO) {
    idp_err_set(e, rc, "%s: cannot copy", from);
  }
  idp_buf_free(&in);
  idp_buf_free(&out);
  return rc;
}

/* nftw has no user pointer: the walk's state lives here (one bootstrap at
 * a time, from main's thread). */
static struct {
  const char *src, *dst, *url;
  idp_err *e;
  idp_code rc;
} walk;

static int copy_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  IDP_UNUSED(st);
  IDP_UNUSED(ftw);
  const char *rel = path + strlen(walk.src);
  char to[4096];
  if ((size_t)snprintf(to, sizeof to, "%s%s", walk.dst, rel) >= sizeof to) {
    walk.rc = idp_err_set(walk.e, IDP_EINVAL, "%s: path too long", path);
    return 1;
  }
  if (type == FTW_D) {
    if (mkdir(to, 0755) && errno != EEXIST) {
      walk.rc = idp_err_set(walk.e, IDP_EIO, "%s: %s", to, strerror(errno));
      return 1;
    }
  } else if (type == FTW_F) {
    walk.rc = copy_file(path, to, walk.url, walk.e);
    if (walk.rc) return 1;
  }
  return 0;
}

static idp_code git_fail(idp_err *e, const char *what) {
  const git_error *ge = git_error_last();
  return idp_err_set(e, IDP_EIO, "git %s: %s", what, ge && ge->message ? ge->message : "failed");
}

/* git init + add everything + first commit on branch main. */
static idp_code commit_all(const char *dir, idp_err *e) {
  git_repository *repo = NULL;
  git_index *idx = NULL;
  git_signature *sig = NULL;
  git_tree *tree = NULL;
  git_oid tree_id, commit_id;
  idp_code rc = IDP_OK;
  git_repository_init_options o = GIT_REPOSITORY_INIT_OPTIONS_INIT;
  o.initial_head = "main";
  o.flags = GIT_REPOSITORY_INIT_MKPATH;
  if (git_repository_init_ext(&repo, dir, &o)) return git_fail(e, "init");
  if (git_repository_index(&idx, repo) || git_index_add_all(idx, NULL, 0, NULL, NULL) ||
      git_index_write(idx) || git_index_write_tree(&tree_id, idx)) {
    rc = git_fail(e, "add");
    goto out;
  }
  if (git_tree_lookup(&tree, repo, &tree_id) ||
      git_signature_now(&sig, "idp", "idp@localhost") ||
      git_commit_create_v(&commit_id, repo, "HEAD", sig, sig, NULL,
                          "Reference platform, bootstrapped by idp up", tree, 0))
    rc = git_fail(e, "commit");
out:
  git_tree_free(tree);
  git_signature_free(sig);
  git_index_free(idx);
  git_repository_free(repo);
  return rc;
}

idp_code up_bootstrap_repo(const char *src_dir, const char *data_dir, char **repo_dir,
                           idp_err *e) {
  *repo_dir = NULL;
  char dst[4096], url[4200], gitdir[4200];
  char *src_real = realpath(src_dir, NULL);
  if (!src_real) return idp_err_set(e, IDP_ENOTFOUND, "%s: %s", src_dir, strerror(errno));
  char *data_real = realpath(data_dir, NULL);
  if (!data_real) {
    free(src_real);
    return idp_err_set(e, IDP_ENOTFOUND, "%s: %s", data_dir, strerror(errno));
  }
  snprintf(dst, sizeof dst, "%s/platform", data_real);
  snprintf(url, sizeof url, "file://%s", dst);
  snprintf(gitdir, sizeof gitdir, "%s/.git", dst);
  free(data_real);
  idp_code rc = IDP_OK;
  struct stat st;
  if (stat(gitdir, &st) != 0) {
    git_libgit2_init();
    walk.src = src_real;
    walk.dst = dst;
    walk.url = url;
    walk.e = e;
    walk.rc = IDP_OK;
    if (nftw(src_real, copy_entry, 32, FTW_PHYS) != 0 && !walk.rc)
      walk.rc = idp_err_set(e, IDP_EIO, "%s: copy failed", src_real);
    rc = walk.rc;
    if (!rc) rc = commit_all(dst, e);
    git_libgit2_shutdown();
    if (!rc) idp_log(IDP_LOG_INFO, "platform repository created", "path", dst, "url", url, NULL);
  }
  free(src_real);
  if (!rc) *repo_dir = strdup(dst);
  return rc;
}

idp_code up_bootstrap_root(idp_kclient *kc, const char *repo_dir, idp_err *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/clusters/local/root.yaml", repo_dir);
  json_t *docs = NULL;
  idp_code rc = idp_yaml_load_file(path, NULL, &docs, e);
  if (rc) return rc;
  size_t i;
  json_t *obj;
  json_array_foreach(docs, i, obj) {
    idp_kgvr g;
    idp_kref r;
    if ((rc = idp_kclient_ref_for(kc, obj, &g, &r, e))) break;
    idp_kwrite_opts wo = {.field_manager = "idp-bootstrap", .force = true};
    json_t *out = NULL;
    rc = idp_kclient_patch(kc, &r, IDP_PATCH_APPLY, obj, &wo, &out, e);
    json_decref(out);
    if (rc) {
      idp_err_prefix(e, "%s", path);
      break;
    }
  }
  json_decref(docs);
  return rc;
}

static idp_code create_once(idp_kclient *kc, const char *version, const char *resource,
                            const char *ns, json_t *obj, idp_err *e) {
  idp_kref r = {.version = version, .resource = resource, .ns = ns};
  json_t *out = NULL;
  idp_code rc = idp_kclient_create(kc, &r, obj, NULL, &out, e);
  json_decref(out);
  json_decref(obj);
  if (rc == IDP_EEXIST) {
    idp_err_clear(e);
    rc = IDP_OK;
  }
  return rc;
}

idp_code up_bootstrap_secrets(idp_kclient *kc, const char *repo_dir, idp_err *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/bootstrap/secrets.yaml", repo_dir);
  if (access(path, F_OK) != 0) return IDP_OK;
  json_t *doc = NULL;
  idp_code rc = idp_yaml_load_file(path, NULL, &doc, e);
  if (rc) return rc;
  json_t *list = json_array_get(doc, 0);
  size_t i;
  json_t *it;
  json_array_foreach(list, i, it) {
    const char *ns = idp_json_get_str(it, "namespace", NULL);
    const char *name = idp_json_get_str(it, "name", NULL);
    json_t *keys = json_object_get(it, "keys");
    if (!ns || !name || !json_is_array(keys)) {
      rc = idp_err_set(e, IDP_EINVAL, "%s: entry %zu needs namespace, name and keys", path, i);
      break;
    }
    if ((rc = create_once(kc, "v1", "namespaces", NULL,
                          json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                                    "metadata", "name", ns),
                          e)))
      break;
    json_t *data = json_object();
    size_t k;
    json_t *key;
    json_array_foreach(keys, k, key) {
      unsigned char raw[32];
      char hex[65], b64[128];
      if (!json_is_string(key) || RAND_bytes(raw, sizeof raw) != 1) continue;
      for (size_t b = 0; b < sizeof raw; b++) snprintf(hex + 2 * b, 3, "%02x", raw[b]);
      EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)hex, 64);
      json_object_set_new(data, json_string_value(key), json_string(b64));
    }
    json_t *secret = json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:s,s:o}", "apiVersion", "v1", "kind",
                               "Secret", "metadata", "name", name, "namespace", ns, "labels",
                               "app.kubernetes.io/managed-by", "idp-bootstrap", "type", "Opaque",
                               "data", data);
    if ((rc = create_once(kc, "v1", "secrets", ns, secret, e))) break;
  }
  json_decref(doc);
  if (rc) idp_err_prefix(e, "seeding demo secrets");
  return rc;
}

const char *up_find_platform_dir(char *buf, size_t n) {
  struct stat st;
  const char *env = getenv("IDP_PLATFORM_DIR");
  if (env && *env && stat(env, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(buf, n, "%s", env);
    return buf;
  }
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len > 0) {
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    snprintf(buf, n, "%s/../examples/platform", exe);
    if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode)) return buf;
  }
  snprintf(buf, n, "/usr/share/idp/platform");
  if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode)) return buf;
  return NULL;
}
