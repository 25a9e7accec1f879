/* selector.c: label selector parsing (text and LabelSelector) and matching.
 * Follows k8s.io/apimachinery/pkg/labels/selector.go: a lexer over the
 * special characters `! = , ( ) < >` and whitespace, then a parser of
 * comma-separated requirements. */
#include "core/common.h"
#include "core/buf.h"
#include "kube/selector.h"

typedef enum {
  OP_EQ,     /* = and matchLabels */
  OP_DEQ,    /* == (prints as ==) */
  OP_NEQ,    /* != */
  OP_IN,     /* in (...) / In */
  OP_NOTIN,  /* notin (...) / NotIn */
  OP_EXISTS, /* key / Exists */
  OP_DNE,    /* !key / DoesNotExist */
  OP_GT,     /* > */
  OP_LT,     /* < */
} sel_op;

typedef struct {
  char *key;
  sel_op op;
  char **values; /* sorted, unique */
  size_t nvalues;
} sel_req;

struct idp_selector {
  sel_req *reqs;
  size_t n, cap;
};

/* Operator spellings for the canonical string, indexed by sel_op. */
static const char *const op_text[] = {
    [OP_EQ] = "=",         [OP_DEQ] = "==",  [OP_NEQ] = "!=", [OP_IN] = " in ",
    [OP_NOTIN] = " notin ", [OP_EXISTS] = "", [OP_DNE] = "!",  [OP_GT] = ">",
    [OP_LT] = "<",
};

/* metav1.LabelSelectorOperator names -> op, and what their values must be. */
static const struct {
  const char *name;
  sel_op op;
  bool needs_values;
} json_ops[] = {
    {"In", OP_IN, true},
    {"NotIn", OP_NOTIN, true},
    {"Exists", OP_EXISTS, false},
    {"DoesNotExist", OP_DNE, false},
};

void idp_selector_free(idp_selector *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) {
    free(s->reqs[i].key);
    for (size_t j = 0; j < s->reqs[i].nvalues; j++) free(s->reqs[i].values[j]);
    free(s->reqs[i].values);
  }
  free(s->reqs);
  free(s);
}

bool idp_selector_empty(const idp_selector *s) { return !s || s->n == 0; }

/* ---- label syntax ---- */

static bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])? of at most 63 chars. */
static bool qualified_name_ok(const char *s, size_t n) {
  if (n == 0 || n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1])) return false;
  for (size_t i = 0; i < n; i++)
    if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.') return false;
  return true;
}

/* DNS-1123 subdomain: lowercase alnum, '-', '.', at most 253. */
static bool dns_subdomain_ok(const char *s, size_t n) {
  if (n == 0 || n > 253) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool lower = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!lower && c != '-' && c != '.') return false;
    if ((i == 0 || i == n - 1) && !lower) return false;
  }
  return true;
}

idp_code idp_label_key_check(const char *key, const char *what, idp_err *e) {
  const char *slash = strchr(key, '/');
  const char *name = key;
  if (slash) {
    if (!dns_subdomain_ok(key, (size_t)(slash - key)))
      return idp_err_set(e, IDP_EINVAL,
                         "%s: Invalid value: \"%s\": prefix part must be a lowercase RFC 1123 "
                         "subdomain (e.g. 'example.com')",
                         what, key);
    name = slash + 1;
  }
  if (!qualified_name_ok(name, strlen(name)))
    return idp_err_set(e, IDP_EINVAL,
                       "%s: Invalid value: \"%s\": name part must consist of alphanumeric "
                       "characters, '-', '_' or '.', and must start and end with an "
                       "alphanumeric character, at most 63 characters",
                       what, key);
  return IDP_OK;
}

idp_code idp_label_value_check(const char *value, const char *what, idp_err *e) {
  size_t n = strlen(value);
  if (n == 0) return IDP_OK;
  if (!qualified_name_ok(value, n))
    return idp_err_set(e, IDP_EINVAL,
                       "%s: Invalid value: \"%s\": a valid label must be an empty string or "
                       "consist of alphanumeric characters, '-', '_' or '.', and must start "
                       "and end with an alphanumeric character, at most 63 characters",
                       what, value);
  return IDP_OK;
}

/* ---- building ---- */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static idp_code add_req(idp_selector *s, const char *key, sel_op op, char **values,
                        size_t nvalues, idp_err *e) {
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 4;
    sel_req *r = realloc(s->reqs, nc * sizeof *r);
    if (!r) return idp_err_set(e, IDP_ENOMEM, "label selector: out of memory");
    s->reqs = r;
    s->cap = nc;
  }
  sel_req *r = &s->reqs[s->n];
  r->key = strdup(key);
  if (!r->key) return idp_err_set(e, IDP_ENOMEM, "label selector: out of memory");
  r->op = op;
  /* sets are sorted and de-duplicated, as sets.String */
  if (nvalues > 1) idp_sort(values, nvalues, sizeof *values, cmp_str);
  size_t w = 0;
  for (size_t i = 0; i < nvalues; i++) {
    if (w > 0 && !strcmp(values[w - 1], values[i])) {
      free(values[i]);
      continue;
    }
    values[w++] = values[i];
  }
  r->values = values;
  r->nvalues = w;
  s->n++;
  return IDP_OK;
}

/* Sort requirements by key (stable), as labels.Selector does. */
static void sort_reqs(idp_selector *s) {
  for (size_t i = 1; i < s->n; i++) {
    sel_req t = s->reqs[i];
    size_t j = i;
    while (j > 0 && strcmp(s->reqs[j - 1].key, t.key) > 0) {
      s->reqs[j] = s->reqs[j - 1];
      j--;
    }
    s->reqs[j] = t;
  }
}

/* ---- text syntax ---- */

typedef enum {
  T_END,
  T_IDENT,
  T_EQ,    /* = */
  T_DEQ,   /* == */
  T_NEQ,   /* != */
  T_NOT,   /* ! */
  T_GT,    /* > */
  T_LT,    /* < */
  T_OPEN,  /* ( */
  T_CLOSE, /* ) */
  T_COMMA, /* , */
} tok_kind;

typedef struct {
  const char *text; /* whole selector, for messages */
  const char *p;
  tok_kind kind;
  const char *tok; /* start of the current token */
  size_t len;
} lexer;

static bool is_special(char c) { return strchr("!=,()<>", c) != NULL; }
static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void lex(lexer *l) {
  while (is_space(*l->p)) l->p++;
  l->tok = l->p;
  char c = *l->p;
  if (!c) {
    l->kind = T_END;
    l->len = 0;
    return;
  }
  if (is_special(c)) {
    l->len = 1;
    switch (c) {
    case '=':
      l->kind = T_EQ;
      if (l->p[1] == '=') l->kind = T_DEQ, l->len = 2;
      break;
    case '!':
      l->kind = T_NOT;
      if (l->p[1] == '=') l->kind = T_NEQ, l->len = 2;
      break;
    case '>': l->kind = T_GT; break;
    case '<': l->kind = T_LT; break;
    case '(': l->kind = T_OPEN; break;
    case ')': l->kind = T_CLOSE; break;
    default: l->kind = T_COMMA; break;
    }
    l->p += l->len;
    return;
  }
  const char *s = l->p;
  while (*l->p && !is_space(*l->p) && !is_special(*l->p)) l->p++;
  l->kind = T_IDENT;
  l->len = (size_t)(l->p - s);
}

static bool tok_is(const lexer *l, const char *word) {
  return l->kind == T_IDENT && l->len == strlen(word) && !memcmp(l->tok, word, l->len);
}

static idp_code syntax_err(idp_err *e, const lexer *l, const char *expected) {
  if (l->kind == T_END)
    return idp_err_set(e, IDP_EINVAL,
                       "unable to parse requirement: found end of string, expected: %s "
                       "(in label selector \"%s\")",
                       expected, l->text);
  return idp_err_set(e, IDP_EINVAL,
                     "unable to parse requirement: found '%.*s' at position %zu, "
                     "expected: %s (in label selector \"%s\")",
                     (int)l->len, l->tok, (size_t)(l->tok - l->text) + 1,
                     expected, l->text);
}

static char *tok_dup(const lexer *l) { return strndup(l->tok, l->len); }

static void free_values(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

/* Appends one value to a growing array. */
static bool push_value(char ***v, size_t *n, char *s) {
  if (!s) return false;
  char **nv = realloc(*v, (*n + 1) * sizeof **v);
  if (!nv) {
    free(s);
    return false;
  }
  nv[(*n)++] = s;
  *v = nv;
  return true;
}

static bool all_digits_int(const char *s, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end) return false;
  if (out) *out = v;
  return true;
}

/* requirement := ['!'] key [op values] */
static idp_code parse_req(lexer *l, idp_selector *s, idp_err *e) {
  bool neg = false;
  if (l->kind == T_NOT) {
    neg = true;
    lex(l);
  }
  if (l->kind != T_IDENT) return syntax_err(e, l, "identifier");
  char *key = tok_dup(l);
  if (!key) return idp_err_set(e, IDP_ENOMEM, "label selector: out of memory");
  idp_code rc = idp_label_key_check(key, "key", e);
  if (rc) {
    idp_err_prefix(e, "unable to parse requirement");
    free(key);
    return rc;
  }
  lex(l);
  if (neg || l->kind == T_END || l->kind == T_COMMA) {
    if (neg && l->kind != T_END && l->kind != T_COMMA) {
      free(key);
      return syntax_err(e, l, "',' or end of string after '!key'");
    }
    rc = add_req(s, key, neg ? OP_DNE : OP_EXISTS, NULL, 0, e);
    free(key);
    return rc;
  }
  sel_op op;
  bool set = false;
  switch (l->kind) {
  case T_EQ: op = OP_EQ; break;
  case T_DEQ: op = OP_DEQ; break;
  case T_NEQ: op = OP_NEQ; break;
  case T_GT: op = OP_GT; break;
  case T_LT: op = OP_LT; break;
  default:
    if (tok_is(l, "in")) op = OP_IN, set = true;
    else if (tok_is(l, "notin")) op = OP_NOTIN, set = true;
    else {
      free(key);
      return syntax_err(e, l, "'=', '!=', '==', 'in', 'notin', '>' or '<'");
    }
  }
  lex(l);
  char **values = NULL;
  size_t nvalues = 0;
  if (set) {
    if (l->kind != T_OPEN) {
      free(key);
      return syntax_err(e, l, "'('");
    }
    lex(l);
    for (;;) {
      /* an empty slot ("in ()" or "in (a,)") is the empty value, as in apimachinery */
      if (l->kind == T_IDENT) {
        if (!push_value(&values, &nvalues, tok_dup(l))) goto oom;
        lex(l);
      } else if (!push_value(&values, &nvalues, strdup(""))) {
        goto oom;
      }
      if (l->kind == T_CLOSE) break;
      if (l->kind != T_COMMA) {
        rc = syntax_err(e, l, "',' or ')'");
        goto fail;
      }
      lex(l);
    }
    lex(l);
  } else {
    /* a single value; "a=" means the empty value */
    if (l->kind == T_IDENT) {
      if (!push_value(&values, &nvalues, tok_dup(l))) goto oom;
      lex(l);
    } else if (l->kind == T_END || l->kind == T_COMMA) {
      if (op == OP_GT || op == OP_LT) {
        rc = syntax_err(e, l, "an integer value");
        goto fail;
      }
      if (!push_value(&values, &nvalues, strdup(""))) goto oom;
    } else {
      rc = syntax_err(e, l, "a value");
      goto fail;
    }
  }
  for (size_t i = 0; i < nvalues; i++) {
    if (op == OP_GT || op == OP_LT) {
      if (!all_digits_int(values[i], NULL)) {
        rc = idp_err_set(e, IDP_EINVAL,
                         "unable to parse requirement: for 'Gt', 'Lt' operators, the value "
                         "must be an integer: \"%s\" (in label selector \"%s\")",
                         values[i], l->text);
        goto fail;
      }
      continue;
    }
    char what[300];
    snprintf(what, sizeof what, "values[%zu][%s]", i, key);
    rc = idp_label_value_check(values[i], what, e);
    if (rc) {
      idp_err_prefix(e, "unable to parse requirement");
      goto fail;
    }
  }
  if (l->kind != T_END && l->kind != T_COMMA) {
    rc = syntax_err(e, l, "',' or end of string");
    goto fail;
  }
  rc = add_req(s, key, op, values, nvalues, e);
  free(key);
  if (rc) free_values(values, nvalues);
  return rc;
oom:
  rc = idp_err_set(e, IDP_ENOMEM, "label selector: out of memory");
fail:
  free(key);
  free_values(values, nvalues);
  return rc;
}

idp_code idp_selector_parse(const char *text, idp_selector **out, idp_err *e) {
  *out = NULL;
  idp_selector *s = calloc(1, sizeof *s);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "label selector: out of memory");
  lexer l = {.text = text ? text : "", .p = text ? text : ""};
  lex(&l);
  if (l.kind != T_END) {
    for (;;) {
      idp_code rc = parse_req(&l, s, e);
      if (rc) {
        idp_selector_free(s);
        return rc;
      }
      if (l.kind == T_END) break;
      lex(&l); /* the comma */
      if (l.kind == T_END) {
        idp_selector_free(s);
        return syntax_err(e, &l, "identifier after ','");
      }
    }
  }
  sort_reqs(s);
  *out = s;
  return IDP_OK;
}

/* ---- LabelSelector object ---- */

idp_code idp_selector_from_json(const json_t *ls, idp_selector **out, idp_err *e) {
  *out = NULL;
  if (ls && !json_is_object(ls) && !json_is_null(ls))
    return idp_err_set(e, IDP_EINVAL, "selector: must be an object (metav1.LabelSelector)");
  idp_selector *s = calloc(1, sizeof *s);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "label selector: out of memory");
  idp_code rc = IDP_OK;
  const json_t *ml = json_is_object(ls) ? json_object_get(ls, "matchLabels") : NULL;
  const json_t *me = json_is_object(ls) ? json_object_get(ls, "matchExpressions") : NULL;
  if (ml && !json_is_null(ml)) {
    if (!json_is_object(ml)) {
      rc = idp_err_set(e, IDP_EINVAL, "selector.matchLabels: must be an object");
      goto fail;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ml, k, v) {
      char what[300];
      snprintf(what, sizeof what, "selector.matchLabels");
      if (!json_is_string(v)) {
        rc = idp_err_set(e, IDP_EINVAL, "selector.matchLabels[%s]: must be a string", k);
        goto fail;
      }
      if ((rc = idp_label_key_check(k, what, e))) goto fail;
      snprintf(what, sizeof what, "selector.matchLabels[%s]", k);
      if ((rc = idp_label_value_check(json_string_value(v), what, e))) goto fail;
      char **vals = malloc(sizeof *vals);
      if (!vals || !(vals[0] = strdup(json_string_value(v)))) {
        free(vals);
        rc = idp_err_set(e, IDP_ENOMEM, "label selector: out of memory");
        goto fail;
      }
      if ((rc = add_req(s, k, OP_EQ, vals, 1, e))) {
        free_values(vals, 1);
        goto fail;
      }
    }
  }
  if (me && !json_is_null(me)) {
    if (!json_is_array(me)) {
      rc = idp_err_set(e, IDP_EINVAL, "selector.matchExpressions: must be an array");
      goto fail;
    }
    size_t i;
    json_t *x;
    json_array_foreach(me, i, x) {
      const char *key = json_string_value(json_object_get(x, "key"));
      const char *opn = json_string_value(json_object_get(x, "operator"));
      const json_t *vals = json_object_get(x, "values");
      char what[64];
      snprintf(what, sizeof what, "selector.matchExpressions[%zu].key", i);
      if (!key) {
        rc = idp_err_set(e, IDP_EINVAL, "%s: Required value", what);
        goto fail;
      }
      if ((rc = idp_label_key_check(key, what, e))) goto fail;
      size_t oi = 0;
      while (oi < IDP_ARRAY_LEN(json_ops) && (!opn || strcmp(json_ops[oi].name, opn))) oi++;
      if (oi == IDP_ARRAY_LEN(json_ops)) {
        rc = idp_err_set(e, IDP_EINVAL,
                         "selector.matchExpressions[%zu].operator: Invalid value: \"%s\": not "
                         "a valid selector operator (In, NotIn, Exists, DoesNotExist)",
                         i, opn ? opn : "");
        goto fail;
      }
      size_t nv = json_is_array(vals) ? json_array_size(vals) : 0;
      if (vals && !json_is_null(vals) && !json_is_array(vals)) {
        rc = idp_err_set(e, IDP_EINVAL, "selector.matchExpressions[%zu].values: must be an array",
                         i);
        goto fail;
      }
      if (json_ops[oi].needs_values && nv == 0) {
        rc = idp_err_set(e, IDP_EINVAL,
                         "selector.matchExpressions[%zu].values: Required value: must be "
                         "specified when `operator` is 'In' or 'NotIn'",
                         i);
        goto fail;
      }
      if (!json_ops[oi].needs_values && nv > 0) {
        rc = idp_err_set(e, IDP_EINVAL,
                         "selector.matchExpressions[%zu].values: Forbidden: may not be "
                         "specified when `operator` is 'Exists' or 'DoesNotExist'",
                         i);
        goto fail;
      }
      char **vv = NULL;
      size_t n = 0;
      for (size_t j = 0; j < nv; j++) {
        const char *val = json_string_value(json_array_get(vals, j));
        char vw[96];
        snprintf(vw, sizeof vw, "selector.matchExpressions[%zu].values[%zu]", i, j);
        if (!val) rc = idp_err_set(e, IDP_EINVAL, "%s: must be a string", vw);
        else rc = idp_label_value_check(val, vw, e);
        if (!rc && !push_value(&vv, &n, strdup(val)))
          rc = idp_err_set(e, IDP_ENOMEM, "label selector: out of memory");
        if (rc) {
          free_values(vv, n);
          goto fail;
        }
      }
      if ((rc = add_req(s, key, json_ops[oi].op, vv, n, e))) {
        free_values(vv, n);
        goto fail;
      }
    }
  }
  sort_reqs(s);
  *out = s;
  return IDP_OK;
fail:
  idp_selector_free(s);
  return rc;
}

/* ---- matching ---- */

static bool has_value(const sel_req *r, const char *v) {
  for (size_t i = 0; i < r->nvalues; i++)
    if (!strcmp(r->values[i], v)) return true;
  return false;
}

static bool req_matches(const sel_req *r, const json_t *labels) {
  const json_t *lv = json_is_object(labels) ? json_object_get(labels, r->key) : NULL;
  const char *v = json_string_value(lv);
  switch (r->op) {
  case OP_EQ:
  case OP_DEQ:
  case OP_IN: return v && has_value(r, v);
  case OP_NEQ:
  case OP_NOTIN: return !v || !has_value(r, v);
  case OP_EXISTS: return v != NULL;
  case OP_DNE: return v == NULL;
  case OP_GT:
  case OP_LT: {
    long long have, want;
    if (!v || r->nvalues != 1 || !all_digits_int(v, &have) ||
        !all_digits_int(r->values[0], &want))
      return false;
    return r->op == OP_GT ? have > want : have < want;
  }
  }
  return false;
}

bool idp_selector_matches(const idp_selector *s, const json_t *labels) {
  if (!s) return true;
  for (size_t i = 0; i < s->n; i++)
    if (!req_matches(&s->reqs[i], labels)) return false;
  return true;
}

char *idp_selector_string(const idp_selector *s) {
  idp_buf b;
  idp_buf_init(&b, 1 << 20);
  idp_code rc = idp_buf_adds(&b, "");
  for (size_t i = 0; s && !rc && i < s->n; i++) {
    const sel_req *r = &s->reqs[i];
    if (i) rc = idp_buf_addc(&b, ',');
    if (!rc && r->op == OP_DNE) rc = idp_buf_addc(&b, '!');
    if (!rc) rc = idp_buf_adds(&b, r->key);
    if (rc || r->op == OP_EXISTS || r->op == OP_DNE) continue;
    rc = idp_buf_adds(&b, op_text[r->op]);
    bool set = r->op == OP_IN || r->op == OP_NOTIN;
    if (!rc && set) rc = idp_buf_addc(&b, '(');
    for (size_t j = 0; !rc && j < r->nvalues; j++) {
      if (j) rc = idp_buf_addc(&b, ',');
      if (!rc) rc = idp_buf_adds(&b, r->values[j]);
    }
    if (!rc && set) rc = idp_buf_addc(&b, ')');
  }
  if (rc) {
    idp_buf_free(&b);
    return NULL;
  }
  return idp_buf_detach(&b, NULL);
}
