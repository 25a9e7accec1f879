#include "../test.h"

#include "core/buf.h"
#include "secrets/template.h"

static const struct {
  const char *tpl, *want; /* want NULL = error expected (then err substring in want2) */
  const char *err;
} cases[] = {
    {"plain", "plain", NULL},
    {"{{ .user }}", "admin", NULL},
    {"u={{ .user }} p={{ .pass }}", "u=admin p=s3cr3t", NULL},
    {"{{ .user | upper }}", "ADMIN", NULL},
    {"{{ .user | b64enc }}", "YWRtaW4=", NULL},
    {"{{ .enc | b64dec }}", "hello", NULL},
    {"{{ upper .user }}", "ADMIN", NULL},
    {"{{ .user | upper | lower }}", "admin", NULL},
    {"{{ printf \"%s:%s\" .user .pass }}", "admin:s3cr3t", NULL},
    {"{{ .pass | quote }}", "\"s3cr3t\"", NULL},
    {"{{ index . \"dash-key\" }}", "v1", NULL},
    {"{{ .json | fromJson | toJson }}", "{\"a\":1,\"b\":[true]}", NULL},
    {"{{ (.json | fromJson).a }}", "1", NULL},
    {"{{ .json.a }}", "1", NULL},
    {"{{ .missing | default \"x\" }}", NULL, "map has no entry for key \"missing\""},
    {"{{ \"\" | default \"x\" }}", "x", NULL},
    {"a\n  {{- .user -}}\n  b", "aadminb", NULL},
    {"{{/* note */}}x", "x", NULL},
    {"{{ if .user }}yes{{ else }}no{{ end }}", "yes", NULL},
    {"{{ if eq .user \"x\" }}{{ end }}", NULL, "function \"eq\" not defined"},
    {"{{ range $k, $v := . }}{{ $k }};{{ end }}", "dash-key;enc;json;pass;user;", NULL},
    {"{{ .user | nosuch }}", NULL, "function \"nosuch\" not defined"},
    {"{{ .user ", NULL, "unclosed action"},
    {"{{ .user | replace \"a\" \"A\" }}", "Admin", NULL},
    {"{{ .user | sha256sum }}", "8c6976e5b5410415bde908bd4dee15dfb167a9c873fc4bb8a81f6f2ab448a918", NULL},
    {"{{ .pass | trimPrefix \"s3\" }}", "cr3t", NULL},
    {"{{ .user }}{{ end }}", NULL, "unexpected {{end}}"},
    {"{{ if .user }}x", NULL, "missing {{end}}"},
};

static void test_cases(void **st) {
  (void)st;
  json_t *data = json_pack("{s:s,s:s,s:s,s:s,s:s}", "user", "admin", "pass", "s3cr3t", "enc",
                           "aGVsbG8=", "dash-key", "v1", "json", "{\"a\":1,\"b\":[true]}");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    idp_buf b;
    idp_buf_init(&b, 1 << 20);
    idp_err e = IDP_ERR_INIT;
    idp_code rc = idp_gotpl_render("k", cases[i].tpl, data, &b, &e);
    if (cases[i].want) {
      if (rc) fail_msg("case %zu %s: %s", i, cases[i].tpl, e.msg);
      if (strcmp(idp_buf_str(&b), cases[i].want))
        fail_msg("case %zu %s: got \"%s\" want \"%s\"", i, cases[i].tpl, idp_buf_str(&b), cases[i].want);
    } else {
      if (!rc) fail_msg("case %zu %s: expected an error, got \"%s\"", i, cases[i].tpl, idp_buf_str(&b));
      if (!strstr(e.msg, cases[i].err)) fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, e.msg, cases[i].err);
      /* secret values never leak into errors */
      assert_null(strstr(e.msg, "s3cr3t"));
      assert_null(strstr(e.msg, "admin"));
    }
    idp_buf_free(&b);
  }
  json_decref(data);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_cases)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
