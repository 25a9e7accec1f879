/* Capped buffers: growth, the cap, printf, detach. */
#include "../test.h"
#include "core/buf.h"

static void test_cap(void **state) {
  (void)state;
  idp_buf b;
  idp_buf_init(&b, 8);
  assert_int_equal(idp_buf_adds(&b, "abcd"), IDP_OK);
  assert_int_equal(idp_buf_adds(&b, "efgh"), IDP_OK);
  assert_int_equal(idp_buf_addc(&b, 'i'), IDP_ETOOLARGE);
  assert_string_equal(idp_buf_str(&b), "abcdefgh");
  assert_int_equal(b.len, 8);
  idp_buf_free(&b);
}

static void test_printf_detach(void **state) {
  (void)state;
  idp_buf b;
  idp_buf_init(&b, 0);
  assert_string_equal(idp_buf_str(&b), "");
  for (int i = 0; i < 1000; i++) assert_int_equal(idp_buf_printf(&b, "%d,", i), IDP_OK);
  assert_int_equal(strncmp(idp_buf_str(&b), "0,1,2,", 6), 0);
  size_t n;
  char *p = idp_buf_detach(&b, &n);
  assert_int_equal(n, strlen(p));
  assert_null(b.data);
  free(p);
}

static void test_read_missing(void **state) {
  (void)state;
  idp_buf b;
  idp_buf_init(&b, 0);
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_buf_read_file(&b, "/nonexistent/x", &e), IDP_ENOTFOUND);
  assert_non_null(strstr(e.msg, "/nonexistent/x"));
  idp_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cap),
      cmocka_unit_test(test_printf_detach),
      cmocka_unit_test(test_read_missing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
