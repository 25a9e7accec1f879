/* kustomize.h: native kustomize (kustomize v5.5 / `kubectl kustomize`).
 *
 * idp_kustomize_build() renders a kustomization directory to the list of
 * objects `kubectl kustomize DIR` prints, object for object and in the same
 * order (kustomize's "legacy" kind order, or input order with
 * sortOptions.order: fifo).
 *
 * Supported: resources (files, multi-document files, List kinds,
 * directories holding a kustomization, nested to any depth; `bases`),
 * components (kind: Component, applied to the including kustomization's
 * accumulated objects), namespace, namePrefix/nameSuffix, commonLabels,
 * labels (pairs, includeSelectors, includeTemplates, fields),
 * commonAnnotations, images (newName, newTag, digest), replicas, patches
 * (strategic merge or JSON 6902, with or without target selector: group,
 * version, kind, name and namespace as anchored regexes, labelSelector,
 * annotationSelector; options allowNameChange/allowKindChange),
 * patchesStrategicMerge, patchesJson6902, configMapGenerator and
 * secretGenerator (literals, files, envs; behavior create/merge/replace;
 * options and generatorOptions; kustomize's name hash), name-reference
 * rewriting (the built-in nameReference table), replacements (source and
 * targets with select/reject, fieldPaths with [k=v] item matchers,
 * delimiter/index, create), vars (the built-in varReference fields),
 * configurations (extra field specs for commonLabels, templateLabels,
 * commonAnnotations, namespace, namePrefix/nameSuffix, images, replicas,
 * varReference and nameReference, merged upwards from bases as kustomize
 * does), generators/transformers holding kustomize's builtin plugin
 * configurations (files, inline YAML or kustomization directories),
 * buildMetadata originAnnotations/managedByLabel, sortOptions
 * (fifo/legacy with legacySortOptions), local-config objects dropped,
 * helmCharts (charts vendored under helmGlobals.chartHome, rendered by
 * exec of `helm template`: IDP_EUNAVAILABLE when helm is not on PATH).
 *
 * Known divergence: YAML input is read with core/yaml.h, which resolves
 * YAML 1.1 booleans (yes/no/on/off) as kubectl's decoder does; kustomize
 * (kyaml) keeps those words as strings.  Quote them in manifests.
 *
 * Not supported (an IDP_EUNSUPPORTED error naming the field): remote
 * resources (URLs), crds, validators, openapi, non-builtin (exec,
 * container) plugins, buildMetadata transformerAnnotations.
 *
 * Loading is restricted like kustomize's default LoadRestrictionsRootOnly:
 * a file named by a kustomization must lie inside that kustomization's
 * directory (bases, i.e. directories, may be anywhere).
 *
 * Errors: IDP_ENOTFOUND (missing file or directory), IDP_EINVAL (broken
 * YAML, malformed field) and IDP_EINVALID (semantic: id conflicts, patch
 * target not found); the message names the kustomization file, the field
 * and the file it could not use ("…/kustomization.yaml: resources[1]
 * 'missing.yaml': …").
 *
 * Re-entrant: no global state; everything is read from the given
 * directories (and helm's output); nothing is written but helm's private
 * temporary values file. */
#ifndef IDP_GITOPS_KUSTOMIZE_H
#define IDP_GITOPS_KUSTOMIZE_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"

/* Builds the kustomization in `dir`.  *objects is a new array in
 * kustomize's output order (the caller owns it). */
idp_code idp_kustomize_build(const char *dir, json_t **objects, idp_err *e);

/* The same with Argo CD's spec.source.kustomize applied to the top
 * kustomization as `kustomize edit` would (namePrefix, nameSuffix,
 * namespace, commonLabels (labelWithoutSelector, labelIncludeTemplates),
 * commonAnnotations, images as "name[=newName][:tag][@digest]" strings,
 * replicas, components, patches).  overrides may be NULL. */
idp_code idp_kustomize_build_with(const char *dir, const json_t *overrides, json_t **objects,
                                  idp_err *e);

/* True when dir holds kustomization.yaml, kustomization.yml or
 * Kustomization. */
bool idp_kustomize_is_dir(const char *dir);

/* kustomize's name-suffix hash of a ConfigMap or Secret object (10
 * characters from [0-9a-z] written to out[11]).  Only data, binaryData
 * (ConfigMap), type and stringData (Secret) count; the name does not
 * (kustomize v5 looks the name up under a key that never exists).  Other
 * kinds: IDP_EUNSUPPORTED (kustomize only hashes generated objects). */
idp_code idp_kustomize_hash(const json_t *obj, char out[11], idp_err *e);

/* Go encoding/json rendering of a value (map keys sorted, <>& and U+2028/9
 * escaped), appended to out; used by the hash and exposed for tests. */
struct idp_buf;
idp_code idp_kustomize_gojson(struct idp_buf *out, const json_t *v, idp_err *e);

#endif
