/* The parts of intentctl, a blocking command-line client of the API in docs/api-contract.md:
 * intentctl.c (the command and option tables, parsing, dispatch), intentctl_help.c (help,
 * the command listing and the bash completion, all generated from those tables),
 * intentctl_cmd.c (the commands), intentctl_watch.c (watch), intentctl_query.c (action-types,
 * signals push, metrics),
 * intentctl_connector.c (the connector configuration commands), intentctl_ops.c (compensate,
 * redrive, signals, preview), intentctl_tenant.c (tenant list, token list/revoke, key
 * list/rotate),
 * intentctl_table.c (human output) and intentctl_http.c (libcurl transport, request ids,
 * problem+json reporting). Signing is engine/signature.h's sig_sign, the server's own code. */
#ifndef INTENTCTL_H
#define INTENTCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"

/* Exit codes, also listed by `intentctl --help`. */
enum ctl_exit {
    CTL_EXIT_OK = 0,          /* the request did what was asked */
    CTL_EXIT_REFUSED = 1,     /* the server said no (4xx, or a batch item rejected) */
    CTL_EXIT_USAGE = 2,       /* bad command line, unreadable file or key */
    CTL_EXIT_UNAVAILABLE = 3, /* cannot connect, timeout, 5xx, or an answer we cannot read */
    CTL_EXIT_TAMPERED = 4,    /* `ledger verify` found the hash chain broken */
    /* `watch ID`: the intent ended in a state other than SUCCEEDED (SUCCEEDED is 0) */
    CTL_EXIT_FAILED = 5,
    CTL_EXIT_EXPIRED = 6,
    CTL_EXIT_CANCELLED = 7,
    CTL_EXIT_INTERRUPTED = 130, /* `watch ID` stopped by SIGINT/SIGTERM before an outcome */
};

/* Largest response body accepted from the server; past it the request fails with exit 3. */
#define CTL_RESPONSE_MAX ((size_t)64 * 1024 * 1024)
/* Largest file `submit` reads; the server refuses more than 1 MiB anyway (413). */
#define CTL_FILE_MAX ((size_t)64 * 1024 * 1024)
/* Largest approval key accepted from --key, --key-file or the environment. */
#define CTL_KEY_MAX 4096
/* Request ids: ours are "ictl-" + 24 hex; an echoed one is kept up to this many bytes. */
#define CTL_REQUEST_ID_MAX 128

#define CTL_CONNECT_TIMEOUT 10 /* seconds to establish a connection */
#define CTL_DEFAULT_TIMEOUT 60 /* seconds for a whole request, unless --timeout */

/* One client: the settings from the command line and one reusable curl handle. Owned by main;
 * ctl_http_close releases what ctl_http_init made. */
struct ctl {
    const char *url;   /* base URL, no trailing slash */
    const char *token; /* bearer token or NULL; never printed */
    bool json;         /* --json: print the server's JSON as-is */
    long timeout;      /* seconds for a whole request */
    CURL *curl;
};

/* One answer. ctl_request fills it; the caller releases it with ctl_response_free. */
struct ctl_response {
    long status;                         /* HTTP status code */
    struct buf body;                     /* at most CTL_RESPONSE_MAX bytes */
    char request_id[CTL_REQUEST_ID_MAX]; /* the server's X-Request-ID, else the one we sent */
    char content_type[64];               /* media type without parameters, lower case */
    char next_after_seq[24];             /* Intentd-Next-After-Seq (ledger export), else "" */
};

/* Prepares c->curl. Returns 0, or CTL_EXIT_UNAVAILABLE with a message on stderr. */
int ctl_http_init(struct ctl *c);
/* Releases c->curl. Safe on a ctl whose init failed. */
void ctl_http_close(struct ctl *c);

/* Sends one request to c->url + path (path starts with '/' and may carry a query string whose
 * values the caller escaped with ctl_escape) and waits for the answer. body (len bytes, may be
 * NULL for none) is sent byte-exact as application/json; method is "GET", "POST", "PUT" or
 * "DELETE". signature, when not NULL, goes out as the Intent-Signature header and the bearer
 * token is then not sent.
 * Every request carries a fresh X-Request-ID. Returns 0 when an HTTP answer arrived, whatever
 * its status (res then needs ctl_response_free); otherwise CTL_EXIT_UNAVAILABLE with a message
 * on stderr naming the request id (res is then already freed). */
int ctl_request(struct ctl *c, const char *method, const char *path, const char *signature,
                const void *body, size_t len, struct ctl_response *res);
void ctl_response_free(struct ctl_response *res);

/* For a 2xx answer returns 0. Otherwise prints the problem to stderr as
 * "intentctl: <status> <title>: <detail> (request <id>)" plus one line per errors[] entry, and
 * returns CTL_EXIT_REFUSED for 4xx or CTL_EXIT_UNAVAILABLE for anything else. */
int ctl_check(const struct ctl *c, const struct ctl_response *res);
/* Parses a 2xx answer's body as a JSON object. Returns a new reference, or NULL after
 * printing "unreadable answer" (the caller then exits CTL_EXIT_UNAVAILABLE). */
json_t *ctl_parse_object(const struct ctl_response *res);
/* Prints the body as-is to stdout, adding a newline when it lacks one (for --json). */
void ctl_print_raw(const struct ctl_response *res);
/* Prints the problem lines for a problem+json document already parsed (used for batch items);
 * prefix names the item. */
void ctl_print_errors(const char *prefix, json_t *errors);

/* Escapes s for use as one path segment or query value. Returns a string the caller frees
 * with curl_free, or NULL when out of memory. */
char *ctl_escape(const struct ctl *c, const char *s);
/* Appends name=<escaped value> for each value that is set, after '?' (the first) or '&'.
 * Returns 0, or CTL_EXIT_USAGE after saying the options are too long. */
int ctl_add_query(const struct ctl *c, struct buf *p, const char *const *names,
                  const char *const *vals, size_t n);

/* Overwrites len bytes at p in a way the compiler cannot drop. */
void ctl_cleanse(void *p, size_t len);

/* ---- human output (intentctl_table.c) ---- */

#define CTL_TABLE_MAXCOLS 8

/* Rows of cells printed with each column padded to its widest cell. Set ncols and zero the
 * rest; cells are owned strings, freed by ctl_table_print_free. */
struct ctl_table {
    size_t ncols; /* at most CTL_TABLE_MAXCOLS */
    size_t nrows;
    size_t alloc;
    char **cells; /* nrows * ncols */
};

/* A copy of s with control characters replaced (C0 and DEL by '?', newline and tab by a space,
 * C1 as UTF-8 by '?'), cut to max code points plus "…" when max is not 0. The caller frees it;
 * NULL when out of memory. */
char *ctl_clean(const char *s, size_t max);
/* The text of a JSON value for a cell: a string cleaned, null or absent "-", booleans "yes"/"no",
 * anything else compact JSON; max as for ctl_clean. The caller frees it; NULL when out of
 * memory. */
char *ctl_cell(json_t *v, size_t max);
/* Appends a row of t->ncols cells and takes ownership of them, also on failure, when it frees
 * them; a NULL cell (a failed allocation) fails the row. Returns 0 or CTL_EXIT_UNAVAILABLE
 * after a message. */
int ctl_table_add(struct ctl_table *t, char **row);
/* ctl_table_add when rc is 0; otherwise frees the row's cells and returns rc, so that a loop
 * that failed part way still releases every row it builds. */
int ctl_table_add_unless(struct ctl_table *t, char **row, int rc);
/* The items of an array, each made text by part (a new JSON string, NULL when out of memory),
 * joined by single spaces into a cell as ctl_cell makes it ("-" for none). NULL when out of
 * memory. */
char *ctl_join_cell(json_t *items, json_t *(*part)(json_t *item));
/* Appends copies of t->ncols names as a row. Same result as ctl_table_add. */
int ctl_table_header(struct ctl_table *t, const char *const *names);
/* Appends "label  <ctl_cell(v)>" to a two-column table. Same result as ctl_table_add. */
int ctl_kv_row(struct ctl_table *t, const char *label, json_t *v);
/* Prints the rows to stdout, two spaces between columns, the last column unpadded, and frees
 * them; the table is empty and reusable afterwards. */
void ctl_table_print_free(struct ctl_table *t);

/* ---- commands (intentctl_cmd.c) ---- */

#define CTL_MAX_POSITIONAL 4

/* What the command line said; strings point into argv or the environment. */
struct ctl_cmdline {
    const char *pos[CTL_MAX_POSITIONAL];
    int npos;
    const char *key, *key_file, *t; /* submit, sign */
    const char *tenant;             /* status, timeline, cancel, compensate, redrive, signals */
    const char *reason;             /* cancel, compensate, redrive */
    bool partial;                   /* compensate */
    const char *after;              /* signals (with limit) */
    const char *role;               /* token create */
    const char *overlap;            /* key rotate */
    const char *status, *action_type, *account, *since, *until, *limit, *cursor; /* list */
    bool all;                                                                    /* list */
    /* connector set; argv_secret is set by any secret-bearing flag, which is refused */
    const char *base_url, *auth, *token_url, *client_id, *secrets_file, *settings, *limits;
    const char *argv_secret;
    const char *format, *out;                 /* ledger export */
    bool yes;                                 /* toggle: no confirmation prompt */
    const char *interval, *retry_for, *count; /* watch */
    bool until_empty;                         /* watch */
};

/* The global options, accepted before or after the command. */
struct ctl_globals {
    const char *url, *token, *timeout;
    bool json, help;
};

/* One long option. Its value lands at offset off of struct ctl_cmdline (a command's own
 * options) or struct ctl_globals (the global ones): a const char *, or a bool for a flag. */
struct ctl_opt {
    const char *name; /* without the leading "--" */
    size_t off;
    bool flag;
    const char *meta;     /* the value's placeholder in help ("TS"); NULL for a flag */
    const char *help;     /* one line; NULL: accepted (only to be refused) but never shown */
    const char *complete; /* bash completion of the value: words, "@file", or NULL for none */
};

/* One command. help, usage and the bash completion are all generated from this table and the
 * option tables, so a command added here has them without more work. */
struct ctl_command {
    const char *name; /* one to three words */
    const char *opts; /* its own options, each between spaces */
    int (*run)(struct ctl *c, const struct ctl_cmdline *o);
    const char *usage;   /* after "intentctl " */
    const char *help;    /* the description shown by COMMAND --help */
    const char *example; /* lines after "intentctl "; shown by COMMAND --help */
    bool hidden;         /* left out of --help's list and the completion */
    bool offline;        /* needs no server: runs without the URL or token being checked */
};

extern const struct ctl_command ctl_commands[];
extern const size_t ctl_ncommands;
extern const struct ctl_opt ctl_local_opts[];  /* ends with a NULL name */
extern const struct ctl_opt ctl_global_opts[]; /* ends with a NULL name */

/* intentctl_help.c */
#define CTL_DEFAULT_URL "http://127.0.0.1:8080"
/* The command whose words start argv (the longest match); *used gets the words consumed. */
const struct ctl_command *ctl_find_command(int argc, char **argv, int *used);
/* The whole usage with every visible command, the global options and the exit codes. */
void ctl_usage(FILE *f);
/* COMMAND --help: usage, description, options, example; on stdout. */
void ctl_command_help(const struct ctl_command *cmd);
/* How many words at the start of argv name a group: a proper prefix of some command's name
 * ("ledger", "signals push"); 0 when none. */
int ctl_group_words(int argc, char **argv);
/* Lists the commands of the group named by the first words of argv on f. */
void ctl_group_help(int words, char **argv, FILE *f);
int ctl_cmd_help(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_commands(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_completion_bash(struct ctl *c, const struct ctl_cmdline *o);

/* Helpers the command files share (intentctl_cmd.c). */

/* Reads a whole file ('-' = stdin) into b, up to b->max bytes. Returns 0 or CTL_EXIT_USAGE after
 * a message. */
int ctl_read_file(const char *path, struct buf *b);
/* Sends one request with the bearer token and parses the 2xx answer, printing any problem.
 * On 0, *ans is the document and res needs ctl_response_free; otherwise both are released. */
int ctl_call(struct ctl *c, const char *method, const char *path, const char *body,
             struct ctl_response *res, json_t **ans);
/* Builds "/v1/intents/<id><suffix>[?tenant_id=<tenant>]" into p. Returns 0 or CTL_EXIT_USAGE. */
int ctl_intent_path(struct ctl *c, const char *id, const char *suffix, const char *tenant,
                    struct buf *p);
/* Builds a JSON body {"<k>":"<v>"} into *out (the caller frees it). Returns 0 or
 * CTL_EXIT_USAGE (v not UTF-8). */
int ctl_small_body(const char *k, const char *v, char **out);
/* The timeline's column names, and one event's cells under them (each an owned string, NULL
 * when out of memory). */
extern const char *const ctl_timeline_head[6];
void ctl_timeline_row(json_t *e, char *row[6]);
/* Builds the executions path (/v1/executions, or /v1/accounts/<a>/executions with --account)
 * with o's filters and cursor (may be NULL) as query parameters. Returns 0 or CTL_EXIT_USAGE. */
int ctl_list_path(struct ctl *c, const struct ctl_cmdline *o, const char *cursor, struct buf *p);
/* Prints an intent's steps[] as a table: STEP OPERATION EXTERNAL-ID UNDO (intentctl_ops.c).
 * Returns 0 or CTL_EXIT_UNAVAILABLE. */
int ctl_print_steps(json_t *steps);

/* Each command checks its positionals (CTL_EXIT_USAGE with a message when wrong), runs, prints
 * its result to stdout (or the server's JSON with c->json) and returns an exit code. */
int ctl_cmd_submit(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_sign(struct ctl *c, const struct ctl_cmdline *o); /* hidden; prints the header */
int ctl_cmd_status(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_ledger_export(struct ctl *c, const struct ctl_cmdline *o); /* intentctl_ledger.c */
int ctl_cmd_timeline(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_list(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_cancel(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_ledger_verify(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_tenant_create(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_token_create(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_health(struct ctl *c, const struct ctl_cmdline *o);
/* intentctl_ops.c */
int ctl_cmd_compensate(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_redrive(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_signals(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_preview(struct ctl *c, const struct ctl_cmdline *o);
/* intentctl_connector.c */
int ctl_cmd_connector_set(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_connector_get(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_connector_delete(struct ctl *c, const struct ctl_cmdline *o);
/* intentctl_tenant.c */
int ctl_cmd_tenant_list(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_token_list(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_token_revoke(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_key_list(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_key_rotate(struct ctl *c, const struct ctl_cmdline *o);
/* intentctl_watch.c */
int ctl_cmd_watch(struct ctl *c, const struct ctl_cmdline *o);
/* intentctl_query.c */
int ctl_cmd_action_types(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_push_get(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_push_set(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_push_delete(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_metrics(struct ctl *c, const struct ctl_cmdline *o);
/* intentctl_toggle.c */
int ctl_cmd_toggle(struct ctl *c, const struct ctl_cmdline *o);
int ctl_cmd_toggles(struct ctl *c, const struct ctl_cmdline *o);

#endif
