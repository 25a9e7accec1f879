/* kustomize_gen.c: configMapGenerator / secretGenerator and kustomize's
 * name-suffix hash.
 *
 * Data sources are read in kustomize's order (envs, then literals, then
 * files); a key may appear once.  Values that are not valid UTF-8 go to a
 * ConfigMap's binaryData.  The hash is kustomize's: sha256 over the Go JSON
 * encoding of {data, kind, name:""} (+binaryData) for a ConfigMap,
 * {data, kind, name:"", type} (+stringData) for a Secret, its first ten hex
 * digits with 0,1,3,a,e mapped to g,h,k,m,t (so no vowels make words). */
#include "core/common.h"

#include <openssl/evp.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/json.h"
#include "gitops/kustomize.h"
#include "gitops/kustomize_int.h"

/* ------------------------------------------------------------ Go JSON */

static idp_code gojson_string(idp_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  idp_code rc = idp_buf_addc(b, '"');
  for (size_t i = 0; i < n && !rc; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char t[2] = {'\\', (char)c};
      rc = idp_buf_add(b, t, 2);
    } else if (c == '\n') {
      rc = idp_buf_adds(b, "\\n");
    } else if (c == '\r') {
      rc = idp_buf_adds(b, "\\r");
    } else if (c == '\t') {
      rc = idp_buf_adds(b, "\\t");
    } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
      char t[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      rc = idp_buf_add(b, t, 6);
    } else if (c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
               ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9)) {
      rc = idp_buf_adds(b, (unsigned char)s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
      i += 2;
    } else {
      rc = idp_buf_addc(b, (char)c);
    }
  }
  if (!rc) rc = idp_buf_addc(b, '"');
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

idp_code idp_kustomize_gojson(idp_buf *b, const json_t *v, idp_err *e) {
  idp_code rc = IDP_OK;
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    size_t n = json_object_size(v), i = 0;
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys) return idp_err_set(e, IDP_ENOMEM, "out of memory");
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) keys[i++] = k;
    idp_sort(keys, n, sizeof *keys, cmp_str);
    rc = idp_buf_addc(b, '{');
    for (i = 0; i < n && !rc; i++) {
      if (i) rc = idp_buf_addc(b, ',');
      if (!rc) rc = gojson_string(b, keys[i], strlen(keys[i]));
      if (!rc) rc = idp_buf_addc(b, ':');
      if (!rc) rc = idp_kustomize_gojson(b, json_object_get(v, keys[i]), e);
    }
    free(keys);
    if (!rc) rc = idp_buf_addc(b, '}');
    break;
  }
  case JSON_ARRAY: {
    rc = idp_buf_addc(b, '[');
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      if (i && !rc) rc = idp_buf_addc(b, ',');
      if (!rc) rc = idp_kustomize_gojson(b, x, e);
    }
    if (!rc) rc = idp_buf_addc(b, ']');
    break;
  }
  case JSON_STRING:
    rc = gojson_string(b, json_string_value(v), json_string_length(v));
    break;
  case JSON_INTEGER:
    rc = idp_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    break;
  case JSON_REAL:
    rc = idp_buf_printf(b, "%.17g", json_real_value(v));
    break;
  case JSON_TRUE:
    rc = idp_buf_adds(b, "true");
    break;
  case JSON_FALSE:
    rc = idp_buf_adds(b, "false");
    break;
  case JSON_NULL:
    rc = idp_buf_adds(b, "null");
    break;
  }
  if (rc && e && !e->code) idp_err_set(e, rc, "kustomize hash: value too large");
  return rc;
}

/* ------------------------------------------------------------ hash */

idp_code idp_kustomize_hash(const json_t *obj, char out[11], idp_err *e) {
  const char *kind = idp_json_get_str(obj, "kind", NULL);
  json_t *m = NULL;
  if (kind && !strcmp(kind, "ConfigMap")) {
    json_t *data = json_object_get(obj, "data");
    m = json_object();
    json_object_set_new(m, "kind", json_string("ConfigMap"));
    json_object_set_new(m, "name", json_string(""));
    json_object_set_new(m, "data", data ? json_incref(data) : json_string(""));
    json_t *bd = json_object_get(obj, "binaryData");
    if (json_is_object(bd)) json_object_set(m, "binaryData", bd);
  } else if (kind && !strcmp(kind, "Secret")) {
    json_t *data = json_object_get(obj, "data");
    const char *type = idp_json_get_str(obj, "type", NULL);
    m = json_pack("{s:s, s:s, s:s}", "kind", "Secret", "name", "", "type", type ? type : "");
    json_object_set_new(m, "data", data ? json_incref(data) : json_string(""));
    json_t *sd = json_object_get(obj, "stringData");
    if (json_is_object(sd)) json_object_set(m, "stringData", sd);
  } else {
    return idp_err_set(e, IDP_EUNSUPPORTED, "kustomize hash: only ConfigMap and Secret objects "
                       "get a name hash (kind %s)", kind ? kind : "(none)");
  }
  if (!m) return idp_err_set(e, IDP_ENOMEM, "kustomize hash: out of memory");
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  idp_code rc = idp_kustomize_gojson(&b, m, e);
  json_decref(m);
  if (rc) {
    idp_buf_free(&b);
    return rc;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (!EVP_Digest(b.data ? b.data : "", b.len, md, &mdlen, EVP_sha256(), NULL)) {
    idp_buf_free(&b);
    return idp_err_set(e, IDP_EINTERNAL, "kustomize hash: sha256 failed");
  }
  idp_buf_free(&b);
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 10; i++) {
    char c = hex[(md[i / 2] >> (i % 2 ? 0 : 4)) & 15];
    switch (c) {
    case '0': c = 'g'; break;
    case '1': c = 'h'; break;
    case '3': c = 'k'; break;
    case 'a': c = 'm'; break;
    case 'e': c = 't'; break;
    default: break;
    }
    out[i] = c;
  }
  out[10] = '\0';
  return IDP_OK;
}

idp_code kgen_hash_names(kset *s, idp_err *e) {
  for (size_t i = 0; i < s->n; i++) {
    kres *r = s->v[i];
    if (!r->needs_hash) continue;
    char h[11];
    idp_code rc = idp_kustomize_hash(r->obj, h, e);
    if (rc) return rc;
    kres_store_prev(r);
    char name[1024];
    snprintf(name, sizeof name, "%s-%s", kres_name(r), h);
    kres_set_name(r, name);
    r->needs_hash = false;
  }
  return IDP_OK;
}

/* ------------------------------------------------------------ data sources */

static bool utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

static bool valid_key(const char *k) {
  size_t n = strlen(k);
  if (n == 0 || n > 253) return false;
  for (size_t i = 0; i < n; i++) {
    char c = k[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_' || c == '.'))
      return false;
  }
  return strcmp(k, ".") && strcmp(k, "..");
}

static bool env_name_valid(const char *k, size_t n) {
  if (n == 0) return false;
  if (k[0] >= '0' && k[0] <= '9') return false;
  for (size_t i = 0; i < n; i++) {
    char c = k[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_' || c == '.'))
      return false;
  }
  return true;
}

/* pairs: object key -> string value (JSON strings hold bytes incl. NUL
 * via json_stringn_nocheck). */
typedef struct gctx {
  const char *kpath;
  const char *gname;
  const char *dir;
  json_t *pairs;
} gctx;

static idp_code add_pair(gctx *g, const char *key, const char *val, size_t vlen, idp_err *e) {
  if (!valid_key(key))
    return idp_err_set(e, IDP_EINVAL,
                       "%s: generator '%s': \"%s\" is not a valid key name: a valid config key "
                       "must consist of alphanumeric characters, '-', '_' or '.'",
                       g->kpath, g->gname, key);
  if (json_object_get(g->pairs, key))
    return idp_err_set(e, IDP_EINVAL, "%s: configmap %s illegally repeats the key `%s`", g->kpath,
                       g->gname, key);
  json_object_set_new(g->pairs, key, json_stringn_nocheck(val, vlen));
  return IDP_OK;
}

static idp_code read_env_file(gctx *g, const char *rel, idp_err *e) {
  char p[PATH_MAX];
  idp_code rc = kfile_resolve(g->dir, rel, p, sizeof p, g->kpath, "envs", e);
  if (rc) return rc;
  idp_buf b;
  idp_buf_init(&b, 16 << 20);
  rc = idp_buf_read_file(&b, p, e);
  if (rc) {
    idp_buf_free(&b);
    idp_err_prefix(e, "%s: generator '%s'", g->kpath, g->gname);
    return rc;
  }
  const char *s = idp_buf_str(&b), *end = s + b.len;
  int lineno = 0;
  while (s < end && !rc) {
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *le = nl ? nl : end;
    const char *ls = s;
    s = nl ? nl + 1 : end;
    size_t n = (size_t)(le - ls);
    if (n && ls[n - 1] == '\r') n--; /* bufio.ScanLines drops a trailing \r */
    if (!utf8_valid((const unsigned char *)ls, n)) {
      rc = idp_err_set(e, IDP_EINVAL, "%s: line %d has invalid utf8 bytes", p, lineno + 1);
      break;
    }
    if (lineno == 0 && n >= 3 && !memcmp(ls, "\xef\xbb\xbf", 3)) ls += 3, n -= 3;
    lineno++;
    while (n && (*ls == ' ' || *ls == '\t' || *ls == '\v' || *ls == '\f' || *ls == '\r'))
      ls++, n--;
    if (!n || *ls == '#') continue;
    const char *eq = memchr(ls, '=', n);
    size_t kl = eq ? (size_t)(eq - ls) : n;
    if (!env_name_valid(ls, kl)) {
      rc = idp_err_set(e, IDP_EINVAL, "%s: line %d: \"%.*s\" is not a valid key name", p, lineno,
                       (int)kl, ls);
      break;
    }
    char key[512];
    snprintf(key, sizeof key, "%.*s", (int)kl, ls);
    if (eq) {
      rc = add_pair(g, key, eq + 1, n - kl - 1, e);
    } else {
      const char *ev = getenv(key);
      rc = add_pair(g, key, ev ? ev : "", ev ? strlen(ev) : 0, e);
    }
  }
  idp_buf_free(&b);
  return rc;
}

static idp_code read_literal(gctx *g, const char *lit, idp_err *e) {
  const char *eq = strchr(lit, '=');
  if (!eq || eq == lit)
    return idp_err_set(e, IDP_EINVAL, "%s: generator '%s': invalid literal source %s, expected "
                       "key=value", g->kpath, g->gname, lit);
  char key[512];
  snprintf(key, sizeof key, "%.*s", (int)(eq - lit), lit);
  const char *v = eq + 1;
  size_t vl = strlen(v);
  if (vl >= 2 && v[0] == v[vl - 1] && (v[0] == '"' || v[0] == '\'')) v++, vl -= 2;
  return add_pair(g, key, v, vl, e);
}

static idp_code read_file_source(gctx *g, const char *src, idp_err *e) {
  const char *eq = strchr(src, '=');
  char key[512];
  const char *rel = src;
  if (eq) {
    if (strchr(eq + 1, '='))
      return idp_err_set(e, IDP_EINVAL, "%s: generator '%s': key names or file paths cannot "
                         "contain '='", g->kpath, g->gname);
    if (eq == src)
      return idp_err_set(e, IDP_EINVAL, "%s: generator '%s': key name for file path %s missing",
                         g->kpath, g->gname, eq + 1);
    if (!eq[1])
      return idp_err_set(e, IDP_EINVAL, "%s: generator '%s': file path for key name %.*s missing",
                         g->kpath, g->gname, (int)(eq - src), src);
    snprintf(key, sizeof key, "%.*s", (int)(eq - src), src);
    rel = eq + 1;
  } else {
    const char *slash = strrchr(src, '/');
    snprintf(key, sizeof key, "%s", slash ? slash + 1 : src);
  }
  char p[PATH_MAX];
  idp_code rc = kfile_resolve(g->dir, rel, p, sizeof p, g->kpath, "files", e);
  if (rc) return rc;
  struct stat st;
  if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
    return idp_err_set(e, IDP_EUNSUPPORTED, "%s: generator '%s': files '%s' is a directory",
                       g->kpath, g->gname, rel);
  idp_buf b;
  idp_buf_init(&b, 16 << 20);
  rc = idp_buf_read_file(&b, p, e);
  if (!rc) rc = add_pair(g, key, idp_buf_str(&b), b.len, e);
  idp_buf_free(&b);
  return rc;
}

static const char *strlist_item(const json_t *list, size_t i) {
  return json_string_value(json_array_get(list, i));
}

static idp_code collect(gctx *g, const json_t *gen, idp_err *e) {
  static const char *const env_keys[] = {"envs", "env"};
  for (size_t k = 0; k < 2; k++) {
    json_t *v = json_object_get(gen, env_keys[k]);
    if (json_is_string(v)) {
      idp_code rc = read_env_file(g, json_string_value(v), e);
      if (rc) return rc;
      continue;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
      const char *s = strlist_item(v, i);
      if (!s) return idp_err_set(e, IDP_EINVAL, "%s: %s[%zu] must be a string", g->kpath,
                                 env_keys[k], i);
      idp_code rc = read_env_file(g, s, e);
      if (rc) return rc;
    }
  }
  json_t *lits = json_object_get(gen, "literals");
  for (size_t i = 0; i < json_array_size(lits); i++) {
    const char *s = strlist_item(lits, i);
    if (!s) return idp_err_set(e, IDP_EINVAL, "%s: generator '%s': literals[%zu] must be a "
                               "string", g->kpath, g->gname, i);
    idp_code rc = read_literal(g, s, e);
    if (rc) return rc;
  }
  json_t *files = json_object_get(gen, "files");
  for (size_t i = 0; i < json_array_size(files); i++) {
    const char *s = strlist_item(files, i);
    if (!s) return idp_err_set(e, IDP_EINVAL, "%s: generator '%s': files[%zu] must be a string",
                               g->kpath, g->gname, i);
    idp_code rc = read_file_source(g, s, e);
    if (rc) return rc;
  }
  return IDP_OK;
}

/* kyaml's encodeBase64: standard base64, and once it is 70 characters or
 * longer, broken into 70-character lines each ending in a newline (the
 * hash sees those newlines too). */
static idp_code b64(const char *s, size_t n, json_t **out) {
  size_t enc = 4 * ((n + 2) / 3);
  unsigned char *buf = malloc(enc + 1);
  char *wrapped = malloc(enc + enc / 70 + 2);
  if (!buf || !wrapped) {
    free(buf);
    free(wrapped);
    return IDP_ENOMEM;
  }
  int len = EVP_EncodeBlock(buf, (const unsigned char *)s, (int)n);
  size_t k = 0;
  bool multi = (size_t)len / 70 + 1 > 1;
  for (size_t i = 0; i < (size_t)len; i += 70) {
    size_t j = i + 70 > (size_t)len ? (size_t)len : i + 70;
    memcpy(wrapped + k, buf + i, j - i);
    k += j - i;
    if (multi) wrapped[k++] = '\n';
  }
  *out = json_stringn(wrapped, k);
  free(buf);
  free(wrapped);
  return *out ? IDP_OK : IDP_ENOMEM;
}

/* Merges string maps: b's entries override a's; new reference. */
static json_t *merge_maps(const json_t *a, const json_t *b) {
  json_t *m = json_is_object(a) ? json_deep_copy(a) : json_object();
  if (json_is_object(b)) json_object_update(m, (json_t *)b);
  return m;
}

static void set_meta_map(json_t *obj, const char *key, json_t *m /* stolen */) {
  json_t *md = idp_json_child_object(obj, "metadata");
  if (json_object_size(m))
    json_object_set_new(md, key, m);
  else {
    json_decref(m);
    json_object_del(md, key);
  }
}

static idp_code gen_one(kset *s, const char *dir, const json_t *gen, bool secret,
                        const json_t *gopts, const char *kpath, size_t idx, idp_err *e) {
  const char *field = secret ? "secretGenerator" : "configMapGenerator";
  if (!json_is_object(gen))
    return idp_err_set(e, IDP_EINVAL, "%s: %s[%zu] must be a map", kpath, field, idx);
  const char *name = idp_json_get_str(gen, "name", NULL);
  if (!name || !*name)
    return idp_err_set(e, IDP_EINVAL, "%s: %s[%zu]: a generator needs a name", kpath, field, idx);
  const char *ns = idp_json_get_str(gen, "namespace", NULL);
  const char *behavior = idp_json_get_str(gen, "behavior", NULL);
  if (!behavior || !*behavior) behavior = "create";
  if (strcmp(behavior, "create") && strcmp(behavior, "merge") && strcmp(behavior, "replace"))
    return idp_err_set(e, IDP_EINVAL, "%s: %s '%s': unknown behavior '%s'", kpath, field, name,
                       behavior);

  /* generatorOptions (global) add to the generator's own options; the
   * generator's own keys win */
  json_t *lopts = json_object_get(gen, "options");
  json_t *labels = merge_maps(json_object_get(gopts, "labels"), json_object_get(lopts, "labels"));
  json_t *annos = merge_maps(json_object_get(gopts, "annotations"),
                             json_object_get(lopts, "annotations"));
  bool nohash = json_is_true(json_object_get(lopts, "disableNameSuffixHash")) ||
                json_is_true(json_object_get(gopts, "disableNameSuffixHash"));
  bool immutable = json_is_true(json_object_get(lopts, "immutable")) ||
                   json_is_true(json_object_get(gopts, "immutable"));

  gctx g = {kpath, name, dir, json_object()};
  idp_code rc = collect(&g, gen, e);
  if (rc) {
    json_decref(g.pairs);
    json_decref(labels);
    json_decref(annos);
    return rc;
  }
  json_t *obj = json_object();
  json_object_set_new(obj, "apiVersion", json_string("v1"));
  json_object_set_new(obj, "kind", json_string(secret ? "Secret" : "ConfigMap"));
  json_t *md = json_object();
  json_object_set_new(md, "name", json_string(name));
  if (ns && *ns) json_object_set_new(md, "namespace", json_string(ns));
  json_object_set_new(obj, "metadata", md);
  set_meta_map(obj, "labels", labels);
  set_meta_map(obj, "annotations", annos);
  json_t *data = json_object(), *bin = json_object();
  const char *k;
  json_t *v;
  json_object_foreach(g.pairs, k, v) {
    const char *sv = json_string_value(v);
    size_t sl = json_string_length(v);
    if (secret || !utf8_valid((const unsigned char *)sv, sl)) {
      json_t *enc = NULL;
      if (b64(sv, sl, &enc)) {
        rc = idp_err_set(e, IDP_ENOMEM, "out of memory");
        break;
      }
      json_object_set_new(secret ? data : bin, k, enc);
    } else {
      json_object_set_new(data, k, json_stringn(sv, sl));
    }
  }
  json_decref(g.pairs);
  /* kustomize always writes a Secret's data map, a ConfigMap's only when
   * it has entries */
  if (secret || json_object_size(data)) json_object_set(obj, "data", data);
  if (json_object_size(bin)) json_object_set(obj, "binaryData", bin);
  json_decref(data);
  json_decref(bin);
  if (secret) {
    const char *type = idp_json_get_str(gen, "type", NULL);
    json_object_set_new(obj, "type", json_string(type && *type ? type : "Opaque"));
  }
  if (immutable) json_object_set_new(obj, "immutable", json_true());
  if (rc) {
    json_decref(obj);
    return rc;
  }

  /* create, merge or replace (kustomize's appendReplaceOrMerge) */
  kres *nr = kres_new(obj);
  if (!nr) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  nr->needs_hash = !nohash;
  nr->gen_kind = secret ? "SecretGenerator" : "ConfigMapGenerator";
  size_t found = SIZE_MAX, nfound = 0;
  for (size_t i = 0; i < s->n; i++)
    if (kres_any_id_equals(s->v[i], "v1", secret ? "Secret" : "ConfigMap", name, ns ? ns : "")) {
      found = i;
      nfound++;
    }
  if (nfound > 1) {
    kres_free(nr);
    return idp_err_set(e, IDP_EINVALID, "%s: %s '%s': matches more than one resource", kpath,
                       field, name);
  }
  if (nfound == 0) {
    if (strcmp(behavior, "create")) {
      kres_free(nr);
      return idp_err_set(e, IDP_EINVALID,
                         "%s: %s '%s': id does not exist; cannot merge or replace", kpath, field,
                         name);
    }
    return kset_push(s, nr, e);
  }
  if (!strcmp(behavior, "create")) {
    kres_free(nr);
    return idp_err_set(e, IDP_EINVALID,
                       "%s: %s '%s': id exists; behavior must be merge or replace", kpath, field,
                       name);
  }
  kres *old = s->v[found];
  /* metadata: labels/annotations merged (new wins), name and namespace and
   * kustomize's bookkeeping from the old object */
  set_meta_map(nr->obj, "labels",
               merge_maps(idp_json_get(old->obj, "metadata", "labels", NULL),
                          idp_json_get(nr->obj, "metadata", "labels", NULL)));
  set_meta_map(nr->obj, "annotations",
               merge_maps(idp_json_get(old->obj, "metadata", "annotations", NULL),
                          idp_json_get(nr->obj, "metadata", "annotations", NULL)));
  kres_set_name(nr, kres_name(old));
  kres_set_ns(nr, kres_ns(old));
  if (!strcmp(behavior, "merge")) {
    static const char *const maps[] = {"data", "binaryData"};
    for (size_t m = 0; m < 2; m++) {
      json_t *merged = merge_maps(json_object_get(old->obj, maps[m]),
                                  json_object_get(nr->obj, maps[m]));
      if (json_object_size(merged))
        json_object_set_new(nr->obj, maps[m], merged);
      else
        json_decref(merged);
    }
  }
  json_decref(nr->prev);
  nr->prev = json_incref(old->prev);
  json_decref(nr->prefixes);
  nr->prefixes = json_incref(old->prefixes);
  json_decref(nr->suffixes);
  nr->suffixes = json_incref(old->suffixes);
  nr->needs_hash = old->needs_hash;
  s->v[found] = nr;
  kres_free(old);
  return IDP_OK;
}

idp_code kgen_run(kset *s, const char *dir, const json_t *kust, const char *kpath, idp_err *e) {
  json_t *gopts = json_object_get(kust, "generatorOptions");
  static const char *const fields[] = {"configMapGenerator", "secretGenerator"};
  for (size_t f = 0; f < 2; f++) {
    json_t *list = json_object_get(kust, fields[f]);
    if (!list || json_is_null(list)) continue;
    if (!json_is_array(list))
      return idp_err_set(e, IDP_EINVAL, "%s: %s must be a list", kpath, fields[f]);
    size_t i;
    json_t *g;
    json_array_foreach(list, i, g) {
      idp_code rc = gen_one(s, dir, g, f == 1, gopts, kpath, i, e);
      if (rc) return rc;
    }
  }
  return IDP_OK;
}
