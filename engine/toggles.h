/* Kill switches (SPEC §6): every node keeps a snapshot of the toggles that are not `run`,
 * loaded from intentd.toggles at start, on every NOTIFY with payload "toggles" (the
 * scheduler's listener calls toggles_refresh) and by a poll every TOGGLES_POLL_MS, which alone
 * makes a flip take effect on every node within a second. The executor asks toggles_find
 * before each external call.
 *
 * Keys: global "*"; tenant "<tenant>"; action_type "<tenant>/<action type>" and connector
 * "<tenant>/<connector>", where the tenant "*" covers every tenant. */
#ifndef INTENTD_TOGGLES_H
#define INTENTD_TOGGLES_H

#include <stdbool.h>
#include <stddef.h>

#include "errors.h"

#define TOGGLES_POLL_MS 500
#define TOGGLES_MAX     4096 /* toggles not in run mode that a snapshot holds */

struct app;
struct toggles;

enum toggle_mode { TOGGLE_RUN = 0, TOGGLE_PAUSE, TOGGLE_KILL };

/* Starts the poll. With app->cfg.emergency_stop the snapshot begins with a global pause and
 * the node sets the global toggle to pause in the database (actor "node:<id>") before it
 * trusts a loaded snapshot, retrying at the poll interval until that is recorded. */
int toggles_start(struct app *app, struct toggles **out) IE_MUST_CHECK;
/* Stops polling; the snapshot is freed once a load in flight has answered. Safe with NULL. */
void toggles_stop(struct toggles *t);
/* Loads the snapshot again now (a NOTIFY said it changed). Safe with NULL. */
void toggles_refresh(struct toggles *t);

/* True when a scope covering a call of tenant's action_type to connector is in mode; scope
 * (scope_len bytes, may be NULL) receives it as "<scope> <key>", e.g. "connector acme/crm".
 * Scopes are looked at in the order global, tenant, action_type, connector. */
bool toggles_find(const struct toggles *t, enum toggle_mode mode, const char *tenant,
                  const char *action_type, const char *connector, char *scope, size_t scope_len);

/* The i-th kill switch of the snapshot (those not in run mode, ordered by scope and key):
 * false past the end or with a NULL t. The strings live until the next snapshot load. */
bool toggles_at(const struct toggles *t, size_t i, const char **scope, const char **key,
                enum toggle_mode *mode);

/* Names and parsing of modes and scopes ("run", "pause", "kill"; -1 when unknown). */
const char *toggle_mode_name(enum toggle_mode m);
int toggle_mode_parse(const char *s);

#endif
