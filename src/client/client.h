/* client.h: the Kubernetes client of idp, one include for controllers.
 *
 * Every controller talks to the API only through this module, the same
 * code path against idp's embedded server and a real cluster:
 *
 *   client/kubeconfig.h  where the server is, how to trust it and log in
 *                        (kubeconfig files, in-cluster service account)
 *   client/rest.h        idp_kclient: get/list/create/update/patch/delete,
 *                        discovery (apiVersion+kind -> resource), Status
 *                        errors -> idp_code, cancel tokens
 *   client/watch.h       streaming watches and their line parser
 *   client/informer.h    list+watch caches with add/update/delete handlers
 *   client/workqueue.h   deduplicating, rate-limited work queues
 *   client/controller.h  informer -> queue -> workers -> reconcile(key)
 *   client/leader.h      Lease leader election for replicated controllers
 *
 * A controller in ~20 lines (errors elided):
 *
 *   idp_kconfig *cfg;  idp_kconfig_load_default(path, NULL, &cfg, &e);
 *   idp_kclient *kc;   idp_kclient_new(cfg, NULL, &kc, &e);
 *   idp_kconfig_free(cfg);
 *
 *   idp_controller *ctl;
 *   idp_controller_new(&(idp_controller_opts){.name = "certs", .workers = 2,
 *                        .reconcile = reconcile, .ud = me}, &ctl, &e);
 *   idp_informer_handlers h = idp_controller_handlers(ctl);
 *   idp_informer *certs;
 *   idp_informer_new(kc, &(idp_informer_opts){.resource = {"cert-manager.io",
 *                      "v1", "certificates"}}, &h, &certs, &e);
 *   idp_informer_start(certs, &e);
 *   idp_informer_wait_synced(certs, -1);      // caches first, then work
 *   idp_controller_start(ctl, &e);
 *   ...
 *   idp_controller_stop(ctl); idp_informer_free(certs); ...
 *
 *   static idp_code reconcile(void *ud, const char *key, int64_t *again,
 *                             idp_err *e) {
 *     json_t *cert = idp_informer_get_key(me->certs, key); // shared, RO
 *     if (!cert) return IDP_OK;                  // deleted: clean up
 *     ... idp_kclient_update_status(kc, &ref, desired, NULL, NULL, e) ...
 *     json_decref(cert);
 *     *again = 3600 * 1000;                      // re-check hourly
 *     return rc;                                 // error -> backoff retry
 *   }
 *
 * Conflicts (IDP_ECONFLICT) on update are normal: return the error and the
 * queue retries with a fresh cache read; or re-GET and retry a few times.
 * Secret values never reach logs or error messages from this module. */
#ifndef IDP_CLIENT_CLIENT_H
#define IDP_CLIENT_CLIENT_H

#include "client/controller.h"
#include "client/informer.h"
#include "client/kubeconfig.h"
#include "client/leader.h"
#include "client/rest.h"
#include "client/watch.h"
#include "client/workqueue.h"

#endif
