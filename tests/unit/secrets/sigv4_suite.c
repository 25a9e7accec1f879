/* sigv4_suite: runs the AWS SigV4 test suite (aws-c-auth's v4/ layout)
 * through src/secrets/sigv4.c.  Usage: sigv4_suite CASE_DIR...
 * For each case and each mode (header, query) it compares the canonical
 * request, string to sign, signature and signed request byte for byte,
 * prints "ok|FAIL - <case> <mode> [what differs]" and a final
 * "N passed, N failed" line; exit status 1 when anything failed. */
#include "core/common.h"

#include <time.h>

#include "core/buf.h"
#include "core/json.h"
#include "secrets/sigv4.h"

static char *slurp(const char *dir, const char *name, size_t *len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  idp_buf b;
  idp_buf_init(&b, 1 << 20);
  idp_err e = IDP_ERR_INIT;
  if (idp_buf_read_file(&b, path, &e)) {
    idp_buf_free(&b);
    return NULL;
  }
  if (!b.data) idp_buf_adds(&b, "");
  return idp_buf_detach(&b, len);
}

typedef struct parsed {
  char *method, *target, *path, *query;
  char *hname[64];
  char *hval[64];
  char *hraw[64]; /* the raw header line(s) as in the file */
  size_t nh;
  const char *body;
  size_t body_len;
} parsed;

static bool parse_request(char *text, size_t len, parsed *p) {
  memset(p, 0, sizeof *p);
  char *end = text + len;
  char *sep = strstr(text, "\n\n");
  char *hend = sep ? sep : end;
  if (sep) {
    p->body = sep + 2;
    p->body_len = (size_t)(end - p->body);
  } else {
    p->body = "";
    /* a request file ends with one newline */
    if (hend > text && hend[-1] == '\n') hend--;
  }
  *hend = 0;
  char *nl = strchr(text, '\n');
  char *line1 = text;
  if (nl) *nl = 0;
  char *sp1 = strchr(line1, ' ');
  char *sp2 = strrchr(line1, ' ');
  if (!sp1 || sp2 == sp1) return false;
  *sp1 = 0;
  *sp2 = 0;
  p->method = line1;
  p->target = strdup(sp1 + 1);
  char *q = strchr(sp1 + 1, '?');
  if (q) {
    *q = 0;
    p->query = q + 1;
  }
  p->path = sp1 + 1;
  char *l = nl ? nl + 1 : NULL;
  while (l && *l) {
    char *next = strchr(l, '\n');
    if (next) *next = 0;
    if ((*l == ' ' || *l == '\t') && p->nh) {
      /* folded continuation line */
      size_t a = strlen(p->hval[p->nh - 1]), b = strlen(l), c = strlen(p->hraw[p->nh - 1]);
      char *v = malloc(a + b + 2), *r = malloc(c + b + 2);
      snprintf(v, a + b + 2, "%s\n%s", p->hval[p->nh - 1], l);
      snprintf(r, c + b + 2, "%s\n%s", p->hraw[p->nh - 1], l);
      free(p->hval[p->nh - 1]);
      free(p->hraw[p->nh - 1]);
      p->hval[p->nh - 1] = v;
      p->hraw[p->nh - 1] = r;
    } else if (p->nh < 64) {
      char *colon = strchr(l, ':');
      if (!colon) return false;
      p->hraw[p->nh] = strdup(l);
      *colon = 0;
      p->hname[p->nh] = strdup(l);
      p->hval[p->nh] = strdup(colon + 1);
      p->nh++;
    }
    l = next ? next + 1 : NULL;
  }
  return true;
}

static void parsed_free(parsed *p) {
  free(p->target);
  for (size_t i = 0; i < p->nh; i++) {
    free(p->hname[i]);
    free(p->hval[i]);
    free(p->hraw[i]);
  }
}

static time_t parse_ts(const char *s) {
  struct tm tm = {0};
  if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) return 0;
  return timegm(&tm);
}

static int diff(const char *what, const char *want, size_t wl, const char *got, size_t gl,
                idp_buf *why) {
  if (wl == gl && !memcmp(want, got, wl)) return 0;
  idp_buf_printf(why, " %s", what);
  return 1;
}

int main(int argc, char **argv) {
  int pass = 0, fail = 0;
  for (int a = 1; a < argc; a++) {
    const char *dir = argv[a];
    const char *cname = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    size_t clen = 0, rlen = 0;
    char *ctx_text = slurp(dir, "context.json", &clen);
    json_t *ctx = NULL;
    idp_err e = IDP_ERR_INIT;
    if (!ctx_text || idp_json_parse(ctx_text, clen, "context.json", &ctx, &e)) {
      printf("FAIL - %s: cannot read context.json\n", cname);
      fail += 2;
      free(ctx_text);
      continue;
    }
    for (int mode = 0; mode < 2; mode++) {
      const char *m = mode ? "query" : "header";
      char *rtext = slurp(dir, "request.txt", &rlen);
      parsed p;
      if (!rtext || !parse_request(rtext, rlen, &p)) {
        printf("FAIL - %s %s: cannot parse request.txt\n", cname, m);
        fail++;
        free(rtext);
        continue;
      }
      idp_sigv4_header hs[64];
      for (size_t i = 0; i < p.nh; i++) hs[i] = (idp_sigv4_header){p.hname[i], p.hval[i]};
      idp_sigv4_request rq = {.method = p.method, .path = p.path, .query = p.query,
                              .headers = hs, .nheaders = p.nh, .body = p.body,
                              .body_len = p.body_len};
      json_t *cr = json_object_get(ctx, "credentials");
      idp_sigv4_params prm = {
          .access_key_id = idp_json_get_str(cr, "access_key_id", NULL),
          .secret_access_key = idp_json_get_str(cr, "secret_access_key", NULL),
          .session_token = idp_json_get_str(cr, "token", NULL),
          .region = idp_json_get_str(ctx, "region", NULL),
          .service = idp_json_get_str(ctx, "service", NULL),
          .time = parse_ts(idp_json_get_str(ctx, "timestamp", NULL)),
          .normalize_path = json_is_true(json_object_get(ctx, "normalize")),
          .sign_body = json_is_true(json_object_get(ctx, "sign_body")),
          .omit_session_token = json_is_true(json_object_get(ctx, "omit_session_token")),
          .presign = mode == 1,
          .expires_s = (long)json_integer_value(json_object_get(ctx, "expiration_in_seconds")),
      };
      idp_sigv4_result r;
      idp_buf why, sreq;
      idp_buf_init(&why, 4096);
      idp_buf_init(&sreq, 1 << 20);
      int bad = 0;
      if (idp_sigv4_sign(&rq, &prm, &r, &e)) {
        idp_buf_printf(&why, " sign failed: %s", e.msg);
        bad = 1;
      } else {
        char fn[64];
        size_t wl;
        snprintf(fn, sizeof fn, "%s-canonical-request.txt", m);
        char *w = slurp(dir, fn, &wl);
        bad += !w || diff("canonical-request", w, wl, r.canonical_request.data,
                          r.canonical_request.len, &why);
        free(w);
        snprintf(fn, sizeof fn, "%s-string-to-sign.txt", m);
        w = slurp(dir, fn, &wl);
        bad += !w || diff("string-to-sign", w, wl, r.string_to_sign.data, r.string_to_sign.len, &why);
        free(w);
        snprintf(fn, sizeof fn, "%s-signature.txt", m);
        w = slurp(dir, fn, &wl);
        bad += !w || diff("signature", w, wl, r.signature, strlen(r.signature), &why);
        free(w);
        /* the signed request, rebuilt as the suite writes it */
        idp_buf_printf(&sreq, "%s %s", p.method, p.target);
        if (mode == 1)
          idp_buf_printf(&sreq, "%s%s", strchr(p.target, '?') ? "&" : "?",
                         idp_buf_str(&r.query_suffix));
        idp_buf_adds(&sreq, " HTTP/1.1\n");
        for (size_t i = 0; i < p.nh; i++) idp_buf_printf(&sreq, "%s\n", p.hraw[i]);
        for (size_t i = 0; i < r.nadded; i++)
          idp_buf_printf(&sreq, "%s:%s\n", r.added_name[i], r.added_value[i]);
        idp_buf_adds(&sreq, "\n");
        idp_buf_add(&sreq, p.body, p.body_len);
        snprintf(fn, sizeof fn, "%s-signed-request.txt", m);
        w = slurp(dir, fn, &wl);
        bad += !w || diff("signed-request", w, wl, sreq.data, sreq.len, &why);
        free(w);
      }
      idp_sigv4_result_free(&r);
      if (bad) {
        printf("FAIL - %s %s:%s\n", cname, m, idp_buf_str(&why));
        fail++;
      } else {
        printf("ok   - %s %s\n", cname, m);
        pass++;
      }
      idp_buf_free(&why);
      idp_buf_free(&sreq);
      parsed_free(&p);
      free(rtext);
    }
    json_decref(ctx);
    free(ctx_text);
  }
  printf("%d passed, %d failed\n", pass, fail);
  return fail ? 1 : 0;
}
