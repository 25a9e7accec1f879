/* The Go text/template + Sprig engine: each construct and function, Go's
 * value printing, missingkey, and errors (table-driven). */
#include "../test.h"
#include "gitops/appset/gotmpl.h"

typedef struct tcase {
  const char *tmpl;
  const char *data; /* JSON, NULL = {} */
  const char *want; /* output, or NULL when an error is expected */
  const char *err;  /* substring of the error message */
  bool missing_error;
} tcase;

static const char *DATA =
    "{\"name\":\"web\",\"n\":3.0,\"f\":1.5,\"big\":1000000.0,\"t\":true,\"empty\":\"\",\"nil\":null,"
    "\"list\":[\"a\",\"b\",\"c\"],\"nums\":[3,1,2],\"m\":{\"b\":2,\"a\":1},"
    "\"path\":{\"path\":\"teams/backend\",\"basename\":\"backend\",\"segments\":[\"teams\",\"backend\"]},"
    "\"owner\":{\"email\":\"x@example.com\"},"
    "\"apps\":[{\"name\":\"api\",\"env\":\"prod\"},{\"name\":\"ui\",\"env\":\"dev\"}],"
    "\"html\":\"<a&b>\",\"Upper\":\"Hello World\"}";

static const tcase cases[] = {
    /* text, actions, fields */
    {"plain text", NULL, "plain text", NULL, false},
    {"{{.name}}", NULL, "web", NULL, false},
    {"team-{{ .path.basename }}", NULL, "team-backend", NULL, false},
    {"{{.path.path}}", NULL, "teams/backend", NULL, false},
    {"{{ index .path.segments 1 }}", NULL, "backend", NULL, false},
    {"{{.n}} {{.f}} {{.big}} {{.t}}", NULL, "3 1.5 1e+06 true", NULL, false},
    {"{{.list}} {{.m}}", NULL, "[a b c] map[a:1 b:2]", NULL, false},
    {"{{.missing}}", NULL, "<no value>", NULL, false},
    {"{{.nil}}", NULL, "<no value>", NULL, false},
    {"{{.}}", "\"s\"", "s", NULL, false},
    /* trim markers and comments */
    {"a  {{- .name -}}  b", NULL, "awebb", NULL, false},
    {"a {{/* comment */}}b", NULL, "a b", NULL, false},
    {"a\n{{- /* c */ -}}\nb", NULL, "ab", NULL, false},
    {"{{-3}}", NULL, "-3", NULL, false},
    /* pipelines and variables */
    {"{{ .name | upper }}", NULL, "WEB", NULL, false},
    {"{{ .name | printf \"%s-%d\" | printf \"<%s>\" }}", NULL, "<web-%!d(MISSING)>", NULL, false},
    {"{{ printf \"%s-%v-%q\" .name .n .name }}", NULL, "web-3-\"web\"", NULL, false},
    {"{{ printf \"%d %05d %-4s|\" 7 42 \"ab\" }}", NULL, "7 00042 ab  |", NULL, false},
    {"{{ printf \"%d\" .n }}", NULL, "%!d(float64=3)", NULL, false},
    {"{{ $x := .name }}{{ $x }}-{{ $ }}", "\"d\"", NULL, "can't evaluate field name", false},
    {"{{ $x := .name }}{{ $x = \"y\" }}{{ $x }}", NULL, "y", NULL, false},
    {"{{ with $x := .owner }}{{ $x.email }}{{ end }}", NULL, "x@example.com", NULL, false},
    {"{{ (index .apps 1).name }}", NULL, "ui", NULL, false},
    {"{{ $.name }}", NULL, "web", NULL, false},
    /* control structures */
    {"{{ if .t }}yes{{ else }}no{{ end }}", NULL, "yes", NULL, false},
    {"{{ if .empty }}a{{ else if .n }}b{{ else }}c{{ end }}", NULL, "b", NULL, false},
    {"{{ if and .t .empty }}a{{ else }}b{{ end }}", NULL, "b", NULL, false},
    {"{{ or .empty .name }}", NULL, "web", NULL, false},
    {"{{ and .nil .undefined.x }}", NULL, "<no value>", NULL, false},
    {"{{ not .t }}", NULL, "false", NULL, false},
    {"{{ range .list }}[{{.}}]{{ end }}", NULL, "[a][b][c]", NULL, false},
    {"{{ range $i, $v := .list }}{{$i}}={{$v}} {{ end }}", NULL, "0=a 1=b 2=c ", NULL, false},
    {"{{ range $k, $v := .m }}{{$k}}:{{$v}},{{ end }}", NULL, "a:1,b:2,", NULL, false},
    {"{{ range .apps }}{{ .name }}@{{ $.name }};{{ end }}", NULL, "api@web;ui@web;", NULL, false},
    {"{{ range .nope }}x{{ else }}none{{ end }}", NULL, "none", NULL, false},
    {"{{ range .list }}{{ if eq . \"b\" }}{{ break }}{{ end }}{{ . }}{{ end }}", NULL, "a", NULL, false},
    {"{{ range .list }}{{ if eq . \"b\" }}{{ continue }}{{ end }}{{ . }}{{ end }}", NULL, "ac", NULL, false},
    {"{{ range 3 }}{{ . }}{{ end }}", NULL, "012", NULL, false},
    {"{{ with .owner }}{{ .email }}{{ end }}", NULL, "x@example.com", NULL, false},
    {"{{ with .empty }}x{{ else }}y{{ end }}", NULL, "y", NULL, false},
    {"{{ define \"t\" }}<{{ . }}>{{ end }}{{ template \"t\" .name }}", NULL, "<web>", NULL, false},
    /* comparisons */
    {"{{ eq .name \"web\" }} {{ ne .n 3 }} {{ lt 1 2 }} {{ ge .f 1.5 }} {{ eq .name \"x\" \"web\" }}", NULL,
     "true false true true true", NULL, false},
    {"{{ len .list }} {{ len .m }} {{ len .name }}", NULL, "3 2 3", NULL, false},
    {"{{ index .m \"a\" }} {{ index .apps 0 \"name\" }}", NULL, "1 api", NULL, false},
    {"{{ slice .name 1 }} {{ slice .list 1 2 }}", NULL, "eb [b]", NULL, false},
    {"{{ print \"a\" 1 2 \"b\" }}", NULL, "a1 2b", NULL, false},
    {"{{ html .html }} {{ urlquery \"a b&c\" }} {{ js \"it's\" }}", NULL, "&lt;a&amp;b&gt; a+b%26c it\\'s", NULL, false},
    /* sprig */
    {"{{ .missing | default \"d\" }} {{ .name | default \"d\" }} {{ default \"x\" .empty }}", NULL, "d web x", NULL, false},
    {"{{ empty .empty }} {{ empty .list }} {{ coalesce .empty .nil \"z\" }}", NULL, "true false z", NULL, false},
    {"{{ .t | ternary \"on\" \"off\" }}", NULL, "on", NULL, false},
    {"{{ .apps | toJson }}", NULL, "[{\"env\":\"prod\",\"name\":\"api\"},{\"env\":\"dev\",\"name\":\"ui\"}]", NULL, false},
    {"{{ .html | toJson }} {{ .big | toJson }} {{ .f | toJson }}", NULL, "\"\\u003ca\\u0026b\\u003e\" 1000000 1.5", NULL, false},
    {"{{ .m | toPrettyJson }}", NULL, "{\n  \"a\": 1,\n  \"b\": 2\n}", NULL, false},
    {"{{ .m | toYaml }}", NULL, "a: 1\nb: 2", NULL, false},
    {"{{ (fromYaml \"a: 1\\nb: [x]\").b }}", NULL, "[x]", NULL, false},
    {"{{ lower \"AbC\" }} {{ upper .name }} {{ title \"hello world\" }}", NULL, "abc WEB Hello World", NULL, false},
    {"{{ trim \"  x  \" }}|{{ trimPrefix \"team-\" \"team-a\" }}|{{ trimSuffix \".yaml\" \"f.yaml\" }}", NULL, "x|a|f", NULL, false},
    {"{{ replace \"/\" \"-\" .path.path }}", NULL, "teams-backend", NULL, false},
    {"{{ trunc 3 \"abcdef\" }} {{ trunc -2 \"abcdef\" }} {{ trunc 10 \"ab\" }}", NULL, "abc ef ab", NULL, false},
    {"{{ quote .name .n }} {{ squote .name }}", NULL, "\"web\" \"3\" 'web'", NULL, false},
    {"{{ contains \"eb\" .name }} {{ hasPrefix \"w\" .name }} {{ hasSuffix \"x\" .name }}", NULL, "true true false", NULL, false},
    {"{{ splitList \",\" \"a,b,c\" | join \"+\" }}", NULL, "a+b+c", NULL, false},
    {"{{ join \",\" .list }} {{ list 1 \"a\" }}", NULL, "a,b,c [1 a]", NULL, false},
    {"{{ $d := dict \"k\" \"v\" \"n\" 1 }}{{ get $d \"k\" }} {{ hasKey $d \"n\" }} {{ keys $d | sortAlpha }}", NULL, "v true [k n]", NULL, false},
    {"{{ $d := dict \"a\" 1 }}{{ $d = set $d \"b\" 2 }}{{ $d }}", NULL, "map[a:1 b:2]", NULL, false},
    {"{{ merge (dict \"a\" 1) (dict \"a\" 2 \"b\" 3) }}", NULL, "map[a:1 b:3]", NULL, false},
    {"{{ b64enc \"hello\" }} {{ b64dec \"aGVsbG8=\" }}", NULL, "aGVsbG8= hello", NULL, false},
    {"{{ sha256sum \"abc\" }}", NULL, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", NULL, false},
    {"{{ regexMatch \"^w.b$\" .name }} {{ regexReplaceAll \"(a)(b)\" \"xaby\" \"${2}$1\" }}", NULL, "true xbay", NULL, false},
    {"{{ int \"12\" }} {{ .n | int }} {{ toString 5 }} {{ add 1 2 3 }} {{ sub 5 2 }} {{ mul 2 3 }} {{ div 7 2 }}", NULL, "12 3 5 6 3 6 3", NULL, false},
    {"{{ normalize \"Team_Backend!\" }} {{ .path.basename | normalize }}", NULL, "team-backend backend", NULL, false},
    {"{{ first .list }} {{ last .list }} {{ rest .list }} {{ until 3 }}", NULL, "a c [b c] [0 1 2]", NULL, false},
    {"{{ nindent 2 \"a\\nb\" }}", NULL, "\n  a\n  b", NULL, false},
    {"{{ dateInZone \"2006-01-02T15:04:05Z07:00 Jan Mon\" 86400 \"UTC\" }}", NULL, "1970-01-02T00:00:00Z Jan Fri", NULL, false},
    {"{{ unixEpoch 42 }} {{ gt now 1700000000 }}", NULL, "42 true", NULL, false},
    /* missingkey */
    {"{{ .owner.slack }}", NULL, "<no value>", NULL, false},
    {"{{ .owner.slack }}", NULL, NULL, "map has no entry for key \"slack\"", true},
    {"{{ .owner.slack | default \"\" }}", NULL, NULL, "at <.owner.slack>: map has no entry for key \"slack\"", true},
    {"{{ .name }}", NULL, "web", NULL, true},
    {"{{ .a.b }}", NULL, NULL, "nil pointer evaluating interface {}.b", false},
    /* errors */
    {"{{ .name", NULL, NULL, "unclosed action", false},
    {"{{ nofunc .x }}", NULL, NULL, "function \"nofunc\" not defined", false},
    {"{{ if .t }}x", NULL, NULL, "unexpected EOF", false},
    {"{{ end }}", NULL, NULL, "unexpected {{end}}", false},
    {"{{ .name.x }}", NULL, NULL, "can't evaluate field x in type string", false},
    {"{{ index .list 5 }}", NULL, NULL, "error calling index: index out of range: 5", false},
    {"{{ upper }}", NULL, NULL, "wrong number of args for upper: want 1 got 0", false},
    {"{{ $nope }}", NULL, NULL, "undefined variable", false},
    {"{{ fail \"stop here\" }}", NULL, NULL, "error calling fail: stop here", false},
    {"{{ \"abc }}", NULL, NULL, "unterminated quoted string", false},
};

static void test_table(void **state) {
  (void)state;
  json_t *base = json_loads(DATA, 0, NULL);
  assert_non_null(base);
  int failures = 0;
  for (size_t i = 0; i < IDP_ARRAY_LEN(cases); i++) {
    const tcase *c = &cases[i];
    json_t *data = c->data ? json_loads(c->data, JSON_DECODE_ANY, NULL) : json_incref(base);
    assert_non_null(data);
    idp_gotmpl_opts o = {.missingkey = c->missing_error ? IDP_MISSINGKEY_ERROR : IDP_MISSINGKEY_DEFAULT};
    char *out = NULL;
    idp_err e = IDP_ERR_INIT;
    idp_code rc = idp_gotmpl_render(c->tmpl, data, &o, &out, &e);
    if (c->want) {
      if (rc || strcmp(out, c->want)) {
        print_error("case %zu %s: got rc=%d out=[%s] err=[%s], want [%s]\n", i, c->tmpl, rc,
                    out ? out : "", e.msg, c->want);
        failures++;
      }
    } else {
      if (!rc || !strstr(e.msg, c->err)) {
        print_error("case %zu %s: got rc=%d out=[%s] err=[%s], want error containing [%s]\n", i,
                    c->tmpl, rc, out ? out : "", e.msg, c->err);
        failures++;
      }
    }
    free(out);
    json_decref(data);
  }
  json_decref(base);
  assert_int_equal(failures, 0);
}

/* Go's exact wording and position for the ApplicationSet condition. */
static void test_error_position(void **state) {
  (void)state;
  json_t *d = json_pack("{s:{}}", "owner");
  idp_gotmpl_opts o = {.missingkey = IDP_MISSINGKEY_ERROR};
  char *out = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_not_equal(idp_gotmpl_render("x\n{{.owner.slack}}", d, &o, &out, &e), IDP_OK);
  assert_string_equal(e.msg,
                      "template: :2:2: executing \"\" at <.owner.slack>: map has no entry for key \"slack\"");
  json_decref(d);
}

static void test_options(void **state) {
  (void)state;
  idp_gotmpl_opts o;
  idp_err e = IDP_ERR_INIT;
  json_t *ok = json_pack("[s]", "missingkey=error");
  assert_int_equal(idp_gotmpl_opts_from_json(ok, &o, &e), IDP_OK);
  assert_int_equal(o.missingkey, IDP_MISSINGKEY_ERROR);
  json_t *bad = json_pack("[s]", "nokey=1");
  assert_int_equal(idp_gotmpl_opts_from_json(bad, &o, &e), IDP_EINVAL);
  assert_non_null(strstr(e.msg, "goTemplateOptions[0]"));
  json_decref(ok);
  json_decref(bad);
}

static void test_normalize(void **state) {
  (void)state;
  char *s = idp_gotmpl_normalize("--My_App.V2--");
  assert_string_equal(s, "my-app.v2");
  free(s);
}

/* A parsed template is reusable and output is capped. */
static void test_reuse_and_cap(void **state) {
  (void)state;
  idp_gotmpl *t;
  idp_err e = IDP_ERR_INIT;
  const char *src = "{{ range until 100000 }}xxxxxxxxxxxxxxxxxxxx{{ end }}";
  assert_int_equal(idp_gotmpl_parse(src, strlen(src), "big", &t, &e), IDP_OK);
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  idp_gotmpl_opts o = {.max_output = 1000};
  assert_int_not_equal(idp_gotmpl_exec(t, NULL, &o, &b, &e), IDP_OK);
  idp_buf_reset(&b);
  idp_gotmpl_free(t);
  src = "{{ .x }}";
  assert_int_equal(idp_gotmpl_parse(src, strlen(src), "", &t, &e), IDP_OK);
  json_t *d1 = json_pack("{s:s}", "x", "one"), *d2 = json_pack("{s:s}", "x", "two");
  assert_int_equal(idp_gotmpl_exec(t, d1, NULL, &b, &e), IDP_OK);
  assert_int_equal(idp_gotmpl_exec(t, d2, NULL, &b, &e), IDP_OK);
  assert_string_equal(idp_buf_str(&b), "onetwo");
  idp_buf_free(&b);
  idp_gotmpl_free(t);
  json_decref(d1);
  json_decref(d2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),         cmocka_unit_test(test_error_position),
      cmocka_unit_test(test_options),       cmocka_unit_test(test_normalize),
      cmocka_unit_test(test_reuse_and_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
