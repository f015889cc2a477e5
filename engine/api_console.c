/* The web console (SPEC §6): static files served from the binary without authentication. The
 * page holds no data; the browser fetches everything from the JSON API with the bearer token
 * the operator pastes in, so serving the files to anyone reveals nothing. */
#include <string.h>

#include "api.h"
#include "console_assets.h"

/* Only the console's own files may run or style the page, nothing may frame it, and it makes no
 * request but to this origin: an intent parameter that smuggles HTML in cannot load or run
 * anything even if some rendering path were to insert it as markup. no-store because a new
 * binary must not be paired with an old cached script. */
static const char *const console_headers[] = {
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'",
    "X-Content-Type-Options: nosniff",
    "Referrer-Policy: no-referrer",
    "Cache-Control: no-store",
    "X-Frame-Options: DENY",
    NULL,
};

static void serve(struct api_req *req, const char *name)
{
    for (int i = 0; i < console_assets_count; i++) {
        const struct console_asset *a = &console_assets[i];
        if (!strcmp(a->name, name)) {
            api_reply_raw_headers(req, 200, a->content_type, a->data, a->len, console_headers);
            return;
        }
    }
    api_reply_problem(req, 404, "not-found", "no such console file");
}

void svc_console(struct api_req *req)
{
    serve(req, "index.html");
}

void svc_console_asset(struct api_req *req)
{
    serve(req, req->params[0]);
}
