/* Tables: builtin columns, CR printer columns, default columns, ages. */
#include "../test.h"
#include "core/json.h"
#include "kube/table.h"

#define NOW 1700000000 /* 2023-11-14T22:13:20Z */

static void test_duration(void **state) {
  (void)state;
  static const struct {
    long long s;
    const char *want;
  } cases[] = {
      {-5, "<invalid>"}, {-1, "0s"},       {0, "0s"},        {5, "5s"},        {119, "119s"},
      {120, "2m"},       {200, "3m20s"},   {599, "9m59s"},   {600, "10m"},     {10799, "179m"},
      {10800, "3h"},     {4 * 3600 + 60 * 5, "4h5m"},         {8 * 3600, "8h"}, {47 * 3600, "47h"},
      {48 * 3600, "2d"}, {53 * 3600, "2d5h"}, {8 * 86400, "8d"}, {800 * 86400LL, "2y70d"},
      {9 * 365 * 86400LL, "9y"},
  };
  char b[32];
  for (size_t i = 0; i < IDP_ARRAY_LEN(cases); i++) {
    if (strcmp(idp_duration_human(cases[i].s, b, sizeof b), cases[i].want))
      fail_msg("%lld: got %s want %s", cases[i].s, b, cases[i].want);
  }
  assert_int_equal(idp_age_seconds("2023-11-14T22:13:15Z", NOW), 5);
  assert_int_equal(idp_age_seconds("2023-11-14T22:13:15.123456Z", NOW), 5);
  assert_int_equal(idp_age_seconds("2023-11-14T23:13:15+01:00", NOW), 5);
  assert_int_equal(idp_age_seconds("yesterday", NOW), -1);
}

static const char *cell_str(const json_t *table, size_t row, size_t col) {
  return json_string_value(json_array_get(
      json_object_get(json_array_get(json_object_get(table, "rows"), row), "cells"), col));
}

static const json_t *cell(const json_t *table, size_t row, size_t col) {
  return json_array_get(
      json_object_get(json_array_get(json_object_get(table, "rows"), row), "cells"), col);
}

static const char *col_name(const json_t *table, size_t col) {
  return json_string_value(
      json_object_get(json_array_get(json_object_get(table, "columnDefinitions"), col), "name"));
}

static void test_builtin_pod_deployment(void **state) {
  (void)state;
  idp_table_set_now(NOW);
  const json_t *cols = idp_table_builtin_columns("", "Pod");
  assert_non_null(cols);
  json_t *objs = json_loads(
      "[{\"metadata\":{\"name\":\"p1\",\"namespace\":\"ns\",\"creationTimestamp\":\"2023-11-14T22:10:00Z\","
      "\"labels\":{\"a\":\"b\"}},"
      "\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]},"
      "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.1\",\"containerStatuses\":["
      "{\"ready\":true,\"restartCount\":2},{\"ready\":false,\"restartCount\":1,"
      "\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}}]}}]",
      0, NULL);
  json_t *t = idp_table_new(cols, objs, false, "42", "tok");
  assert_non_null(t);
  assert_string_equal(json_string_value(json_object_get(t, "kind")), "Table");
  assert_string_equal(json_string_value(json_object_get(t, "apiVersion")), "meta.k8s.io/v1");
  assert_string_equal(json_string_value(idp_json_path(t, "metadata.resourceVersion")), "42");
  assert_string_equal(json_string_value(idp_json_path(t, "metadata.continue")), "tok");
  static const char *const names[] = {"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(names); i++) assert_string_equal(col_name(t, i), names[i]);
  json_t *d0 = json_array_get(json_object_get(t, "columnDefinitions"), 0);
  assert_string_equal(json_string_value(json_object_get(d0, "format")), "name");
  json_t *ip = json_array_get(json_object_get(t, "columnDefinitions"), 5);
  assert_int_equal(json_integer_value(json_object_get(ip, "priority")), 1);
  assert_string_equal(cell_str(t, 0, 0), "p1");
  assert_string_equal(cell_str(t, 0, 1), "1/2");
  assert_string_equal(cell_str(t, 0, 2), "CrashLoopBackOff");
  assert_int_equal(json_integer_value(cell(t, 0, 3)), 3);
  assert_string_equal(cell_str(t, 0, 4), "3m20s");
  assert_string_equal(cell_str(t, 0, 5), "10.0.0.1");
  assert_string_equal(cell_str(t, 0, 6), "n1");
  assert_true(json_is_null(cell(t, 0, 7))); /* no nominated node */
  /* row object: PartialObjectMetadata with the labels and namespace */
  json_t *ro = json_object_get(json_array_get(json_object_get(t, "rows"), 0), "object");
  assert_string_equal(json_string_value(json_object_get(ro, "kind")), "PartialObjectMetadata");
  assert_string_equal(json_string_value(idp_json_path(ro, "metadata.namespace")), "ns");
  assert_string_equal(json_string_value(idp_json_path(ro, "metadata.labels.a")), "b");
  assert_null(json_object_get(ro, "spec"));
  json_decref(t);
  json_decref(objs);

  cols = idp_table_builtin_columns("apps", "Deployment");
  objs = json_loads(
      "[{\"metadata\":{\"name\":\"web\",\"creationTimestamp\":\"2023-11-12T17:13:20Z\"},"
      "\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
      "\"template\":{\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"nginx:1\"},"
      "{\"name\":\"side\",\"image\":\"envoy\"}]}}},"
      "\"status\":{\"readyReplicas\":2,\"updatedReplicas\":3,\"availableReplicas\":2}}]",
      0, NULL);
  t = idp_table_new(cols, objs, true, NULL, NULL);
  static const char *const dn[] = {"Name",       "Ready",  "Up-to-date", "Available",
                                   "Age",        "Containers", "Images", "Selector"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(dn); i++) assert_string_equal(col_name(t, i), dn[i]);
  assert_string_equal(cell_str(t, 0, 1), "2/3");
  assert_int_equal(json_integer_value(cell(t, 0, 2)), 3);
  assert_int_equal(json_integer_value(cell(t, 0, 3)), 2);
  assert_string_equal(cell_str(t, 0, 4), "2d5h");
  assert_string_equal(cell_str(t, 0, 5), "app,side");
  assert_string_equal(cell_str(t, 0, 6), "nginx:1,envoy");
  assert_string_equal(cell_str(t, 0, 7), "app=web");
  assert_null(idp_json_path(t, "metadata.continue"));
  /* includeObject=Object: the full object */
  json_t *row = json_array_get(json_object_get(t, "rows"), 0);
  assert_ptr_equal(json_object_get(row, "object"), json_array_get(objs, 0));
  json_decref(t);
  json_decref(objs);
  idp_table_set_now(0);
}

static void test_builtin_others(void **state) {
  (void)state;
  idp_table_set_now(NOW);
  json_t *objs = json_loads(
      "[{\"metadata\":{\"name\":\"c\"},\"data\":{\"a\":\"1\",\"b\":\"2\"},\"binaryData\":{\"c\":\"AA==\"}}]",
      0, NULL);
  json_t *t = idp_table_new(idp_table_builtin_columns("", "ConfigMap"), objs, false, NULL, NULL);
  assert_string_equal(col_name(t, 1), "Data");
  assert_int_equal(json_integer_value(cell(t, 0, 1)), 3);
  assert_string_equal(cell_str(t, 0, 2), "<unknown>"); /* no creationTimestamp */
  json_decref(t);
  json_decref(objs);

  objs = json_loads("[{\"metadata\":{\"name\":\"s\"},\"type\":\"Opaque\",\"data\":{\"k\":\"dg==\"}}]", 0, NULL);
  t = idp_table_new(idp_table_builtin_columns("", "Secret"), objs, false, NULL, NULL);
  assert_string_equal(col_name(t, 1), "Type");
  assert_string_equal(cell_str(t, 0, 1), "Opaque");
  assert_int_equal(json_integer_value(cell(t, 0, 2)), 1);
  json_decref(t);
  json_decref(objs);

  objs = json_loads("[{\"metadata\":{\"name\":\"svc\"},\"spec\":{\"type\":\"NodePort\",\"clusterIP\":"
                    "\"10.96.0.5\",\"selector\":{\"tier\":\"fe\",\"app\":\"web\"},\"ports\":[{\"port\":80,"
                    "\"nodePort\":30080,\"protocol\":\"TCP\"},{\"port\":53,\"protocol\":\"UDP\"}]}},"
                    "{\"metadata\":{\"name\":\"lb\"},\"spec\":{\"type\":\"LoadBalancer\"}}]",
                    0, NULL);
  t = idp_table_new(idp_table_builtin_columns("", "Service"), objs, false, NULL, NULL);
  assert_string_equal(cell_str(t, 0, 1), "NodePort");
  assert_string_equal(cell_str(t, 0, 2), "10.96.0.5");
  assert_string_equal(cell_str(t, 0, 3), "<none>");
  assert_string_equal(cell_str(t, 0, 4), "80:30080/TCP,53/UDP");
  assert_string_equal(cell_str(t, 0, 6), "app=web,tier=fe");
  assert_string_equal(cell_str(t, 1, 3), "<pending>");
  assert_string_equal(cell_str(t, 1, 4), "<none>");
  json_decref(t);
  json_decref(objs);

  objs = json_loads("[{\"metadata\":{\"name\":\"default\"}},{\"metadata\":{\"name\":\"old\"},"
                    "\"status\":{\"phase\":\"Terminating\"}}]", 0, NULL);
  t = idp_table_new(idp_table_builtin_columns("", "Namespace"), objs, false, NULL, NULL);
  assert_string_equal(cell_str(t, 0, 1), "Active");
  assert_string_equal(cell_str(t, 1, 1), "Terminating");
  json_decref(t);
  json_decref(objs);

  objs = json_loads("[{\"metadata\":{\"name\":\"widgets.example.com\",\"creationTimestamp\":"
                    "\"2023-11-14T22:13:00Z\"}}]", 0, NULL);
  t = idp_table_new(idp_table_builtin_columns("apiextensions.k8s.io", "CustomResourceDefinition"),
                    objs, false, NULL, NULL);
  assert_string_equal(col_name(t, 1), "Created At");
  assert_string_equal(cell_str(t, 0, 1), "2023-11-14T22:13:00Z");
  json_decref(t);
  json_decref(objs);

  assert_null(idp_table_builtin_columns("example.com", "Widget"));
  assert_null(idp_table_builtin_columns("", "Deployment")); /* Deployment is in apps */
  idp_table_set_now(0);
}

static void test_printer_columns(void **state) {
  (void)state;
  idp_table_set_now(NOW);
  /* Argo CD's Application printer columns */
  json_t *cols = json_loads(
      "[{\"name\":\"Sync Status\",\"type\":\"string\",\"jsonPath\":\".status.sync.status\"},"
      "{\"name\":\"Health Status\",\"type\":\"string\",\"jsonPath\":\".status.health.status\"},"
      "{\"name\":\"Revision\",\"type\":\"string\",\"jsonPath\":\".status.sync.revision\",\"priority\":10},"
      "{\"name\":\"Count\",\"type\":\"integer\",\"jsonPath\":\".status.count\"},"
      "{\"name\":\"Ready\",\"type\":\"string\",\"jsonPath\":\".status.conditions[?(@.type=='Ready')].status\"},"
      "{\"name\":\"Suspended\",\"type\":\"boolean\",\"jsonPath\":\".spec.suspend\"},"
      "{\"name\":\"Age\",\"type\":\"date\",\"jsonPath\":\".metadata.creationTimestamp\"}]",
      0, NULL);
  json_t *objs = json_loads(
      "[{\"metadata\":{\"name\":\"guestbook\",\"creationTimestamp\":\"2023-11-14T22:13:10Z\"},"
      "\"spec\":{\"suspend\":false},\"status\":{\"sync\":{\"status\":\"Synced\"},\"health\":{\"status\":"
      "\"Healthy\"},\"count\":\"x\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}},"
      "{\"metadata\":{\"name\":\"empty\"}}]",
      0, NULL);
  json_t *t = idp_table_new(cols, objs, false, "7", NULL);
  assert_string_equal(col_name(t, 0), "Name");
  assert_string_equal(col_name(t, 1), "Sync Status");
  json_t *rev = json_array_get(json_object_get(t, "columnDefinitions"), 3);
  assert_int_equal(json_integer_value(json_object_get(rev, "priority")), 10);
  assert_null(json_object_get(rev, "jsonPath")); /* definitions carry no jsonPath */
  assert_string_equal(cell_str(t, 0, 1), "Synced");
  assert_string_equal(cell_str(t, 0, 2), "Healthy");
  assert_true(json_is_null(cell(t, 0, 3)));
  assert_true(json_is_null(cell(t, 0, 4))); /* a string where an integer is declared */
  assert_string_equal(cell_str(t, 0, 5), "True");
  assert_true(json_is_false(cell(t, 0, 6)));
  assert_string_equal(cell_str(t, 0, 7), "10s");
  assert_true(json_is_null(cell(t, 1, 1)));
  assert_true(json_is_null(cell(t, 1, 7)));
  json_decref(t);
  /* NULL columns: a CR's default columns (Name, Age) */
  t = idp_table_new(NULL, objs, false, NULL, NULL);
  assert_int_equal(json_array_size(json_object_get(t, "columnDefinitions")), 2);
  assert_string_equal(col_name(t, 1), "Age");
  assert_string_equal(cell_str(t, 0, 1), "10s");
  json_decref(t);
  /* empty list: columns, no rows */
  json_t *none = json_array();
  t = idp_table_new(cols, none, false, "9", NULL);
  assert_int_equal(json_array_size(json_object_get(t, "rows")), 0);
  assert_int_equal(json_array_size(json_object_get(t, "columnDefinitions")), 8);
  json_decref(t);
  json_decref(none);
  json_decref(cols);
  json_decref(objs);
  idp_table_set_now(0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_duration),
      cmocka_unit_test(test_builtin_pod_deployment),
      cmocka_unit_test(test_builtin_others),
      cmocka_unit_test(test_printer_columns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
