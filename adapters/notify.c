/* The notify connector: a Slack incoming webhook (docs/connectors-wire.md, "notify"). The
 * webhook takes no idempotency key and offers no look-up, and a posted message cannot be taken
 * back through it; so an unknown outcome is recorded as delivered-unknown and never repeated
 * (adapters/README.md says why), and the operation is irreversible. */
#include <stdio.h>
#include <string.h>

#include "connectors.h"
#include "http_common.h"
#include "params.h"

#define TEXT_MAX   40000
#define BLOCKS_MAX 50
#define TYPE_MAX   64

static size_t validate_post_message(const json_t *params, struct adapter_errors *errs)
{
    static const char *const known[] = {"text", "blocks", NULL};
    size_t before = errs->count;
    if (!adapter_params_object(params, errs))
        return errs->count - before;
    adapter_params_known(params, "", known, errs);
    adapter_check_text(params, "text", true, TEXT_MAX, true, errs);
    const json_t *blocks = json_object_get(params, "blocks");
    if (!blocks || json_is_null(blocks))
        return errs->count - before;
    if (!json_is_array(blocks)) {
        adapter_error(errs, "/blocks", "blocks must be an array of Block Kit blocks");
    } else if (json_array_size(blocks) > BLOCKS_MAX) {
        adapter_error(errs, "/blocks", "blocks must have at most %d items, not %zu", BLOCKS_MAX,
                      json_array_size(blocks));
    } else {
        size_t i;
        const json_t *b;
        json_array_foreach(blocks, i, b)
        {
            char ptr[48];
            snprintf(ptr, sizeof ptr, "/blocks/%zu", i);
            if (!json_is_object(b)) {
                adapter_error(errs, ptr, "a block must be an object with a \"type\"");
                continue;
            }
            /* Slack checks the rest of a block itself (400 invalid_blocks). */
            strcat(ptr, "/type");
            adapter_check_string(json_object_get(b, "type"), ptr, "type", true, TYPE_MAX, false,
                                 errs);
        }
    }
    return errs->count - before;
}

static int build_post_message(const json_t *params, const struct adapter_ctx *ctx, json_t **request,
                              char cause[ADAPTER_MESSAGE_MAX])
{
    (void)ctx;
    json_t *body = json_pack("{s:O}", "text", json_object_get(params, "text"));
    const json_t *blocks = json_object_get(params, "blocks");
    if (body && json_is_array(blocks) && json_object_set(body, "blocks", (json_t *)blocks)) {
        json_decref(body);
        body = NULL;
    }
    if (!body)
        return adapter_build_fail(cause, "out of memory");
    /* The webhook URL is the whole address (and a secret): nothing is appended to it. */
    struct adapter_path p;
    adapter_path_init(&p);
    return adapter_request("POST", &p, body, request, cause);
}

/* 2xx (Slack answers 200 "ok") is posted; every error is a text body such as
 * "invalid_payload" (400), "no_service" (404) or "channel_is_archived" (410). */
static void classify_post_message(const json_t *params, const struct adapter_ctx *ctx,
                                  const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)params;
    (void)ctx;
    if (adapter_is_2xx(resp->status))
        adapter_ok(out, NULL, json_pack("{s:b}", "posted", 1));
    else
        adapter_classify_status(resp, out);
}

const struct adapter_op notify_post_message = {
    .name = "notify.post_message",
    .reversible = false,
    .validate = validate_post_message,
    .build_request = build_post_message,
    .classify = classify_post_message,
    .unknown_is_delivered = true,
};
