/* gotmpl.c: Go text/template lexer, parser and executor (see gotmpl.h).
 *
 * The template text is lexed into tokens, parsed into a tree (all nodes in
 * one allocation list owned by the template), then walked.  Positions are
 * byte offsets into the text so messages can give Go's line:col. */
#include "core/common.h"

#include "gitops/appset/gotmpl.h"
#include "gitops/appset/gotmpl_int.h"

/* ---- tokens ------------------------------------------------------------ */

typedef enum {
  T_TEXT, T_LEFT, T_RIGHT, T_IDENT, T_FIELD, T_VAR, T_DOT, T_STRING, T_NUMBER,
  T_CHAR, T_BOOL, T_NIL, T_PIPE, T_LPAREN, T_RPAREN, T_DECLARE, T_ASSIGN, T_COMMA,
  T_EOF,
} tok_kind;

typedef struct tok {
  tok_kind kind;
  size_t pos, len; /* span in the text (T_TEXT: after trimming) */
  bool space_before;
} tok;

/* ---- tree ---------------------------------------------------------------- */

typedef struct gt_pipe gt_pipe;
typedef struct gt_node gt_node;

enum { A_FIELD, A_VAR, A_DOT, A_NIL, A_LIT, A_IDENT, A_PIPE };

typedef struct gt_arg {
  int kind;
  size_t pos, end;
  char *name;    /* A_IDENT function name, A_VAR "$x" */
  json_t *lit;   /* A_LIT (borrowed from t->lits) */
  gt_pipe *pipe; /* A_PIPE */
  char **fields; /* trailing .a.b */
  int nfields, capfields;
  const gt_func *fn;
} gt_arg;

typedef struct gt_cmd {
  gt_arg **args;
  int nargs;
  size_t pos, end;
} gt_cmd;

struct gt_pipe {
  size_t pos;
  bool decl, assign;
  char *vars[2];
  int nvars;
  gt_cmd **cmds;
  int ncmds;
};

enum { N_LIST, N_TEXT, N_ACTION, N_IF, N_RANGE, N_WITH, N_BREAK, N_CONTINUE, N_TEMPLATE };

struct gt_node {
  int kind;
  size_t pos;
  const char *text; /* N_TEXT: into t->text */
  size_t len;
  gt_pipe *pipe;
  gt_node *list, *elselist;
  gt_node **items; /* N_LIST */
  int nitems, capitems;
  char *tname; /* N_TEMPLATE */
};

typedef struct gt_define {
  char *name;
  gt_node *body;
} gt_define;

struct idp_gotmpl {
  char *name;
  char *text;
  size_t len;
  gt_node *root;
  void **allocs;
  size_t nallocs, capallocs;
  json_t *lits;
  gt_define *defs;
  int ndefs, capdefs;
};

/* ---- allocation ------------------------------------------------------------- */

static void *t_alloc(idp_gotmpl *t, size_t n) {
  if (t->nallocs == t->capallocs) {
    size_t nc = t->capallocs ? t->capallocs * 2 : 64;
    void **na = realloc(t->allocs, nc * sizeof *na);
    if (!na) return NULL;
    t->allocs = na;
    t->capallocs = nc;
  }
  void *p = calloc(1, n ? n : 1);
  if (p) t->allocs[t->nallocs++] = p;
  return p;
}

static char *t_strndup(idp_gotmpl *t, const char *s, size_t n) {
  char *p = t_alloc(t, n + 1);
  if (p) memcpy(p, s, n);
  return p;
}

static bool t_push(idp_gotmpl *t, void ***arr, int *n, int *cap, void *item) {
  if (*n == *cap) {
    int nc = *cap ? *cap * 2 : 4;
    void **na = t_alloc(t, (size_t)nc * sizeof *na);
    if (!na) return false;
    if (*n) memcpy(na, *arr, (size_t)*n * sizeof *na);
    *arr = na;
    *cap = nc;
  }
  (*arr)[(*n)++] = item;
  return true;
}

void idp_gotmpl_free(idp_gotmpl *t) {
  if (!t) return;
  for (size_t i = 0; i < t->nallocs; i++) free(t->allocs[i]);
  free(t->allocs);
  json_decref(t->lits);
  free(t->defs);
  free(t->text);
  free(t->name);
  free(t);
}

/* ---- positions ----------------------------------------------------------- */

static void line_col(const char *text, size_t pos, int *line, int *col) {
  int l = 1;
  size_t last_nl = (size_t)-1;
  for (size_t i = 0; i < pos; i++)
    if (text[i] == '\n') {
      l++;
      last_nl = i;
    }
  *line = l;
  *col = (int)(last_nl == (size_t)-1 ? pos : pos - last_nl - 1);
}

/* ---- lexer --------------------------------------------------------------- */

typedef struct lexer {
  idp_gotmpl *t;
  const char *s;
  size_t n;
  tok *toks;
  size_t ntoks, cap;
  idp_err *e;
} lexer;

static idp_code lex_err(lexer *lx, size_t pos, const char *msg, const char *arg) {
  int line, col;
  line_col(lx->s, pos, &line, &col);
  if (arg)
    return idp_err_set(lx->e, IDP_EINVAL, "template: %s:%d: %s %s", lx->t->name, line, msg, arg);
  return idp_err_set(lx->e, IDP_EINVAL, "template: %s:%d: %s", lx->t->name, line, msg);
}

static idp_code emit(lexer *lx, tok_kind k, size_t pos, size_t len, bool sp) {
  if (lx->ntoks == lx->cap) {
    size_t nc = lx->cap ? lx->cap * 2 : 64;
    tok *nt = realloc(lx->toks, nc * sizeof *nt);
    if (!nt) return idp_err_set(lx->e, IDP_ENOMEM, "template: out of memory");
    lx->toks = nt;
    lx->cap = nc;
  }
  lx->toks[lx->ntoks++] = (tok){k, pos, len, sp};
  return IDP_OK;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static bool is_alnum_(char c) {
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (unsigned char)c >= 0x80;
}
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Lexes the inside of one action starting at i (after "{{" and trim
 * marker); returns the index after "}}" and whether " -}}" trims. */
static idp_code lex_action(lexer *lx, size_t start, size_t *next, bool *trim_right) {
  const char *s = lx->s;
  size_t n = lx->n, i = start;
  int parens = 0;
  bool sp = true;
  for (;;) {
    if (i >= n) return lex_err(lx, start, "unclosed action", NULL);
    char c = s[i];
    if (is_space(c)) {
      /* " -}}" right trim marker */
      if (i + 3 < n && s[i + 1] == '-' && s[i + 2] == '}' && s[i + 3] == '}') {
        *trim_right = true;
        *next = i + 4;
        return emit(lx, T_RIGHT, i, 4, true);
      }
      while (i < n && is_space(s[i])) i++;
      sp = true;
      continue;
    }
    if (c == '}' && i + 1 < n && s[i + 1] == '}') {
      if (parens > 0) return lex_err(lx, i, "unclosed left paren", NULL);
      *trim_right = false;
      *next = i + 2;
      return emit(lx, T_RIGHT, i, 2, sp);
    }
    size_t b = i;
    idp_code rc = IDP_OK;
    if (c == '|') {
      rc = emit(lx, T_PIPE, i++, 1, sp);
    } else if (c == '(') {
      parens++;
      rc = emit(lx, T_LPAREN, i++, 1, sp);
    } else if (c == ')') {
      if (--parens < 0) return lex_err(lx, i, "unexpected right paren", NULL);
      rc = emit(lx, T_RPAREN, i++, 1, sp);
    } else if (c == ',') {
      rc = emit(lx, T_COMMA, i++, 1, sp);
    } else if (c == ':' && i + 1 < n && s[i + 1] == '=') {
      rc = emit(lx, T_DECLARE, i, 2, sp);
      i += 2;
    } else if (c == '=') {
      rc = emit(lx, T_ASSIGN, i++, 1, sp);
    } else if (c == '"') {
      i++;
      while (i < n && s[i] != '"') {
        if (s[i] == '\\') i++;
        if (i < n && s[i] == '\n') return lex_err(lx, b, "unterminated quoted string", NULL);
        i++;
      }
      if (i >= n) return lex_err(lx, b, "unterminated quoted string", NULL);
      i++;
      rc = emit(lx, T_STRING, b, i - b, sp);
    } else if (c == '`') {
      i++;
      while (i < n && s[i] != '`') i++;
      if (i >= n) return lex_err(lx, b, "unterminated raw quoted string", NULL);
      i++;
      rc = emit(lx, T_STRING, b, i - b, sp);
    } else if (c == '\'') {
      i++;
      while (i < n && s[i] != '\'') {
        if (s[i] == '\\') i++;
        i++;
      }
      if (i >= n) return lex_err(lx, b, "unterminated character constant", NULL);
      i++;
      rc = emit(lx, T_CHAR, b, i - b, sp);
    } else if (c == '$') {
      i++;
      while (i < n && is_alnum_(s[i])) i++;
      rc = emit(lx, T_VAR, b, i - b, sp);
    } else if (c == '.' && i + 1 < n && is_digit(s[i + 1])) {
      goto number;
    } else if (c == '.') {
      i++;
      if (i < n && is_alnum_(s[i])) {
        while (i < n && is_alnum_(s[i])) i++;
        rc = emit(lx, T_FIELD, b, i - b, sp);
      } else {
        rc = emit(lx, T_DOT, b, 1, sp);
      }
    } else if (is_digit(c) || ((c == '-' || c == '+') && i + 1 < n &&
                               (is_digit(s[i + 1]) || s[i + 1] == '.'))) {
    number:
      i++;
      while (i < n && (is_alnum_(s[i]) || s[i] == '.' ||
                       ((s[i] == '-' || s[i] == '+') && (s[i - 1] == 'e' || s[i - 1] == 'E' ||
                                                         s[i - 1] == 'p' || s[i - 1] == 'P'))))
        i++;
      rc = emit(lx, T_NUMBER, b, i - b, sp);
    } else if (is_alnum_(c)) {
      while (i < n && is_alnum_(s[i])) i++;
      size_t len = i - b;
      tok_kind k = T_IDENT;
      if ((len == 4 && !memcmp(s + b, "true", 4)) || (len == 5 && !memcmp(s + b, "false", 5)))
        k = T_BOOL;
      else if (len == 3 && !memcmp(s + b, "nil", 3))
        k = T_NIL;
      rc = emit(lx, k, b, len, sp);
    } else {
      char bad[8];
      snprintf(bad, sizeof bad, "%c", c);
      return lex_err(lx, i, "unexpected bad character in command:", bad);
    }
    if (rc) return rc;
    sp = false;
  }
}

static idp_code lex(lexer *lx) {
  const char *s = lx->s;
  size_t n = lx->n, i = 0;
  bool trim_next = false;
  while (i <= n) {
    const char *open = NULL;
    for (size_t j = i; j + 1 < n; j++)
      if (s[j] == '{' && s[j + 1] == '{') {
        open = s + j;
        break;
      }
    size_t tend = open ? (size_t)(open - s) : n;
    size_t tstart = i;
    if (trim_next)
      while (tstart < tend && is_space(s[tstart])) tstart++;
    trim_next = false;
    size_t after = tend + 2;
    bool trim_left = false;
    if (open && after + 1 < n && s[after] == '-' && is_space(s[after + 1])) {
      trim_left = true;
      after += 2;
    }
    size_t te = tend;
    if (trim_left)
      while (te > tstart && is_space(s[te - 1])) te--;
    if (te > tstart && emit(lx, T_TEXT, tstart, te - tstart, false))
      return lx->e->code;
    if (!open) break;
    /* comment */
    size_t k = after;
    while (k < n && is_space(s[k]) && trim_left) k++;
    if (k + 1 < n && s[k] == '/' && s[k + 1] == '*') {
      const char *endc = NULL;
      for (size_t j = k + 2; j + 1 < n; j++)
        if (s[j] == '*' && s[j + 1] == '/') {
          endc = s + j;
          break;
        }
      if (!endc) return lex_err(lx, tend, "unclosed comment", NULL);
      size_t m = (size_t)(endc - s) + 2;
      bool tr = false;
      if (m + 3 < n && is_space(s[m]) && s[m + 1] == '-' && s[m + 2] == '}' && s[m + 3] == '}') {
        tr = true;
        m += 4;
      } else if (m + 1 < n && s[m] == '}' && s[m + 1] == '}') {
        m += 2;
      } else {
        return lex_err(lx, tend, "comment ends before closing delimiter", NULL);
      }
      trim_next = tr;
      i = m;
      continue;
    }
    if (emit(lx, T_LEFT, tend, (size_t)(after - tend), false)) return lx->e->code;
    bool tr = false;
    size_t next = n;
    idp_code rc = lex_action(lx, after, &next, &tr);
    if (rc) return rc;
    trim_next = tr;
    i = next;
  }
  return emit(lx, T_EOF, n, 0, false);
}

/* ---- literal decoding ---------------------------------------------------- */

static void utf8_put(idp_buf *b, uint32_t cp) {
  char u[4];
  size_t k;
  if (cp < 0x80) {
    u[0] = (char)cp;
    k = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xC0 | (cp >> 6));
    u[1] = (char)(0x80 | (cp & 0x3F));
    k = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | (cp >> 12));
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F));
    k = 3;
  } else {
    u[0] = (char)(0xF0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    k = 4;
  }
  idp_buf_add(b, u, k);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Go's strconv.Unquote for "..." and '...' bodies; false on a bad escape. */
static bool unquote(const char *s, size_t n, idp_buf *b) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '\\') {
      idp_buf_addc(b, s[i]);
      continue;
    }
    if (++i >= n) return false;
    char c = s[i];
    int digits = 0;
    switch (c) {
      case 'n': idp_buf_addc(b, '\n'); break;
      case 't': idp_buf_addc(b, '\t'); break;
      case 'r': idp_buf_addc(b, '\r'); break;
      case 'a': idp_buf_addc(b, '\a'); break;
      case 'b': idp_buf_addc(b, '\b'); break;
      case 'f': idp_buf_addc(b, '\f'); break;
      case 'v': idp_buf_addc(b, '\v'); break;
      case '\\': case '"': case '\'': idp_buf_addc(b, c); break;
      case 'x': digits = 2; break;
      case 'u': digits = 4; break;
      case 'U': digits = 8; break;
      default:
        if (c >= '0' && c <= '7' && i + 2 < n) {
          int v = (c - '0') * 64 + (s[i + 1] - '0') * 8 + (s[i + 2] - '0');
          idp_buf_addc(b, (char)v);
          i += 2;
          break;
        }
        return false;
    }
    if (digits) {
      uint32_t v = 0;
      for (int k = 0; k < digits; k++) {
        if (i + 1 >= n) return false;
        int h = hexval(s[++i]);
        if (h < 0) return false;
        v = v * 16 + (uint32_t)h;
      }
      if (c == 'x')
        idp_buf_addc(b, (char)v);
      else
        utf8_put(b, v);
    }
  }
  return true;
}

static json_t *parse_number(const char *s, size_t n) {
  char tmp[128];
  size_t k = 0;
  for (size_t i = 0; i < n && k + 1 < sizeof tmp; i++)
    if (s[i] != '_') tmp[k++] = s[i];
  tmp[k] = 0;
  char *end;
  bool is_float = false;
  bool hex = k > 2 && (tmp[0] == '0' || tmp[1] == '0') && (strchr(tmp, 'x') || strchr(tmp, 'X'));
  if (!hex && (strchr(tmp, '.') || strchr(tmp, 'e') || strchr(tmp, 'E'))) is_float = true;
  if (!is_float) {
    errno = 0;
    int base = 10;
    const char *p = tmp;
    bool neg = false;
    if (*p == '-' || *p == '+') neg = (*p++ == '-');
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
      base = 16;
      p += 2;
    } else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
      base = 8;
      p += 2;
    } else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
      base = 2;
      p += 2;
    } else if (p[0] == '0' && p[1]) {
      base = 8;
      p += 1;
    }
    long long v = strtoll(p, &end, base);
    if (*p && !*end && errno == 0) return json_integer(neg ? -v : v);
    return NULL;
  }
  errno = 0;
  double d = strtod(tmp, &end);
  if (*end || errno) return NULL;
  return json_real(d);
}

/* ---- parser ---------------------------------------------------------------- */

typedef struct parser {
  idp_gotmpl *t;
  tok *toks;
  size_t i, n;
  idp_err *e;
  int depth;
  int range_depth;
} parser;

static tok *peek(parser *p) { return &p->toks[p->i]; }
static tok *next_tok(parser *p) { return &p->toks[p->i < p->n - 1 ? p->i++ : p->i]; }
static bool tok_is(const parser *p, const tok *k, const char *word) {
  size_t l = strlen(word);
  return k->kind == T_IDENT && k->len == l && !memcmp(p->t->text + k->pos, word, l);
}

static idp_code perr(parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static idp_code perr(parser *p, size_t pos, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  int line, col;
  line_col(p->t->text, pos, &line, &col);
  return idp_err_set(p->e, IDP_EINVAL, "template: %s:%d: %s", p->t->name, line, msg);
}

static idp_code oom(parser *p) { return idp_err_set(p->e, IDP_ENOMEM, "template: out of memory"); }

static const char *tok_desc(parser *p, const tok *k, char *buf, size_t n) {
  if (k->kind == T_EOF) return "EOF";
  if (k->kind == T_RIGHT) return "}}";
  snprintf(buf, n, "%.*s", (int)(k->len > 40 ? 40 : k->len), p->t->text + k->pos);
  return buf;
}

static idp_code parse_pipe(parser *p, bool allow_decl, tok_kind end, gt_pipe **out);

static idp_code parse_fields(parser *p, gt_arg *a) {
  while (peek(p)->kind == T_FIELD && !peek(p)->space_before) {
    tok *f = next_tok(p);
    char *name = t_strndup(p->t, p->t->text + f->pos + 1, f->len - 1);
    if (!name || !t_push(p->t, (void ***)&a->fields, &a->nfields, &a->capfields, name))
      return oom(p);
    a->end = f->pos + f->len;
  }
  return IDP_OK;
}

static idp_code parse_operand(parser *p, gt_arg **out) {
  tok *k = peek(p);
  gt_arg *a = t_alloc(p->t, sizeof *a);
  if (!a) return oom(p);
  a->pos = k->pos;
  a->end = k->pos + k->len;
  char buf[64];
  switch (k->kind) {
    case T_FIELD: {
      a->kind = A_FIELD;
      /* the first field is part of the chain */
      next_tok(p);
      char *name = t_strndup(p->t, p->t->text + k->pos + 1, k->len - 1);
      if (!name || !t_push(p->t, (void ***)&a->fields, &a->nfields, &a->capfields, name))
        return oom(p);
      idp_code rc = parse_fields(p, a);
      if (rc) return rc;
      break;
    }
    case T_VAR: {
      next_tok(p);
      a->kind = A_VAR;
      a->name = t_strndup(p->t, p->t->text + k->pos, k->len);
      if (!a->name) return oom(p);
      idp_code rc = parse_fields(p, a);
      if (rc) return rc;
      break;
    }
    case T_DOT:
      next_tok(p);
      a->kind = A_DOT;
      if (peek(p)->kind == T_FIELD && !peek(p)->space_before)
        return perr(p, peek(p)->pos, "unexpected . after term \".\"");
      break;
    case T_NIL:
      next_tok(p);
      a->kind = A_NIL;
      break;
    case T_BOOL:
      next_tok(p);
      a->kind = A_LIT;
      a->lit = json_boolean(k->len == 4);
      json_array_append_new(p->t->lits, a->lit);
      break;
    case T_NUMBER:
    case T_CHAR: {
      next_tok(p);
      a->kind = A_LIT;
      if (k->kind == T_CHAR) {
        idp_buf b;
        idp_buf_init(&b, 64);
        bool ok = unquote(p->t->text + k->pos + 1, k->len - 2, &b);
        const unsigned char *u = (const unsigned char *)idp_buf_str(&b);
        uint32_t cp = 0;
        if (ok && b.len > 0) {
          if (u[0] < 0x80) cp = u[0];
          else if ((u[0] & 0xE0) == 0xC0 && b.len >= 2) cp = ((u[0] & 0x1Fu) << 6) | (u[1] & 0x3Fu);
          else if ((u[0] & 0xF0) == 0xE0 && b.len >= 3)
            cp = ((u[0] & 0x0Fu) << 12) | ((u[1] & 0x3Fu) << 6) | (u[2] & 0x3Fu);
          else if (b.len >= 4)
            cp = ((u[0] & 0x07u) << 18) | ((u[1] & 0x3Fu) << 12) | ((u[2] & 0x3Fu) << 6) | (u[3] & 0x3Fu);
        }
        idp_buf_free(&b);
        if (!ok) return perr(p, k->pos, "malformed character constant: %s", tok_desc(p, k, buf, sizeof buf));
        a->lit = json_integer(cp);
      } else {
        a->lit = parse_number(p->t->text + k->pos, k->len);
        if (!a->lit) return perr(p, k->pos, "bad number syntax: %s", tok_desc(p, k, buf, sizeof buf));
      }
      json_array_append_new(p->t->lits, a->lit);
      break;
    }
    case T_STRING: {
      next_tok(p);
      a->kind = A_LIT;
      const char *s = p->t->text + k->pos;
      if (s[0] == '`') {
        a->lit = json_stringn(s + 1, k->len - 2);
      } else {
        idp_buf b;
        idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
        bool ok = unquote(s + 1, k->len - 2, &b);
        a->lit = ok ? json_stringn(idp_buf_str(&b), b.len) : NULL;
        idp_buf_free(&b);
        if (!ok) return perr(p, k->pos, "invalid syntax: %s", tok_desc(p, k, buf, sizeof buf));
      }
      if (!a->lit) return oom(p);
      json_array_append_new(p->t->lits, a->lit);
      break;
    }
    case T_IDENT: {
      next_tok(p);
      a->kind = A_IDENT;
      a->name = t_strndup(p->t, p->t->text + k->pos, k->len);
      if (!a->name) return oom(p);
      a->fn = gt_func_lookup(a->name);
      if (!a->fn) return perr(p, k->pos, "function \"%s\" not defined", a->name);
      break;
    }
    case T_LPAREN: {
      next_tok(p);
      a->kind = A_PIPE;
      idp_code rc = parse_pipe(p, false, T_RPAREN, &a->pipe);
      if (rc) return rc;
      tok *r = next_tok(p); /* ')' */
      a->end = r->pos + 1;
      rc = parse_fields(p, a);
      if (rc) return rc;
      break;
    }
    default:
      return perr(p, k->pos, "unexpected %s in operand", tok_desc(p, k, buf, sizeof buf));
  }
  *out = a;
  return IDP_OK;
}

static idp_code parse_cmd(parser *p, tok_kind end, gt_cmd **out) {
  gt_cmd *c = t_alloc(p->t, sizeof *c);
  if (!c) return oom(p);
  c->pos = peek(p)->pos;
  int cap = 0;
  for (;;) {
    tok *k = peek(p);
    if (k->kind == end || k->kind == T_PIPE) break;
    if (k->kind == T_EOF || k->kind == T_RIGHT || k->kind == T_RPAREN) {
      char buf[64];
      return perr(p, k->pos, "unexpected %s in command", tok_desc(p, k, buf, sizeof buf));
    }
    if (c->nargs > 0 && !k->space_before && k->kind != T_LPAREN) {
      char buf[64];
      return perr(p, k->pos, "unexpected %s in operand", tok_desc(p, k, buf, sizeof buf));
    }
    gt_arg *a = NULL;
    idp_code rc = parse_operand(p, &a);
    if (rc) return rc;
    if (!t_push(p->t, (void ***)&c->args, &c->nargs, &cap, a)) return oom(p);
    c->end = a->end;
  }
  if (c->nargs == 0) return perr(p, peek(p)->pos, "missing value for command");
  *out = c;
  return IDP_OK;
}

static idp_code parse_pipe(parser *p, bool allow_decl, tok_kind end, gt_pipe **out) {
  gt_pipe *pp = t_alloc(p->t, sizeof *pp);
  if (!pp) return oom(p);
  pp->pos = peek(p)->pos;
  /* declarations: $x := / $x = / $i, $v := */
  if (allow_decl && peek(p)->kind == T_VAR) {
    size_t save = p->i;
    tok *v1 = next_tok(p);
    tok *v2 = NULL;
    if (peek(p)->kind == T_COMMA) {
      next_tok(p);
      if (peek(p)->kind == T_VAR) v2 = next_tok(p);
    }
    tok *op = peek(p);
    if (op->kind == T_DECLARE || op->kind == T_ASSIGN) {
      next_tok(p);
      pp->decl = op->kind == T_DECLARE;
      pp->assign = op->kind == T_ASSIGN;
      pp->vars[0] = t_strndup(p->t, p->t->text + v1->pos, v1->len);
      pp->nvars = 1;
      if (v2) {
        pp->vars[1] = t_strndup(p->t, p->t->text + v2->pos, v2->len);
        pp->nvars = 2;
      }
    } else {
      p->i = save;
    }
  }
  int cap = 0;
  for (;;) {
    gt_cmd *c = NULL;
    idp_code rc = parse_cmd(p, end, &c);
    if (rc) return rc;
    if (!t_push(p->t, (void ***)&pp->cmds, &pp->ncmds, &cap, c)) return oom(p);
    tok *k = peek(p);
    if (k->kind == T_PIPE) {
      next_tok(p);
      continue;
    }
    if (k->kind == end) break;
    char buf[64];
    return perr(p, k->pos, "unexpected %s in operand", tok_desc(p, k, buf, sizeof buf));
  }
  *out = pp;
  return IDP_OK;
}

/* Parses a list of nodes until {{end}}, {{else}} or EOF; *stop gets the
 * keyword that ended it ("end", "else", or NULL at EOF). */
static idp_code parse_list(parser *p, gt_node **out, const char **stop, size_t *stop_pos);

static gt_node *new_node(parser *p, int kind, size_t pos) {
  gt_node *n = t_alloc(p->t, sizeof *n);
  if (n) {
    n->kind = kind;
    n->pos = pos;
  }
  return n;
}

static idp_code expect_right(parser *p) {
  tok *k = next_tok(p);
  if (k->kind != T_RIGHT) {
    char buf[64];
    return perr(p, k->pos, "unexpected %s in end", tok_desc(p, k, buf, sizeof buf));
  }
  return IDP_OK;
}

/* if / range / with after the keyword.  `kw` is the keyword name. */
static idp_code parse_control(parser *p, int kind, const char *kw, size_t pos, gt_node **out) {
  gt_node *n = new_node(p, kind, pos);
  if (!n) return oom(p);
  if (kind == N_RANGE) p->range_depth++;
  idp_code rc = parse_pipe(p, true, T_RIGHT, &n->pipe);
  if (rc) return rc;
  if (n->pipe->nvars == 2 && kind != N_RANGE)
    return perr(p, pos, "too many declarations in %s", kw);
  if ((rc = expect_right(p))) return rc;
  const char *stop;
  size_t spos;
  if ((rc = parse_list(p, &n->list, &stop, &spos))) return rc;
  if (kind == N_RANGE) p->range_depth--;
  if (!stop) return perr(p, pos, "unexpected EOF");
  if (!strcmp(stop, "else")) {
    /* "else if" / "else with" chain: parse as a nested control whose end
     * also ends this one (Go's treatment). */
    tok *k = peek(p);
    if ((kind == N_IF && tok_is(p, k, "if")) || (kind == N_WITH && tok_is(p, k, "with"))) {
      next_tok(p);
      gt_node *inner;
      if ((rc = parse_control(p, kind, kw, k->pos, &inner))) return rc;
      gt_node *l = new_node(p, N_LIST, k->pos);
      if (!l || !t_push(p->t, (void ***)&l->items, &l->nitems, &l->capitems, inner)) return oom(p);
      n->elselist = l;
      *out = n;
      return IDP_OK;
    }
    if ((rc = expect_right(p))) return rc;
    if (kind == N_RANGE) p->range_depth++;
    if ((rc = parse_list(p, &n->elselist, &stop, &spos))) return rc;
    if (kind == N_RANGE) p->range_depth--;
    if (!stop || strcmp(stop, "end")) return perr(p, spos, "expected end; found %s", stop ? stop : "EOF");
  }
  /* parse_list consumed the "}}" of {{end}} */
  *out = n;
  return IDP_OK;
}

static idp_code add_define(parser *p, const char *name, gt_node *body) {
  idp_gotmpl *t = p->t;
  for (int i = 0; i < t->ndefs; i++)
    if (!strcmp(t->defs[i].name, name)) {
      t->defs[i].body = body;
      return IDP_OK;
    }
  if (t->ndefs == t->capdefs) {
    int nc = t->capdefs ? t->capdefs * 2 : 4;
    gt_define *nd = realloc(t->defs, (size_t)nc * sizeof *nd);
    if (!nd) return oom(p);
    t->defs = nd;
    t->capdefs = nc;
  }
  t->defs[t->ndefs++] = (gt_define){(char *)name, body};
  return IDP_OK;
}

static idp_code parse_string_name(parser *p, char **out) {
  tok *k = next_tok(p);
  if (k->kind != T_STRING) {
    char buf[64];
    return perr(p, k->pos, "unexpected %s in template clause", tok_desc(p, k, buf, sizeof buf));
  }
  const char *s = p->t->text + k->pos;
  idp_buf b;
  idp_buf_init(&b, 4096);
  if (s[0] == '`') idp_buf_add(&b, s + 1, k->len - 2);
  else unquote(s + 1, k->len - 2, &b);
  *out = t_strndup(p->t, idp_buf_str(&b), b.len);
  idp_buf_free(&b);
  return *out ? IDP_OK : oom(p);
}

static idp_code parse_list(parser *p, gt_node **out, const char **stop, size_t *stop_pos) {
  gt_node *l = new_node(p, N_LIST, peek(p)->pos);
  if (!l) return oom(p);
  *stop = NULL;
  if (++p->depth > 10000) return perr(p, peek(p)->pos, "max depth exceeded");
  for (;;) {
    tok *k = next_tok(p);
    gt_node *n = NULL;
    idp_code rc = IDP_OK;
    if (k->kind == T_EOF) break;
    if (k->kind == T_TEXT) {
      n = new_node(p, N_TEXT, k->pos);
      if (!n) return oom(p);
      n->text = p->t->text + k->pos;
      n->len = k->len;
    } else if (k->kind == T_LEFT) {
      tok *w = peek(p);
      if (tok_is(p, w, "end") || tok_is(p, w, "else")) {
        next_tok(p);
        *stop = tok_is(p, w, "end") ? "end" : "else";
        *stop_pos = w->pos;
        if (!strcmp(*stop, "end") && (rc = expect_right(p))) return rc;
        break;
      }
      if (tok_is(p, w, "if") || tok_is(p, w, "range") || tok_is(p, w, "with")) {
        next_tok(p);
        int kind = tok_is(p, w, "if") ? N_IF : tok_is(p, w, "range") ? N_RANGE : N_WITH;
        const char *kw = kind == N_IF ? "if" : kind == N_RANGE ? "range" : "with";
        if ((rc = parse_control(p, kind, kw, w->pos, &n))) return rc;
      } else if (tok_is(p, w, "break") || tok_is(p, w, "continue")) {
        next_tok(p);
        bool brk = tok_is(p, w, "break");
        if (p->range_depth <= 0)
          return perr(p, w->pos, "{{%s}} outside {{range}}", brk ? "break" : "continue");
        if ((rc = expect_right(p))) return rc;
        n = new_node(p, brk ? N_BREAK : N_CONTINUE, w->pos);
        if (!n) return oom(p);
      } else if (tok_is(p, w, "define")) {
        next_tok(p);
        char *name;
        if ((rc = parse_string_name(p, &name))) return rc;
        if ((rc = expect_right(p))) return rc;
        gt_node *body;
        const char *st;
        size_t sp;
        int rd = p->range_depth;
        p->range_depth = 0;
        if ((rc = parse_list(p, &body, &st, &sp))) return rc;
        p->range_depth = rd;
        if (!st || strcmp(st, "end")) return perr(p, w->pos, "unexpected EOF in define");
        if ((rc = add_define(p, name, body))) return rc;
        continue;
      } else if (tok_is(p, w, "template") || tok_is(p, w, "block")) {
        next_tok(p);
        bool block = tok_is(p, w, "block");
        n = new_node(p, N_TEMPLATE, w->pos);
        if (!n) return oom(p);
        if ((rc = parse_string_name(p, &n->tname))) return rc;
        if (peek(p)->kind != T_RIGHT && (rc = parse_pipe(p, false, T_RIGHT, &n->pipe))) return rc;
        if ((rc = expect_right(p))) return rc;
        if (block) {
          gt_node *body;
          const char *st;
          size_t sp;
          if ((rc = parse_list(p, &body, &st, &sp))) return rc;
          if (!st || strcmp(st, "end")) return perr(p, w->pos, "unexpected EOF in block");
          if ((rc = add_define(p, n->tname, body))) return rc;
        }
      } else {
        n = new_node(p, N_ACTION, w->pos);
        if (!n) return oom(p);
        if (peek(p)->kind == T_RIGHT) return perr(p, w->pos, "missing value for command");
        if ((rc = parse_pipe(p, true, T_RIGHT, &n->pipe))) return rc;
        if (n->pipe->nvars > 1) return perr(p, w->pos, "too many declarations in command");
        if ((rc = expect_right(p))) return rc;
      }
    } else {
      char buf[64];
      return perr(p, k->pos, "unexpected %s", tok_desc(p, k, buf, sizeof buf));
    }
    if (!t_push(p->t, (void ***)&l->items, &l->nitems, &l->capitems, n)) return oom(p);
  }
  p->depth--;
  *out = l;
  return IDP_OK;
}

idp_code idp_gotmpl_parse(const char *text, size_t len, const char *name, idp_gotmpl **out,
                          idp_err *e) {
  *out = NULL;
  idp_gotmpl *t = calloc(1, sizeof *t);
  if (!t) return idp_err_set(e, IDP_ENOMEM, "template: out of memory");
  t->name = strdup(name ? name : "");
  t->text = malloc(len + 1);
  t->lits = json_array();
  if (!t->name || !t->text || !t->lits) {
    idp_gotmpl_free(t);
    return idp_err_set(e, IDP_ENOMEM, "template: out of memory");
  }
  memcpy(t->text, text, len);
  t->text[len] = 0;
  t->len = len;
  lexer lx = {.t = t, .s = t->text, .n = len, .e = e};
  idp_code rc = lex(&lx);
  if (!rc) {
    parser p = {.t = t, .toks = lx.toks, .n = lx.ntoks, .e = e};
    const char *stop;
    size_t spos = 0;
    rc = parse_list(&p, &t->root, &stop, &spos);
    if (!rc && stop) rc = perr(&p, spos, "unexpected {{%s}}", stop);
  }
  free(lx.toks);
  if (rc) {
    idp_gotmpl_free(t);
    return rc;
  }
  *out = t;
  return IDP_OK;
}

/* ---- executor ---------------------------------------------------------------- */

typedef struct gt_var {
  const char *name;
  json_t *val; /* owned */
} gt_var;

typedef struct gt_state {
  const idp_gotmpl *t;
  const idp_gotmpl_opts *o;
  idp_buf *out;
  idp_err *e;
  gt_var *vars;
  int nvars, capvars;
  int depth;
  const char *tname;
} gt_state;

enum { W_OK = 0, W_ERR = -1, W_BREAK = 1, W_CONTINUE = 2 };

static int xerr(gt_state *s, size_t pos, size_t end, idp_code code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int xerr(gt_state *s, size_t pos, size_t end, idp_code code, const char *fmt, ...) {
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  int line, col;
  line_col(s->t->text, pos, &line, &col);
  size_t clen = end > pos ? end - pos : 0;
  const char *ctx = s->t->text + pos;
  if (clen > 20)
    idp_err_set(s->e, code, "template: %s:%d:%d: executing \"%s\" at <%.20s...>: %s", s->t->name, line,
                col, s->tname, ctx, msg);
  else
    idp_err_set(s->e, code, "template: %s:%d:%d: executing \"%s\" at <%.*s>: %s", s->t->name, line,
                col, s->tname, (int)clen, ctx, msg);
  return W_ERR;
}

static bool push_var(gt_state *s, const char *name, json_t *val /* stolen */) {
  if (s->nvars == s->capvars) {
    int nc = s->capvars ? s->capvars * 2 : 16;
    gt_var *nv = realloc(s->vars, (size_t)nc * sizeof *nv);
    if (!nv) {
      json_decref(val);
      return false;
    }
    s->vars = nv;
    s->capvars = nc;
  }
  s->vars[s->nvars++] = (gt_var){name, val};
  return true;
}

static void pop_vars(gt_state *s, int mark) {
  while (s->nvars > mark) json_decref(s->vars[--s->nvars].val);
}

static gt_var *find_var(gt_state *s, const char *name) {
  for (int i = s->nvars - 1; i >= 0; i--)
    if (!strcmp(s->vars[i].name, name)) return &s->vars[i];
  return NULL;
}

static json_t *nil(void) { return json_null(); }

/* Field chain on a value; steals `v`.  NULL on error. */
static json_t *eval_fields(gt_state *s, const gt_arg *a, json_t *v, int from) {
  for (int i = from; i < a->nfields; i++) {
    const char *f = a->fields[i];
    if (json_is_object(v)) {
      json_t *x = json_object_get(v, f);
      if (!x) {
        if (s->o->missingkey == IDP_MISSINGKEY_ERROR) {
          json_decref(v);
          xerr(s, a->pos, a->end, IDP_EINVALID, "map has no entry for key \"%s\"", f);
          return NULL;
        }
        x = nil();
      } else {
        json_incref(x);
      }
      json_decref(v);
      v = x;
    } else if (json_is_null(v)) {
      json_decref(v);
      xerr(s, a->pos, a->end, IDP_EINVALID, "nil pointer evaluating interface {}.%s", f);
      return NULL;
    } else {
      const char *tn = gt_type_name(v);
      json_decref(v);
      xerr(s, a->pos, a->end, IDP_EINVALID, "can't evaluate field %s in type %s", f, tn);
      return NULL;
    }
  }
  return v;
}

static json_t *eval_pipe(gt_state *s, json_t *dot, const gt_pipe *pp, bool *declared);
static json_t *eval_cmd(gt_state *s, json_t *dot, const gt_cmd *c, json_t *final);

static json_t *eval_arg(gt_state *s, json_t *dot, const gt_arg *a) {
  switch (a->kind) {
    case A_DOT:
      return json_incref(dot);
    case A_NIL:
      return nil();
    case A_LIT:
      return json_incref(a->lit);
    case A_FIELD:
      return eval_fields(s, a, json_incref(dot), 0);
    case A_VAR: {
      gt_var *v = find_var(s, a->name);
      if (!v) {
        xerr(s, a->pos, a->end, IDP_EINVAL, "undefined variable: %s", a->name);
        return NULL;
      }
      return eval_fields(s, a, json_incref(v->val), 0);
    }
    case A_PIPE: {
      int mark = s->nvars;
      json_t *v = eval_pipe(s, dot, a->pipe, NULL);
      pop_vars(s, mark);
      if (!v) return NULL;
      return eval_fields(s, a, v, 0);
    }
    case A_IDENT: {
      /* a function used as an argument is called without arguments */
      gt_cmd c = {.args = (gt_arg **)&a, .nargs = 1, .pos = a->pos, .end = a->end};
      return eval_cmd(s, dot, &c, NULL);
    }
  }
  return NULL;
}

static json_t *call_fn(gt_state *s, json_t *dot, const gt_cmd *c, json_t *final) {
  const gt_arg *fa = c->args[0];
  const gt_func *fn = fa->fn;
  int nargs = c->nargs - 1 + (final ? 1 : 0);
  bool lazy = !strcmp(fn->name, "and") || !strcmp(fn->name, "or");
  if (nargs < fn->min_args || (fn->max_args >= 0 && nargs > fn->max_args)) {
    if (fn->min_args == fn->max_args || fn->max_args < 0)
      xerr(s, fa->pos, fa->end, IDP_EINVAL, "wrong number of args for %s: want %s%d got %d", fn->name,
           fn->max_args < 0 ? "at least " : "", fn->min_args, nargs);
    else
      xerr(s, fa->pos, fa->end, IDP_EINVAL, "wrong number of args for %s: want %d to %d got %d",
           fn->name, fn->min_args, fn->max_args, nargs);
    return NULL;
  }
  if (lazy) {
    bool is_and = fn->name[0] == 'a';
    json_t *v = NULL;
    for (int i = 0; i < nargs; i++) {
      json_decref(v);
      v = i < c->nargs - 1 ? eval_arg(s, dot, c->args[i + 1]) : json_incref(final);
      if (!v) return NULL;
      bool tr = gt_truth(v);
      if (is_and ? !tr : tr) break;
    }
    return v;
  }
  json_t *stackargs[8];
  json_t **args = nargs <= 8 ? stackargs : calloc((size_t)nargs, sizeof *args);
  if (!args) {
    xerr(s, fa->pos, fa->end, IDP_ENOMEM, "out of memory");
    return NULL;
  }
  int have = 0;
  json_t *res = NULL;
  for (int i = 1; i < c->nargs; i++) {
    json_t *v = eval_arg(s, dot, c->args[i]);
    if (!v) goto out;
    args[have++] = v;
  }
  if (final) args[have++] = json_incref(final);
  idp_err fe = IDP_ERR_INIT;
  idp_code rc = fn->fn(args, have, &res, &fe);
  if (rc) {
    res = NULL;
    xerr(s, fa->pos, c->end, rc, "error calling %s: %s", fn->name, fe.msg);
  }
out:
  for (int i = 0; i < have; i++) json_decref(args[i]);
  if (args != stackargs) free(args);
  return res;
}

static json_t *eval_cmd(gt_state *s, json_t *dot, const gt_cmd *c, json_t *final) {
  const gt_arg *a = c->args[0];
  if (a->kind == A_IDENT) return call_fn(s, dot, c, final);
  if (c->nargs > 1 || final) {
    if (a->kind == A_FIELD || a->kind == A_VAR || a->kind == A_PIPE) {
      const char *nm = a->nfields ? a->fields[a->nfields - 1] : a->name ? a->name : "pipeline";
      xerr(s, a->pos, a->end, IDP_EINVAL, "%s is not a method but has arguments", nm);
    } else {
      xerr(s, a->pos, a->end, IDP_EINVAL, "can't give argument to non-function %.*s",
           (int)(a->end - a->pos), s->t->text + a->pos);
    }
    return NULL;
  }
  if (a->kind == A_NIL) {
    xerr(s, a->pos, a->end, IDP_EINVAL, "nil is not a command");
    return NULL;
  }
  return eval_arg(s, dot, a);
}

/* Evaluates a pipeline; declarations push variables (the caller pops).
 * *declared (may be NULL) tells whether it declared/assigned. */
static json_t *eval_pipe(gt_state *s, json_t *dot, const gt_pipe *pp, bool *declared) {
  json_t *v = NULL;
  for (int i = 0; i < pp->ncmds; i++) {
    json_t *nv = eval_cmd(s, dot, pp->cmds[i], v);
    json_decref(v);
    if (!nv) return NULL;
    v = nv;
  }
  if (declared) *declared = pp->nvars > 0;
  for (int i = 0; i < pp->nvars; i++) {
    if (pp->assign) {
      gt_var *var = find_var(s, pp->vars[i]);
      if (!var) {
        json_decref(v);
        xerr(s, pp->pos, pp->pos + strlen(pp->vars[i]), IDP_EINVAL, "undefined variable: %s",
             pp->vars[i]);
        return NULL;
      }
      json_decref(var->val);
      var->val = json_incref(v);
    } else if (!push_var(s, pp->vars[i], json_incref(v))) {
      json_decref(v);
      xerr(s, pp->pos, pp->pos, IDP_ENOMEM, "out of memory");
      return NULL;
    }
  }
  return v;
}

static int walk(gt_state *s, json_t *dot, const gt_node *n);

static int print_out(gt_state *s, const gt_node *n, const json_t *v) {
  idp_code rc;
  if (json_is_null(v))
    rc = idp_buf_adds(s->out, "<no value>");
  else
    rc = gt_print(s->out, v);
  if (rc) return xerr(s, n->pos, n->pos, rc, "output larger than %zu bytes", s->out->max);
  return W_OK;
}

static int walk_range(gt_state *s, json_t *dot, const gt_node *n) {
  int mark = s->nvars;
  json_t *v = eval_pipe(s, dot, n->pipe, NULL);
  if (!v) return W_ERR;
  const gt_pipe *pp = n->pipe;
  int res = W_OK;
  size_t count = 0;
  /* the declared variables are at the top of the stack (pushed by eval_pipe) */
  int var_base = s->nvars - (pp->decl ? pp->nvars : 0);
#define SET_VARS(key, elem)                                                          \
  do {                                                                               \
    if (pp->nvars == 2) {                                                            \
      gt_var *kv = pp->assign ? find_var(s, pp->vars[0]) : &s->vars[var_base];       \
      gt_var *ev = pp->assign ? find_var(s, pp->vars[1]) : &s->vars[var_base + 1];   \
      if (kv) { json_decref(kv->val); kv->val = (key); } else json_decref(key);      \
      if (ev) { json_decref(ev->val); ev->val = json_incref(elem); }                 \
    } else if (pp->nvars == 1) {                                                     \
      gt_var *ev = pp->assign ? find_var(s, pp->vars[0]) : &s->vars[var_base];       \
      if (ev) { json_decref(ev->val); ev->val = json_incref(elem); }                 \
      json_decref(key);                                                              \
    } else {                                                                         \
      json_decref(key);                                                              \
    }                                                                                \
  } while (0)
  if (++s->depth > s->o->max_depth) {
    json_decref(v);
    pop_vars(s, mark);
    return xerr(s, n->pos, n->pos, IDP_EINVAL, "exceeded maximum template depth (%d)", s->o->max_depth);
  }
  if (json_is_array(v)) {
    size_t i;
    json_t *elem;
    json_array_foreach(v, i, elem) {
      count++;
      SET_VARS(json_integer((json_int_t)i), elem);
      int inner = s->nvars;
      int r = walk(s, elem, n->list);
      pop_vars(s, inner);
      if (r == W_ERR) { res = W_ERR; break; }
      if (r == W_BREAK) break;
    }
  } else if (json_is_object(v)) {
    size_t nk = json_object_size(v);
    const char **keys = calloc(nk ? nk : 1, sizeof *keys);
    if (!keys) {
      json_decref(v);
      pop_vars(s, mark);
      return xerr(s, n->pos, n->pos, IDP_ENOMEM, "out of memory");
    }
    size_t k = 0;
    const char *key;
    json_t *elem;
    json_object_foreach(v, key, elem) keys[k++] = key;
    for (size_t a = 1; a < nk; a++) /* insertion sort: Go ranges maps in key order */
      for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
        const char *tmp = keys[b];
        keys[b] = keys[b - 1];
        keys[b - 1] = tmp;
      }
    for (size_t a = 0; a < nk; a++) {
      elem = json_object_get(v, keys[a]);
      count++;
      SET_VARS(json_string(keys[a]), elem);
      int inner = s->nvars;
      int r = walk(s, elem, n->list);
      pop_vars(s, inner);
      if (r == W_ERR) { res = W_ERR; break; }
      if (r == W_BREAK) break;
    }
    free(keys);
  } else if (json_is_integer(v)) {
    json_int_t lim = json_integer_value(v);
    for (json_int_t i = 0; i < lim; i++) {
      count++;
      json_t *iv = json_integer(i);
      if (pp->nvars == 2) {
        json_decref(v);
        pop_vars(s, mark);
        json_decref(iv);
        return xerr(s, n->pos, n->pos, IDP_EINVAL, "can't use %lld to iterate over more than one variable",
                    (long long)lim);
      }
      SET_VARS(json_null(), iv);
      int inner = s->nvars;
      int r = walk(s, iv, n->list);
      json_decref(iv);
      pop_vars(s, inner);
      if (r == W_ERR) { res = W_ERR; break; }
      if (r == W_BREAK) break;
    }
  } else if (!json_is_null(v)) {
    res = xerr(s, n->pos, n->pos, IDP_EINVALID, "range can't iterate over %s", gt_type_name(v));
  }
#undef SET_VARS
  s->depth--;
  if (res == W_OK && count == 0 && n->elselist) res = walk(s, dot, n->elselist);
  json_decref(v);
  pop_vars(s, mark);
  return res == W_ERR ? W_ERR : W_OK;
}

static int walk(gt_state *s, json_t *dot, const gt_node *n) {
  switch (n->kind) {
    case N_LIST:
      for (int i = 0; i < n->nitems; i++) {
        int r = walk(s, dot, n->items[i]);
        if (r) return r;
      }
      return W_OK;
    case N_TEXT:
      if (idp_buf_add(s->out, n->text, n->len))
        return xerr(s, n->pos, n->pos, IDP_ETOOLARGE, "output larger than %zu bytes", s->out->max);
      return W_OK;
    case N_ACTION: {
      bool declared = false;
      json_t *v = eval_pipe(s, dot, n->pipe, &declared);
      if (!v) return W_ERR;
      int r = declared ? W_OK : print_out(s, n, v);
      json_decref(v);
      return r;
    }
    case N_IF:
    case N_WITH: {
      int mark = s->nvars;
      json_t *v = eval_pipe(s, dot, n->pipe, NULL);
      if (!v) {
        pop_vars(s, mark);
        return W_ERR;
      }
      int r = W_OK;
      if (gt_truth(v))
        r = walk(s, n->kind == N_WITH ? v : dot, n->list);
      else if (n->elselist)
        r = walk(s, dot, n->elselist);
      json_decref(v);
      pop_vars(s, mark);
      return r;
    }
    case N_RANGE:
      return walk_range(s, dot, n);
    case N_BREAK:
      return W_BREAK;
    case N_CONTINUE:
      return W_CONTINUE;
    case N_TEMPLATE: {
      const gt_define *d = NULL;
      for (int i = 0; i < s->t->ndefs; i++)
        if (!strcmp(s->t->defs[i].name, n->tname)) d = &s->t->defs[i];
      if (!d)
        return xerr(s, n->pos, n->pos, IDP_EINVAL, "template: no template \"%s\" associated with template \"%s\"",
                    n->tname, s->t->name);
      if (++s->depth > s->o->max_depth)
        return xerr(s, n->pos, n->pos, IDP_EINVAL, "exceeded maximum template depth (%d)", s->o->max_depth);
      json_t *v = json_incref(dot);
      if (n->pipe) {
        int mark = s->nvars;
        json_decref(v);
        v = eval_pipe(s, dot, n->pipe, NULL);
        pop_vars(s, mark);
        if (!v) return W_ERR;
      } else {
        json_decref(v);
        v = nil();
      }
      /* a template call gets fresh variables: only $ = its dot */
      gt_var *saved = s->vars;
      int savedn = s->nvars, savedcap = s->capvars;
      const char *savedname = s->tname;
      s->vars = NULL;
      s->nvars = s->capvars = 0;
      s->tname = d->name;
      int r = push_var(s, "$", json_incref(v)) ? walk(s, v, d->body) : W_ERR;
      pop_vars(s, 0);
      free(s->vars);
      s->vars = saved;
      s->nvars = savedn;
      s->capvars = savedcap;
      s->tname = savedname;
      s->depth--;
      json_decref(v);
      return r == W_ERR ? W_ERR : W_OK;
    }
  }
  return W_OK;
}

idp_code idp_gotmpl_exec(const idp_gotmpl *t, const json_t *data, const idp_gotmpl_opts *o,
                         idp_buf *out, idp_err *e) {
  idp_gotmpl_opts def = {0};
  if (o) def = *o;
  if (!def.max_depth) def.max_depth = 100;
  size_t saved_max = out->max;
  if (def.max_output && def.max_output < out->max) out->max = out->len + def.max_output;
  else if (!def.max_output && out->max > out->len + ((size_t)1 << 20)) out->max = out->len + ((size_t)1 << 20);
  gt_state s = {.t = t, .o = &def, .out = out, .e = e, .tname = t->name};
  json_t *dot = data ? (json_t *)data : json_null();
  int r = W_ERR;
  if (push_var(&s, "$", json_incref(dot))) r = walk(&s, dot, t->root);
  else idp_err_set(e, IDP_ENOMEM, "template: out of memory");
  pop_vars(&s, 0);
  free(s.vars);
  out->max = saved_max;
  return r == W_ERR ? (e && e->code ? e->code : IDP_EINVAL) : IDP_OK;
}

idp_code idp_gotmpl_render(const char *text, const json_t *data, const idp_gotmpl_opts *o,
                           char **out, idp_err *e) {
  *out = NULL;
  idp_gotmpl *t;
  idp_code rc = idp_gotmpl_parse(text, strlen(text), "", &t, e);
  if (rc) return rc;
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  rc = idp_gotmpl_exec(t, data, o, &b, e);
  idp_gotmpl_free(t);
  if (rc) {
    idp_buf_free(&b);
    return rc;
  }
  if (!b.data && idp_buf_adds(&b, "")) return idp_err_set(e, IDP_ENOMEM, "template: out of memory");
  *out = idp_buf_detach(&b, NULL);
  return *out ? IDP_OK : idp_err_set(e, IDP_ENOMEM, "template: out of memory");
}

idp_code idp_gotmpl_opts_from_json(const json_t *options, idp_gotmpl_opts *o, idp_err *e) {
  memset(o, 0, sizeof *o);
  if (!options || json_is_null(options)) return IDP_OK;
  if (!json_is_array(options))
    return idp_err_set(e, IDP_EINVAL, "goTemplateOptions: must be a list of strings");
  size_t i;
  json_t *v;
  json_array_foreach(options, i, v) {
    const char *s = json_string_value(v);
    if (!s) return idp_err_set(e, IDP_EINVAL, "goTemplateOptions[%zu]: must be a string", i);
    if (!strcmp(s, "missingkey=error")) o->missingkey = IDP_MISSINGKEY_ERROR;
    else if (!strcmp(s, "missingkey=zero")) o->missingkey = IDP_MISSINGKEY_ZERO;
    else if (!strcmp(s, "missingkey=default") || !strcmp(s, "missingkey=invalid"))
      o->missingkey = IDP_MISSINGKEY_DEFAULT;
    else if (!strncmp(s, "missingkey=", 11))
      return idp_err_set(e, IDP_EINVAL, "goTemplateOptions[%zu]: unrecognized option value \"%s\"", i, s + 11);
    else
      return idp_err_set(e, IDP_EINVAL, "goTemplateOptions[%zu]: unrecognized option: %s", i, s);
  }
  return IDP_OK;
}
