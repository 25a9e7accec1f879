/* yaml.c: libyaml event stream -> jansson, and jansson -> libyaml emitter.
 * See yaml.h for the resolution rules. */
#include "core/common.h"
#include "core/yaml.h"

#include <math.h>
#include <yaml.h>

const idp_yaml_limits idp_yaml_default_limits = {
    .max_bytes = (size_t)64 << 20,
    .max_depth = 256,
    .max_alias_nodes = 1000000,
};

/* ---- scalar resolution ------------------------------------------------ */

static bool str_in(const char *s, const char *const *list) {
  for (; *list; list++)
    if (!strcmp(s, *list)) return true;
  return false;
}

static const char *const true_words[] = {"y",  "Y",    "yes",  "Yes", "YES", "true",
                                         "True", "TRUE", "on", "On",  "ON",  NULL};
static const char *const false_words[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                          "False", "FALSE", "off", "Off", "OFF", NULL};
static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};

/* Integer forms go-yaml v2 accepts (strconv.ParseInt base 0 after removing
 * '_'), with an optional sign. */
static bool parse_int(const char *s, long long *out) {
  char tmp[128];
  size_t n = 0;
  for (const char *p = s; *p; p++) {
    if (*p == '_') continue;
    if (n + 1 >= sizeof tmp) return false;
    tmp[n++] = *p;
  }
  tmp[n] = '\0';
  if (!n) return false;
  const char *p = tmp;
  bool neg = false;
  if (*p == '+' || *p == '-') neg = (*p++ == '-');
  if (!*p) return false;
  int base = 10;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) base = 16, p += 2;
  else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) base = 8, p += 2;
  else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) base = 2, p += 2;
  else if (p[0] == '0' && p[1]) base = 8, p += 1;
  if (!*p) return false;
  unsigned long long v = 0;
  for (; *p; p++) {
    int d;
    if (*p >= '0' && *p <= '9') d = *p - '0';
    else if (*p >= 'a' && *p <= 'f') d = *p - 'a' + 10;
    else if (*p >= 'A' && *p <= 'F') d = *p - 'A' + 10;
    else return false;
    if (d >= base) return false;
    if (v > (ULLONG_MAX - (unsigned)d) / (unsigned)base) return false;
    v = v * (unsigned)base + (unsigned)d;
  }
  if (neg) {
    if (v > (unsigned long long)LLONG_MAX + 1ULL) return false;
    *out = v == (unsigned long long)LLONG_MAX + 1ULL ? LLONG_MIN : -(long long)v;
  } else {
    if (v > (unsigned long long)LLONG_MAX) return false;
    *out = (long long)v;
  }
  return true;
}

/* ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ after removing '_' */
static bool parse_float(const char *s, double *out) {
  char tmp[128];
  size_t n = 0;
  for (const char *p = s; *p; p++) {
    if (*p == '_') continue;
    if (n + 1 >= sizeof tmp) return false;
    tmp[n++] = *p;
  }
  tmp[n] = '\0';
  const char *p = tmp;
  if (*p == '+' || *p == '-') p++;
  size_t digits = 0;
  if (*p == '.') {
    p++;
    while (*p >= '0' && *p <= '9') p++, digits++;
    if (!digits) return false;
  } else {
    while (*p >= '0' && *p <= '9') p++, digits++;
    if (!digits) return false;
    if (*p == '.') {
      p++;
      while (*p >= '0' && *p <= '9') p++;
    }
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') p++;
    size_t ed = 0;
    while (*p >= '0' && *p <= '9') p++, ed++;
    if (!ed) return false;
  }
  if (*p) return false;
  char *end;
  errno = 0;
  double d = strtod(tmp, &end);
  if (*end || !isfinite(d)) return false;
  *out = d;
  return true;
}

static const char *const core_true_words[] = {"true", "True", "TRUE", NULL};
static const char *const core_false_words[] = {"false", "False", "FALSE", NULL};

static json_t *resolve_plain(const char *s, size_t len, bool core) {
  char small[64];
  char *z = len < sizeof small ? small : malloc(len + 1);
  if (!z) return NULL;
  memcpy(z, s, len);
  z[len] = '\0';
  json_t *v = NULL;
  long long iv;
  double dv;
  if (strlen(z) != len) v = json_stringn(s, len); /* embedded NUL: a string */
  else if (str_in(z, null_words)) v = json_null();
  else if (str_in(z, core ? core_true_words : true_words)) v = json_true();
  else if (str_in(z, core ? core_false_words : false_words)) v = json_false();
  else if (strchr("+-.0123456789", z[0])) {
    if (parse_int(z, &iv)) v = json_integer(iv);
    else if (parse_float(z, &dv)) v = json_real(dv);
  }
  if (!v) v = json_stringn(s, len);
  if (z != small) free(z);
  return v;
}

json_t *idp_yaml_resolve_plain(const char *s, size_t len) { return resolve_plain(s, len, false); }

json_t *idp_yaml_resolve_plain_core(const char *s, size_t len) {
  return resolve_plain(s, len, true);
}

/* Resolution under an explicit tag (!!int, !!bool, ...). */
static json_t *resolve_tagged(const char *tag, const char *s, size_t len, bool *bad) {
  static const char pfx[] = "tag:yaml.org,2002:";
  *bad = false;
  if (strncmp(tag, pfx, sizeof pfx - 1) != 0) return json_stringn(s, len); /* local tag */
  const char *t = tag + sizeof pfx - 1;
  if (!strcmp(t, "str") || !strcmp(t, "binary") || !strcmp(t, "timestamp"))
    return json_stringn(s, len);
  json_t *v = idp_yaml_resolve_plain(s, len);
  if (!v) return NULL;
  bool ok = (!strcmp(t, "int") && json_is_integer(v)) ||
            (!strcmp(t, "float") && json_is_number(v)) ||
            (!strcmp(t, "bool") && json_is_boolean(v)) || (!strcmp(t, "null") && json_is_null(v));
  if (!strcmp(t, "float") && json_is_integer(v)) {
    json_t *r = json_real((double)json_integer_value(v));
    json_decref(v);
    v = r;
  }
  if (!ok && strcmp(t, "merge") != 0) {
    json_decref(v);
    *bad = true;
    return NULL;
  }
  return v;
}

/* ---- loader -------------------------------------------------------------- */

typedef struct anchor {
  char *name;
  json_t *value;
  size_t nodes;
} anchor;

typedef struct frame {
  json_t *node;       /* object or array under construction */
  char *key;          /* pending mapping key, or NULL */
  char *anchor;       /* anchor to register when the node completes */
  json_t *merges;     /* values of "<<" keys, applied at mapping end */
  size_t nodes;       /* nodes inside (for alias budgets) */
  bool key_is_merge;
} frame;

typedef struct loader {
  const char *name;
  const idp_yaml_limits *lim;
  frame *stack;
  int depth;
  anchor *anchors;
  size_t nanchors, anchors_cap;
  size_t alias_nodes;
  json_t *docs;
  json_t *root;
  size_t root_nodes;
  idp_err *e;
} loader;

static idp_code at(loader *L, yaml_mark_t m, idp_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static idp_code at(loader *L, yaml_mark_t m, idp_code code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return idp_err_set(L->e, code, "%s:%zu:%zu: %s", L->name, m.line + 1, m.column + 1, msg);
}

static void anchors_clear(loader *L) {
  for (size_t i = 0; i < L->nanchors; i++) {
    free(L->anchors[i].name);
    json_decref(L->anchors[i].value);
  }
  L->nanchors = 0;
}

static idp_code anchor_put(loader *L, const char *name, json_t *v, size_t nodes) {
  for (size_t i = 0; i < L->nanchors; i++) /* redefinition: later wins */
    if (!strcmp(L->anchors[i].name, name)) {
      json_decref(L->anchors[i].value);
      L->anchors[i].value = json_incref(v);
      L->anchors[i].nodes = nodes;
      return IDP_OK;
    }
  if (L->nanchors == L->anchors_cap) {
    size_t nc = L->anchors_cap ? L->anchors_cap * 2 : 16;
    anchor *na = realloc(L->anchors, nc * sizeof *na);
    if (!na) return IDP_ENOMEM;
    L->anchors = na;
    L->anchors_cap = nc;
  }
  L->anchors[L->nanchors].name = strdup(name);
  L->anchors[L->nanchors].value = json_incref(v);
  L->anchors[L->nanchors].nodes = nodes;
  L->nanchors++;
  return IDP_OK;
}

static const anchor *anchor_get(loader *L, const char *name) {
  for (size_t i = L->nanchors; i-- > 0;)
    if (!strcmp(L->anchors[i].name, name)) return &L->anchors[i];
  return NULL;
}

/* A mapping key must be a scalar; Kubernetes' converter stringifies it. */
static char *key_text(const json_t *v) {
  char buf[64];
  if (json_is_string(v)) return strdup(json_string_value(v));
  if (json_is_integer(v)) {
    snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return strdup(buf);
  }
  if (json_is_real(v)) {
    snprintf(buf, sizeof buf, "%g", json_real_value(v));
    return strdup(buf);
  }
  if (json_is_true(v)) return strdup("true");
  if (json_is_false(v)) return strdup("false");
  if (json_is_null(v)) return strdup("null");
  return NULL;
}

/* Adds a completed value to the innermost container (or as the document
 * root).  Steals v. */
static idp_code add_value(loader *L, json_t *v, size_t nodes, yaml_mark_t m, bool plain_merge_key) {
  if (L->depth == 0) {
    json_decref(L->root);
    L->root = v;
    L->root_nodes = nodes;
    return IDP_OK;
  }
  frame *f = &L->stack[L->depth - 1];
  f->nodes += nodes;
  if (json_is_array(f->node)) {
    json_array_append_new(f->node, v);
    return IDP_OK;
  }
  if (!f->key) {
    if (json_is_object(v) || json_is_array(v)) {
      json_decref(v);
      return at(L, m, IDP_EINVAL, "mapping keys must be scalars");
    }
    f->key = key_text(v);
    f->key_is_merge = plain_merge_key;
    json_decref(v);
    return f->key ? IDP_OK : IDP_ENOMEM;
  }
  if (f->key_is_merge) {
    if (!json_is_object(v) && !json_is_array(v)) {
      json_decref(v);
      return at(L, m, IDP_EINVAL, "merge key '<<' needs a mapping or a list of mappings");
    }
    if (!f->merges) f->merges = json_array();
    json_array_append_new(f->merges, v);
  } else {
    json_object_set_new(f->node, f->key, v);
  }
  free(f->key);
  f->key = NULL;
  f->key_is_merge = false;
  return IDP_OK;
}

static void apply_merge_one(json_t *obj, const json_t *src) {
  const char *k;
  json_t *val;
  json_object_foreach((json_t *)src, k, val) {
    if (!json_object_get(obj, k)) json_object_set(obj, k, val);
  }
}

static idp_code apply_merges(loader *L, frame *f, yaml_mark_t m) {
  if (!f->merges) return IDP_OK;
  size_t i;
  json_t *v;
  json_array_foreach(f->merges, i, v) {
    if (json_is_object(v)) apply_merge_one(f->node, v);
    else {
      size_t j;
      json_t *item;
      json_array_foreach(v, j, item) {
        if (!json_is_object(item))
          return at(L, m, IDP_EINVAL, "merge key '<<' list items must be mappings");
        apply_merge_one(f->node, item);
      }
    }
  }
  return IDP_OK;
}

static idp_code push(loader *L, json_t *node, const yaml_char_t *anchor_name, yaml_mark_t m) {
  if (L->depth >= L->lim->max_depth) {
    json_decref(node);
    return at(L, m, IDP_EINVAL, "nesting deeper than %d levels", L->lim->max_depth);
  }
  frame *f = &L->stack[L->depth++];
  memset(f, 0, sizeof *f);
  f->node = node;
  f->anchor = anchor_name ? strdup((const char *)anchor_name) : NULL;
  return IDP_OK;
}

static void frame_release(frame *f) {
  json_decref(f->node);
  free(f->key);
  free(f->anchor);
  json_decref(f->merges);
}

static idp_code pop(loader *L, yaml_mark_t m) {
  frame f = L->stack[--L->depth];
  idp_code rc = IDP_OK;
  if (json_is_object(f.node)) {
    if (f.key) rc = at(L, m, IDP_EINVAL, "mapping key '%s' has no value", f.key);
    if (!rc) rc = apply_merges(L, &f, m);
  }
  if (!rc && f.anchor) rc = anchor_put(L, f.anchor, f.node, f.nodes + 1);
  if (rc) {
    frame_release(&f);
    return rc;
  }
  json_t *node = f.node;
  f.node = NULL;
  size_t nodes = f.nodes + 1;
  frame_release(&f);
  return add_value(L, node, nodes, m, false);
}

static const char *event_error(yaml_parser_t *p) {
  return p->problem ? p->problem : "syntax error";
}

static idp_code load_events(loader *L, yaml_parser_t *p) {
  yaml_event_t ev;
  idp_code rc = IDP_OK;
  bool done = false;
  while (!done && !rc) {
    if (!yaml_parser_parse(p, &ev)) {
      yaml_mark_t m = p->problem_mark;
      if (p->context)
        return idp_err_set(L->e, IDP_EINVAL, "%s:%zu:%zu: %s %s", L->name, m.line + 1,
                           m.column + 1, event_error(p), p->context);
      return at(L, m, IDP_EINVAL, "%s", event_error(p));
    }
    yaml_mark_t m = ev.start_mark;
    switch (ev.type) {
    case YAML_STREAM_END_EVENT:
      done = true;
      break;
    case YAML_DOCUMENT_START_EVENT:
      L->root = NULL;
      L->root_nodes = 0;
      break;
    case YAML_DOCUMENT_END_EVENT:
      if (L->root && !json_is_null(L->root)) json_array_append(L->docs, L->root);
      json_decref(L->root);
      L->root = NULL;
      anchors_clear(L);
      L->alias_nodes = 0;
      break;
    case YAML_MAPPING_START_EVENT:
      rc = push(L, json_object(), ev.data.mapping_start.anchor, m);
      break;
    case YAML_SEQUENCE_START_EVENT:
      rc = push(L, json_array(), ev.data.sequence_start.anchor, m);
      break;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
      rc = pop(L, m);
      break;
    case YAML_SCALAR_EVENT: {
      const char *s = (const char *)ev.data.scalar.value;
      size_t n = ev.data.scalar.length;
      const char *tag = (const char *)ev.data.scalar.tag;
      json_t *v;
      bool plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
      bool merge_key = false;
      if (tag && strcmp(tag, "!") != 0) {
        bool bad;
        v = resolve_tagged(tag, s, n, &bad);
        if (bad) {
          rc = at(L, m, IDP_EINVAL, "cannot decode '%.*s' as %s", (int)(n > 64 ? 64 : n), s,
                  tag);
          break;
        }
      } else if (plain) {
        v = resolve_plain(s, n, L->lim->core_schema != 0);
        merge_key = n == 2 && s[0] == '<' && s[1] == '<';
      } else {
        v = json_stringn(s, n);
      }
      if (!v) {
        rc = at(L, m, IDP_EINVAL, "scalar is not valid UTF-8");
        break;
      }
      if (ev.data.scalar.anchor) {
        rc = anchor_put(L, (const char *)ev.data.scalar.anchor, v, 1);
        if (rc) {
          json_decref(v);
          break;
        }
      }
      rc = add_value(L, v, 1, m, merge_key);
      break;
    }
    case YAML_ALIAS_EVENT: {
      const anchor *a = anchor_get(L, (const char *)ev.data.alias.anchor);
      if (!a) {
        rc = at(L, m, IDP_EINVAL, "unknown anchor '%s'", ev.data.alias.anchor);
        break;
      }
      L->alias_nodes += a->nodes;
      if (L->alias_nodes > L->lim->max_alias_nodes) {
        rc = at(L, m, IDP_EINVAL, "alias expansion exceeds %zu nodes",
                L->lim->max_alias_nodes);
        break;
      }
      rc = add_value(L, json_deep_copy(a->value), a->nodes, m, false);
      break;
    }
    default:
      break;
    }
    yaml_event_delete(&ev);
  }
  return rc;
}

idp_code idp_yaml_load(const char *data, size_t len, const char *name,
                       const idp_yaml_limits *limits, json_t **docs, idp_err *e) {
  *docs = NULL;
  const idp_yaml_limits *lim = limits ? limits : &idp_yaml_default_limits;
  if (!name) name = "<input>";
  if (len > lim->max_bytes)
    return idp_err_set(e, IDP_ETOOLARGE, "%s: %zu bytes exceeds the %zu byte limit", name, len,
                       lim->max_bytes);
  loader L = {.name = name, .lim = lim, .e = e, .docs = json_array()};
  L.stack = calloc((size_t)lim->max_depth + 1, sizeof *L.stack);
  if (!L.stack) {
    json_decref(L.docs);
    return idp_err_set(e, IDP_ENOMEM, "%s: out of memory", name);
  }
  yaml_parser_t p;
  yaml_parser_initialize(&p);
  yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
  idp_code rc = load_events(&L, &p);
  yaml_parser_delete(&p);
  while (L.depth > 0) frame_release(&L.stack[--L.depth]);
  free(L.stack);
  json_decref(L.root);
  anchors_clear(&L);
  free(L.anchors);
  if (rc) {
    json_decref(L.docs);
    return rc;
  }
  *docs = L.docs;
  return IDP_OK;
}

idp_code idp_yaml_load_file(const char *path, const idp_yaml_limits *limits, json_t **docs,
                            idp_err *e) {
  const idp_yaml_limits *lim = limits ? limits : &idp_yaml_default_limits;
  idp_buf b;
  idp_buf_init(&b, lim->max_bytes);
  idp_code rc = idp_buf_read_file(&b, path, e);
  if (!rc) rc = idp_yaml_load(idp_buf_str(&b), b.len, path, lim, docs, e);
  idp_buf_free(&b);
  return rc;
}

idp_code idp_yaml_load_one(const char *data, size_t len, const char *name,
                           const idp_yaml_limits *limits, json_t **doc, idp_err *e) {
  json_t *docs;
  *doc = NULL;
  idp_code rc = idp_yaml_load(data, len, name, limits, &docs, e);
  if (rc) return rc;
  if (json_array_size(docs) > 1) {
    json_decref(docs);
    return idp_err_set(e, IDP_EINVAL, "%s: expected one document, found several",
                       name ? name : "<input>");
  }
  *doc = json_array_size(docs) ? json_incref(json_array_get(docs, 0)) : json_null();
  json_decref(docs);
  return IDP_OK;
}

/* ---- emitter -------------------------------------------------------------- */

typedef struct emit_ctx {
  idp_buf *out;
  idp_code rc;
} emit_ctx;

static int emit_write(void *data, unsigned char *buffer, size_t size) {
  emit_ctx *c = data;
  if (c->rc) return 0;
  c->rc = idp_buf_add(c->out, buffer, size);
  return c->rc == IDP_OK;
}

static bool needs_quotes(const char *s, size_t n) {
  json_t *v = idp_yaml_resolve_plain(s, n);
  bool q = !json_is_string(v);
  json_decref(v);
  return q;
}

/* Shortest text that reads back as the same double, written as Go's
 * strconv 'g' with -1 precision does for JSON (what kubectl prints): plain
 * decimals unless the exponent is < -4 or >= 21. */
static void format_real(double d, char *buf, size_t size) {
  if (d == (double)(long long)d && fabs(d) < 1e15) {
    snprintf(buf, size, "%.0f", d);
    return;
  }
  int prec = 1;
  for (; prec <= 17; prec++) {
    snprintf(buf, size, "%.*e", prec - 1, d);
    if (strtod(buf, NULL) == d) break;
  }
  double a = fabs(d);
  if (a >= 1e-4 && a < 1e21) {
    /* digits after the point = significant digits - (exponent + 1) */
    int exp10 = (int)floor(log10(a));
    int decimals = prec - 1 - exp10;
    if (decimals < 0) decimals = 0;
    snprintf(buf, size, "%.*f", decimals, d);
  }
}

static int emit_scalar(yaml_emitter_t *em, const char *s, size_t n, yaml_scalar_style_t style) {
  yaml_event_t ev;
  yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n, 1, 1, style);
  return yaml_emitter_emit(em, &ev);
}

static int emit_node(yaml_emitter_t *em, const json_t *v, int flags, int depth);

static int cmp_keys(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int emit_object(yaml_emitter_t *em, const json_t *v, int flags, int depth) {
  yaml_event_t ev;
  yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                      json_object_size(v) ? YAML_BLOCK_MAPPING_STYLE
                                                          : YAML_FLOW_MAPPING_STYLE);
  if (!yaml_emitter_emit(em, &ev)) return 0;
  size_t n = json_object_size(v);
  const char **keys = malloc((n ? n : 1) * sizeof *keys);
  if (!keys) return 0;
  size_t i = 0;
  const char *k;
  json_t *val;
  json_object_foreach((json_t *)v, k, val) keys[i++] = k;
  if (flags & IDP_YAML_SORT_KEYS) idp_sort(keys, n, sizeof *keys, cmp_keys);
  int ok = 1;
  for (i = 0; i < n && ok; i++) {
    size_t kl = strlen(keys[i]);
    ok = emit_scalar(em, keys[i], kl,
                     needs_quotes(keys[i], kl) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                               : YAML_ANY_SCALAR_STYLE) &&
         emit_node(em, json_object_get(v, keys[i]), flags, depth + 1);
  }
  free(keys);
  if (!ok) return 0;
  yaml_mapping_end_event_initialize(&ev);
  return yaml_emitter_emit(em, &ev);
}

static int emit_node(yaml_emitter_t *em, const json_t *v, int flags, int depth) {
  yaml_event_t ev;
  char num[64];
  if (depth > 10000) return 0;
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return emit_object(em, v, flags, depth);
  case JSON_ARRAY: {
    yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                         json_array_size(v) ? YAML_BLOCK_SEQUENCE_STYLE
                                                            : YAML_FLOW_SEQUENCE_STYLE);
    if (!yaml_emitter_emit(em, &ev)) return 0;
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) if (!emit_node(em, item, flags, depth + 1)) return 0;
    yaml_sequence_end_event_initialize(&ev);
    return yaml_emitter_emit(em, &ev);
  }
  case JSON_STRING: {
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    yaml_scalar_style_t st = YAML_ANY_SCALAR_STYLE;
    if (needs_quotes(s, n)) st = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    else if (memchr(s, '\n', n)) st = YAML_LITERAL_SCALAR_STYLE;
    return emit_scalar(em, s, n, st);
  }
  case JSON_INTEGER:
    snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return emit_scalar(em, num, strlen(num), YAML_PLAIN_SCALAR_STYLE);
  case JSON_REAL:
    format_real(json_real_value(v), num, sizeof num);
    return emit_scalar(em, num, strlen(num), YAML_PLAIN_SCALAR_STYLE);
  case JSON_TRUE:
    return emit_scalar(em, "true", 4, YAML_PLAIN_SCALAR_STYLE);
  case JSON_FALSE:
    return emit_scalar(em, "false", 5, YAML_PLAIN_SCALAR_STYLE);
  case JSON_NULL:
    return emit_scalar(em, "null", 4, YAML_PLAIN_SCALAR_STYLE);
  }
  return 0;
}

static idp_code emit_docs(idp_buf *out, const json_t *const *docs, size_t n, int flags,
                          idp_err *e) {
  yaml_emitter_t em;
  emit_ctx c = {out, IDP_OK};
  yaml_emitter_initialize(&em);
  yaml_emitter_set_output(&em, emit_write, &c);
  yaml_emitter_set_unicode(&em, 1);
  yaml_emitter_set_width(&em, -1);
  yaml_emitter_set_indent(&em, 2);
  yaml_event_t ev;
  int ok = 1;
  yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
  ok = yaml_emitter_emit(&em, &ev);
  for (size_t i = 0; i < n && ok; i++) {
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, i == 0);
    ok = yaml_emitter_emit(&em, &ev) && emit_node(&em, docs[i], flags, 0);
    if (ok) {
      yaml_document_end_event_initialize(&ev, 1);
      ok = yaml_emitter_emit(&em, &ev);
    }
  }
  if (ok) {
    yaml_stream_end_event_initialize(&ev);
    ok = yaml_emitter_emit(&em, &ev) && yaml_emitter_flush(&em);
  }
  const char *problem = em.problem;
  yaml_emitter_delete(&em);
  if (c.rc) return idp_err_set(e, c.rc, "yaml output exceeds its buffer limit");
  if (!ok) return idp_err_set(e, IDP_EINTERNAL, "yaml emit: %s", problem ? problem : "failed");
  return IDP_OK;
}

idp_code idp_yaml_emit(idp_buf *out, const json_t *doc, int flags, idp_err *e) {
  return emit_docs(out, &doc, 1, flags, e);
}

idp_code idp_yaml_emit_stream(idp_buf *out, const json_t *docs, int flags, idp_err *e) {
  size_t n = json_array_size(docs);
  if (!n) return IDP_OK;
  const json_t **v = malloc(n * sizeof *v);
  if (!v) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) v[i] = json_array_get(docs, i);
  idp_code rc = emit_docs(out, v, n, flags, e);
  free(v);
  return rc;
}
