/* Amazon States Language workflows: loading and validating an action type's state machine
 * (asl.c), and interpreting it one boundary at a time (asl_run.c). Everything here is pure:
 * no I/O except reading the file in asl_load_file, no clocks, no globals; randomness is passed
 * in. The engine persists what these functions return and calls them again after each Task,
 * Wait or restart.
 *
 * Supported subset: states Task, Pass, Choice, Wait, Succeed, Fail; fields StartAt, States,
 * Comment, Version, TimeoutSeconds (top level and Task), Next/End, Retry, Catch, InputPath,
 * Parameters ("key.$" paths, recursively; "$$" context paths and intrinsic functions are
 * rejected at load), ResultPath, OutputPath, Pass Result, Choice rules with every comparator
 * family and their *Path variants, And/Or/Not and Default, Wait Seconds/Timestamp/SecondsPath/
 * TimestampPath, Fail Error/Cause.
 *
 * intentd extensions and conventions:
 *  - Task "Resource" is "arn:aws:intentd:::<connector>.<operation>" (connector and operation
 *    are [a-z0-9_]+). The "aws" partition is there because the standard validator
 *    (npm asl-validator) accepts only aws, aws-cn and aws-us-gov partitions.
 *  - Task "Compensate": "<operation>" names the operation of the SAME connector that undoes the
 *    Task ([a-z0-9_]+). It is the only non-ASL field; tests/asl_validate.sh strips it before
 *    running the standard validator.
 *  - Retry/Catch may match only these error names: States.ALL, States.Timeout,
 *    States.TaskFailed, Connector.Transient, Connector.Permanent, Connector.RateLimited,
 *    Connector.Unauthorized. States.ALL must be alone in its ErrorEquals and in the last
 *    Retrier / Catcher.
 *  - Errors in the workflow's own data at run time (a path that does not match, a Wait value of
 *    the wrong type, a Choice with no match, a Pass/Choice loop) end the execution with the
 *    error "States.Runtime" (or "States.NoChoiceMatched"), which no Retry or Catch sees — as in
 *    AWS, where States.ALL does not match States.Runtime. */
#ifndef INTENTD_ASL_H
#define INTENTD_ASL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "errors.h"

/* Limits enforced at load. */
#define ASL_MAX_FILE_BYTES  (1024 * 1024)
#define ASL_MAX_STATES      1000
#define ASL_MAX_NAME_LEN    80   /* state names, as in AWS */
#define ASL_MAX_RULE_DEPTH  32   /* nesting of And/Or/Not */
#define ASL_MAX_HOPS        1000 /* Pass/Choice states passed through by one asl_advance */
#define ASL_RESOURCE_PREFIX "arn:aws:intentd:::"
#define ASL_ERR_RUNTIME     "States.Runtime"
#define ASL_ERR_NO_CHOICE   "States.NoChoiceMatched"

struct asl_machine;

enum asl_state_type { ASL_TASK, ASL_PASS, ASL_CHOICE, ASL_WAIT, ASL_SUCCEED, ASL_FAIL };

/* One Retry entry with its defaults applied. */
struct asl_retrier {
    const char **errors; /* ErrorEquals */
    size_t nerrors;
    int interval_seconds;  /* default 1 */
    double backoff_rate;   /* default 2.0, >= 1 */
    int max_attempts;      /* retries after the first attempt; default 3; 0 = never retry */
    int max_delay_seconds; /* 0 = no cap */
    bool jitter_full;      /* JitterStrategy FULL (default NONE) */
};

/* One Catch entry. result_path NULL and result_discard false means the default "$". */
struct asl_catcher {
    const char **errors;
    size_t nerrors;
    const char *next;
    const char *result_path;
    bool result_discard; /* "ResultPath": null: the output is the state's input */
};

enum asl_rule_op {
    ASL_OP_AND,
    ASL_OP_OR,
    ASL_OP_NOT,
    ASL_OP_CMP, /* String/Numeric/Boolean/Timestamp comparisons and their *Path forms */
    ASL_OP_STRING_MATCHES,
    ASL_OP_IS_PRESENT,
    ASL_OP_IS_NULL,
    ASL_OP_IS_STRING,
    ASL_OP_IS_NUMERIC,
    ASL_OP_IS_BOOLEAN,
    ASL_OP_IS_TIMESTAMP,
};
enum asl_cmp_type { ASL_CMP_STRING, ASL_CMP_NUMERIC, ASL_CMP_BOOLEAN, ASL_CMP_TIMESTAMP };
enum asl_cmp_rel { ASL_REL_EQ, ASL_REL_LT, ASL_REL_GT, ASL_REL_LE, ASL_REL_GE };

/* One Choice rule (a tree for And/Or/Not). */
struct asl_rule {
    enum asl_rule_op op;
    enum asl_cmp_type type;    /* ASL_OP_CMP */
    enum asl_cmp_rel rel;      /* ASL_OP_CMP */
    const char *variable;      /* all but And/Or/Not */
    json_t *operand;           /* literal operand (borrowed from the machine's document) */
    const char *operand_path;  /* the *Path variants: operand is looked up in the input */
    struct asl_rule *children; /* And/Or: nchildren; Not: 1 */
    size_t nchildren;
    const char *next; /* top-level rules only */
};

enum asl_wait_kind {
    ASL_WAIT_SECONDS,
    ASL_WAIT_TIMESTAMP,
    ASL_WAIT_SECONDS_PATH,
    ASL_WAIT_TIMESTAMP_PATH
};

/* A loaded state. Read-only to callers; everything in it is owned by the machine and lives as
 * long as it. Fields not used by a type are zero/NULL. */
struct asl_state {
    const char *name;
    enum asl_state_type type;
    const char *comment;
    const char *next; /* NULL when end */
    bool end;
    const char *input_path; /* NULL = "$" unless input_discard */
    bool input_discard;     /* "InputPath": null: the effective input is {} */
    const char *output_path;
    bool output_discard;
    const char *result_path;
    bool result_discard;
    json_t *parameters; /* Task/Pass payload template, or NULL */
    json_t *result;     /* Pass "Result", or NULL */
    /* Task */
    const char *resource;   /* the full Resource string */
    const char *connector;  /* "<connector>" of the Resource */
    const char *operation;  /* "<connector>.<operation>" */
    const char *compensate; /* "<connector>.<operation>" of the undo, or NULL */
    int timeout_seconds;    /* 0 = the engine's default */
    struct asl_retrier *retry;
    size_t nretry;
    struct asl_catcher *catchers;
    size_t ncatch;
    /* Choice */
    struct asl_rule *choices;
    size_t nchoices;
    const char *default_next;
    /* Wait */
    enum asl_wait_kind wait_kind;
    long long wait_seconds; /* ASL_WAIT_SECONDS */
    double wait_timestamp;  /* ASL_WAIT_TIMESTAMP: Unix epoch seconds */
    const char *wait_path;  /* the *_PATH kinds */
    /* Fail */
    const char *error;
    const char *cause;
};

/* ---- loading (asl.c) ---- */

/* Reads, parses and validates the workflow in the file at path (at most ASL_MAX_FILE_BYTES).
 * The machine is named after the file's base name without ".asl.json" (or ".json").
 * Returns 0 and *out (free with asl_free), or IE_IO (unreadable), IE_TOOBIG, IE_PARSE (not
 * JSON, or not a valid workflow), IE_NOMEM; err then holds a one-line message that names the
 * file, the state and what is wrong. Blocking file I/O: call it at start-up only. */
int asl_load_file(const char *path, struct asl_machine **out, char *err,
                  size_t errlen) IE_MUST_CHECK;

/* Validates doc as a workflow called name. The machine keeps its own deep copy of doc (the
 * caller still owns doc). Returns 0 and *out, IE_PARSE with a message in err, or IE_NOMEM. */
int asl_load_json(const char *name, json_t *doc, struct asl_machine **out, char *err,
                  size_t errlen) IE_MUST_CHECK;

/* Frees a machine and everything borrowed from it. NULL is ignored. */
void asl_free(struct asl_machine *m);

/* The machine's name (e.g. "internal.create_task"). */
const char *asl_name(const struct asl_machine *m);
/* The StartAt state's name. */
const char *asl_start_at(const struct asl_machine *m);
/* Top-level Comment, or NULL. */
const char *asl_comment(const struct asl_machine *m);
/* Top-level TimeoutSeconds, 0 when absent. */
int asl_timeout_seconds(const struct asl_machine *m);
/* Number of states and the i-th one (in file order; i < asl_state_count). */
size_t asl_state_count(const struct asl_machine *m);
const struct asl_state *asl_state_at(const struct asl_machine *m, size_t i);
/* The state called name, or NULL. */
const struct asl_state *asl_state_by_name(const struct asl_machine *m, const char *name);
/* Task states in file order: their number and the i-th one (for GET /v1/action-types). */
size_t asl_task_count(const struct asl_machine *m);
const struct asl_state *asl_task_at(const struct asl_machine *m, size_t i);
/* The Task's "<connector>.<operation>", or NULL for a state that is not a Task. */
const char *asl_resource_of(const struct asl_state *st);

/* Parses an RFC 3339 date-time ("2026-11-21T10:00:00Z", "...T10:00:00.5+02:00") into Unix
 * epoch seconds. Returns 0 or IE_PARSE. Pure; no locale or time zone database involved. */
int asl_parse_timestamp(const char *s, double *epoch) IE_MUST_CHECK;

/* ---- interpretation (asl_run.c) ---- */

enum asl_step_kind { ASL_STEP_TASK, ASL_STEP_WAIT, ASL_STEP_SUCCEED, ASL_STEP_FAIL };

/* Where asl_advance stopped. Pointers to const char are borrowed from the machine; json_t
 * pointers and error/cause are owned by the step: release them with asl_step_clear. */
struct asl_step {
    enum asl_step_kind kind;
    const char *state; /* the state reached (for FAIL from a runtime error: where it happened) */
    json_t *input;     /* that state's raw input */
    /* TASK */
    json_t *parameters;     /* the effective parameters (after InputPath and Parameters) */
    const char *resource;   /* "<connector>.<operation>" */
    const char *compensate; /* "<connector>.<operation>" or NULL */
    int timeout_seconds;    /* 0 = the engine's default */
    /* WAIT: either a delay from now or an absolute time */
    bool wait_absolute;
    long long wait_seconds; /* !wait_absolute */
    double wait_until;      /* wait_absolute: Unix epoch seconds */
    /* SUCCEED */
    json_t *output;
    /* FAIL */
    char *error; /* may be NULL for a Fail state without Error */
    char *cause;
};

/* Releases what a step owns and zeroes it. Safe on a zeroed or already cleared step. */
void asl_step_clear(struct asl_step *s);

/* Runs the machine from state_name, whose raw input is input (borrowed), through Pass and
 * Choice states until it reaches a Task, Wait, Succeed or Fail state, or a Pass with End
 * (reported as SUCCEED). At most ASL_MAX_HOPS states are passed. Runtime errors in the
 * workflow's data are reported as kind FAIL with error ASL_ERR_RUNTIME (or ASL_ERR_NO_CHOICE)
 * and a cause that says what failed; they are not errors of this function. Returns 0 and *out
 * (clear it with asl_step_clear), IE_NOTFOUND (no state called state_name) or IE_NOMEM, with a
 * message in err; *out is zeroed on error. */
int asl_advance(const struct asl_machine *m, const char *state_name, json_t *input,
                struct asl_step *out, char *err, size_t errlen) IE_MUST_CHECK;

enum asl_next_kind { ASL_NEXT_STATE, ASL_NEXT_END, ASL_NEXT_FAIL };

/* What follows a finished Task or Wait. output is owned (asl_next_clear). */
struct asl_next {
    enum asl_next_kind kind;
    const char *state; /* NEXT_STATE: the next state's name (borrowed from the machine) */
    json_t *output;    /* NEXT_STATE: the next state's raw input; END: the final output */
    char *error;       /* NEXT_FAIL: ASL_ERR_RUNTIME */
    char *cause;
};

void asl_next_clear(struct asl_next *n);

/* The Task state_name, whose raw input was state_input (borrowed), returned result (borrowed):
 * applies ResultPath to a copy of state_input, then OutputPath, and names what comes next.
 * A ResultPath or OutputPath that cannot be applied gives NEXT_FAIL with ASL_ERR_RUNTIME.
 * Returns 0 and *out, IE_NOTFOUND (no such state), IE_INVAL (not a Task) or IE_NOMEM. */
int asl_task_succeeded(const struct asl_machine *m, const char *state_name, json_t *state_input,
                       json_t *result, struct asl_next *out) IE_MUST_CHECK;

enum asl_decision_kind { ASL_DECIDE_RETRY, ASL_DECIDE_CATCH, ASL_DECIDE_FAIL };

/* What to do about a failed Task attempt. output is owned (asl_decision_clear). */
struct asl_error_decision {
    enum asl_decision_kind kind;
    double delay_seconds;  /* RETRY: wait this long before the next attempt */
    int max_delay_seconds; /* RETRY: the Retrier's MaxDelaySeconds (0: none), which also caps a
                              vendor's Retry-After */
    int retrier;           /* RETRY: index of the Retrier used; -1 otherwise */
    int catcher;           /* CATCH: index of the Catcher used; -1 otherwise */
    const char *state;     /* CATCH: the next state (borrowed from the machine) */
    json_t *output;        /* CATCH: the next state's raw input */
};

void asl_decision_clear(struct asl_error_decision *d);

/* Decides about a failed attempt of Task state_name. attempts_done counts the attempts of this
 * state made so far, including the one that just failed (>= 1). The first Retrier whose
 * ErrorEquals matches error_name decides (States.ALL matches every name; States.TaskFailed
 * every name but States.Timeout; others match exactly): if attempts_done - 1 < its MaxAttempts
 * the answer is RETRY after IntervalSeconds * BackoffRate^(attempts_done - 1) seconds, capped
 * by MaxDelaySeconds, and multiplied by rand01 (in [0,1]) under JitterStrategy FULL. This is a
 * simplification of AWS, where each Retrier counts its own attempts: here every Retrier sees
 * the state's total. Otherwise (no Retrier matched or it is exhausted) the first matching
 * Catcher gives CATCH with output = a copy of state_input with {"Error": error_name,
 * "Cause": cause} at its ResultPath (default "$"; null keeps the input unchanged); if none
 * matches, or the ResultPath cannot be applied, FAIL. Errors ASL_ERR_RUNTIME and
 * ASL_ERR_NO_CHOICE never match. cause may be NULL (then ""). Returns 0 and *out, IE_NOTFOUND,
 * IE_INVAL (not a Task, attempts_done < 1, error_name NULL) or IE_NOMEM. */
int asl_task_failed(const struct asl_machine *m, const char *state_name, json_t *state_input,
                    const char *error_name, const char *cause, int attempts_done, double rand01,
                    struct asl_error_decision *out) IE_MUST_CHECK;

/* After the Wait state_name (raw input state_input, borrowed) has fired: applies InputPath and
 * OutputPath and names the next state (or END with the final output). Returns 0 and *out,
 * IE_NOTFOUND, IE_INVAL (not a Wait) or IE_NOMEM. */
int asl_wait_next(const struct asl_machine *m, const char *state_name, json_t *state_input,
                  struct asl_next *out) IE_MUST_CHECK;

#endif
