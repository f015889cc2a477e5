/* Sends a request an adapter described (adapters/adapter.h) to a tenant's connector: joins the
 * base URL and path, serialises the body, adds the connector's credentials (never seen by the
 * adapter) and the per-attempt timeout, and hands it to the HTTP client. */
#ifndef INTENTD_CONNECTOR_SEND_H
#define INTENTD_CONNECTOR_SEND_H

#include <jansson.h>

#include "adapter.h"
#include "connectors.h"
#include "http_client.h"

/* fresh_connection: see struct http_client_req. The attempt's timeout is the Task's TimeoutSeconds
 * (task_timeout_s, 0: none) capped by the connector's limit. Returns 0 (cb runs once) or an error
 * with why filled. */
int connector_send(struct http_client *client, const struct connector_config *cfg,
                   const json_t *req, int task_timeout_s, bool fresh_connection, http_client_cb cb,
                   void *arg, char why[ADAPTER_MESSAGE_MAX]);

#endif
