/* jsonpath.c: Kubernetes JSONPath evaluation.
 *
 * The expression is evaluated step by step over a "current set" (a JSON
 * array of matched nodes), as k8s.io/client-go/util/jsonpath walks its node
 * list: each step maps every node of the set to zero or more new nodes.
 * Filters evaluate their @-relative sub-paths with the same machinery. */
#include "core/common.h"
#include "core/buf.h"
#include "kube/jsonpath.h"

#define JP_MAX_DEPTH 64 /* nested filters / recursion of the evaluator */

typedef struct {
  const char *expr; /* whole expression, for messages */
  idp_err *e;
  int depth;
} jp_ctx;

static idp_code jp_err(jp_ctx *c, const char *at, const char *what) {
  return idp_err_set(c->e, IDP_EINVAL, "jsonpath %s at position %zu: %s", c->expr,
                     (size_t)(at - c->expr) + 1, what);
}

static idp_code oom(jp_ctx *c) {
  return idp_err_set(c->e, IDP_ENOMEM, "jsonpath: out of memory");
}

/* Appends a borrowed node to a set (the set takes its own reference). */
static idp_code add(jp_ctx *c, json_t *set, json_t *node) {
  if (json_array_append(set, node)) return oom(c);
  return IDP_OK;
}

static bool is_name_char(char ch) {
  return ch && ch != '\\' && ch != '.' && ch != '[' && ch != ']' && ch != ' ' && ch != '\t' && ch != '}' &&
         ch != '{' && ch != ')' && ch != '(' && ch != '=' && ch != '!' && ch != '<' &&
         ch != '>' && ch != ',' && ch != '&' && ch != '|';
}

/* Pre-order list of node and all its descendants. */
static idp_code descend(jp_ctx *c, json_t *node, json_t *out, int depth) {
  if (depth > 512) return jp_err(c, c->expr, "document nested too deeply");
  idp_code rc = add(c, out, node);
  if (rc) return rc;
  if (json_is_object(node)) {
    const char *k;
    json_t *v;
    json_object_foreach(node, k, v) {
      if ((rc = descend(c, v, out, depth + 1))) return rc;
    }
  } else if (json_is_array(node)) {
    size_t i;
    json_t *v;
    json_array_foreach(node, i, v) {
      if ((rc = descend(c, v, out, depth + 1))) return rc;
    }
  }
  return IDP_OK;
}

static idp_code step_field(jp_ctx *c, json_t *in, const char *name, size_t n, json_t *out) {
  size_t i;
  json_t *node;
  char key[1024];
  if (n >= sizeof key) return idp_err_set(c->e, IDP_EINVAL, "jsonpath: field name too long");
  memcpy(key, name, n);
  key[n] = 0;
  json_array_foreach(in, i, node) {
    json_t *v = json_is_object(node) ? json_object_get(node, key) : NULL;
    if (v) {
      idp_code rc = add(c, out, v);
      if (rc) return rc;
    }
  }
  return IDP_OK;
}

static idp_code step_wild(jp_ctx *c, json_t *in, json_t *out) {
  size_t i;
  json_t *node;
  json_array_foreach(in, i, node) {
    if (json_is_object(node)) {
      const char *k;
      json_t *v;
      json_object_foreach(node, k, v) {
        if (add(c, out, v)) return oom(c);
      }
    } else if (json_is_array(node)) {
      size_t j;
      json_t *v;
      json_array_foreach(node, j, v) {
        if (add(c, out, v)) return oom(c);
      }
    }
  }
  return IDP_OK;
}

/* ---- bracket contents ---- */

/* Finds the ']' closing the bracket opened at s[-1], skipping quotes and
 * parentheses; returns NULL when unterminated. */
static const char *bracket_end(const char *s) {
  int paren = 0;
  char q = 0;
  for (; *s; s++) {
    if (q) {
      if (*s == '\\' && s[1]) s++;
      else if (*s == q) q = 0;
      continue;
    }
    if (*s == '\'' || *s == '"') q = *s;
    else if (*s == '(') paren++;
    else if (*s == ')') paren--;
    else if (*s == ']' && paren <= 0) return s;
  }
  return NULL;
}

static const char *skip_ws(const char *s, const char *end) {
  while (s < end && (*s == ' ' || *s == '\t')) s++;
  return s;
}

/* Parses a quoted string literal at s (quote char *s) into buf; returns the
 * position after the closing quote or NULL. */
static const char *parse_quoted(const char *s, const char *end, idp_buf *out) {
  char q = *s++;
  for (; s < end && *s != q; s++) {
    if (*s == '\\' && s + 1 < end) s++;
    if (idp_buf_addc(out, *s)) return NULL;
  }
  if (s >= end) return NULL;
  return s + 1;
}

static bool parse_ll(const char *s, const char *end, long long *v, bool *present) {
  s = skip_ws(s, end);
  while (end > s && (end[-1] == ' ' || end[-1] == '\t')) end--;
  *present = s < end;
  if (!*present) return true;
  char tmp[32];
  size_t n = (size_t)(end - s);
  if (n >= sizeof tmp) return false;
  memcpy(tmp, s, n);
  tmp[n] = 0;
  char *e;
  errno = 0;
  *v = strtoll(tmp, &e, 10);
  return !errno && *e == 0;
}

/* One index or slice "a", "a:b", "a:b:c" applied to every array of `in`. */
static idp_code apply_index(jp_ctx *c, json_t *in, const char *s, const char *end, json_t *out) {
  const char *parts[3] = {s, NULL, NULL};
  const char *pend[3] = {end, NULL, NULL};
  int np = 1;
  for (const char *p = s; p < end; p++) {
    if (*p == ':') {
      if (np == 3) return jp_err(c, p, "too many ':' in slice");
      pend[np - 1] = p;
      parts[np] = p + 1;
      pend[np] = end;
      np++;
    }
  }
  long long v[3] = {0, 0, 1};
  bool have[3] = {false, false, false};
  for (int i = 0; i < np; i++)
    if (!parse_ll(parts[i], pend[i], &v[i], &have[i])) return jp_err(c, parts[i], "invalid array index");
  if (np == 1 && !have[0]) return jp_err(c, s, "empty array index");
  if (np == 3 && have[2] && v[2] <= 0) return jp_err(c, parts[2], "slice step must be positive");
  size_t i;
  json_t *node;
  json_array_foreach(in, i, node) {
    if (!json_is_array(node)) continue;
    long long len = (long long)json_array_size(node);
    if (np == 1) {
      long long ix = v[0] < 0 ? v[0] + len : v[0];
      if (ix >= 0 && ix < len && add(c, out, json_array_get(node, (size_t)ix))) return oom(c);
      continue;
    }
    long long st = have[0] ? v[0] : 0, en = have[1] ? v[1] : len, step = have[2] ? v[2] : 1;
    if (st < 0) st += len;
    if (en < 0) en += len;
    if (st < 0) st = 0;
    if (en > len) en = len;
    for (long long k = st; k < en; k += step)
      if (add(c, out, json_array_get(node, (size_t)k))) return oom(c);
  }
  return IDP_OK;
}

static idp_code eval_path(jp_ctx *c, const char *s, const char *end, json_t *in, json_t **out);

/* A filter operand: a literal or an @/$-path evaluated against elem/root. */
static idp_code operand(jp_ctx *c, const char *s, const char *end, json_t *elem, json_t **val) {
  *val = NULL;
  s = skip_ws(s, end);
  while (end > s && (end[-1] == ' ' || end[-1] == '\t')) end--;
  if (s >= end) return jp_err(c, s, "empty filter operand");
  if (*s == '@' || *s == '$' || *s == '.') {
    json_t *set = json_array();
    if (!set || json_array_append(set, elem)) {
      json_decref(set);
      return oom(c);
    }
    json_t *res;
    idp_code rc = eval_path(c, s, end, set, &res);
    json_decref(set);
    if (rc) return rc;
    if (json_array_size(res) > 0) *val = json_incref(json_array_get(res, 0));
    json_decref(res);
    return IDP_OK;
  }
  if (*s == '\'' || *s == '"') {
    idp_buf b;
    idp_buf_init(&b, 1 << 16);
    const char *after = parse_quoted(s, end, &b);
    if (!after || skip_ws(after, end) != end) {
      idp_buf_free(&b);
      return jp_err(c, s, "unterminated string in filter");
    }
    *val = json_stringn(idp_buf_str(&b), b.len);
    idp_buf_free(&b);
    return *val ? IDP_OK : oom(c);
  }
  size_t n = (size_t)(end - s);
  char tmp[64];
  if (n >= sizeof tmp) return jp_err(c, s, "filter literal too long");
  memcpy(tmp, s, n);
  tmp[n] = 0;
  if (!strcmp(tmp, "true")) *val = json_true();
  else if (!strcmp(tmp, "false")) *val = json_false();
  else if (!strcmp(tmp, "null")) *val = json_null();
  else {
    char *e;
    errno = 0;
    long long ll = strtoll(tmp, &e, 10);
    if (!errno && !*e) *val = json_integer(ll);
    else {
      double d = strtod(tmp, &e);
      if (*e) return jp_err(c, s, "unrecognized filter literal");
      *val = json_real(d);
    }
  }
  return *val ? IDP_OK : oom(c);
}

/* Comparison operators of filters, longest spelling first. */
typedef enum { CMP_EQ, CMP_NE, CMP_LE, CMP_GE, CMP_LT, CMP_GT } cmp_op;
static const struct {
  const char *text;
  cmp_op op;
} cmp_ops[] = {{"==", CMP_EQ}, {"!=", CMP_NE}, {"<=", CMP_LE},
               {">=", CMP_GE}, {"<", CMP_LT},  {">", CMP_GT}};

static bool compare(const json_t *a, const json_t *b, cmp_op op) {
  int ord;
  if (json_is_number(a) && json_is_number(b)) {
    double x = json_number_value(a), y = json_number_value(b);
    ord = x < y ? -1 : x > y;
  } else if (json_is_string(a) && json_is_string(b)) {
    ord = strcmp(json_string_value(a), json_string_value(b));
  } else {
    bool eq = json_equal((json_t *)a, (json_t *)b);
    if (op == CMP_EQ) return eq;
    if (op == CMP_NE) return !eq;
    return false; /* ordering of unlike types is false */
  }
  switch (op) {
  case CMP_EQ: return ord == 0;
  case CMP_NE: return ord != 0;
  case CMP_LT: return ord < 0;
  case CMP_LE: return ord <= 0;
  case CMP_GT: return ord > 0;
  case CMP_GE: return ord >= 0;
  }
  return false;
}

/* "[?( cond )]": cond is "<operand>" (existence) or "<operand> op <operand>". */
static idp_code apply_filter(jp_ctx *c, json_t *in, const char *s, const char *end, json_t *out) {
  s = skip_ws(s, end);
  while (end > s && (end[-1] == ' ' || end[-1] == '\t')) end--;
  if (s >= end || *s != '(' || end[-1] != ')') return jp_err(c, s, "filter must be ?(...)");
  s++;
  end--;
  /* find the operator outside quotes */
  const char *opat = NULL;
  size_t oplen = 0;
  cmp_op op = CMP_EQ;
  char q = 0;
  for (const char *p = s; p < end && !opat; p++) {
    if (q) {
      if (*p == q) q = 0;
      continue;
    }
    if (*p == '\'' || *p == '"') {
      q = *p;
      continue;
    }
    for (size_t k = 0; k < IDP_ARRAY_LEN(cmp_ops); k++) {
      size_t l = strlen(cmp_ops[k].text);
      if ((size_t)(end - p) >= l && !memcmp(p, cmp_ops[k].text, l)) {
        opat = p;
        oplen = l;
        op = cmp_ops[k].op;
        break;
      }
    }
  }
  size_t i;
  json_t *node;
  json_array_foreach(in, i, node) {
    json_t *elems = json_is_array(node) ? node : NULL;
    size_t n = elems ? json_array_size(elems) : 0;
    for (size_t k = 0; k < n; k++) {
      json_t *el = json_array_get(elems, k);
      json_t *l = NULL, *r = NULL;
      idp_code rc = operand(c, s, opat ? opat : end, el, &l);
      if (!rc && opat) rc = operand(c, opat + oplen, end, el, &r);
      if (rc) {
        json_decref(l);
        return rc;
      }
      bool keep;
      if (!opat) keep = l != NULL && !json_is_false(l);
      else keep = l && r && compare(l, r, op);
      json_decref(l);
      json_decref(r);
      if (keep && add(c, out, el)) return oom(c);
    }
  }
  return IDP_OK;
}

/* Contents of [...] between s and end. */
static idp_code step_bracket(jp_ctx *c, json_t *in, const char *s, const char *end, json_t *out) {
  const char *t = skip_ws(s, end);
  if (t < end && *t == '?') return apply_filter(c, in, t + 1, end, out);
  if (t < end && *t == '*' && skip_ws(t + 1, end) == end) return step_wild(c, in, out);
  /* comma-separated union of quoted keys or indices/slices */
  const char *p = s;
  while (p <= end) {
    p = skip_ws(p, end);
    if (p < end && (*p == '\'' || *p == '"')) {
      idp_buf b;
      idp_buf_init(&b, 1 << 16);
      const char *after = parse_quoted(p, end, &b);
      if (!after) {
        idp_buf_free(&b);
        return jp_err(c, p, "unterminated quoted key");
      }
      idp_code rc = step_field(c, in, idp_buf_str(&b), b.len, out);
      idp_buf_free(&b);
      if (rc) return rc;
      p = skip_ws(after, end);
    } else {
      const char *q = p;
      while (q < end && *q != ',') q++;
      idp_code rc = apply_index(c, in, p, q, out);
      if (rc) return rc;
      p = q;
    }
    if (p >= end) break;
    if (*p != ',') return jp_err(c, p, "expected ',' or ']'");
    p++;
  }
  return IDP_OK;
}

/* Evaluates one path (no braces) from s to end over the set `in`. */
static idp_code eval_path(jp_ctx *c, const char *s, const char *end, json_t *in, json_t **out) {
  *out = NULL;
  if (++c->depth > JP_MAX_DEPTH) {
    c->depth--;
    return jp_err(c, s, "expression nested too deeply");
  }
  json_t *cur = json_incref(in);
  idp_code rc = IDP_OK;
  const char *p = skip_ws(s, end);
  if (p < end && (*p == '$' || *p == '@')) p++;
  bool first = true;
  while (!rc) {
    p = skip_ws(p, end);
    if (p >= end) break;
    json_t *next = json_array();
    if (!next) {
      rc = oom(c);
      break;
    }
    bool recursive = false;
    if (*p == '.' && p + 1 < end && p[1] == '.') {
      recursive = true;
      p += 2;
    } else if (*p == '.') {
      p++;
    } else if (*p != '[' && !(first && is_name_char(*p))) {
      json_decref(next);
      rc = jp_err(c, p, "unexpected character");
      break;
    }
    json_t *src = cur;
    json_t *all = NULL;
    if (recursive) {
      all = json_array();
      size_t i;
      json_t *node;
      if (!all) rc = oom(c);
      json_array_foreach(cur, i, node) {
        if (!rc) rc = descend(c, node, all, 0);
      }
      src = all;
    }
    if (!rc) {
      if (p < end && *p == '[') {
        const char *close = bracket_end(p + 1);
        if (!close || close >= end) rc = jp_err(c, p, "unterminated '['");
        else {
          rc = step_bracket(c, src, p + 1, close, next);
          p = close + 1;
        }
      } else if (p < end && *p == '*') {
        rc = step_wild(c, src, next);
        p++;
      } else {
        const char *n0 = p;
        bool escaped = false;
        /* "\." inside a name is a literal dot (kubectl: .metadata.labels.app\.kubernetes\.io/name) */
        while (p < end && (is_name_char(*p) || (*p == '\\' && p + 1 < end))) {
          if (*p == '\\') {
            escaped = true;
            p++;
          }
          p++;
        }
        if (escaped && p > n0) {
          char key[1024];
          size_t kn = 0;
          for (const char *q = n0; q < p && kn < sizeof key; q++) {
            if (*q == '\\') q++;
            key[kn++] = *q;
          }
          rc = kn >= sizeof key ? jp_err(c, n0, "field name too long")
                                : step_field(c, src, key, kn, next);
        } else if (p == n0) {
          /* "{.}" or a trailing '.': the current nodes themselves */
          if (p < end && *p != '[' && *p != '.')
            rc = jp_err(c, p, "unexpected character");
          else if (json_array_extend(next, src))
            rc = oom(c);
        } else {
          rc = step_field(c, src, n0, (size_t)(p - n0), next);
        }
      }
    }
    json_decref(all);
    json_decref(cur);
    cur = next;
    first = false;
  }
  c->depth--;
  if (rc) {
    json_decref(cur);
    return rc;
  }
  *out = cur;
  return IDP_OK;
}

idp_code idp_jsonpath_eval(const char *expr, const json_t *obj, json_t **results, idp_err *e) {
  *results = NULL;
  jp_ctx c = {.expr = expr ? expr : "", .e = e};
  json_t *root = json_array();
  json_t *all = json_array();
  if (!root || !all || json_array_append(root, (json_t *)obj)) {
    json_decref(root);
    json_decref(all);
    return oom(&c);
  }
  idp_code rc = IDP_OK;
  const char *p = c.expr;
  if (!strchr(p, '{')) {
    json_t *r;
    rc = eval_path(&c, p, p + strlen(p), root, &r);
    if (!rc) {
      json_decref(all);
      all = r;
    }
  } else {
    /* each {...} group in turn; text between groups is output template,
     * not a path, and is ignored here */
    while (!rc && (p = strchr(p, '{'))) {
      const char *close = p + 1;
      char q = 0;
      for (; *close; close++) {
        if (q) {
          if (*close == q) q = 0;
        } else if (*close == '\'' || *close == '"') {
          q = *close;
        } else if (*close == '}') {
          break;
        }
      }
      if (!*close) {
        rc = jp_err(&c, p, "unclosed action '{'");
        break;
      }
      json_t *r;
      rc = eval_path(&c, p + 1, close, root, &r);
      if (!rc) {
        if (json_array_extend(all, r)) rc = oom(&c);
        json_decref(r);
      }
      p = close + 1;
    }
  }
  json_decref(root);
  if (rc) {
    json_decref(all);
    return rc;
  }
  *results = all;
  return IDP_OK;
}

idp_code idp_jsonpath_format(const json_t *results, idp_buf *out, idp_err *e) {
  size_t i;
  json_t *v;
  json_array_foreach(results, i, v) {
    idp_code rc = IDP_OK;
    if (i) rc = idp_buf_addc(out, ' ');
    if (!rc && json_is_string(v)) {
      rc = idp_buf_add(out, json_string_value(v), json_string_length(v));
    } else if (!rc) {
      char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
      if (!s) return idp_err_set(e, IDP_ENOMEM, "jsonpath: out of memory");
      rc = idp_buf_adds(out, s);
      free(s);
    }
    if (rc) return idp_err_set(e, rc, "jsonpath: output too large");
  }
  return IDP_OK;
}
