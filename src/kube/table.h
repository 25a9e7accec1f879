/* table.h: meta.k8s.io/v1 Table responses for `kubectl get`.
 *
 * Column definitions are data: either a CRD's additionalPrinterColumns or
 * the built-in table below for core kinds.  A column is
 *   {"name","type","format","description","priority","jsonPath"}
 * or, for cells JSONPath cannot express, {"name",...,"cell":"<computed>"}
 * naming one of the computed cells of table.c (e.g. "pod-ready" -> "1/2",
 * "data-count" -> number of keys in .data+.binaryData, "age" ->
 * kubectl duration since creationTimestamp).  JSONPath cells take the first
 * match; type "date" cells are printed as an age; missing values are
 * "<none>" for strings and null otherwise (kubectl prints "<none>"). */
#ifndef IDP_KUBE_TABLE_H
#define IDP_KUBE_TABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* columns: an array in CRD additionalPrinterColumns form ({name,type,jsonPath,priority,
 * description,format}); NULL means the server default for a CR (Name + "Created At").
 * The Name column (format name) is always added first.  Each row has cells and "object":
 * the full object when include_object, else PartialObjectMetadata (kubectl needs the
 * metadata for -A, --show-labels, -L).  Age/date cells follow kubectl's duration format
 * ("5s", "3m20s", "4h", "2d5h"). New reference.  `objects` is an array (borrowed);
 * list_rv and cont may be NULL. */
json_t *idp_table_new(const json_t *columns, const json_t *objects, bool include_object,
                      const char *list_rv, const char *cont);

/* Column definitions for built-in kinds as kube-apiserver prints them (Pod: Ready Status
 * Restarts Age IP Node..., Deployment: Ready Up-to-date Available Age Containers Images
 * Selector, Service: Type Cluster-IP External-IP Port(s) Age Selector, ConfigMap: Data Age,
 * Secret: Type Data Age, Namespace: Status Age, ...), expressed as DATA in the same column
 * form (jsonPath, or a named computed cell for things like READY "1/1" and DATA counts).
 * Borrowed; for unknown kinds returns NULL.  group is "" for the core group. */
const json_t *idp_table_builtin_columns(const char *group, const char *kind);

/* kubectl's human duration (k8s.io/apimachinery/pkg/util/duration.HumanDuration):
 * "0s".."119s", "2m".."9m59s" style up to 3h, then "3h".."7h59m"... "2d5h", "8d", "3y12d".
 * Negative durations print as "<invalid>". Writes into buf, returns buf. */
const char *idp_duration_human(long long seconds, char *buf, size_t n);

/* Seconds since an RFC 3339 timestamp ("2024-05-01T10:00:00Z"), against
 * `now`; -1 if the timestamp does not parse. */
long long idp_age_seconds(const char *rfc3339, time_t now);

/* Test hook: fixes "now" for age cells (0 = use the clock). */
void idp_table_set_now(time_t now);

#endif
