/* render.h: turn a source directory into the objects to apply (Argo CD's
 * repo-server "generate manifests" step).
 *
 * idp_render_directory follows Argo CD's directory source: files ending in
 * .yaml, .yml or .json in `dir` (and below when recurse), read in
 * lexical path order, each possibly holding several YAML documents (a JSON
 * file holds one value; a top-level JSON array or a `kind: *List` with
 * `items` expands to its elements).  `include` and `exclude` are globs
 * matched against the path relative to `dir` as Argo CD does (gobwas/glob
 * without separators: "*" matches any run, "/" included, "?" one
 * character, "[...]" classes and "{a,b}" alternatives);
 * exclude wins over include; NULL or "" means "no filter".  Hidden files
 * and directories (".git") are skipped.  Empty documents are dropped.  A
 * symlink that resolves outside `dir` is an error (IDP_EFORBIDDEN), as in
 * Argo CD.
 *
 * idp_render_path picks the tool as Argo CD does: a kustomization file ->
 * native kustomize; Chart.yaml -> `helm template` (an exec of helm found on
 * PATH, else IDP_EUNAVAILABLE "helm is not installed"); otherwise plain
 * directory.  `source` is an Argo CD spec.source (or NULL): its
 * directory.{recurse,include,exclude} and helm.{releaseName,valueFiles,
 * values,valuesObject,parameters,namespace} are honoured; setting
 * `directory` on a kustomize or helm path is an error like Argo CD's.
 *
 * All functions return a new array in *objects (caller owns) and name the
 * offending file in errors. */
#ifndef IDP_GITOPS_RENDER_H
#define IDP_GITOPS_RENDER_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"

idp_code idp_render_directory(const char *dir, bool recurse, const char *include,
                              const char *exclude, json_t **objects, idp_err *e);

idp_code idp_render_path(const char *dir, const json_t *source, json_t **objects, idp_err *e);

/* The same for an Application: app_name is Helm's default release name and
 * dest_namespace Helm's --namespace (Argo CD passes both); either may be
 * NULL. */
idp_code idp_render_app_path(const char *dir, const json_t *source, const char *app_name,
                             const char *dest_namespace, json_t **objects, idp_err *e);

/* Glob match used for include/exclude (exposed for tests). */
bool idp_render_glob_match(const char *pattern, const char *path);

#endif
