/* render_failover.h: api/'s private renderers of a service's failover state (endpoints, breakers,
 * the active endpoint, the proxy), shared by the JSON and metrics renderers. */
#ifndef MD_API_RENDER_FAILOVER_H
#define MD_API_RENDER_FAILOVER_H

#include <cjson/cJSON.h>

#include "view/view.h"

/* md__render_failover_json: the "failover" object of a service with endpoints (NULL on OOM; the
 * caller checks v->n_endpoints first). */
cJSON *md__render_failover_json(const md_view_service *v);

/* md__render_failover_metrics: the failover metric families for every service with endpoints,
 * as Prometheus text (malloc'd; "" when none has endpoints), or NULL on OOM. */
char *md__render_failover_metrics(const md_view *s);

#endif
