/* Watch line parser: chunking, blank lines, oversize lines, ERROR 410. */
#include "../test.h"
#include "client/watch.h"

typedef struct seen {
  int n;
  idp_watch_type types[16];
  char names[16][32];
  int stop_after; /* 0 = never */
} seen;

static bool cb(void *ud, const idp_watch_event *ev) {
  seen *s = ud;
  if (s->n < 16) {
    s->types[s->n] = ev->type;
    const char *nm = json_string_value(json_object_get(json_object_get(ev->object, "metadata"),
                                                       "name"));
    snprintf(s->names[s->n], sizeof s->names[0], "%s", nm ? nm : "");
  }
  s->n++;
  return !(s->stop_after && s->n >= s->stop_after);
}

static const char stream[] =
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"5\"}}}\n"
    "\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"6\"}}}\r\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}\n"
    "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"10\"}}}";

static void run_chunked(size_t chunk) {
  seen s = {0};
  idp_watch_parser p;
  idp_err e = IDP_ERR_INIT;
  idp_watch_parser_init(&p, 0, cb, &s);
  size_t len = sizeof stream - 1;
  for (size_t off = 0; off < len; off += chunk) {
    size_t n = len - off < chunk ? len - off : chunk;
    assert_int_equal(idp_watch_parser_feed(&p, stream + off, n, &e), IDP_OK);
  }
  assert_int_equal(s.n, 3); /* the last line has no '\n' yet */
  assert_int_equal(idp_watch_parser_finish(&p, &e), IDP_OK);
  assert_int_equal(s.n, 4);
  assert_int_equal(s.types[0], IDP_WATCH_ADDED);
  assert_int_equal(s.types[1], IDP_WATCH_MODIFIED);
  assert_int_equal(s.types[2], IDP_WATCH_BOOKMARK);
  assert_int_equal(s.types[3], IDP_WATCH_DELETED);
  assert_string_equal(s.names[3], "a");
  idp_watch_parser_free(&p);
}

static void test_chunks(void **state) {
  (void)state;
  size_t sizes[] = {1, 2, 3, 7, 64, 1000};
  for (size_t i = 0; i < IDP_ARRAY_LEN(sizes); i++) run_chunked(sizes[i]);
}

static void test_oversize(void **state) {
  (void)state;
  seen s = {0};
  idp_watch_parser p;
  idp_err e = IDP_ERR_INIT;
  idp_watch_parser_init(&p, 64, cb, &s);
  const char *ok = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}}}\n";
  assert_int_equal(idp_watch_parser_feed(&p, ok, strlen(ok), &e), IDP_OK);
  char big[200];
  memset(big, 'x', sizeof big);
  /* Split across feeds, still caught. */
  assert_int_equal(idp_watch_parser_feed(&p, big, 50, &e), IDP_OK);
  assert_int_equal(idp_watch_parser_feed(&p, big, 50, &e), IDP_ETOOLARGE);
  assert_non_null(strstr(e.msg, "larger than 64"));
  /* The stream is dead afterwards. */
  assert_int_equal(idp_watch_parser_feed(&p, ok, strlen(ok), &e), IDP_ETOOLARGE);
  assert_int_equal(s.n, 1);
  idp_watch_parser_free(&p);
  /* A whole oversize line in one chunk. */
  idp_watch_parser_init(&p, 64, cb, &s);
  big[150] = '\n';
  assert_int_equal(idp_watch_parser_feed(&p, big, 160, &e), IDP_ETOOLARGE);
  idp_watch_parser_free(&p);
}

static void test_error_410(void **state) {
  (void)state;
  seen s = {0};
  idp_watch_parser p;
  idp_err e = IDP_ERR_INIT;
  idp_watch_parser_init(&p, 0, cb, &s);
  p.what = "/api/v1/configmaps";
  const char *ev =
      "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
      "\"status\":\"Failure\",\"message\":\"too old resource version: 1 (50)\","
      "\"reason\":\"Expired\",\"code\":410}}\n"
      "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"late\"}}}\n";
  assert_int_equal(idp_watch_parser_feed(&p, ev, strlen(ev), &e), IDP_EGONE);
  assert_int_equal(s.n, 1); /* the callback saw the ERROR, nothing after */
  assert_int_equal(s.types[0], IDP_WATCH_ERROR);
  assert_non_null(strstr(e.msg, "too old resource version"));
  assert_non_null(strstr(e.msg, "/api/v1/configmaps"));
  assert_int_equal(idp_watch_parser_finish(&p, &e), IDP_EGONE);
  idp_watch_parser_free(&p);

  /* Another Status code maps through the same table. */
  idp_watch_parser_init(&p, 0, cb, &s);
  ev = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500,\"message\":\"boom\"}}\n";
  assert_int_equal(idp_watch_parser_feed(&p, ev, strlen(ev), &e), IDP_EIO);
  idp_watch_parser_free(&p);
}

static void test_bad_events(void **state) {
  (void)state;
  const char *bad[] = {
      "not json\n",
      "[1,2]\n",
      "{\"type\":\"WHAT\",\"object\":{}}\n",
      "{\"type\":\"ADDED\"}\n",
      "{\"type\":\"ADDED\",\"object\":\"str\"}\n",
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(bad); i++) {
    seen s = {0};
    idp_watch_parser p;
    idp_err e = IDP_ERR_INIT;
    idp_watch_parser_init(&p, 0, cb, &s);
    assert_int_equal(idp_watch_parser_feed(&p, bad[i], strlen(bad[i]), &e), IDP_EIO);
    assert_int_equal(s.n, 0);
    idp_watch_parser_free(&p);
  }
}

static void test_callback_stops(void **state) {
  (void)state;
  seen s = {.stop_after = 2};
  idp_watch_parser p;
  idp_err e = IDP_ERR_INIT;
  idp_watch_parser_init(&p, 0, cb, &s);
  assert_int_equal(idp_watch_parser_feed(&p, stream, sizeof stream - 1, &e), IDP_OK);
  assert_true(p.stopped);
  assert_int_equal(s.n, 2);
  assert_int_equal(idp_watch_parser_finish(&p, &e), IDP_OK);
  assert_int_equal(s.n, 2);
  idp_watch_parser_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chunks),
      cmocka_unit_test(test_oversize),
      cmocka_unit_test(test_error_410),
      cmocka_unit_test(test_bad_events),
      cmocka_unit_test(test_callback_stops),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
