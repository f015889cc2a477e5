/* The action types: one ASL workflow per statemachines/<action_type>.asl.json, loaded and
 * checked at start-up, plus the dry run that validates an intent's parameters against every
 * Task its workflow would run. */
#ifndef INTENTD_WORKFLOWS_H
#define INTENTD_WORKFLOWS_H

#include <jansson.h>
#include <stddef.h>

#include "adapter.h"
#include "asl.h"
#include "errors.h"

/* A workflow validates its own input by routing it to a Fail state with this Error; the dry run
 * at submission reports the Fail state's Cause as a parameter problem (422). */
#define WORKFLOW_ERR_INVALID_PARAMETERS "Intentd.InvalidParameters"

struct workflows;

/* Loads every *.asl.json in dir. A file that does not parse, fails ASL validation, or names a
 * Resource or Compensate operation no adapter provides stops loading: returns IE_CONFIG with
 * err naming the file and the problem. Also IE_NOMEM, IE_IO (dir unreadable). */
int workflows_load(const char *dir, struct workflows **out, char *err, size_t errlen) IE_MUST_CHECK;
void workflows_free(struct workflows *w);

/* The workflow of an action type, or NULL. */
const struct asl_machine *workflows_get(const struct workflows *w, const char *action_type);
size_t workflows_count(const struct workflows *w);
const char *workflows_name_at(const struct workflows *w, size_t i);

/* Walks the workflow from its start with params as input, as if every Task succeeded, and
 * checks each Task's effective parameters with its adapter's validate(). Problems are
 * appended to errs with pointers under "/parameters" (mapped back through the Task's
 * Parameters or InputPath where that is a plain path). Returns the number of problems found
 * (0 = acceptable), or a negative IE_* code when the walk itself failed. */
int workflows_validate_params(const struct workflows *w, const char *action_type,
                              const json_t *params, struct adapter_errors *errs);

/* workflows_validate_params, calling visit for every Task the walk passes whose parameters
 * its adapter accepted (in the order the workflow would run them; step borrowed for the call). */
typedef void (*workflows_task_visit)(void *arg, const struct asl_step *step);
int workflows_walk(const struct workflows *w, const char *action_type, const json_t *params,
                   struct adapter_errors *errs, workflows_task_visit visit, void *arg);

#endif
