/* helm.h: `helm template` by exec (internal to src/gitops).
 *
 * idp never re-implements Helm's template engine: when `helm` is on PATH it
 * is run as a child process (no shell; argv built here), its stdout parsed
 * as YAML.  When it is not, IDP_EUNAVAILABLE with a message saying so.
 * Values precedence is Helm's: value files in order, then the inline
 * values (written to a private temporary file), then --set parameters. */
#ifndef IDP_GITOPS_HELM_H
#define IDP_GITOPS_HELM_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"

typedef struct idp_helm_args {
  const char *chart_dir;     /* local chart directory */
  const char *release;       /* release name (NULL: "release-name", Helm's default) */
  const char *namespace_;    /* NULL: none */
  const json_t *value_files; /* array of paths or NULL */
  const json_t *values;      /* object (valuesObject / valuesInline) or NULL */
  const char *values_text;   /* YAML text (Argo CD `values`) or NULL */
  const json_t *parameters;  /* Argo CD [{name, value, forceString}] or NULL */
  bool include_crds;
  bool skip_tests;
  const char *kube_version;  /* NULL: Helm's default */
  const json_t *api_versions; /* array of strings or NULL */
} idp_helm_args;

/* Full path of the helm binary in out, false when not on PATH. */
bool idp_helm_find(char *out, size_t n);

/* Runs helm template; *objects a new array of the rendered objects. */
idp_code idp_helm_template(const idp_helm_args *a, json_t **objects, idp_err *e);

#endif
