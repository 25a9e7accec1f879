/* cmd_policy.c: `idp policy test PATH...` (kyverno test) and
 * `idp policy apply -p POLICY... -r RESOURCE...` (kyverno apply). */
#include "core/common.h"

#include <time.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/yaml.h"
#include "policy/policy.h"

static void usage(void) {
  fprintf(stderr,
          "usage: idp policy test PATH... [--fail-only] [--summary-only] [-f FILE_NAME] [-o table|json]\n"
          "       idp policy apply -p POLICY... -r RESOURCE... [--values-file F] [-o table|yaml|json|report]\n"
          "         (-o yaml prints the mutated resources, -o report wgpolicyk8s.io PolicyReports)\n");
}

typedef struct {
  char name[256];
  size_t pass, fail, unsupported;
} catcount;

static catcount *cat_get(catcount **cats, size_t *n, const char *name) {
  for (size_t i = 0; i < *n; i++)
    if (strcmp((*cats)[i].name, name) == 0) return &(*cats)[i];
  catcount *nc = realloc(*cats, (*n + 1) * sizeof *nc);
  if (!nc) return NULL;
  *cats = nc;
  catcount *c = &nc[(*n)++];
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", name);
  return c;
}

static int policy_test(int argc, char **argv) {
  bool fail_only = false, summary_only = false, json_out = false;
  const char *file_name = "kyverno-test.yaml";
  pol_test_report rep = {0};
  int npaths = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--fail-only")) {
      fail_only = true;
    } else if (!strcmp(argv[i], "--summary-only")) {
      summary_only = true;
    } else if ((!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file-name")) && i + 1 < argc) {
      file_name = argv[++i];
    } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
      json_out = !strcmp(argv[++i], "json");
    } else if (argv[i][0] == '-') {
      usage();
      return 2;
    } else {
      idp_err e = IDP_ERR_INIT;
      if (pol_test_run_path(argv[i], file_name, &rep, &e) != IDP_OK) {
        fprintf(stderr, "idp policy test: %s\n", e.msg);
        pol_test_report_free(&rep);
        return 1;
      }
      npaths++;
    }
  }
  if (!npaths) {
    usage();
    return 2;
  }
  size_t pass = 0, fail = 0, unsup = 0;
  catcount *cats = NULL;
  size_t ncats = 0;
  for (size_t i = 0; i < rep.n; i++) {
    const pol_test_row *r = &rep.rows[i];
    catcount *c = cat_get(&cats, &ncats, r->category);
    if (r->unsupported) {
      unsup++;
      if (c) c->unsupported++;
    } else if (r->ok) {
      pass++;
      if (c) c->pass++;
    } else {
      fail++;
      if (c) c->fail++;
    }
  }
  if (json_out) {
    json_t *arr = json_array();
    for (size_t i = 0; i < rep.n; i++) {
      const pol_test_row *r = &rep.rows[i];
      if (fail_only && (r->ok || r->unsupported)) continue;
      json_array_append_new(
          arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "TEST", r->test, "CATEGORY",
                         r->category, "POLICY", r->policy, "RULE", r->rule, "RESOURCE",
                         r->resource, "RESULT",
                         r->unsupported ? "Unsupported" : (r->ok ? "Pass" : "Fail"), "WANT",
                         r->want, "GOT", r->got, "REASON", r->reason));
    }
    char *s = json_dumps(arr, JSON_INDENT(2));
    if (s) printf("%s\n", s);
    free(s);
    json_decref(arr);
  } else if (!summary_only) {
    const char *last = NULL;
    size_t id = 0;
    for (size_t i = 0; i < rep.n; i++) {
      const pol_test_row *r = &rep.rows[i];
      if (fail_only && (r->ok || r->unsupported)) continue;
      if (!last || strcmp(last, r->test) != 0) {
        printf("\nLoading test (%s) ...\n", r->test);
        printf("  %-4s | %-40s | %-36s | %-44s | %-11s | %s\n", "ID", "POLICY", "RULE",
               "RESOURCE", "RESULT", "REASON");
        last = r->test;
        id = 0;
      }
      printf("  %-4zu | %-40s | %-36s | %-44s | %-11s | %s\n", ++id, r->policy, r->rule,
             r->resource, r->unsupported ? "Unsupported" : (r->ok ? "Pass" : "Fail"), r->reason);
    }
  }
  if (!json_out) {
    printf("\nPer category (pass / fail / unsupported rows):\n");
    for (size_t i = 0; i < ncats; i++)
      printf("  %-32s %6zu %6zu %6zu\n", cats[i].name, cats[i].pass, cats[i].fail,
             cats[i].unsupported);
    printf("\nTest files: %zu (load errors: %zu)\n", rep.files, rep.load_errors);
    printf("Unsupported rows (policy kinds this engine does not run): %zu\n", unsup);
    printf("Test Summary: %zu tests passed and %zu tests failed\n", pass, fail);
    printf("%zu passed, %zu failed\n", pass, fail);
  }
  free(cats);
  pol_test_report_free(&rep);
  return fail ? 1 : 0;
}

static idp_code load_all(const char *path, json_t *into, idp_err *e) {
  json_t *docs = NULL;
  idp_code rc = idp_yaml_load_file(path, NULL, &docs, e);
  if (rc != IDP_OK) return rc;
  json_array_extend(into, docs);
  json_decref(docs);
  return IDP_OK;
}

static int policy_apply(int argc, char **argv) {
  json_t *pdocs = json_array(), *rdocs = json_array(), *values = NULL;
  const char *out = "table";
  idp_err e = IDP_ERR_INIT;
  int rc = 0;
  for (int i = 1; i < argc; i++) {
    if ((!strcmp(argv[i], "-p") || !strcmp(argv[i], "--policy")) && i + 1 < argc) {
      if (load_all(argv[++i], pdocs, &e) != IDP_OK) goto fail;
    } else if ((!strcmp(argv[i], "-r") || !strcmp(argv[i], "--resource")) && i + 1 < argc) {
      if (load_all(argv[++i], rdocs, &e) != IDP_OK) goto fail;
    } else if ((!strcmp(argv[i], "--values-file") || !strcmp(argv[i], "-f")) && i + 1 < argc) {
      json_t *docs = json_array();
      if (load_all(argv[++i], docs, &e) != IDP_OK) {
        json_decref(docs);
        goto fail;
      }
      values = json_incref(json_array_get(docs, 0));
      json_decref(docs);
    } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
      out = argv[++i];
    } else {
      usage();
      rc = 2;
      goto done;
    }
  }
  if (!json_array_size(pdocs) || !json_array_size(rdocs)) {
    usage();
    rc = 2;
    goto done;
  }
  size_t np = json_array_size(pdocs);
  pol_policy **pols = calloc(np, sizeof *pols);
  for (size_t i = 0; i < np; i++) {
    const json_t *d = json_array_get(pdocs, i);
    const char *why = NULL;
    if (!pol_is_classic(d, &why)) {
      fprintf(stderr, "idp policy apply: skipping %s: %s\n",
              idp_json_get_str(d, "metadata", "name", NULL) ? idp_json_get_str(d, "metadata", "name", NULL) : "?",
              why);
      continue;
    }
    if (pol_policy_load(d, "policy", &pols[i], &e) != IDP_OK) {
      fprintf(stderr, "idp policy apply: %s\n", e.msg);
      rc = 1;
    }
  }
  pol_values vals;
  pol_values_load(values, &vals);
  json_t *results = json_array(), *reports = json_array();
  size_t fails = 0;
  for (size_t r = 0; r < json_array_size(rdocs); r++) {
    json_t *cur = json_deep_copy(json_array_get(rdocs, r));
    if (!json_is_object(cur)) {
      json_decref(cur);
      continue;
    }
    pol_default_namespace(cur);
    json_t *report = pol_report_new(cur);
    for (int phase = 0; phase < 3; phase++)
      for (size_t p = 0; p < np; p++) {
        if (!pols[p]) continue;
        pol_bound b;
        pol_values_bind(&vals, pols[p]->name, idp_json_get_str(cur, "metadata", "name", NULL), &b);
        pol_request req = {0};
        req.operation = b.operation ? b.operation : "CREATE";
        req.values = b.values;
        req.rule_values = b.rule_values;
        req.foreach_values = b.foreach_values;
        req.namespace_labels = vals.ns_labels;
        req.object = b.is_delete ? NULL : cur;
        req.old_object = b.operation ? cur : NULL;
        if (phase == 0) {
          pol_response m = {0};
          pol_eval(pols[p], &req, POL_PHASE_MUTATE, &m, &e);
          for (size_t k = 0; k < m.n; k++)
            json_array_append_new(results, json_pack("{s:s,s:s,s:s,s:s,s:s}", "policy", pols[p]->name,
                                                     "rule", m.rules[k].rule, "resource",
                                                     idp_json_get_str(cur, "metadata", "name", NULL) ? idp_json_get_str(cur, "metadata", "name", NULL) : "",
                                                     "result", pol_status_name(m.rules[k].status),
                                                     "message", m.rules[k].message));
          if (m.patched && json_is_object(m.patched)) {
            json_decref(cur);
            cur = json_incref(m.patched);
          }
          pol_response_clear(&m);
        } else {
          pol_response v = {0};
          pol_eval(pols[p], &req, phase == 1 ? POL_PHASE_VALIDATE : POL_PHASE_GENERATE, &v, &e);
          for (size_t k = 0; k < v.n; k++) {
            if (v.rules[k].status == POL_FAIL || v.rules[k].status == POL_ERROR) fails++;
            json_t *row = json_pack("{s:s,s:s,s:s,s:s,s:s}", "policy", pols[p]->name, "rule",
                                    v.rules[k].rule, "resource",
                                    idp_json_get_str(cur, "metadata", "name", NULL) ? idp_json_get_str(cur, "metadata", "name", NULL) : "",
                                    "result", pol_status_name(v.rules[k].status), "message",
                                    v.rules[k].message);
            /* which failures would block an admission */
            for (size_t ri = 0; v.rules[k].type == POL_VALIDATE && ri < json_array_size(pols[p]->rules); ri++) {
              const json_t *rule = json_array_get(pols[p]->rules, ri);
              const char *rn = idp_json_get_str(rule, "name", NULL);
              if (rn && !strcmp(rn, v.rules[k].rule))
                json_object_set_new(row, "action",
                                    json_string(pol_failure_action(pols[p], rule,
                                                                   idp_json_get_str(cur, "metadata", "namespace", NULL), NULL)));
            }
            json_array_append_new(results, row);
            pol_report_add(report, pols[p], &v.rules[k], (long long)time(NULL));
          }
          pol_response_clear(&v);
        }
        pol_bound_free(&b);
      }
    if (!strcmp(out, "yaml")) {
      idp_buf b;
      idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
      idp_yaml_emit(&b, cur, 0, &e);
      printf("---\n%s", idp_buf_str(&b));
      idp_buf_free(&b);
    }
    json_decref(cur);
    if (json_array_size(json_object_get(report, "results")))
      json_array_append(reports, report);
    json_decref(report);
  }
  if (!strcmp(out, "report")) {
    idp_buf b;
    idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
    idp_yaml_emit_stream(&b, reports, 0, &e);
    printf("%s", idp_buf_str(&b));
    idp_buf_free(&b);
  } else if (!strcmp(out, "json")) {
    char *s = json_dumps(results, JSON_INDENT(2));
    if (s) printf("%s\n", s);
    free(s);
  } else if (strcmp(out, "yaml") != 0) {
    printf("%-36s %-36s %-32s %-6s %-8s %s\n", "POLICY", "RULE", "RESOURCE", "RESULT", "ACTION",
           "MESSAGE");
    for (size_t i = 0; i < json_array_size(results); i++) {
      const json_t *x = json_array_get(results, i);
      const char *act = idp_json_get_str(x, "action", NULL);
      printf("%-36s %-36s %-32s %-6s %-8s %s\n", idp_json_get_str(x, "policy", NULL),
             idp_json_get_str(x, "rule", NULL), idp_json_get_str(x, "resource", NULL),
             idp_json_get_str(x, "result", NULL), act ? act : "-", idp_json_get_str(x, "message", NULL));
    }
    printf("\n%zu results, %zu failed\n", json_array_size(results), fails);
  }
  json_decref(results);
  json_decref(reports);
  pol_values_free(&vals);
  for (size_t i = 0; i < np; i++) pol_policy_free(pols[i]);
  free(pols);
  if (fails) rc = 1;
  goto done;
fail:
  fprintf(stderr, "idp policy apply: %s\n", e.msg);
  rc = 1;
done:
  json_decref(pdocs);
  json_decref(rdocs);
  json_decref(values);
  return rc;
}

int cmd_policy(int argc, char **argv) {
  if (argc < 2) {
    usage();
    return 2;
  }
  if (!strcmp(argv[1], "test")) return policy_test(argc - 1, argv + 1);
  if (!strcmp(argv[1], "apply")) return policy_apply(argc - 1, argv + 1);
  usage();
  return 2;
}
