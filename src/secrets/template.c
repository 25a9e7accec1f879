#include "core/common.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "secrets/template.h"

#define MAX_ITEMS 4096
#define MAX_DEPTH 32
#define MAX_VARS 32

typedef struct item {
  bool action;
  const char *s;
  size_t n;
  size_t pos; /* byte offset in the template (errors) */
} item;

typedef struct var {
  char name[64];
  json_t *v;
} var;

typedef struct ctx {
  const char *name;
  const json_t *root;
  item *items;
  size_t nitems;
  var vars[MAX_VARS];
  size_t nvars;
  idp_err *e;
  int depth;
} ctx;

static idp_code fail(ctx *c, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static idp_code fail(ctx *c, size_t pos, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return idp_err_set(c->e, IDP_EINVALID, "template %s: offset %zu: %s", c->name, pos, msg);
}

/* ---- lexing: text and {{ actions }} ----------------------------------- */

static idp_code lex(ctx *c, const char *t) {
  size_t n = strlen(t), i = 0;
  bool trim_next = false;
  while (i <= n) {
    const char *open = strstr(t + i, "{{");
    size_t tend = open ? (size_t)(open - t) : n;
    size_t ts = i;
    bool ltrim = open && open[2] == '-' && (open[3] == ' ' || open[3] == '\t' || open[3] == '\n');
    if (trim_next)
      while (ts < tend && isspace((unsigned char)t[ts])) ts++;
    size_t te = tend;
    if (ltrim)
      while (te > ts && isspace((unsigned char)t[te - 1])) te--;
    if (te > ts) {
      if (c->nitems >= MAX_ITEMS) return fail(c, ts, "too many template items");
      c->items[c->nitems++] = (item){false, t + ts, te - ts, ts};
    }
    if (!open) break;
    size_t as = tend + 2 + (ltrim ? 1 : 0);
    /* find the closing }} outside quotes */
    size_t j = as;
    char q = 0;
    for (; j + 1 < n; j++) {
      if (q) {
        if (q == '"' && t[j] == '\\') j++;
        else if (t[j] == q) q = 0;
      } else if (t[j] == '"' || t[j] == '`') {
        q = t[j];
      } else if (t[j] == '}' && t[j + 1] == '}') {
        break;
      }
    }
    if (j + 1 >= n) return fail(c, tend, "unclosed action (missing \"}}\")");
    size_t ae = j;
    trim_next = false;
    if (ae > as && t[ae - 1] == '-' && ae - 1 > as && isspace((unsigned char)t[ae - 2])) {
      trim_next = true;
      ae--;
    }
    while (as < ae && isspace((unsigned char)t[as])) as++;
    while (ae > as && isspace((unsigned char)t[ae - 1])) ae--;
    bool comment = ae - as >= 4 && !strncmp(t + as, "/*", 2) && !strncmp(t + ae - 2, "*/", 2);
    if (!comment) {
      if (c->nitems >= MAX_ITEMS) return fail(c, tend, "too many template items");
      c->items[c->nitems++] = (item){true, t + as, ae - as, tend};
    }
    i = j + 2;
  }
  return IDP_OK;
}

/* ---- values ------------------------------------------------------------- */

static bool truthy(const json_t *v) {
  if (!v || json_is_null(v) || json_is_false(v)) return false;
  if (json_is_string(v)) return json_string_length(v) > 0;
  if (json_is_integer(v)) return json_integer_value(v) != 0;
  if (json_is_real(v)) return json_real_value(v) != 0;
  if (json_is_object(v)) return json_object_size(v) > 0;
  if (json_is_array(v)) return json_array_size(v) > 0;
  return true;
}

/* Go's fmt %v of a value into b (strings raw, maps as map[k:v]). */
static idp_code to_text(const json_t *v, idp_buf *b) {
  if (!v || json_is_null(v)) return idp_buf_adds(b, "<no value>");
  if (json_is_string(v)) return idp_buf_add(b, json_string_value(v), json_string_length(v));
  if (json_is_integer(v)) return idp_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  if (json_is_real(v)) return idp_buf_printf(b, "%g", json_real_value(v));
  if (json_is_boolean(v)) return idp_buf_adds(b, json_is_true(v) ? "true" : "false");
  char *d = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  if (!d) return IDP_ENOMEM;
  idp_code rc = idp_buf_adds(b, d);
  free(d);
  return rc;
}

static json_t *text_of(const json_t *v) {
  if (json_is_string(v)) return json_incref((json_t *)v);
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  if (to_text(v, &b)) {
    idp_buf_free(&b);
    return NULL;
  }
  json_t *r = json_stringn_nocheck(b.data ? b.data : "", b.len);
  idp_buf_free(&b);
  return r;
}

/* ---- tokens of an action ----------------------------------------------- */

typedef enum { T_EOF, T_FIELD, T_VAR, T_DOT, T_STR, T_NUM, T_IDENT, T_PIPE, T_LP, T_RP, T_ASSIGN, T_COMMA } tkind;

typedef struct lexer {
  const char *s;
  size_t n, i;
  size_t pos;
  tkind k;
  const char *ts;
  size_t tn;
} lexer;

static bool ident_char(char ch) { return isalnum((unsigned char)ch) || ch == '_' || ch == '-'; }

static idp_code next(ctx *c, lexer *l) {
  while (l->i < l->n && isspace((unsigned char)l->s[l->i])) l->i++;
  l->ts = l->s + l->i;
  l->tn = 0;
  if (l->i >= l->n) {
    l->k = T_EOF;
    return IDP_OK;
  }
  char ch = l->s[l->i];
  size_t st = l->i;
  if (ch == '|') l->k = T_PIPE, l->i++;
  else if (ch == '(') l->k = T_LP, l->i++;
  else if (ch == ')') l->k = T_RP, l->i++;
  else if (ch == ',') l->k = T_COMMA, l->i++;
  else if (ch == ':' && l->i + 1 < l->n && l->s[l->i + 1] == '=') l->k = T_ASSIGN, l->i += 2;
  else if (ch == '"' || ch == '`') {
    l->i++;
    while (l->i < l->n && l->s[l->i] != ch) {
      if (ch == '"' && l->s[l->i] == '\\') l->i++;
      l->i++;
    }
    if (l->i >= l->n) return fail(c, l->pos, "unterminated string");
    l->i++;
    l->k = T_STR;
  } else if (ch == '.') {
    l->i++;
    if (l->i < l->n && (isalpha((unsigned char)l->s[l->i]) || l->s[l->i] == '_')) {
      while (l->i < l->n && (ident_char(l->s[l->i]) || l->s[l->i] == '.')) l->i++;
      l->k = T_FIELD;
    } else {
      l->k = T_DOT;
    }
  } else if (ch == '$') {
    l->i++;
    while (l->i < l->n && (ident_char(l->s[l->i]) || l->s[l->i] == '.')) l->i++;
    l->k = T_VAR;
  } else if (isdigit((unsigned char)ch) || (ch == '-' && l->i + 1 < l->n && isdigit((unsigned char)l->s[l->i + 1]))) {
    l->i++;
    while (l->i < l->n && isdigit((unsigned char)l->s[l->i])) l->i++;
    l->k = T_NUM;
  } else if (isalpha((unsigned char)ch) || ch == '_') {
    while (l->i < l->n && (isalnum((unsigned char)l->s[l->i]) || l->s[l->i] == '_')) l->i++;
    l->k = T_IDENT;
  } else {
    return fail(c, l->pos, "unexpected character '%c' in action", ch);
  }
  l->ts = l->s + st;
  l->tn = l->i - st;
  return IDP_OK;
}

static json_t *unquote(const char *s, size_t n) {
  if (s[0] == '`') return json_stringn_nocheck(s + 1, n - 2);
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  for (size_t i = 1; i + 1 < n; i++) {
    char ch = s[i];
    if (ch == '\\' && i + 2 < n) {
      ch = s[++i];
      ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch == 'r' ? '\r' : ch;
    }
    idp_buf_addc(&b, ch);
  }
  json_t *r = json_stringn_nocheck(b.data ? b.data : "", b.len);
  idp_buf_free(&b);
  return r;
}

/* Walks ".a.b" from v; new reference or NULL (error set). */
static json_t *walk(ctx *c, size_t pos, const json_t *v, const char *path, size_t n) {
  json_t *cur = json_incref((json_t *)v);
  size_t i = 0;
  while (i < n) {
    if (path[i] == '.') i++;
    size_t s = i;
    while (i < n && path[i] != '.') i++;
    if (i == s) break;
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(i - s), path + s);
    json_t *nx = json_is_object(cur) ? json_object_get(cur, key) : NULL;
    if (!nx) {
      if (!json_is_object(cur) && json_is_string(cur)) {
        /* ESO data values are strings: a JSON string value may be walked */
        json_t *parsed = json_loadb(json_string_value(cur), json_string_length(cur), 0, NULL);
        nx = json_is_object(parsed) ? json_object_get(parsed, key) : NULL;
        if (nx) {
          json_incref(nx);
          json_decref(parsed);
          json_decref(cur);
          cur = nx;
          continue;
        }
        json_decref(parsed);
      }
      json_decref(cur);
      fail(c, pos, "map has no entry for key \"%s\"", key);
      return NULL;
    }
    json_incref(nx);
    json_decref(cur);
    cur = nx;
  }
  return cur;
}

static json_t *lookup_var(ctx *c, size_t pos, const char *s, size_t n) {
  /* "$", "$name", "$name.field" */
  size_t dot = 1;
  while (dot < n && s[dot] != '.') dot++;
  const json_t *base = NULL;
  if (dot == 1) base = c->root;
  else
    for (size_t i = c->nvars; i-- > 0;)
      if (strlen(c->vars[i].name) == dot && !strncmp(c->vars[i].name, s, dot)) {
        base = c->vars[i].v;
        break;
      }
  if (!base) {
    fail(c, pos, "undefined variable \"%.*s\"", (int)dot, s);
    return NULL;
  }
  return walk(c, pos, base, s + dot, n - dot);
}

/* ---- functions (a table) --------------------------------------------------- */

typedef json_t *(*fn_t)(ctx *c, size_t pos, json_t **a, size_t n);

static const char *sarg(json_t *v) { return json_is_string(v) ? json_string_value(v) : ""; }

static json_t *f_b64enc(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)c, (void)pos, (void)n;
  json_t *t = text_of(a[0]);
  if (!t) return NULL;
  size_t l = json_string_length(t);
  char *o = malloc(4 * ((l + 2) / 3) + 1);
  if (!o) {
    json_decref(t);
    return NULL;
  }
  int w = EVP_EncodeBlock((unsigned char *)o, (const unsigned char *)json_string_value(t), (int)l);
  json_t *r = json_stringn_nocheck(o, (size_t)(w < 0 ? 0 : w));
  free(o);
  json_decref(t);
  return r;
}

static json_t *f_b64dec(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)n;
  const char *s = sarg(a[0]);
  size_t l = json_is_string(a[0]) ? json_string_length(a[0]) : 0;
  unsigned char *o = malloc(l / 4 * 3 + 3);
  if (!o) return NULL;
  int w = l ? EVP_DecodeBlock(o, (const unsigned char *)s, (int)l) : 0;
  if (w < 0 || l % 4) {
    free(o);
    fail(c, pos, "b64dec: the value is not valid base64");
    return NULL;
  }
  if (l >= 1 && s[l - 1] == '=') w--;
  if (l >= 2 && s[l - 2] == '=') w--;
  json_t *r = json_stringn_nocheck((const char *)o, (size_t)w);
  free(o);
  return r;
}

static json_t *map_chars(json_t *v, int (*f)(int)) {
  json_t *t = text_of(v);
  if (!t) return NULL;
  size_t l = json_string_length(t);
  char *o = malloc(l + 1);
  if (!o) {
    json_decref(t);
    return NULL;
  }
  for (size_t i = 0; i < l; i++) o[i] = (char)f((unsigned char)json_string_value(t)[i]);
  json_t *r = json_stringn_nocheck(o, l);
  free(o);
  json_decref(t);
  return r;
}
static json_t *f_upper(ctx *c, size_t pos, json_t **a, size_t n) { (void)c, (void)pos, (void)n; return map_chars(a[0], toupper); }
static json_t *f_lower(ctx *c, size_t pos, json_t **a, size_t n) { (void)c, (void)pos, (void)n; return map_chars(a[0], tolower); }
static json_t *f_title(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)c, (void)pos, (void)n;
  json_t *t = map_chars(a[0], tolower);
  if (!t) return NULL;
  size_t l = json_string_length(t);
  char *o = strndup(json_string_value(t), l);
  for (size_t i = 0; o && i < l; i++)
    if (i == 0 || isspace((unsigned char)o[i - 1])) o[i] = (char)toupper((unsigned char)o[i]);
  json_t *r = o ? json_stringn_nocheck(o, l) : NULL;
  free(o);
  json_decref(t);
  return r;
}

static json_t *trim_impl(json_t *v, const char *cut, bool left, bool right) {
  json_t *t = text_of(v);
  if (!t) return NULL;
  const char *s = json_string_value(t);
  size_t a = 0, b = json_string_length(t);
  while (left && a < b && (cut ? !!strchr(cut, s[a]) : isspace((unsigned char)s[a]))) a++;
  while (right && b > a && (cut ? !!strchr(cut, s[b - 1]) : isspace((unsigned char)s[b - 1]))) b--;
  json_t *r = json_stringn_nocheck(s + a, b - a);
  json_decref(t);
  return r;
}
static json_t *f_trim(ctx *c, size_t pos, json_t **a, size_t n) { (void)c, (void)pos, (void)n; return trim_impl(a[0], NULL, true, true); }
static json_t *f_trimAll(ctx *c, size_t pos, json_t **a, size_t n) { (void)c, (void)pos, (void)n; return trim_impl(a[1], sarg(a[0]), true, true); }

static json_t *f_trimPrefix(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)c, (void)pos, (void)n;
  json_t *t = text_of(a[1]);
  if (!t) return NULL;
  size_t pl = strlen(sarg(a[0])), l = json_string_length(t);
  json_t *r = (pl <= l && !memcmp(json_string_value(t), sarg(a[0]), pl))
                  ? json_stringn_nocheck(json_string_value(t) + pl, l - pl)
                  : json_incref(t);
  json_decref(t);
  return r;
}
static json_t *f_trimSuffix(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)c, (void)pos, (void)n;
  json_t *t = text_of(a[1]);
  if (!t) return NULL;
  size_t pl = strlen(sarg(a[0])), l = json_string_length(t);
  json_t *r = (pl <= l && !memcmp(json_string_value(t) + l - pl, sarg(a[0]), pl))
                  ? json_stringn_nocheck(json_string_value(t), l - pl)
                  : json_incref(t);
  json_decref(t);
  return r;
}

static json_t *quote_impl(json_t *v, char q) {
  json_t *t = text_of(v);
  if (!t) return NULL;
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  if (q == '"') {
    char *d = json_dumps(t, JSON_ENCODE_ANY);
    idp_buf_adds(&b, d ? d : "\"\"");
    free(d);
  } else {
    idp_buf_addc(&b, q);
    idp_buf_add(&b, json_string_value(t), json_string_length(t));
    idp_buf_addc(&b, q);
  }
  json_t *r = json_stringn_nocheck(b.data ? b.data : "", b.len);
  idp_buf_free(&b);
  json_decref(t);
  return r;
}
static json_t *f_quote(ctx *c, size_t pos, json_t **a, size_t n) { (void)c, (void)pos, (void)n; return quote_impl(a[0], '"'); }
static json_t *f_squote(ctx *c, size_t pos, json_t **a, size_t n) { (void)c, (void)pos, (void)n; return quote_impl(a[0], '\''); }

static json_t *f_toJson(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)c, (void)pos, (void)n;
  char *d = json_dumps(a[0], JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  json_t *r = d ? json_string(d) : NULL;
  free(d);
  return r;
}
static json_t *f_toString(ctx *c, size_t pos, json_t **a, size_t n) { (void)c, (void)pos, (void)n; return text_of(a[0]); }
static json_t *f_fromJson(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)n;
  json_t *r = json_loadb(sarg(a[0]), json_is_string(a[0]) ? json_string_length(a[0]) : 0,
                         JSON_DECODE_ANY, NULL);
  if (!r) fail(c, pos, "fromJson: the value is not JSON");
  return r;
}
static json_t *f_default(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)c, (void)pos;
  if (n < 2) return json_incref(a[0]);
  return json_incref(truthy(a[1]) ? a[1] : a[0]);
}
static json_t *f_replace(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)c, (void)pos, (void)n;
  const char *old = sarg(a[0]), *nw = sarg(a[1]);
  json_t *t = text_of(a[2]);
  if (!t) return NULL;
  size_t ol = strlen(old), l = json_string_length(t);
  const char *s = json_string_value(t);
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  for (size_t i = 0; i < l;) {
    if (ol && i + ol <= l && !memcmp(s + i, old, ol)) {
      idp_buf_adds(&b, nw);
      i += ol;
    } else {
      idp_buf_addc(&b, s[i++]);
    }
  }
  json_t *r = json_stringn_nocheck(b.data ? b.data : "", b.len);
  idp_buf_free(&b);
  json_decref(t);
  return r;
}
static json_t *f_nospace(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)c, (void)pos, (void)n;
  json_t *t = text_of(a[0]);
  if (!t) return NULL;
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  for (size_t i = 0; i < json_string_length(t); i++)
    if (!isspace((unsigned char)json_string_value(t)[i])) idp_buf_addc(&b, json_string_value(t)[i]);
  json_t *r = json_stringn_nocheck(b.data ? b.data : "", b.len);
  idp_buf_free(&b);
  json_decref(t);
  return r;
}
static json_t *f_sha256sum(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)c, (void)pos, (void)n;
  json_t *t = text_of(a[0]);
  if (!t) return NULL;
  unsigned char md[32];
  SHA256((const unsigned char *)json_string_value(t), json_string_length(t), md);
  char h[65];
  for (int i = 0; i < 32; i++) snprintf(h + 2 * i, 3, "%02x", md[i]);
  json_decref(t);
  return json_string(h);
}
static json_t *f_printf(ctx *c, size_t pos, json_t **a, size_t n) {
  const char *f = sarg(a[0]);
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  size_t k = 1;
  for (; *f; f++) {
    if (*f != '%') {
      idp_buf_addc(&b, *f);
      continue;
    }
    f++;
    if (*f == '%') {
      idp_buf_addc(&b, '%');
      continue;
    }
    if (k >= n) {
      idp_buf_adds(&b, "%!");
      idp_buf_addc(&b, *f);
      idp_buf_adds(&b, "(MISSING)");
      if (!*f) break;
      continue;
    }
    if (*f == 's' || *f == 'v' || *f == 'd') to_text(a[k++], &b);
    else if (*f == 'q') {
      json_t *q = quote_impl(a[k++], '"');
      if (q) idp_buf_add(&b, json_string_value(q), json_string_length(q));
      json_decref(q);
    } else {
      idp_buf_free(&b);
      fail(c, pos, "printf: verb %%%c is not supported", *f ? *f : '?');
      return NULL;
    }
  }
  json_t *r = json_stringn_nocheck(b.data ? b.data : "", b.len);
  idp_buf_free(&b);
  return r;
}
static json_t *f_index(ctx *c, size_t pos, json_t **a, size_t n) {
  json_t *cur = a[0];
  for (size_t i = 1; i < n; i++) {
    json_t *nx = NULL;
    if (json_is_object(cur) && json_is_string(a[i])) nx = json_object_get(cur, json_string_value(a[i]));
    else if (json_is_array(cur) && json_is_integer(a[i])) nx = json_array_get(cur, (size_t)json_integer_value(a[i]));
    if (!nx) {
      /* the key may itself come from a secret value: not echoed */
      fail(c, pos, "index: argument %zu names no entry", i);
      return NULL;
    }
    cur = nx;
  }
  return json_incref(cur);
}
static json_t *f_get(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)c, (void)pos, (void)n;
  json_t *v = json_is_object(a[0]) ? json_object_get(a[0], sarg(a[1])) : NULL;
  return v ? json_incref(v) : json_string("");
}
static json_t *indent_impl(json_t *w, json_t *v, bool nl) {
  json_int_t k = json_is_integer(w) ? json_integer_value(w) : 0;
  json_t *t = text_of(v);
  if (!t) return NULL;
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  if (nl) idp_buf_addc(&b, '\n');
  for (json_int_t i = 0; i < k; i++) idp_buf_addc(&b, ' ');
  for (size_t i = 0; i < json_string_length(t); i++) {
    char ch = json_string_value(t)[i];
    idp_buf_addc(&b, ch);
    if (ch == '\n')
      for (json_int_t j = 0; j < k; j++) idp_buf_addc(&b, ' ');
  }
  json_t *r = json_stringn_nocheck(b.data ? b.data : "", b.len);
  idp_buf_free(&b);
  json_decref(t);
  return r;
}
static json_t *f_indent(ctx *c, size_t pos, json_t **a, size_t n) { (void)c, (void)pos, (void)n; return indent_impl(a[0], a[1], false); }
static json_t *f_nindent(ctx *c, size_t pos, json_t **a, size_t n) { (void)c, (void)pos, (void)n; return indent_impl(a[0], a[1], true); }
static json_t *f_contains(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)c, (void)pos, (void)n;
  return json_boolean(strstr(sarg(a[1]), sarg(a[0])) != NULL);
}
static json_t *f_hasPrefix(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)c, (void)pos, (void)n;
  return json_boolean(!strncmp(sarg(a[1]), sarg(a[0]), strlen(sarg(a[0]))));
}
static json_t *f_hasSuffix(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)c, (void)pos, (void)n;
  size_t l = strlen(sarg(a[1])), k = strlen(sarg(a[0]));
  return json_boolean(k <= l && !strcmp(sarg(a[1]) + l - k, sarg(a[0])));
}
static json_t *f_required(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)n;
  if (!truthy(a[1])) {
    fail(c, pos, "required: %s", sarg(a[0]));
    return NULL;
  }
  return json_incref(a[1]);
}
static json_t *f_join(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)c, (void)pos, (void)n;
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  size_t i;
  json_t *v;
  if (json_is_array(a[1])) json_array_foreach(a[1], i, v) {
      if (i) idp_buf_adds(&b, sarg(a[0]));
      to_text(v, &b);
    }
  json_t *r = json_stringn_nocheck(b.data ? b.data : "", b.len);
  idp_buf_free(&b);
  return r;
}
static json_t *f_list(ctx *c, size_t pos, json_t **a, size_t n) {
  (void)c, (void)pos;
  json_t *r = json_array();
  for (size_t i = 0; i < n; i++) json_array_append(r, a[i]);
  return r;
}

static const struct {
  const char *name;
  fn_t fn;
  int min, max; /* argument counts */
} fns[] = {
    {"b64enc", f_b64enc, 1, 1},     {"b64dec", f_b64dec, 1, 1},       {"upper", f_upper, 1, 1},
    {"lower", f_lower, 1, 1},       {"title", f_title, 1, 1},         {"trim", f_trim, 1, 1},
    {"trimAll", f_trimAll, 2, 2},   {"trimPrefix", f_trimPrefix, 2, 2}, {"trimSuffix", f_trimSuffix, 2, 2},
    {"quote", f_quote, 1, 1},       {"squote", f_squote, 1, 1},       {"toJson", f_toJson, 1, 1},
    {"toString", f_toString, 1, 1}, {"fromJson", f_fromJson, 1, 1},   {"default", f_default, 1, 2},
    {"replace", f_replace, 3, 3},   {"nospace", f_nospace, 1, 1},     {"sha256sum", f_sha256sum, 1, 1},
    {"printf", f_printf, 1, 64},    {"index", f_index, 1, 64},        {"get", f_get, 2, 2},
    {"indent", f_indent, 2, 2},     {"nindent", f_nindent, 2, 2},     {"contains", f_contains, 2, 2},
    {"hasPrefix", f_hasPrefix, 2, 2}, {"hasSuffix", f_hasSuffix, 2, 2}, {"required", f_required, 2, 2},
    {"join", f_join, 2, 2},         {"list", f_list, 0, 64},
};

/* ---- pipelines ------------------------------------------------------------- */

static json_t *pipeline(ctx *c, lexer *l, const json_t *dot, bool paren);

/* One operand (not a function call). */
static json_t *operand(ctx *c, lexer *l, const json_t *dot) {
  json_t *v = NULL;
  switch (l->k) {
  case T_FIELD: v = walk(c, l->pos, dot, l->ts, l->tn); break;
  case T_DOT: v = json_incref((json_t *)dot); break;
  case T_VAR: v = lookup_var(c, l->pos, l->ts, l->tn); break;
  case T_STR: v = unquote(l->ts, l->tn); break;
  case T_NUM: {
    char num[32];
    snprintf(num, sizeof num, "%.*s", (int)(l->tn < 31 ? l->tn : 31), l->ts);
    v = json_integer(strtoll(num, NULL, 10));
    break;
  }
  case T_IDENT:
    if (l->tn == 4 && !strncmp(l->ts, "true", 4)) v = json_true();
    else if (l->tn == 5 && !strncmp(l->ts, "false", 5)) v = json_false();
    else if (l->tn == 3 && !strncmp(l->ts, "nil", 3)) v = json_null();
    else fail(c, l->pos, "function \"%.*s\" used as a value", (int)l->tn, l->ts);
    break;
  case T_LP:
    if (next(c, l)) return NULL;
    v = pipeline(c, l, dot, true);
    if (v && l->k != T_RP) {
      json_decref(v);
      fail(c, l->pos, "missing \")\"");
      return NULL;
    }
    break;
  default: fail(c, l->pos, "unexpected token in action"); return NULL;
  }
  if (!v) return NULL;
  bool paren = l->k == T_RP;
  const char *after = l->ts + l->tn;
  if (next(c, l)) {
    json_decref(v);
    return NULL;
  }
  if (paren && l->k == T_FIELD && l->ts == after) {
    /* (pipeline).field */
    json_t *w = walk(c, l->pos, v, l->ts, l->tn);
    json_decref(v);
    if (!w || next(c, l)) {
      json_decref(w);
      return NULL;
    }
    v = w;
  }
  return v;
}

static bool ends_cmd(tkind k) { return k == T_EOF || k == T_PIPE || k == T_RP; }

static json_t *command(ctx *c, lexer *l, const json_t *dot, json_t *piped) {
  if (l->k == T_IDENT && !(l->tn == 4 && !strncmp(l->ts, "true", 4)) &&
      !(l->tn == 5 && !strncmp(l->ts, "false", 5)) && !(l->tn == 3 && !strncmp(l->ts, "nil", 3))) {
    size_t f = 0;
    while (f < IDP_ARRAY_LEN(fns) && (strlen(fns[f].name) != l->tn || strncmp(fns[f].name, l->ts, l->tn))) f++;
    if (f == IDP_ARRAY_LEN(fns)) {
      fail(c, l->pos, "function \"%.*s\" not defined (supported: see secrets/template.h)", (int)l->tn, l->ts);
      return NULL;
    }
    if (next(c, l)) return NULL;
    json_t *args[65];
    size_t n = 0;
    json_t *res = NULL;
    while (!ends_cmd(l->k)) {
      if (n >= 64) {
        fail(c, l->pos, "too many arguments");
        goto out;
      }
      if (!(args[n] = operand(c, l, dot))) goto out;
      n++;
    }
    if (piped) args[n++] = json_incref(piped);
    if ((int)n < fns[f].min || (int)n > fns[f].max) {
      fail(c, l->pos, "wrong number of args for %s: want %d got %zu", fns[f].name, fns[f].min, n);
      goto out;
    }
    res = fns[f].fn(c, l->pos, args, n);
    if (!res && c->e->code == IDP_OK) fail(c, l->pos, "%s: out of memory", fns[f].name);
  out:
    for (size_t i = 0; i < n; i++) json_decref(args[i]);
    return res;
  }
  if (piped) {
    fail(c, l->pos, "can't give argument to non-function");
    return NULL;
  }
  json_t *v = operand(c, l, dot);
  if (v && !ends_cmd(l->k)) {
    json_decref(v);
    fail(c, l->pos, "can't give argument to non-function");
    return NULL;
  }
  return v;
}

static json_t *pipeline(ctx *c, lexer *l, const json_t *dot, bool paren) {
  json_t *v = NULL;
  for (;;) {
    json_t *nv = command(c, l, dot, v);
    json_decref(v);
    if (!nv) return NULL;
    v = nv;
    if (l->k == T_PIPE) {
      if (next(c, l)) break;
      continue;
    }
    if (l->k == T_RP && !paren) {
      fail(c, l->pos, "unexpected \")\"");
      break;
    }
    return v;
  }
  json_decref(v);
  return NULL;
}

static json_t *eval(ctx *c, const char *s, size_t n, size_t pos, const json_t *dot) {
  lexer l = {.s = s, .n = n, .pos = pos};
  if (next(c, &l)) return NULL;
  if (l.k == T_EOF) {
    fail(c, pos, "missing value for command");
    return NULL;
  }
  json_t *v = pipeline(c, &l, dot, false);
  if (v && l.k != T_EOF) {
    json_decref(v);
    fail(c, pos, "unexpected token after the pipeline");
    return NULL;
  }
  return v;
}

/* ---- control structure ------------------------------------------------------- */

static bool starts_kw(const item *it, const char *kw) {
  size_t k = strlen(kw);
  return it->action && it->n >= k && !strncmp(it->s, kw, k) &&
         (it->n == k || isspace((unsigned char)it->s[k]));
}

/* Index of the {{ else }} (or NULL) and {{ end }} matching the block opened at i. */
static idp_code match_end(ctx *c, size_t i, size_t *els, size_t *end) {
  int depth = 0;
  *els = 0;
  for (size_t j = i + 1; j < c->nitems; j++) {
    const item *it = &c->items[j];
    if (starts_kw(it, "if") || starts_kw(it, "range") || starts_kw(it, "with")) depth++;
    else if (starts_kw(it, "end")) {
      if (depth == 0) {
        *end = j;
        return IDP_OK;
      }
      depth--;
    } else if (starts_kw(it, "else") && depth == 0 && !*els) {
      *els = j;
    }
  }
  return fail(c, c->items[i].pos, "unexpected EOF: missing {{end}}");
}

static idp_code exec(ctx *c, size_t from, size_t to, const json_t *dot, idp_buf *out);

static idp_code exec_range(ctx *c, size_t i, size_t els, size_t end, const json_t *dot, idp_buf *out) {
  const item *it = &c->items[i];
  const char *s = it->s + 5, *e = it->s + it->n;
  while (s < e && isspace((unsigned char)*s)) s++;
  char kname[64] = "", vname[64] = "";
  const char *assign = NULL;
  for (const char *p = s; p + 1 < e; p++)
    if (p[0] == ':' && p[1] == '=') {
      assign = p;
      break;
    }
  if (assign) {
    char decl[160];
    snprintf(decl, sizeof decl, "%.*s", (int)(assign - s < 159 ? assign - s : 159), s);
    char *comma = strchr(decl, ',');
    char *a = decl, *b = comma ? comma + 1 : NULL;
    if (comma) *comma = 0;
    while (*a == ' ') a++;
    if (b)
      while (*b == ' ') b++;
    for (char *p = a + strlen(a); p > a && p[-1] == ' ';) *--p = 0;
    if (b)
      for (char *p = b + strlen(b); p > b && p[-1] == ' ';) *--p = 0;
    if (b) {
      snprintf(kname, sizeof kname, "%s", a);
      snprintf(vname, sizeof vname, "%s", b);
    } else {
      snprintf(vname, sizeof vname, "%s", a);
    }
    s = assign + 2;
  }
  json_t *coll = eval(c, s, (size_t)(e - s), it->pos, dot);
  if (!coll) return c->e->code;
  idp_code rc = IDP_OK;
  size_t body_end = els ? els : end;
  size_t base = c->nvars;
  if (c->nvars + 2 > MAX_VARS) {
    json_decref(coll);
    return fail(c, it->pos, "too many variables");
  }
  bool any = false;
  if (json_is_object(coll)) {
    /* Go ranges over maps in sorted key order */
    size_t n = json_object_size(coll), k = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    const char *key;
    json_t *v;
    json_object_foreach(coll, key, v) keys[k++] = key;
    for (size_t a = 1; a < n; a++)
      for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
        const char *t = keys[b];
        keys[b] = keys[b - 1];
        keys[b - 1] = t;
      }
    for (k = 0; k < n && !rc; k++) {
      any = true;
      v = json_object_get(coll, keys[k]);
      c->nvars = base;
      if (kname[0]) {
        snprintf(c->vars[c->nvars].name, 64, "%s", kname);
        c->vars[c->nvars++].v = json_string(keys[k]);
      }
      if (vname[0]) {
        snprintf(c->vars[c->nvars].name, 64, "%s", vname);
        c->vars[c->nvars++].v = json_incref(v);
      }
      rc = exec(c, i + 1, body_end, v, out);
      while (c->nvars > base) json_decref(c->vars[--c->nvars].v);
    }
    free(keys);
  } else if (json_is_array(coll)) {
    size_t k;
    json_t *v;
    json_array_foreach(coll, k, v) {
      if (rc) break;
      any = true;
      c->nvars = base;
      if (kname[0]) {
        snprintf(c->vars[c->nvars].name, 64, "%s", kname);
        c->vars[c->nvars++].v = json_integer((json_int_t)k);
      }
      if (vname[0]) {
        snprintf(c->vars[c->nvars].name, 64, "%s", vname);
        c->vars[c->nvars++].v = json_incref(v);
      }
      rc = exec(c, i + 1, body_end, v, out);
      while (c->nvars > base) json_decref(c->vars[--c->nvars].v);
    }
  } else if (truthy(coll)) {
    rc = fail(c, it->pos, "range can't iterate over a %s", json_is_string(coll) ? "string" : "scalar");
  }
  json_decref(coll);
  if (!rc && !any && els) rc = exec(c, els + 1, end, dot, out);
  return rc;
}

static idp_code exec(ctx *c, size_t from, size_t to, const json_t *dot, idp_buf *out) {
  if (++c->depth > MAX_DEPTH) return fail(c, 0, "templates nested too deeply");
  idp_code rc = IDP_OK;
  for (size_t i = from; i < to && !rc; i++) {
    const item *it = &c->items[i];
    if (!it->action) {
      rc = idp_buf_add(out, it->s, it->n);
      continue;
    }
    if (starts_kw(it, "if") || starts_kw(it, "with")) {
      bool with = starts_kw(it, "with");
      size_t els, end;
      if ((rc = match_end(c, i, &els, &end))) break;
      size_t k = with ? 4 : 2;
      json_t *v = eval(c, it->s + k, it->n - k, it->pos, dot);
      if (!v) {
        rc = c->e->code;
        break;
      }
      if (truthy(v)) rc = exec(c, i + 1, els ? els : end, with ? v : dot, out);
      else if (els) {
        const item *ei = &c->items[els];
        if (ei->n > 4 && starts_kw(ei, "else"))
          rc = fail(c, ei->pos, "\"else if\" is not supported; nest {{ if }} blocks");
        else rc = exec(c, els + 1, end, dot, out);
      }
      json_decref(v);
      i = end;
    } else if (starts_kw(it, "range")) {
      size_t els, end;
      if ((rc = match_end(c, i, &els, &end))) break;
      rc = exec_range(c, i, els, end, dot, out);
      i = end;
    } else if (starts_kw(it, "end") || starts_kw(it, "else")) {
      rc = fail(c, it->pos, "unexpected {{%.*s}}", (int)it->n, it->s);
    } else if (starts_kw(it, "define") || starts_kw(it, "template") || starts_kw(it, "block")) {
      rc = fail(c, it->pos, "{{%.4s...}}: named templates are not supported", it->s);
    } else {
      json_t *v = eval(c, it->s, it->n, it->pos, dot);
      if (!v) rc = c->e->code ? c->e->code : IDP_EINVALID;
      else rc = to_text(v, out);
      json_decref(v);
    }
  }
  c->depth--;
  return rc;
}

idp_code idp_gotpl_render(const char *name, const char *tpl, const json_t *data, idp_buf *out,
                          idp_err *e) {
  idp_err local = IDP_ERR_INIT;
  ctx c = {.name = name ? name : "", .root = data, .e = e ? e : &local};
  c.e->code = IDP_OK;
  c.items = calloc(MAX_ITEMS, sizeof *c.items);
  if (!c.items) return idp_err_set(e, IDP_ENOMEM, "template %s: out of memory", c.name);
  idp_code rc = lex(&c, tpl ? tpl : "");
  if (!rc) rc = exec(&c, 0, c.nitems, data, out);
  free(c.items);
  return rc;
}
