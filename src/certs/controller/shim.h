/* shim.h: cert-manager's ingress-shim and gateway-shim as a pure function:
 * from an annotated Gateway (gateway.networking.k8s.io/v1) or Ingress
 * (networking.k8s.io/v1) to the Certificates it asks for.
 *
 * One Certificate per referenced TLS Secret, named after the Secret, in the
 * object's namespace, spec.secretName = the Secret, spec.dnsNames = the
 * de-duplicated hostnames of every listener (Gateway) or tls entry
 * (Ingress) that references it, issuerRef from cert-manager.io/issuer
 * (kind Issuer) or cert-manager.io/cluster-issuer (kind ClusterIssuer),
 * overridable with issuer-kind / issuer-group, and an ownerReference
 * (controller) to the object.  Gateway listeners without tls, in
 * Passthrough mode, without a hostname, or whose certificateRefs name
 * another kind, group or namespace are skipped (cross-namespace refs are
 * unsupported, as in cert-manager #5610). */
#ifndef IDP_CERTS_CONTROLLER_SHIM_H
#define IDP_CERTS_CONTROLLER_SHIM_H

#include <jansson.h>

#include "core/err.h"

/* *out: a new array of Certificate objects (empty when the object carries
 * no issuer annotation).  IDP_EINVALID for contradictory or malformed
 * annotations (both issuer annotations, a bad duration or key size),
 * naming the annotation. */
idp_code idp_cm_shim_certificates(const json_t *obj, json_t **out, idp_err *e);

#endif
