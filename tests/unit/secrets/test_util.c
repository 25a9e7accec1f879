/* Pure helpers of src/secrets: Go durations, gjson-style properties,
 * base64 decoding strategies, hashing. */
#include "../test.h"

#include "core/json.h"
#include "secrets/internal.h"

static void test_durations(void **st) {
  (void)st;
  static const struct {
    const char *in;
    int64_t ms;
    bool ok;
  } cases[] = {
      {"1h", 3600000, true},   {"1h0m0s", 3600000, true}, {"15s", 15000, true}, {"0", 0, true},
      {"1m30s", 90000, true},  {"1.5h", 5400000, true},   {"250ms", 250, true}, {"2160h", 7776000000LL, true},
      {"10us", 0, true},       {"", 0, false},            {"1d", 0, false},     {"h", 0, false},
      {"5", 0, false},         {"1h x", 0, false},        {"-1s", -1000, true},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t ms = -99;
    idp_err e = IDP_ERR_INIT;
    idp_code rc = sp_parse_duration(cases[i].in, &ms, &e);
    if (cases[i].ok) {
      if (rc) fail_msg("%s: %s", cases[i].in, e.msg);
      if (ms != cases[i].ms) fail_msg("%s: got %" PRId64 " want %" PRId64, cases[i].in, ms, cases[i].ms);
    } else if (!rc) {
      fail_msg("%s: expected an error", cases[i].in);
    }
  }
}

static void test_properties(void **st) {
  (void)st;
  json_t *doc = json_loads("{\"a\":\"x\",\"n\":5,\"o\":{\"b\":{\"c\":\"deep\"},\"l\":[{\"f\":\"first\"},{\"f\":\"second\"}]},"
                           "\"dot.key\":\"literal\",\"t\":true}", 0, NULL);
  static const struct {
    const char *prop, *want;
  } cases[] = {
      {"a", "x"}, {"n", "5"}, {"o.b.c", "deep"}, {"o.l.1.f", "second"}, {"dot.key", "literal"},
      {"o.b", "{\"c\":\"deep\"}"}, {"t", "true"}, {"missing", NULL}, {"o.l.9.f", NULL}, {"a.b", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *v = sp_json_property(doc, cases[i].prop);
    if (!cases[i].want) {
      if (v) fail_msg("%s: expected nothing", cases[i].prop);
    } else {
      if (!v || strcmp(json_string_value(v), cases[i].want))
        fail_msg("%s: got %s want %s", cases[i].prop, v ? json_string_value(v) : "(null)", cases[i].want);
    }
    json_decref(v);
  }
  json_decref(doc);
}

static void test_base64(void **st) {
  (void)st;
  json_t *v = NULL;
  assert_int_equal(sp_b64dec("aGVsbG8=", 8, false, &v), IDP_OK);
  assert_string_equal(json_string_value(v), "hello");
  json_decref(v);
  assert_int_equal(sp_b64dec("aGVsbG8", 7, false, &v), IDP_OK); /* padding optional */
  assert_string_equal(json_string_value(v), "hello");
  json_decref(v);
  assert_int_equal(sp_b64dec("-_8", 3, true, &v), IDP_OK); /* URL alphabet */
  assert_int_equal(json_string_length(v), 2);
  assert_int_equal((unsigned char)json_string_value(v)[0], 0xfb);
  json_decref(v);
  assert_int_equal(sp_b64dec("AAEC", 4, false, &v), IDP_OK); /* binary-safe */
  assert_int_equal(json_string_length(v), 3);
  assert_int_equal(json_string_value(v)[0], 0);
  json_decref(v);
  assert_int_not_equal(sp_b64dec("!!!!", 4, false, &v), IDP_OK);
  char *enc = sp_b64enc("\0\1\2", 3);
  assert_string_equal(enc, "AAEC");
  free(enc);
}

static void test_hash_and_time(void **st) {
  (void)st;
  char a[57], b[57];
  json_t *x = json_pack("{s:s,s:s}", "a", "1", "b", "2"), *y = json_pack("{s:s,s:s}", "b", "2", "a", "1");
  sp_hash(x, a);
  sp_hash(y, b);
  assert_string_equal(a, b); /* key order does not matter */
  assert_int_equal(strlen(a), 56);
  json_decref(x);
  json_decref(y);
  char ts[32];
  sp_rfc3339(1440938160000LL, ts);
  assert_string_equal(ts, "2015-08-30T12:36:00Z");
  assert_int_equal(sp_parse_rfc3339(ts), 1440938160000LL);
  assert_int_equal(sp_parse_rfc3339("garbage"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_durations),
      cmocka_unit_test(test_properties),
      cmocka_unit_test(test_base64),
      cmocka_unit_test(test_hash_and_time),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
