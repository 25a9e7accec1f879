/* ApplicationSet generators and rendering, against a git repository made
 * by the test with real git: list, git directories/files, clusters,
 * matrix, merge, selectors, template overrides, templatePatch, errors. */
#include "../test.h"
#include "core/json.h"
#include "core/yaml.h"
#include "gitops/appset/appset.h"
#include "gitops/appset/gitread.h"

static char repo[256];
static idp_asgit *git;

static void write_file(const char *rel, const char *content) {
  char path[512], cmd[700];
  snprintf(path, sizeof path, "%s/%s", repo, rel);
  snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
  assert_int_equal(system(cmd), 0);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(content, f);
  fclose(f);
}

static void commit(const char *msg) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "cd '%s' && git add -A >/dev/null && git -c user.name=t -c user.email=t@t commit -qm '%s' >/dev/null",
           repo, msg);
  assert_int_equal(system(cmd), 0);
}

static int setup(void **state) {
  (void)state;
  snprintf(repo, sizeof repo, "%s/idp-appset-test-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(repo)) return -1;
  char cmd[600];
  snprintf(cmd, sizeof cmd, "git init -q -b main '%s'", repo);
  if (system(cmd)) return -1;
  write_file("teams/backend/team.yaml",
             "team: backend\nnamespace: team-backend\nowner: {name: Backend, email: be@example.com, slack: '#be'}\n"
             "resourceQuota: {pods: \"50\"}\nreplicas: 3\n"
             "apps:\n- {name: version-api, repoURL: https://github.com/x/version-api, manifestPath: k8s, targetRevision: v1.0.0, environment: production}\n"
             "- {name: orders, repoURL: https://github.com/x/orders, manifestPath: deploy, targetRevision: main, environment: staging}\n");
  write_file("teams/frontend/team.yaml",
             "team: frontend\nnamespace: team-frontend\nowner: {name: Frontend, email: fe@example.com}\nreplicas: 1\n"
             "apps:\n- {name: web, repoURL: https://github.com/x/web, manifestPath: k8s, targetRevision: v2, environment: production}\n");
  write_file("apps/guestbook/kustomization.yaml", "resources: []\n");
  write_file("apps/podinfo/app.yaml", "kind: ConfigMap\n");
  write_file("apps/excluded/app.yaml", "kind: ConfigMap\n");
  write_file("apps/.hidden/app.yaml", "kind: ConfigMap\n");
  write_file("config/list.json", "[{\"cluster\": \"a\", \"url\": \"https://a\"}, {\"cluster\": \"b\", \"url\": \"https://b\"}]\n");
  write_file("broken/bad.yaml", "a: [unclosed\n");
  commit("initial");
  return idp_asgit_new(NULL, 0, &git, NULL) ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  idp_asgit_free(git);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", repo);
  return system(cmd) ? -1 : 0;
}

/* Parses a YAML ApplicationSet with REPO replaced by the test repo path. */
static json_t *appset(const char *yaml) {
  idp_buf b;
  idp_buf_init(&b, 1 << 20);
  for (const char *p = yaml; *p;) {
    const char *r = strstr(p, "REPO");
    if (!r) {
      idp_buf_adds(&b, p);
      break;
    }
    idp_buf_add(&b, p, (size_t)(r - p));
    idp_buf_adds(&b, repo);
    p = r + 4;
  }
  json_t *doc = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_yaml_load_one(b.data, b.len, "test", NULL, &doc, &e)) fail_msg("yaml: %s", e.msg);
  idp_buf_free(&b);
  return doc;
}

static json_t *clusters_json;

static idp_code list_clusters(void *ud, json_t **out, idp_err *e) {
  (void)ud;
  (void)e;
  *out = json_incref(clusters_json ? clusters_json : json_array());
  return IDP_OK;
}

static json_t *gen(const char *yaml, idp_code want_rc, idp_err *e) {
  json_t *as = appset(yaml);
  idp_appset_env env = {.git = git, .namespace = "argocd", .list_clusters = list_clusters};
  json_t *apps = NULL;
  idp_appset_reason reason;
  idp_code rc = idp_appset_generate(&env, as, &apps, &reason, NULL, e);
  json_decref(as);
  if (rc != want_rc) fail_msg("generate: rc %d (want %d): %s", rc, want_rc, e->msg);
  return apps;
}

static const char *app_field(json_t *apps, size_t i, const char *dotted) {
  return json_string_value(idp_json_path(json_array_get(apps, i), dotted));
}

static void test_list_fasttemplate(void **state) {
  (void)state;
  idp_err e = IDP_ERR_INIT;
  json_t *apps = gen("metadata: {name: l, namespace: argocd}\n"
                     "spec:\n  generators:\n  - list:\n      elements:\n      - {cluster: dev, url: 'https://dev'}\n"
                     "      - {cluster: prod, url: 'https://prod', values: {tier: gold}}\n"
                     "  template:\n    metadata: {name: 'app-{{cluster}}', namespace: 'ns-{{cluster}}', labels: {tier: '{{ values.tier }}'}}\n"
                     "    spec: {project: default, source: {repoURL: x, path: '{{ cluster }}/{{nope}}'}, destination: {server: '{{url}}'}}\n",
                     IDP_OK, &e);
  assert_int_equal(json_array_size(apps), 2);
  assert_string_equal(app_field(apps, 0, "metadata.name"), "app-dev");
  assert_string_equal(app_field(apps, 1, "spec.destination.server"), "https://prod");
  assert_string_equal(app_field(apps, 0, "spec.source.path"), "dev/{{nope}}");
  assert_string_equal(app_field(apps, 1, "metadata.labels.tier"), "gold");
  assert_string_equal(app_field(apps, 0, "metadata.labels.tier"), "{{ values.tier }}");
  assert_string_equal(app_field(apps, 0, "metadata.namespace"), "argocd"); /* forced to the ApplicationSet's */
  assert_string_equal(json_string_value(json_array_get(idp_json_path(json_array_get(apps, 0), "metadata.finalizers"), 0)),
                      "resources-finalizer.argocd.argoproj.io");
  assert_string_equal(app_field(apps, 0, "apiVersion"), "argoproj.io/v1alpha1");
  json_decref(apps);
}

static void test_git_directories(void **state) {
  (void)state;
  idp_err e = IDP_ERR_INIT;
  json_t *apps = gen("metadata: {name: d, namespace: argocd}\n"
                     "spec:\n  generators:\n  - git:\n      repoURL: REPO\n      revision: HEAD\n"
                     "      directories:\n      - path: apps/*\n      - path: apps/excluded\n        exclude: true\n"
                     "  template:\n    metadata: {name: '{{path.basename}}'}\n"
                     "    spec: {project: default, source: {repoURL: x, path: '{{path}}', targetRevision: '{{path[0]}}'}, destination: {namespace: '{{path.basenameNormalized}}'}}\n",
                     IDP_OK, &e);
  assert_int_equal(json_array_size(apps), 2); /* .hidden and excluded skipped */
  assert_string_equal(app_field(apps, 0, "metadata.name"), "guestbook");
  assert_string_equal(app_field(apps, 1, "metadata.name"), "podinfo");
  assert_string_equal(app_field(apps, 0, "spec.source.path"), "apps/guestbook");
  assert_string_equal(app_field(apps, 0, "spec.source.targetRevision"), "apps");
  json_decref(apps);
  /* goTemplate: .path.path, .path.segments */
  apps = gen("metadata: {name: d, namespace: argocd}\n"
             "spec:\n  goTemplate: true\n  goTemplateOptions: [missingkey=error]\n"
             "  generators:\n  - git:\n      repoURL: REPO\n      revision: main\n      directories: [{path: 'apps/*'}]\n"
             "  template:\n    metadata: {name: '{{ .path.basename }}-{{ index .path.segments 0 }}'}\n"
             "    spec: {project: default, source: {repoURL: x, path: '{{ .path.path }}'}, destination: {}}\n",
             IDP_OK, &e);
  assert_int_equal(json_array_size(apps), 3);
  assert_string_equal(app_field(apps, 1, "metadata.name"), "guestbook-apps");
  json_decref(apps);
}

static const char *TEAMS_APPSET =
    "metadata: {name: teams, namespace: argocd}\n"
    "spec:\n  goTemplate: true\n  goTemplateOptions: [\"missingkey=error\"]\n"
    "  generators:\n  - git:\n      repoURL: REPO\n      revision: HEAD\n      files:\n      - path: teams/*/team.yaml\n"
    "  template:\n    metadata:\n      name: 'team-{{ .path.basename }}'\n"
    "      labels: {team: '{{ .team }}'}\n"
    "      annotations: {team.owner: '{{ .owner.email }}', team.slack: '{{ .owner.slack | default \"\" }}'}\n"
    "    spec:\n      project: platform\n      source: {repoURL: REPO, targetRevision: HEAD, path: '{{ .path.path }}'}\n"
    "      destination: {server: 'https://kubernetes.default.svc', namespace: '{{ .namespace }}'}\n";

static void test_git_files_missingkey(void **state) {
  (void)state;
  idp_err e = IDP_ERR_INIT;
  /* frontend's owner has no slack: missingkey=error fails the whole set */
  json_t *apps = gen(TEAMS_APPSET, IDP_EINVALID, &e);
  assert_null(apps);
  assert_non_null(strstr(e.msg, "map has no entry for key \"slack\""));
  assert_non_null(strstr(e.msg, "failed to execute go template"));
  /* reason */
  json_t *as = appset(TEAMS_APPSET);
  idp_appset_env env = {.git = git};
  idp_appset_reason reason;
  assert_int_not_equal(idp_appset_generate(&env, as, &apps, &reason, NULL, &e), IDP_OK);
  assert_int_equal(reason, IDP_APPSET_RENDER_ERROR);
  json_decref(as);
}

static void test_git_files(void **state) {
  (void)state;
  idp_err e = IDP_ERR_INIT;
  /* without the slack annotation it renders; numbers print as Go's float64 */
  json_t *apps = gen("metadata: {name: teams, namespace: argocd}\n"
                     "spec:\n  goTemplate: true\n  goTemplateOptions: [\"missingkey=error\"]\n"
                     "  generators:\n  - git:\n      repoURL: REPO\n      revision: HEAD\n      files:\n      - path: teams/*/team.yaml\n"
                     "  template:\n    metadata:\n      name: 'team-{{ .path.basename }}'\n"
                     "      annotations: {owner: '{{ .owner.email }}', replicas: '{{ .replicas }}', file: '{{ .path.filename }}'}\n"
                     "    spec:\n      project: platform\n      source: {repoURL: REPO, path: '{{ .path.path }}'}\n"
                     "      destination: {namespace: '{{ .namespace }}'}\n",
                     IDP_OK, &e);
  assert_int_equal(json_array_size(apps), 2);
  assert_string_equal(app_field(apps, 0, "metadata.name"), "team-backend");
  assert_string_equal(app_field(apps, 0, "metadata.annotations.owner"), "be@example.com");
  assert_string_equal(app_field(apps, 0, "metadata.annotations.replicas"), "3");
  assert_string_equal(app_field(apps, 0, "metadata.annotations.file"), "team.yaml");
  assert_string_equal(app_field(apps, 1, "spec.source.path"), "teams/frontend");
  assert_string_equal(app_field(apps, 1, "spec.destination.namespace"), "team-frontend");
  json_decref(apps);
  /* fasttemplate: flattened keys */
  apps = gen("metadata: {name: t, namespace: argocd}\n"
             "spec:\n  generators:\n  - git:\n      repoURL: REPO\n      revision: HEAD\n      files: [{path: 'teams/**/team.yaml'}]\n"
             "      values: {env: 'prod-{{team}}'}\n"
             "  template:\n    metadata: {name: '{{team}}-{{apps.0.name}}', labels: {q: '{{resourceQuota.pods}}', e: '{{values.env}}'}}\n"
             "    spec: {project: default, source: {repoURL: x, path: '{{path}}/{{path.filename}}/{{path[1]}}'}, destination: {}}\n",
             IDP_OK, &e);
  assert_int_equal(json_array_size(apps), 2);
  assert_string_equal(app_field(apps, 0, "metadata.name"), "backend-version-api");
  assert_string_equal(app_field(apps, 0, "metadata.labels.q"), "50");
  assert_string_equal(app_field(apps, 0, "metadata.labels.e"), "prod-backend");
  assert_string_equal(app_field(apps, 0, "spec.source.path"), "teams/backend/team.yaml/backend");
  json_decref(apps);
  /* a JSON file holding a list gives one parameter set per item */
  apps = gen("metadata: {name: j, namespace: argocd}\n"
             "spec:\n  generators:\n  - git: {repoURL: REPO, files: [{path: config/*.json}]}\n"
             "  template:\n    metadata: {name: '{{cluster}}'}\n    spec: {project: default, destination: {server: '{{url}}'}}\n",
             IDP_OK, &e);
  assert_int_equal(json_array_size(apps), 2);
  assert_string_equal(app_field(apps, 1, "spec.destination.server"), "https://b");
  json_decref(apps);
  /* broken YAML names the file */
  apps = gen("metadata: {name: b, namespace: argocd}\n"
             "spec:\n  generators:\n  - git: {repoURL: REPO, files: [{path: broken/*.yaml}]}\n"
             "  template:\n    metadata: {name: x}\n    spec: {project: default}\n",
             IDP_EINVAL, &e);
  assert_non_null(strstr(e.msg, "unable to process file 'broken/bad.yaml'"));
  /* missing revision / repository */
  apps = gen("metadata: {name: b, namespace: argocd}\n"
             "spec:\n  generators:\n  - git: {repoURL: REPO, revision: nope, files: [{path: '*'}]}\n"
             "  template:\n    metadata: {name: x}\n    spec: {project: default}\n",
             IDP_ENOTFOUND, &e);
  assert_non_null(strstr(e.msg, "revision nope not found"));
  apps = gen("metadata: {name: b, namespace: argocd}\n"
             "spec:\n  generators:\n  - git: {repoURL: /nonexistent/repo, files: [{path: '*'}]}\n"
             "  template:\n    metadata: {name: x}\n    spec: {project: default}\n",
             IDP_EUNAVAILABLE, &e);
  assert_non_null(strstr(e.msg, "unreachable"));
}

/* The fast-ish team-apps shape: git files x list(elementsYaml). */
static void test_matrix_teams_apps(void **state) {
  (void)state;
  idp_err e = IDP_ERR_INIT;
  json_t *apps = gen("metadata: {name: team-apps, namespace: argocd}\n"
                     "spec:\n  goTemplate: true\n  goTemplateOptions: [\"missingkey=error\"]\n"
                     "  generators:\n  - matrix:\n      generators:\n"
                     "      - git:\n          repoURL: REPO\n          revision: HEAD\n          files: [{path: teams/*/team.yaml}]\n"
                     "      - list:\n          elementsYaml: \"{{ .apps | toJson }}\"\n"
                     "  template:\n    metadata:\n      name: '{{ .path.basename }}-{{ .name }}'\n"
                     "      labels: {team: '{{ .team }}', environment: '{{ .environment }}'}\n"
                     "    spec:\n      project: 'team-{{ .path.basename }}'\n"
                     "      source: {repoURL: '{{ .repoURL }}', path: '{{ .manifestPath }}', targetRevision: '{{ .targetRevision }}'}\n"
                     "      destination: {server: 'https://kubernetes.default.svc', namespace: '{{ .namespace }}'}\n",
                     IDP_OK, &e);
  assert_int_equal(json_array_size(apps), 3);
  assert_string_equal(app_field(apps, 0, "metadata.name"), "backend-version-api");
  assert_string_equal(app_field(apps, 1, "metadata.name"), "backend-orders");
  assert_string_equal(app_field(apps, 2, "metadata.name"), "frontend-web");
  assert_string_equal(app_field(apps, 1, "spec.source.targetRevision"), "main");
  assert_string_equal(app_field(apps, 1, "metadata.labels.environment"), "staging");
  assert_string_equal(app_field(apps, 2, "spec.project"), "team-frontend");
  assert_string_equal(app_field(apps, 2, "spec.destination.namespace"), "team-frontend");
  json_decref(apps);
  /* a matrix needs exactly two children */
  apps = gen("metadata: {name: m}\nspec:\n  generators:\n  - matrix: {generators: [{list: {elements: []}}]}\n"
             "  template: {metadata: {name: x}, spec: {}}\n",
             IDP_EINVAL, &e);
  assert_non_null(strstr(e.msg, "less than two generators"));
  /* fasttemplate: duplicate keys with different values are an error */
  apps = gen("metadata: {name: m}\nspec:\n  generators:\n  - matrix:\n      generators:\n"
             "      - list: {elements: [{a: '1'}]}\n      - list: {elements: [{a: '2'}]}\n"
             "  template: {metadata: {name: x}, spec: {}}\n",
             IDP_EINVAL, &e);
  assert_non_null(strstr(e.msg, "found duplicate key a with different value"));
}

static void test_merge(void **state) {
  (void)state;
  idp_err e = IDP_ERR_INIT;
  json_t *apps = gen("metadata: {name: mg}\nspec:\n  generators:\n  - merge:\n      mergeKeys: [cluster]\n      generators:\n"
                     "      - list: {elements: [{cluster: a, size: small}, {cluster: b, size: small}]}\n"
                     "      - list: {elements: [{cluster: b, size: large}, {cluster: c, size: huge}]}\n"
                     "  template: {metadata: {name: '{{cluster}}-{{size}}'}, spec: {project: default}}\n",
                     IDP_OK, &e);
  assert_int_equal(json_array_size(apps), 2);
  assert_string_equal(app_field(apps, 0, "metadata.name"), "a-small");
  assert_string_equal(app_field(apps, 1, "metadata.name"), "b-large");
  json_decref(apps);
  apps = gen("metadata: {name: mg}\nspec:\n  generators:\n  - merge:\n      generators: [{list: {elements: []}}, {list: {elements: []}}]\n"
             "  template: {metadata: {name: x}, spec: {}}\n",
             IDP_EINVAL, &e);
  assert_non_null(strstr(e.msg, "no merge keys"));
  apps = gen("metadata: {name: mg}\nspec:\n  generators:\n  - merge:\n      mergeKeys: [k]\n"
             "      generators: [{list: {elements: [{k: a}, {k: a}]}}, {list: {elements: []}}]\n"
             "  template: {metadata: {name: x}, spec: {}}\n",
             IDP_EINVAL, &e);
  assert_non_null(strstr(e.msg, "not unique"));
}

static void test_clusters(void **state) {
  (void)state;
  idp_err e = IDP_ERR_INIT;
  /* name "prod" = cHJvZA==, server "https://prod:6443" = aHR0cHM6Ly9wcm9kOjY0NDM= */
  clusters_json = json_loads("[{\"metadata\":{\"name\":\"c1\",\"labels\":{\"argocd.argoproj.io/secret-type\":\"cluster\",\"env\":\"prod\"}},"
                             "\"data\":{\"name\":\"cHJvZA==\",\"server\":\"aHR0cHM6Ly9wcm9kOjY0NDM=\"}}]",
                             0, NULL);
  json_t *apps = gen("metadata: {name: c}\nspec:\n  generators:\n  - clusters: {}\n"
                     "  template: {metadata: {name: '{{name}}-app', labels: {env: '{{metadata.labels.env}}'}}, spec: {project: default, destination: {server: '{{server}}'}}}\n",
                     IDP_OK, &e);
  assert_int_equal(json_array_size(apps), 2);
  assert_string_equal(app_field(apps, 0, "metadata.name"), "in-cluster-app");
  assert_string_equal(app_field(apps, 1, "metadata.name"), "prod-app");
  assert_string_equal(app_field(apps, 1, "spec.destination.server"), "https://prod:6443");
  assert_string_equal(app_field(apps, 1, "metadata.labels.env"), "prod");
  json_decref(apps);
  /* a selector excludes the in-cluster destination */
  apps = gen("metadata: {name: c}\nspec:\n  goTemplate: true\n  generators:\n  - clusters: {selector: {matchLabels: {env: prod}}, values: {x: '{{ .name }}!'}}\n"
             "  template: {metadata: {name: '{{ .nameNormalized }}-{{ .values.x }}'}, spec: {project: default}}\n",
             IDP_OK, &e);
  assert_int_equal(json_array_size(apps), 1);
  assert_string_equal(app_field(apps, 0, "metadata.name"), "prod-prod!");
  json_decref(apps);
  json_decref(clusters_json);
  clusters_json = NULL;
}

static void test_selector_override_patch(void **state) {
  (void)state;
  idp_err e = IDP_ERR_INIT;
  json_t *apps = gen("metadata: {name: s}\nspec:\n  goTemplate: true\n"
                     "  syncPolicy: {preserveResourcesOnDeletion: true}\n"
                     "  generators:\n"
                     "  - list:\n      elements: [{env: dev, auto: false}, {env: prod, auto: true}, {env: qa, auto: false}]\n"
                     "    selector: {matchExpressions: [{key: env, operator: NotIn, values: [qa]}]}\n"
                     "  - list:\n      elements: [{env: special, auto: false}]\n"
                     "      template: {metadata: {name: 'override-{{ .env }}'}, spec: {project: special}}\n"
                     "  template:\n    metadata: {name: 'app-{{ .env }}'}\n"
                     "    spec: {project: default, source: {repoURL: x, path: '{{ .env }}'}, destination: {namespace: '{{ .env }}'}}\n"
                     "  templatePatch: |\n"
                     "    {{- if .auto }}\n"
                     "    spec:\n      project: hacked\n      syncPolicy:\n        automated: {prune: true}\n"
                     "    {{- end }}\n",
                     IDP_OK, &e);
  assert_int_equal(json_array_size(apps), 3);
  assert_string_equal(app_field(apps, 0, "metadata.name"), "app-dev");
  assert_string_equal(app_field(apps, 1, "metadata.name"), "app-prod");
  assert_true(json_is_true(idp_json_path(json_array_get(apps, 1), "spec.syncPolicy.automated.prune")));
  assert_string_equal(app_field(apps, 1, "spec.project"), "default"); /* patch cannot change project */
  assert_null(idp_json_path(json_array_get(apps, 0), "spec.syncPolicy"));
  assert_string_equal(app_field(apps, 2, "metadata.name"), "override-special");
  assert_string_equal(app_field(apps, 2, "spec.project"), "special");
  assert_string_equal(app_field(apps, 2, "spec.source.path"), "special"); /* filled from spec.template */
  assert_null(idp_json_path(json_array_get(apps, 0), "metadata.finalizers"));
  json_decref(apps);
}

static void test_unsupported_generator(void **state) {
  (void)state;
  idp_err e = IDP_ERR_INIT;
  json_t *apps = gen("metadata: {name: u}\nspec:\n  generators:\n  - pullRequest: {github: {owner: x}}\n"
                     "  template: {metadata: {name: x}, spec: {}}\n",
                     IDP_EUNSUPPORTED, &e);
  assert_null(apps);
  assert_non_null(strstr(e.msg, "pullRequest"));
}

static void test_render_keys(void **state) {
  (void)state;
  json_t *params = json_pack("{s:s}", "team", "web");
  json_t *tmpl = json_pack("{s:{s:s},s:[s,i]}", "labels", "team-{{team}}", "x{{team}}", "list", "{{team}}", 3);
  json_t *out = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_appset_render_value(tmpl, params, false, NULL, &out, &e), IDP_OK);
  assert_string_equal(json_string_value(idp_json_path(out, "labels.team-web")), "xweb");
  assert_string_equal(json_string_value(json_array_get(json_object_get(out, "list"), 0)), "web");
  assert_int_equal(json_integer_value(json_array_get(json_object_get(out, "list"), 1)), 3);
  json_decref(out);
  char *s = NULL;
  assert_int_equal(idp_appset_replace("{{team", params, false, NULL, &s, &e), IDP_OK);
  assert_string_equal(s, "{{team"); /* no closing tag on the line: untouched, as Argo CD */
  free(s);
  assert_int_equal(idp_appset_replace("a {{team}} {{ team }} {{}}", params, false, NULL, &s, &e), IDP_OK);
  assert_string_equal(s, "a web web {{}}");
  free(s);
  json_decref(tmpl);
  json_decref(params);
}

static void test_url_key(void **state) {
  (void)state;
  static const char *const same[][2] = {
      {"https://GitHub.com/Org/Repo.git", "https://github.com/Org/Repo"},
      {"git@github.com:org/repo.git", "https://github.com/org/repo"},
      {"ssh://git@github.com/org/repo", "https://github.com/org/repo/"},
      {"https://user:token@github.com/org/repo", "https://github.com/org/repo"},
      {"/srv/git/repo/", "/srv/git/repo"},
  };
  char a[512], b[512];
  for (size_t i = 0; i < IDP_ARRAY_LEN(same); i++) {
    idp_appset_url_key(same[i][0], a, sizeof a);
    idp_appset_url_key(same[i][1], b, sizeof b);
    assert_string_equal(a, b);
  }
  idp_appset_url_key("https://github.com/org/repo-a", a, sizeof a);
  idp_appset_url_key("https://github.com/org/repo", b, sizeof b);
  assert_string_not_equal(a, b);
}

static void test_glob(void **state) {
  (void)state;
  assert_true(idp_asgit_glob("teams/*/team.yaml", "teams/a/team.yaml", true));
  assert_false(idp_asgit_glob("teams/*/team.yaml", "teams/a/b/team.yaml", true));
  assert_true(idp_asgit_glob("teams/**/team.yaml", "teams/a/b/team.yaml", true));
  assert_true(idp_asgit_glob("teams/**/team.yaml", "teams/team.yaml", true));
  assert_true(idp_asgit_glob("**", "a/b/c", true));
  assert_true(idp_asgit_glob("apps/[a-c]*", "apps/beta", false));
  assert_false(idp_asgit_glob("apps/[!a-c]*", "apps/beta", false));
  assert_true(idp_asgit_glob("a?c", "abc", false));
  assert_false(idp_asgit_glob("a*", "a/b", false));
}

/* A new commit changes what the generator sees; the resolved SHA moves. */
static void test_revision_moves(void **state) {
  (void)state;
  char sha1[41], sha2[41];
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_asgit_resolve(git, repo, "main", sha1, &e), IDP_OK);
  write_file("apps/newapp/app.yaml", "kind: ConfigMap\n");
  commit("add newapp");
  assert_int_equal(idp_asgit_resolve(git, repo, "main", sha2, &e), IDP_OK);
  assert_string_not_equal(sha1, sha2);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "cd '%s' && git rm -rq apps/newapp && git -c user.name=t -c user.email=t@t commit -qm rm", repo);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_list_fasttemplate),     cmocka_unit_test(test_git_directories),
      cmocka_unit_test(test_git_files_missingkey),  cmocka_unit_test(test_git_files),
      cmocka_unit_test(test_matrix_teams_apps),     cmocka_unit_test(test_merge),
      cmocka_unit_test(test_clusters),              cmocka_unit_test(test_selector_override_patch),
      cmocka_unit_test(test_unsupported_generator), cmocka_unit_test(test_render_keys),
      cmocka_unit_test(test_glob),                  cmocka_unit_test(test_revision_moves),
      cmocka_unit_test(test_url_key),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
