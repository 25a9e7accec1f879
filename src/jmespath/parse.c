/* parse.c: JMESPath lexer and Pratt parser (the grammar of the
 * specification, with the binding powers of the reference implementation),
 * producing the AST of internal.h.  Functions are resolved, and their arity
 * checked, at compile time. */
#include "core/common.h"

#include "jmespath/internal.h"

typedef enum tok {
  T_EOF,
  T_UNQUOTED,
  T_QUOTED,
  T_LITERAL, /* `json` and 'raw' */
  T_NUMBER,
  T_RBRACKET,
  T_RPAREN,
  T_COMMA,
  T_RBRACE,
  T_CURRENT,
  T_EXPREF,
  T_COLON,
  T_PIPE,
  T_OR,
  T_AND,
  T_EQ,
  T_NE,
  T_LT,
  T_LTE,
  T_GT,
  T_GTE,
  T_FLATTEN,
  T_STAR,
  T_FILTER,
  T_DOT,
  T_NOT,
  T_LBRACE,
  T_LBRACKET,
  T_LPAREN,
  T_COUNT
} tok;

/* Left binding powers (jmespath.py's table). */
static const int bp[T_COUNT] = {
    [T_PIPE] = 1,   [T_OR] = 2,     [T_AND] = 3,       [T_EQ] = 5,      [T_NE] = 5,
    [T_LT] = 5,     [T_LTE] = 5,    [T_GT] = 5,        [T_GTE] = 5,     [T_FLATTEN] = 9,
    [T_STAR] = 20,  [T_FILTER] = 21, [T_DOT] = 40,     [T_NOT] = 45,    [T_LBRACE] = 50,
    [T_LBRACKET] = 55, [T_LPAREN] = 60,
};
#define PROJECTION_STOP 10

static const char *const tok_names[T_COUNT] = {
    [T_EOF] = "end of expression", [T_UNQUOTED] = "identifier", [T_QUOTED] = "quoted identifier",
    [T_LITERAL] = "literal", [T_NUMBER] = "number", [T_RBRACKET] = "']'", [T_RPAREN] = "')'",
    [T_COMMA] = "','", [T_RBRACE] = "'}'", [T_CURRENT] = "'@'", [T_EXPREF] = "'&'",
    [T_COLON] = "':'", [T_PIPE] = "'|'", [T_OR] = "'||'", [T_AND] = "'&&'", [T_EQ] = "'=='",
    [T_NE] = "'!='", [T_LT] = "'<'", [T_LTE] = "'<='", [T_GT] = "'>'", [T_GTE] = "'>='",
    [T_FLATTEN] = "'[]'", [T_STAR] = "'*'", [T_FILTER] = "'[?'", [T_DOT] = "'.'",
    [T_NOT] = "'!'", [T_LBRACE] = "'{'", [T_LBRACKET] = "'['", [T_LPAREN] = "'('",
};

typedef struct token {
  tok type;
  int pos;
  char *str; /* identifiers (owned) */
  size_t len;
  long long num;
  json_t *lit; /* literal (owned until moved into a node) */
} token;

typedef struct parser {
  const char *src;
  token *toks;
  size_t ntoks, cap, i;
  int depth;
  jp_dialect dialect;
  idp_err *e;
  idp_code last; /* code of the last error set (e may be NULL) */
} parser;

#define MAX_DEPTH 256      /* recursion of the parser */
#define MAX_AST_DEPTH 2000 /* height of the tree, i.e. recursion of the evaluator */
#define MAX_TOKENS 100000

static idp_code syntax(parser *p, int pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static idp_code syntax(parser *p, int pos, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return p->last = jp_err_e(p->e, IDP_EINVAL, "syntax", "%s at column %d in \"%.200s\"", msg,
                            pos + 1, p->src);
}

/* ---- lexer ---- */

static idp_code push(parser *p, token t) {
  if (p->ntoks == p->cap) {
    if (p->cap >= MAX_TOKENS) {
      free(t.str);
      json_decref(t.lit);
      return syntax(p, t.pos, "expression too long");
    }
    size_t nc = p->cap ? p->cap * 2 : 32;
    token *n = realloc(p->toks, nc * sizeof *n);
    if (!n) {
      free(t.str);
      json_decref(t.lit);
      return jp_err_e(p->e, IDP_ENOMEM, "error", "out of memory");
    }
    p->toks = n;
    p->cap = nc;
  }
  p->toks[p->ntoks++] = t;
  return IDP_OK;
}

static bool id_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool id_char(char c) { return id_start(c) || (c >= '0' && c <= '9'); }

/* Finds the closing delimiter q starting after `start`, skipping
 * backslash-escaped characters; returns its index or -1. */
static long find_close(const char *s, size_t n, size_t start, char q) {
  for (size_t i = start; i < n; i++) {
    if (s[i] == '\\' && i + 1 < n) {
      i++;
      continue;
    }
    if (s[i] == q) return (long)i;
  }
  return -1;
}

static json_t *load_json(const char *s, size_t n) {
  return json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

static idp_code lex(parser *p) {
  const char *s = p->src;
  size_t n = strlen(s);
  size_t i = 0;
  idp_code rc;
  while (i < n) {
    char c = s[i];
    token t = {.pos = (int)i};
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      i++;
      continue;
    }
    if (id_start(c)) {
      size_t j = i;
      while (j < n && id_char(s[j])) j++;
      t.type = T_UNQUOTED;
      t.len = j - i;
      t.str = strndup(s + i, t.len);
      if (!t.str) return jp_err_e(p->e, IDP_ENOMEM, "error", "out of memory");
      i = j;
    } else if ((c >= '0' && c <= '9') || c == '-') {
      size_t j = i + (c == '-');
      if (j >= n || s[j] < '0' || s[j] > '9') return syntax(p, (int)i, "'-' must start a number");
      while (j < n && s[j] >= '0' && s[j] <= '9') j++;
      char tmp[32];
      if (j - i >= sizeof tmp) return syntax(p, (int)i, "number too long");
      memcpy(tmp, s + i, j - i);
      tmp[j - i] = '\0';
      errno = 0;
      char *end;
      t.num = strtoll(tmp, &end, 10);
      if (errno || *end) return syntax(p, (int)i, "number out of range");
      t.type = T_NUMBER;
      i = j;
    } else if (c == '"') {
      long close = find_close(s, n, i + 1, '"');
      if (close < 0) return syntax(p, (int)i, "unterminated quoted identifier");
      json_t *v = load_json(s + i, (size_t)close + 1 - i);
      if (!json_is_string(v)) {
        json_decref(v);
        return syntax(p, (int)i, "invalid quoted identifier");
      }
      t.type = T_QUOTED;
      t.len = json_string_length(v);
      t.str = malloc(t.len + 1);
      if (!t.str) {
        json_decref(v);
        return jp_err_e(p->e, IDP_ENOMEM, "error", "out of memory");
      }
      memcpy(t.str, json_string_value(v), t.len + 1);
      json_decref(v);
      i = (size_t)close + 1;
    } else if (c == '\'') {
      long close = find_close(s, n, i + 1, '\'');
      if (close < 0) return syntax(p, (int)i, "unterminated raw string literal");
      /* Only \' is an escape in a raw string; every other backslash stays. */
      idp_buf b;
      idp_buf_init(&b, n + 1);
      for (size_t k = i + 1; k < (size_t)close; k++) {
        if (s[k] == '\\' && k + 1 < (size_t)close && s[k + 1] == '\'') k++;
        if (idp_buf_addc(&b, s[k])) {
          idp_buf_free(&b);
          return jp_err_e(p->e, IDP_ENOMEM, "error", "out of memory");
        }
      }
      t.type = T_LITERAL;
      t.lit = json_stringn(b.data ? b.data : "", b.len);
      idp_buf_free(&b);
      if (!t.lit) return syntax(p, (int)i, "raw string literal is not valid UTF-8");
      i = (size_t)close + 1;
    } else if (c == '`') {
      long close = find_close(s, n, i + 1, '`');
      if (close < 0) return syntax(p, (int)i, "unterminated JSON literal");
      idp_buf b;
      idp_buf_init(&b, n + 3);
      for (size_t k = i + 1; k < (size_t)close; k++) {
        if (s[k] == '\\' && k + 1 < (size_t)close && s[k + 1] == '`') k++;
        if (idp_buf_addc(&b, s[k])) {
          idp_buf_free(&b);
          return jp_err_e(p->e, IDP_ENOMEM, "error", "out of memory");
        }
      }
      t.lit = load_json(b.data ? b.data : "", b.len);
      if (!t.lit) {
        /* Legacy form: `foo` is the string "foo" (leading blanks dropped). */
        const char *q = b.data ? b.data : "";
        size_t ql = b.len;
        while (ql && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) q++, ql--;
        idp_buf w;
        idp_buf_init(&w, ql + 3);
        if (idp_buf_addc(&w, '"') || idp_buf_add(&w, q, ql) || idp_buf_addc(&w, '"')) {
          idp_buf_free(&w);
          idp_buf_free(&b);
          return jp_err_e(p->e, IDP_ENOMEM, "error", "out of memory");
        }
        t.lit = load_json(w.data, w.len);
        idp_buf_free(&w);
      }
      idp_buf_free(&b);
      if (!t.lit) return syntax(p, (int)i, "invalid JSON literal");
      t.type = T_LITERAL;
      i = (size_t)close + 1;
    } else {
      i++;
      char nx = i < n ? s[i] : '\0';
      switch (c) {
      case '.': t.type = T_DOT; break;
      case '*': t.type = T_STAR; break;
      case ']': t.type = T_RBRACKET; break;
      case ',': t.type = T_COMMA; break;
      case ':': t.type = T_COLON; break;
      case '@': t.type = T_CURRENT; break;
      case '(': t.type = T_LPAREN; break;
      case ')': t.type = T_RPAREN; break;
      case '{': t.type = T_LBRACE; break;
      case '}': t.type = T_RBRACE; break;
      case '[':
        if (nx == ']') t.type = T_FLATTEN, i++;
        else if (nx == '?') t.type = T_FILTER, i++;
        else t.type = T_LBRACKET;
        break;
      case '&':
        if (nx == '&') t.type = T_AND, i++;
        else t.type = T_EXPREF;
        break;
      case '|':
        if (nx == '|') t.type = T_OR, i++;
        else t.type = T_PIPE;
        break;
      case '<':
        if (nx == '=') t.type = T_LTE, i++;
        else t.type = T_LT;
        break;
      case '>':
        if (nx == '=') t.type = T_GTE, i++;
        else t.type = T_GT;
        break;
      case '!':
        if (nx == '=') t.type = T_NE, i++;
        else t.type = T_NOT;
        break;
      case '=':
        if (nx == '=') {
          t.type = T_EQ;
          i++;
          break;
        }
        return syntax(p, (int)i - 1, "unexpected '=' (did you mean '=='?)");
      default:
        if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
          return syntax(p, (int)i - 1, "unexpected character '%c'", c);
        return syntax(p, (int)i - 1, "unexpected character 0x%02x", (unsigned char)c);
      }
    }
    if ((rc = push(p, t))) return rc;
  }
  token eof = {.type = T_EOF, .pos = (int)n};
  return push(p, eof);
}

/* ---- AST ---- */

void jp_node_free(jp_node *n) {
  if (!n) return;
  jp_node_free(n->a);
  jp_node_free(n->b);
  jp_node_free(n->c);
  for (size_t i = 0; i < n->nkids; i++) {
    jp_node_free(n->kids[i]);
    if (n->keys) free(n->keys[i]);
  }
  free(n->kids);
  free(n->keys);
  free(n->keylens);
  free(n->name);
  json_decref(n->lit);
  free(n);
}

static jp_node *mk(parser *p, jp_kind k, int pos) {
  jp_node *n = calloc(1, sizeof *n);
  if (!n) {
    p->last = jp_err_e(p->e, IDP_ENOMEM, "error", "out of memory");
    return NULL;
  }
  n->kind = k;
  n->pos = pos;
  n->depth = 1;
  return n;
}

static int height(const jp_node *a, const jp_node *b) {
  int x = a ? a->depth : 0, y = b ? b->depth : 0;
  return 1 + (x > y ? x : y);
}

static jp_node *mk2(parser *p, jp_kind k, int pos, jp_node *a, jp_node *b) {
  jp_node *n = NULL;
  if (height(a, b) > MAX_AST_DEPTH) syntax(p, pos, "expression nested too deeply");
  else n = mk(p, k, pos);
  if (!n) {
    jp_node_free(a);
    jp_node_free(b);
    return NULL;
  }
  n->a = a;
  n->b = b;
  n->depth = height(a, b);
  return n;
}

static idp_code add_kid(parser *p, jp_node *n, jp_node *kid, char *key, size_t keylen) {
  if ((n->nkids & (n->nkids - 1)) == 0) { /* grow at powers of two */
    size_t nc = n->nkids ? n->nkids * 2 : 1;
    jp_node **k = realloc(n->kids, nc * sizeof *k);
    if (!k) goto oom;
    n->kids = k;
    if (n->kind == JP_N_MULTI_HASH) {
      char **ks = realloc(n->keys, nc * sizeof *ks);
      if (!ks) goto oom;
      n->keys = ks;
      size_t *kl = realloc(n->keylens, nc * sizeof *kl);
      if (!kl) goto oom;
      n->keylens = kl;
    }
  }
  if (kid->depth + 1 > n->depth) n->depth = kid->depth + 1;
  if (n->depth > MAX_AST_DEPTH) {
    jp_node_free(kid);
    free(key);
    return syntax(p, n->pos, "expression nested too deeply");
  }
  n->kids[n->nkids] = kid;
  if (n->kind == JP_N_MULTI_HASH) {
    n->keys[n->nkids] = key;
    n->keylens[n->nkids] = keylen;
  }
  n->nkids++;
  return IDP_OK;
oom:
  jp_node_free(kid);
  free(key);
  return jp_err_e(p->e, IDP_ENOMEM, "error", "out of memory");
}

/* ---- parser ---- */

static token *cur(parser *p) { return &p->toks[p->i]; }
static tok cur_type(parser *p) { return p->toks[p->i].type; }
static tok peek_type(parser *p, size_t k) {
  size_t j = p->i + k;
  return j < p->ntoks ? p->toks[j].type : T_EOF;
}
static void advance(parser *p) {
  if (p->i + 1 < p->ntoks) p->i++;
}

static idp_code unexpected(parser *p, const char *want) {
  token *t = cur(p);
  if (t->type == T_EOF) return syntax(p, t->pos, "incomplete expression: expected %s", want);
  return syntax(p, t->pos, "unexpected %s, expected %s", tok_names[t->type], want);
}

static idp_code match(parser *p, tok want) {
  if (cur_type(p) != want) return unexpected(p, tok_names[want]);
  advance(p);
  return IDP_OK;
}

static idp_code expression(parser *p, int rbp, jp_node **out);

static idp_code identity(parser *p, int pos, jp_node **out) {
  *out = mk(p, JP_N_CURRENT, pos);
  return *out ? IDP_OK : p->last;
}

static idp_code parse_dot_rhs(parser *p, int rbp, jp_node **out);
static idp_code parse_multi_list(parser *p, int pos, jp_node **out);
static idp_code parse_multi_hash(parser *p, int pos, jp_node **out);

static idp_code parse_projection_rhs(parser *p, int rbp, jp_node **out) {
  tok t = cur_type(p);
  if (bp[t] < PROJECTION_STOP) return identity(p, cur(p)->pos, out);
  if (t == T_LBRACKET || t == T_FILTER) return expression(p, rbp, out);
  if (t == T_DOT) {
    advance(p);
    return parse_dot_rhs(p, rbp, out);
  }
  return unexpected(p, "'.', '[' or '[?' after a projection");
}

static idp_code parse_dot_rhs(parser *p, int rbp, jp_node **out) {
  tok t = cur_type(p);
  int pos = cur(p)->pos;
  if (t == T_UNQUOTED || t == T_QUOTED || t == T_STAR) return expression(p, rbp, out);
  if (t == T_LBRACKET) {
    advance(p);
    return parse_multi_list(p, pos, out);
  }
  if (t == T_LBRACE) {
    advance(p);
    return parse_multi_hash(p, pos, out);
  }
  return unexpected(p, "an identifier, '*', '[' or '{' after '.'");
}

static idp_code parse_multi_list(parser *p, int pos, jp_node **out) {
  jp_node *n = mk(p, JP_N_MULTI_LIST, pos);
  if (!n) return p->last;
  for (;;) {
    jp_node *x;
    idp_code rc = expression(p, 0, &x);
    if (!rc) rc = add_kid(p, n, x, NULL, 0);
    if (rc) {
      jp_node_free(n);
      return rc;
    }
    if (cur_type(p) == T_RBRACKET) break;
    if ((rc = match(p, T_COMMA))) {
      jp_node_free(n);
      return rc;
    }
  }
  advance(p);
  *out = n;
  return IDP_OK;
}

static idp_code parse_multi_hash(parser *p, int pos, jp_node **out) {
  jp_node *n = mk(p, JP_N_MULTI_HASH, pos);
  if (!n) return p->last;
  idp_code rc;
  for (;;) {
    token *k = cur(p);
    if (k->type != T_UNQUOTED && k->type != T_QUOTED) {
      rc = unexpected(p, "a key name in a multi-select hash");
      goto fail;
    }
    char *key = k->str;
    size_t keylen = k->len;
    advance(p);
    if ((rc = match(p, T_COLON))) goto fail;
    jp_node *x;
    if ((rc = expression(p, 0, &x))) goto fail;
    k->str = NULL; /* moved into the node */
    if ((rc = add_kid(p, n, x, key, keylen))) goto fail;
    if (cur_type(p) == T_COMMA) {
      advance(p);
    } else if (cur_type(p) == T_RBRACE) {
      advance(p);
      break;
    } else {
      rc = unexpected(p, "',' or '}'");
      goto fail;
    }
  }
  *out = n;
  return IDP_OK;
fail:
  jp_node_free(n);
  return rc;
}

/* After '[' with a number or ':' next: an index or a slice. */
static idp_code parse_index(parser *p, jp_node **out) {
  int pos = cur(p)->pos;
  if (cur_type(p) == T_COLON || peek_type(p, 1) == T_COLON) {
    jp_node *n = mk(p, JP_N_SLICE, pos);
    if (!n) return p->last;
    int part = 0;
    while (cur_type(p) != T_RBRACKET) {
      if (cur_type(p) == T_COLON) {
        if (++part > 2) {
          jp_node_free(n);
          return syntax(p, cur(p)->pos, "too many ':' in a slice");
        }
        advance(p);
      } else if (cur_type(p) == T_NUMBER) {
        if (n->has[part]) {
          jp_node_free(n);
          return unexpected(p, "':' or ']'");
        }
        n->has[part] = true;
        n->slice[part] = cur(p)->num;
        advance(p);
      } else {
        jp_node_free(n);
        return unexpected(p, "a number, ':' or ']' in a slice");
      }
    }
    advance(p);
    if (n->has[2] && n->slice[2] == 0) {
      jp_node_free(n);
      return jp_err_e(p->e, IDP_EINVAL, "invalid-value",
                      "slice step cannot be 0 at column %d in \"%.200s\"", pos + 1, p->src);
    }
    *out = n;
    return IDP_OK;
  }
  jp_node *n = mk(p, JP_N_INDEX, pos);
  if (!n) return p->last;
  n->idx = cur(p)->num;
  advance(p);
  idp_code rc = match(p, T_RBRACKET);
  if (rc) {
    jp_node_free(n);
    return rc;
  }
  *out = n;
  return IDP_OK;
}

/* left[index] or, for a slice, the projection left[a:b] <rhs>. */
static idp_code project_if_slice(parser *p, jp_node *left, jp_node *right, int pos,
                                 jp_node **out) {
  bool slice = right->kind == JP_N_SLICE;
  jp_node *ix = mk2(p, JP_N_INDEX_EXPR, pos, left, right);
  if (!ix) return p->last;
  if (!slice) {
    *out = ix;
    return IDP_OK;
  }
  jp_node *rhs;
  idp_code rc = parse_projection_rhs(p, bp[T_STAR], &rhs);
  if (rc) {
    jp_node_free(ix);
    return rc;
  }
  *out = mk2(p, JP_N_PROJECTION, pos, ix, rhs);
  return *out ? IDP_OK : p->last;
}

static idp_code led_filter(parser *p, jp_node *left, int pos, jp_node **out) {
  jp_node *cond, *rhs;
  idp_code rc = expression(p, 0, &cond);
  if (rc) goto fail;
  if ((rc = match(p, T_RBRACKET))) {
    jp_node_free(cond);
    goto fail;
  }
  if (cur_type(p) == T_FLATTEN) rc = identity(p, cur(p)->pos, &rhs);
  else rc = parse_projection_rhs(p, bp[T_FILTER], &rhs);
  if (rc) {
    jp_node_free(cond);
    goto fail;
  }
  jp_node *n = mk2(p, JP_N_FILTER, pos, left, rhs);
  if (!n) {
    jp_node_free(cond);
    return p->last;
  }
  n->c = cond;
  if (cond->depth + 1 > n->depth) n->depth = cond->depth + 1;
  if (n->depth > MAX_AST_DEPTH) {
    jp_node_free(n);
    return syntax(p, pos, "expression nested too deeply");
  }
  *out = n;
  return IDP_OK;
fail:
  jp_node_free(left);
  return rc;
}

static idp_code nud(parser *p, jp_node **out) {
  token *t = cur(p);
  int pos = t->pos;
  tok type = t->type;
  advance(p);
  idp_code rc;
  jp_node *left = NULL, *right = NULL, *n;
  switch (type) {
  case T_LITERAL:
    n = mk(p, JP_N_LITERAL, pos);
    if (!n) return p->last;
    n->lit = t->lit;
    t->lit = NULL;
    *out = n;
    return IDP_OK;
  case T_UNQUOTED:
  case T_QUOTED:
    if (type == T_QUOTED && cur_type(p) == T_LPAREN)
      return syntax(p, pos, "a quoted identifier cannot name a function");
    n = mk(p, JP_N_FIELD, pos);
    if (!n) return p->last;
    n->name = t->str;
    n->name_len = t->len;
    t->str = NULL;
    *out = n;
    return IDP_OK;
  case T_STAR:
    if ((rc = identity(p, pos, &left))) return rc;
    if (cur_type(p) == T_RBRACKET) rc = identity(p, pos, &right);
    else rc = parse_projection_rhs(p, bp[T_STAR], &right);
    if (rc) {
      jp_node_free(left);
      return rc;
    }
    *out = mk2(p, JP_N_VALUE_PROJ, pos, left, right);
    return *out ? IDP_OK : p->last;
  case T_FILTER:
    if ((rc = identity(p, pos, &left))) return rc;
    return led_filter(p, left, pos, out);
  case T_LBRACE:
    return parse_multi_hash(p, pos, out);
  case T_LPAREN:
    if ((rc = expression(p, 0, &left))) return rc;
    if ((rc = match(p, T_RPAREN))) {
      jp_node_free(left);
      return rc;
    }
    *out = left;
    return IDP_OK;
  case T_FLATTEN:
    if ((rc = identity(p, pos, &left))) return rc;
    if (!(left = mk2(p, JP_N_FLATTEN, pos, left, NULL))) return p->last;
    if ((rc = parse_projection_rhs(p, bp[T_FLATTEN], &right))) {
      jp_node_free(left);
      return rc;
    }
    *out = mk2(p, JP_N_PROJECTION, pos, left, right);
    return *out ? IDP_OK : p->last;
  case T_NOT:
    if ((rc = expression(p, bp[T_NOT], &left))) return rc;
    *out = mk2(p, JP_N_NOT, pos, left, NULL);
    return *out ? IDP_OK : p->last;
  case T_LBRACKET:
    if (cur_type(p) == T_NUMBER || cur_type(p) == T_COLON) {
      if ((rc = parse_index(p, &right))) return rc;
      if ((rc = identity(p, pos, &left))) {
        jp_node_free(right);
        return rc;
      }
      return project_if_slice(p, left, right, pos, out);
    }
    if (cur_type(p) == T_STAR && peek_type(p, 1) == T_RBRACKET) {
      advance(p);
      advance(p);
      if ((rc = parse_projection_rhs(p, bp[T_STAR], &right))) return rc;
      if ((rc = identity(p, pos, &left))) {
        jp_node_free(right);
        return rc;
      }
      *out = mk2(p, JP_N_PROJECTION, pos, left, right);
      return *out ? IDP_OK : p->last;
    }
    return parse_multi_list(p, pos, out);
  case T_CURRENT:
    return identity(p, pos, out);
  case T_EXPREF:
    if ((rc = expression(p, bp[T_EXPREF], &left))) return rc;
    *out = mk2(p, JP_N_EXPREF, pos, left, NULL);
    return *out ? IDP_OK : p->last;
  case T_EOF:
    return syntax(p, pos, "incomplete expression");
  default:
    return syntax(p, pos, "unexpected %s", tok_names[type]);
  }
}

static idp_code led_call(parser *p, jp_node *left, int pos, jp_node **out) {
  idp_code rc;
  if (left->kind != JP_N_FIELD) {
    jp_node_free(left);
    return syntax(p, pos, "invalid function name");
  }
  jp_node *n = mk(p, JP_N_FUNCTION, left->pos);
  if (!n) {
    jp_node_free(left);
    return p->last;
  }
  n->name = left->name;
  n->name_len = left->name_len;
  left->name = NULL;
  jp_node_free(left);
  while (cur_type(p) != T_RPAREN) {
    jp_node *x;
    if ((rc = expression(p, 0, &x)) || (rc = add_kid(p, n, x, NULL, 0))) goto fail;
    if (cur_type(p) == T_COMMA) {
      advance(p);
      if (cur_type(p) == T_RPAREN) {
        rc = unexpected(p, "an argument after ','");
        goto fail;
      }
    } else if (cur_type(p) != T_RPAREN) {
      rc = unexpected(p, "',' or ')'");
      goto fail;
    }
  }
  advance(p);
  n->fn = jp_func_lookup(p->dialect, n->name, n->name_len);
  if (!n->fn) {
    rc = jp_err_e(p->e, IDP_EINVAL, "unknown-function", "unknown function %s() at column %d",
                  n->name, n->pos + 1);
    goto fail;
  }
  if ((int)n->nkids < n->fn->min_args ||
      (n->fn->max_args >= 0 && (int)n->nkids > n->fn->max_args)) {
    if (n->fn->max_args < 0)
      rc = jp_err_e(p->e, IDP_EINVAL, "invalid-arity",
                    "function %s() takes at least %d argument(s), got %zu", n->name,
                    n->fn->min_args, n->nkids);
    else
      rc = jp_err_e(p->e, IDP_EINVAL, "invalid-arity",
                    "function %s() takes %d argument(s), got %zu", n->name, n->fn->max_args,
                    n->nkids);
    goto fail;
  }
  *out = n;
  return IDP_OK;
fail:
  jp_node_free(n);
  return rc;
}

static idp_code led(parser *p, tok type, int pos, jp_node *left, jp_node **out) {
  idp_code rc;
  jp_node *right = NULL;
  switch (type) {
  case T_DOT:
    if (cur_type(p) != T_STAR) {
      if ((rc = parse_dot_rhs(p, bp[T_DOT], &right))) break;
      *out = mk2(p, JP_N_SUBEXPR, pos, left, right);
      return *out ? IDP_OK : p->last;
    }
    advance(p);
    if ((rc = parse_projection_rhs(p, bp[T_DOT], &right))) break;
    *out = mk2(p, JP_N_VALUE_PROJ, pos, left, right);
    return *out ? IDP_OK : p->last;
  case T_PIPE:
  case T_OR:
  case T_AND:
    if ((rc = expression(p, bp[type], &right))) break;
    *out = mk2(p, type == T_PIPE ? JP_N_PIPE : type == T_OR ? JP_N_OR : JP_N_AND, pos, left,
               right);
    return *out ? IDP_OK : p->last;
  case T_EQ:
  case T_NE:
  case T_LT:
  case T_LTE:
  case T_GT:
  case T_GTE: {
    if ((rc = expression(p, bp[type], &right))) break;
    jp_node *n = mk2(p, JP_N_CMP, pos, left, right);
    if (!n) return p->last;
    static const int ops[T_COUNT] = {[T_EQ] = JP_EQ, [T_NE] = JP_NE, [T_LT] = JP_LT,
                                     [T_LTE] = JP_LTE, [T_GT] = JP_GT, [T_GTE] = JP_GTE};
    n->op = ops[type];
    *out = n;
    return IDP_OK;
  }
  case T_LPAREN:
    return led_call(p, left, pos, out);
  case T_FILTER:
    return led_filter(p, left, pos, out);
  case T_FLATTEN: {
    jp_node *f = mk2(p, JP_N_FLATTEN, pos, left, NULL);
    if (!f) return p->last;
    if ((rc = parse_projection_rhs(p, bp[T_FLATTEN], &right))) {
      jp_node_free(f);
      return rc;
    }
    *out = mk2(p, JP_N_PROJECTION, pos, f, right);
    return *out ? IDP_OK : p->last;
  }
  case T_LBRACKET:
    if (cur_type(p) == T_NUMBER || cur_type(p) == T_COLON) {
      if ((rc = parse_index(p, &right))) break;
      return project_if_slice(p, left, right, pos, out);
    }
    if ((rc = match(p, T_STAR)) || (rc = match(p, T_RBRACKET))) break;
    if ((rc = parse_projection_rhs(p, bp[T_STAR], &right))) break;
    *out = mk2(p, JP_N_PROJECTION, pos, left, right);
    return *out ? IDP_OK : p->last;
  default:
    rc = syntax(p, pos, "unexpected %s", tok_names[type]);
    break;
  }
  jp_node_free(left);
  return rc;
}

static idp_code expression(parser *p, int rbp, jp_node **out) {
  if (++p->depth > MAX_DEPTH) {
    p->depth--;
    return syntax(p, cur(p)->pos, "expression nested too deeply");
  }
  jp_node *left;
  idp_code rc = nud(p, &left);
  while (!rc && rbp < bp[cur_type(p)]) {
    tok type = cur_type(p);
    int pos = cur(p)->pos;
    advance(p);
    rc = led(p, type, pos, left, &left);
  }
  p->depth--;
  if (!rc) *out = left;
  return rc;
}

idp_code jp_parse(const char *text, jp_dialect d, jp_node **out, idp_err *e) {
  parser p = {.src = text, .dialect = d, .e = e};
  *out = NULL;
  idp_code rc = lex(&p);
  jp_node *root = NULL;
  if (!rc) rc = expression(&p, 0, &root);
  if (!rc && cur_type(&p) != T_EOF) {
    rc = syntax(&p, cur(&p)->pos, "unexpected %s after the expression", tok_names[cur_type(&p)]);
    jp_node_free(root);
  }
  for (size_t i = 0; i < p.ntoks; i++) {
    free(p.toks[i].str);
    json_decref(p.toks[i].lit);
  }
  free(p.toks);
  if (!rc) *out = root;
  return rc;
}
