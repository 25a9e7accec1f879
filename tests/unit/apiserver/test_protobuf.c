/* Protobuf request bodies: a hand-encoded ConfigMap as kubectl sends it. */
#include "../test.h"

#include "apiserver/api_int.h"
#include "core/buf.h"
#include "core/json.h"

static void put_varint(idp_buf *b, uint64_t v) {
  do {
    unsigned char c = (unsigned char)(v & 0x7f);
    v >>= 7;
    if (v) c |= 0x80;
    idp_buf_addc(b, (char)c);
  } while (v);
}

static void put_bytes(idp_buf *b, unsigned num, const void *p, size_t n) {
  put_varint(b, (uint64_t)num << 3 | 2);
  put_varint(b, n);
  idp_buf_add(b, p, n);
}

static void put_str(idp_buf *b, unsigned num, const char *s) {
  put_bytes(b, num, s, strlen(s));
}

static void put_entry(idp_buf *b, unsigned num, const char *k, const char *v) {
  idp_buf e;
  idp_buf_init(&e, 4096);
  put_str(&e, 1, k);
  put_str(&e, 2, v);
  put_bytes(b, num, e.data, e.len);
  idp_buf_free(&e);
}

/* k8s\0 + Unknown{typeMeta, raw} */
static void envelope(idp_buf *out, const char *av, const char *kind, const idp_buf *raw) {
  idp_buf tm;
  idp_buf_init(&tm, 4096);
  put_str(&tm, 1, av);
  put_str(&tm, 2, kind);
  idp_buf_add(out, "k8s", 4);
  put_bytes(out, 1, tm.data, tm.len);
  put_bytes(out, 2, raw->data, raw->len);
  put_str(out, 3, "");
  put_str(out, 4, "");
  idp_buf_free(&tm);
}

static void test_configmap(void **state) {
  IDP_UNUSED(state);
  idp_buf meta, ts, cm, body;
  idp_buf_init(&meta, 4096);
  idp_buf_init(&ts, 64);
  idp_buf_init(&cm, 4096);
  idp_buf_init(&body, 8192);
  put_str(&meta, 1, "cfg");
  put_str(&meta, 2, ""); /* gogo writes empty strings */
  put_str(&meta, 3, "default");
  put_varint(&meta, 7 << 3); /* generation 0 */
  put_varint(&meta, 0);
  put_varint(&ts, 1 << 3); /* Go's zero time */
  put_varint(&ts, (uint64_t)(int64_t)-62135596800LL);
  put_bytes(&meta, 8, ts.data, ts.len);
  put_entry(&meta, 11, "app", "web");
  put_bytes(&cm, 1, meta.data, meta.len);
  put_entry(&cm, 2, "a", "1");
  put_entry(&cm, 3, "bin", "\x01\x02");
  envelope(&body, "v1", "ConfigMap", &cm);
  json_t *obj = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(api_protobuf_decode(body.data, body.len, &obj, &e), IDP_OK);
  assert_string_equal(idp_json_get_str(obj, "apiVersion", NULL), "v1");
  assert_string_equal(idp_json_get_str(obj, "kind", NULL), "ConfigMap");
  assert_string_equal(idp_json_get_str(obj, "metadata", "name", NULL), "cfg");
  assert_string_equal(idp_json_get_str(obj, "metadata", "labels", "app", NULL), "web");
  assert_null(idp_json_get(obj, "metadata", "generateName", NULL));
  assert_null(idp_json_get(obj, "metadata", "generation", NULL));
  assert_null(idp_json_get(obj, "metadata", "creationTimestamp", NULL));
  assert_string_equal(idp_json_get_str(obj, "data", "a", NULL), "1");
  assert_string_equal(idp_json_get_str(obj, "binaryData", "bin", NULL), "AQI=");
  json_decref(obj);

  /* an unknown non-empty field is refused, not dropped */
  put_str(&cm, 9, "surprise");
  idp_buf_reset(&body);
  envelope(&body, "v1", "ConfigMap", &cm);
  assert_int_equal(api_protobuf_decode(body.data, body.len, &obj, &e), IDP_EUNSUPPORTED);
  assert_non_null(strstr(e.msg, "field 9 of ConfigMap"));
  /* an unknown kind is refused with a hint */
  idp_buf_reset(&body);
  envelope(&body, "v1", "Pod", &cm);
  assert_int_equal(api_protobuf_decode(body.data, body.len, &obj, &e), IDP_EUNSUPPORTED);
  assert_non_null(strstr(e.msg, "application/json"));
  /* truncated input */
  assert_int_equal(api_protobuf_decode(body.data, body.len - 3, &obj, &e), IDP_EINVAL);
  assert_int_equal(api_protobuf_decode("json", 4, &obj, &e), IDP_EINVAL);
  idp_buf_free(&meta);
  idp_buf_free(&ts);
  idp_buf_free(&cm);
  idp_buf_free(&body);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_configmap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
