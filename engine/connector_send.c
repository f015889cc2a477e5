/* See connector_send.h. */
#include "connector_send.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"

#define REQUEST_HEADERS 24

int connector_send(struct http_client *client, const struct connector_config *cfg,
                   const json_t *req, int task_timeout_s, bool fresh_connection, http_client_cb cb,
                   void *arg, char why[ADAPTER_MESSAGE_MAX])
{
    const char *method = json_string_value(json_object_get(req, "method"));
    const char *path = json_string_value(json_object_get(req, "path"));
    if (!method || !path || (path[0] && path[0] != '/' && path[0] != '?')) {
        snprintf(why, ADAPTER_MESSAGE_MAX, "the adapter built a request without method or path");
        return IE_INVAL;
    }
    size_t urllen = strlen(cfg->base_url) + strlen(path) + 1;
    char *url = malloc(urllen);
    const char *lines[REQUEST_HEADERS];
    char *owned[REQUEST_HEADERS];
    int n = 0, nowned = 0;
    char *body = NULL;
    size_t body_len = 0;
    int rc = url ? 0 : IE_NOMEM;
    if (!rc)
        snprintf(url, urllen, "%s%s", cfg->base_url, path);
    const json_t *jb = json_object_get(req, "body");
    const char *text = json_string_value(json_object_get(req, "body_text"));
    const json_t *hdrs = json_object_get(req, "headers");
    if (!rc && jb) {
        body = json_dumps(jb, JSON_COMPACT | JSON_ENCODE_ANY);
        rc = body ? 0 : IE_NOMEM;
        body_len = body ? strlen(body) : 0;
        if (!json_object_get(hdrs, "Content-Type") && !json_object_get(hdrs, "content-type"))
            lines[n++] = "Content-Type: application/json";
    } else if (!rc && text) {
        body = strdup(text);
        rc = body ? 0 : IE_NOMEM;
        body_len = strlen(text);
    }
    lines[n++] = "Accept: application/json";
    const char *name;
    const json_t *val;
    json_object_foreach((json_t *)hdrs, name, val)
    {
        if (rc || n >= REQUEST_HEADERS - 1 || !json_is_string(val) ||
            !strcasecmp(name, "Authorization"))
            continue;
        size_t len = strlen(name) + json_string_length(val) + 3;
        char *line = malloc(len);
        if (!line) {
            rc = IE_NOMEM;
            break;
        }
        snprintf(line, len, "%s: %s", name, json_string_value(val));
        owned[nowned++] = line;
        lines[n++] = line;
    }
    char *auth = NULL;
    if (!rc && cfg->auth != CONNECTOR_AUTH_NONE && cfg->bearer) {
        size_t len = strlen(cfg->bearer) + 32;
        auth = malloc(len);
        if (!auth)
            rc = IE_NOMEM;
        else {
            snprintf(auth, len, "Authorization: Bearer %s", cfg->bearer);
            lines[n++] = auth;
        }
    }
    if (!rc) {
        /* The Task's TimeoutSeconds, capped by the tenant's limit for this connector. */
        long timeout_s = cfg->limits.timeout_seconds;
        if (task_timeout_s > 0 && task_timeout_s < timeout_s)
            timeout_s = task_timeout_s;
        struct http_client_req hr = {.method = method,
                                     .url = url,
                                     .headers = lines,
                                     .nheaders = n,
                                     .body = body,
                                     .body_len = body_len,
                                     .timeout_ms = timeout_s * 1000,
                                     .fresh_connection = fresh_connection};
        rc = http_client_send(client, &hr, cb, arg);
        if (rc)
            snprintf(why, ADAPTER_MESSAGE_MAX, "the request could not be started: %s",
                     ie_strerror(rc));
    } else {
        snprintf(why, ADAPTER_MESSAGE_MAX, "out of memory building the request");
    }
    if (auth)
        crypto_free_secret(auth, strlen(auth));
    for (int i = 0; i < nowned; i++)
        free(owned[i]);
    free(body);
    free(url);
    return rc;
}
