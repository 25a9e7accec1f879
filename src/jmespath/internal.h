/* internal.h: private to src/jmespath.  The AST, the evaluation context and
 * the function-table types shared by the parser, the interpreter and the
 * two function tables (functions.c: the spec; kyverno_functions.c). */
#ifndef IDP_JMESPATH_INTERNAL_H
#define IDP_JMESPATH_INTERNAL_H

#include "core/buf.h"
#include "jmespath/jmespath.h"

typedef enum jp_kind {
  JP_N_FIELD,      /* name/name_len */
  JP_N_CURRENT,    /* @ and the implicit identity */
  JP_N_LITERAL,    /* lit (owned) */
  JP_N_INDEX,      /* idx */
  JP_N_SLICE,      /* slice[3], has[3] */
  JP_N_SUBEXPR,    /* a.b */
  JP_N_INDEX_EXPR, /* a[...] (non-projecting): a then b */
  JP_N_PROJECTION, /* a[*] b, a[] b, a[1:2] b */
  JP_N_VALUE_PROJ, /* a.* b */
  JP_N_FILTER,     /* a[?c] b */
  JP_N_FLATTEN,    /* a[] (the left part of a flatten projection) */
  JP_N_OR,
  JP_N_AND,
  JP_N_NOT,
  JP_N_CMP,        /* op */
  JP_N_PIPE,
  JP_N_MULTI_LIST, /* kids */
  JP_N_MULTI_HASH, /* keys + kids */
  JP_N_FUNCTION,   /* fn + kids */
  JP_N_EXPREF,     /* a */
} jp_kind;

typedef enum jp_cmp { JP_EQ, JP_NE, JP_LT, JP_LTE, JP_GT, JP_GTE } jp_cmp;

struct jp_func;

typedef struct jp_node {
  jp_kind kind;
  int op;
  int pos;   /* column (0-based) in the source, for messages */
  int depth; /* height of this subtree; bounded so evaluation cannot overflow the stack */
  struct jp_node *a, *b, *c;
  struct jp_node **kids;
  size_t nkids;
  char **keys; /* multi-hash keys, NUL-terminated, lengths in keylens */
  size_t *keylens;
  char *name;
  size_t name_len;
  json_t *lit;
  long long idx;
  long long slice[3];
  bool has[3];
  const struct jp_func *fn;
} jp_node;

struct jp_expr {
  char *text;
  jp_node *root;
  jp_dialect dialect;
};

typedef struct jp_ctx {
  int flags;
  idp_err *e;
  const char *nf_key; /* the key a JP_NOTFOUND_ERRORS miss was on */
  size_t nf_len;
  jp_dialect dialect;
} jp_ctx;

/* One evaluated function argument: a value (borrowed for the call) or an
 * expression reference. */
typedef struct jp_arg {
  json_t *v;
  const jp_node *ref;
} jp_arg;

/* Argument type bits. */
enum {
  JT_NULL = 1 << 0,
  JT_BOOL = 1 << 1,
  JT_NUMBER = 1 << 2,
  JT_STRING = 1 << 3,
  JT_ARRAY = 1 << 4,
  JT_OBJECT = 1 << 5,
  JT_EXPREF = 1 << 6,
  JT_ARR_NUM = 1 << 7, /* array whose elements are all numbers */
  JT_ARR_STR = 1 << 8, /* array whose elements are all strings */
  JT_ANY = JT_NULL | JT_BOOL | JT_NUMBER | JT_STRING | JT_ARRAY | JT_OBJECT,
};

/* A function: *out receives a new reference.  Types were checked against
 * the table before the call; fn reports value errors itself. */
typedef idp_code (*jp_fn)(jp_ctx *c, const jp_arg *args, size_t n, json_t **out);

#define JP_MAX_ARGS 4
typedef struct jp_func {
  const char *name;
  int min_args;
  int max_args; /* -1: variadic, extra arguments use the last type */
  unsigned types[JP_MAX_ARGS];
  jp_fn fn;
} jp_func;

/* Tables (NULL-name terminated). */
extern const jp_func jp_spec_functions[];
extern const jp_func jp_kyverno_functions[];

/* Looks a function up for a dialect (Kyverno's table first in its dialect,
 * so its `sum` wins). */
const jp_func *jp_func_lookup(jp_dialect d, const char *name, size_t len);

/* Parser: builds the AST (parse.c). */
idp_code jp_parse(const char *text, jp_dialect d, jp_node **out, idp_err *e);
void jp_node_free(jp_node *n);

/* Interpreter (interp.c).  Returns IDP_OK, IDP_ENOTFOUND (a missing key
 * under JP_NOTFOUND_ERRORS, details in c->nf_key) or an error set in c->e. */
idp_code jp_eval_node(jp_ctx *c, const jp_node *n, json_t *cur, json_t **out);
/* Applies an expression reference (map, sort_by, ...); never NOTFOUND. */
idp_code jp_apply_ref(jp_ctx *c, const jp_node *ref, json_t *cur, json_t **out);

/* Error helpers: set "jmespath <class>: ..." and return the code. */
idp_code jp_err(jp_ctx *c, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
idp_code jp_err_e(idp_err *e, idp_code code, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define JP_OOM(c) jp_err_e((c)->e, IDP_ENOMEM, "error", "out of memory")

/* Values. */
const char *jp_type_name(const json_t *v);
double jp_num(const json_t *v);
/* A number as JSON: an integer when integral and exact, else a real. */
json_t *jp_num_new(double d);
int jp_num_cmp(const json_t *a, const json_t *b);
/* Appends a number's text: Go's strconv 'g'-like shortest form used by
 * encoding/json (1e21 and up, or below 1e-6, in exponent form). */
idp_code jp_num_text(idp_buf *b, double d);
idp_code jp_dump_buf(idp_buf *b, const json_t *v);
/* Number of Unicode code points in UTF-8 text. */
size_t jp_utf8_len(const char *s, size_t n);

#endif
