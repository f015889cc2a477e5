/* intentctl: the operator's command-line client for intentd's HTTP API (docs/api-contract.md).
 * This file holds the command table, the option tables, the command-line parser and the
 * dispatch. Help, the command listing and the bash completion are generated from the tables
 * (intentctl_help.c); the commands live in the other intentctl_*.c files.
 *
 * Exit codes (listed by --help, README.md): 0 ok; 1 the server said no (4xx, or any intent of
 * a batch rejected, or a preview found the intent invalid); 2 usage error, unreadable FILE or
 * key; 3 cannot connect, timeout, 5xx or an unreadable answer; 4 `ledger verify` found
 * tampering; 5, 6, 7 `watch ID` saw the intent end FAILED, EXPIRED, CANCELLED; 130 `watch ID`
 * interrupted. */
#include "intentctl.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URL_MAX 2048

const struct ctl_command ctl_commands[] = {
    {.name = "submit",
     .opts = " key key-file ",
     .run = ctl_cmd_submit,
     .usage = "submit FILE [--key-file PATH | --key KEY]",
     .help =
         "Sign FILE ('-' = stdin) with the tenant's approval key and submit it byte-exact. A file\n"
         "holding {\"intents\":[...]} goes to /v1/intents:batch, anything else to /v1/intents.\n"
         "The key comes from --key-file PATH (one trailing newline ignored), else the environment\n"
         "variable INTENTCTL_APPROVAL_KEY, else --key KEY (visible to other users in ps; warned).\n"
         "Submissions carry only the Intent-Signature header, never the bearer token.\n"
         "A batch exits 1 when any intent in it was rejected.",
     .example = "submit --key-file /run/secrets/acme.key intent.json"},
    {.name = "status",
     .opts = " tenant ",
     .run = ctl_cmd_status,
     .usage = "status ID [--tenant T]",
     .help =
         "Show one intent: state, explanation, step, attempts, last error, timestamps.\n"
         "--tenant T names the intent's tenant for a global admin token, which sees every tenant.",
     .example = "status ai_7f3c9d2e"},
    {.name = "timeline",
     .opts = " tenant ",
     .run = ctl_cmd_timeline,
     .usage = "timeline ID [--tenant T]",
     .help = "Show an intent's history in ledger order: decision, approval, then each ledger row\n"
             "(SEQ TIME EVENT FROM\xe2\x86\x92TO ACTOR DETAIL, DETAIL being the payload).",
     .example = "timeline ai_7f3c9d2e"},
    {.name = "list",
     .opts = " status action-type account since until limit cursor all ",
     .run = ctl_cmd_list,
     .usage = "list [--status S] [--action-type T] [--account A] [--since TS] [--until TS]\n"
              "       [--limit N] [--cursor C] [--all]",
     .help =
         "List executions, newest first: ID TENANT TYPE STATE ATTEMPTS SUBMITTED. TS is RFC 3339\n"
         "(2026-11-21T10:00:00Z). --limit is per page (server default 50, max 500). --all follows\n"
         "the cursors to the end (with --json: one document holding every item); without it, a\n"
         "line on stderr gives the next --cursor.",
     .example = "list --status FAILED --since 2026-11-21T00:00:00Z --all"},
    {.name = "cancel",
     .opts = " reason tenant ",
     .run = ctl_cmd_cancel,
     .usage = "cancel ID --reason TEXT [--tenant T]",
     .help =
         "Cancel an intent: PENDING becomes CANCELLED at once; EXECUTING stops at the next state\n"
         "boundary (both exit 0); a finished intent answers 409 (exit 1).",
     .example = "cancel ai_7f3c9d2e --reason \"customer withdrew\""},
    {.name = "compensate",
     .opts = " reason partial tenant ",
     .run = ctl_cmd_compensate,
     .usage = "compensate ID --reason TEXT [--partial] [--tenant T]",
     .help =
         "Undo a SUCCEEDED intent: its reversible steps are undone in reverse order, then it ends\n"
         "CANCELLED (FAILED with compensation_failed if an undo cannot finish; see status). "
         "Prints\n"
         "the steps and how each will be undone. When some steps cannot be undone (e.g. a posted\n"
         "Slack message) the server refuses with 409 naming them (exit 1) and nothing changes;\n"
         "--partial undoes the others and leaves those. Other 409s: the intent is not SUCCEEDED,\n"
         "or none of its steps can be undone. The ledger records the reason and who asked.",
     .example = "compensate ai_7f3c9d2e --reason \"wrong customer\" --partial"},
    {.name = "redrive",
     .opts = " reason tenant ",
     .run = ctl_cmd_redrive,
     .usage = "redrive ID --reason TEXT [--tenant T]",
     .help =
         "Run a FAILED intent again from the step that failed, with fresh attempts; the steps\n"
         "that succeeded are not repeated. Refused with 409 (exit 1) unless it is FAILED, before\n"
         "its deadline, and its completed steps were not already undone. The ledger records the\n"
         "reason and who asked.",
     .example = "redrive ai_7f3c9d2e --reason \"CRM token renewed\""},
    {.name = "signals",
     .opts = " after limit tenant ",
     .run = ctl_cmd_signals,
     .usage = "signals [--after SEQ] [--limit N] [--tenant T]",
     .help =
         "List outcome signals in ledger order: SEQ AT SIGNAL INTENT ACTION EXTERNAL-IDS REASON.\n"
         "SIGNAL is ACTION_EXECUTED, ACTION_FAILED, ACTION_EXPIRED, ACTION_CANCELLED or\n"
         "ACTION_COMPENSATED (undone by an operator). --after SEQ shows only later ones; --limit\n"
         "is 1 to 1000 (server default 100). When a page is full, a line on stderr gives the\n"
         "--after to continue with. --json prints the server's page, whose next_after is the seq\n"
         "to resume from. --tenant T is for a global admin token.",
     .example = "signals --after 41 --limit 100"},
    {.name = "signals push get",
     .opts = " tenant ",
     .run = ctl_cmd_push_get,
     .usage = "signals push get [--tenant T]",
     .help =
         "Show where the tenant's outcome signals are pushed (oncall or admin token; the URL may\n"
         "hold a secret): URL, the last seq acknowledged, failed attempts of the current batch,\n"
         "the last error and the next attempt. Exit 1 (404) when no push is configured.",
     .example = "signals push get"},
    {.name = "signals push set",
     .opts = " tenant ",
     .run = ctl_cmd_push_set,
     .usage = "signals push set URL [--tenant T]",
     .help = "Push the tenant's outcome signals to URL (http or https; oncall or admin token): "
             "batches\n"
             "of up to 100 in ledger order, signed like submissions, resent until a 2xx answers.\n"
             "Pushing starts after the ledger's current end; changing the URL keeps the position.",
     .example = "signals push set https://upstream.example.com/hooks/intentd"},
    {.name = "signals push delete",
     .opts = " tenant ",
     .run = ctl_cmd_push_delete,
     .usage = "signals push delete [--tenant T]",
     .help =
         "Stop pushing the tenant's outcome signals (oncall or admin token). Exit 1 (404) when no\n"
         "push is configured.",
     .example = "signals push delete"},
    {.name = "watch",
     .opts = " interval retry-for tenant status action-type account until-empty count ",
     .run = ctl_cmd_watch,
     .usage =
         "watch ID [--interval DUR] [--retry-for DUR] [--tenant T]\n"
         "       watch [--status S] [--action-type T] [--account A] [--until-empty] [--count N]\n"
         "             [--interval DUR] [--retry-for DUR]",
     .help =
         "With ID: follow one intent, printing each new timeline entry as it happens (as in\n"
         "timeline; --json: one event object per line), until the intent is SUCCEEDED (exit 0),\n"
         "FAILED (5), EXPIRED (6) or CANCELLED (7); interrupted before that, exit 130.\n"
         "Without ID: follow the intents the filters select (as in list), printing a line\n"
         "whenever one appears or changes state (--json: the intent as one JSON object per\n"
         "line); one that leaves a --status filter is shown in its new state. Runs until\n"
         "interrupted (exit 0), the list is empty (--until-empty) or N lines were printed\n"
         "(--count N). Each poll reads at most 10000 intents.\n"
         "The server is asked every --interval (default 1s; 100ms to 1h). A refused connection,\n"
         "timeout, 429 or 5xx is retried with growing pauses, each said on stderr, for up to\n"
         "--retry-for (default 60s) without a good answer; then exit 3. A 4xx ends it (exit 1).",
     .example = "watch ai_7f3c9d2e --interval 500ms && echo done\n"
                "watch --status EXECUTING --action-type sales.book_meeting --json"},
    {.name = "preview",
     .opts = " ",
     .run = ctl_cmd_preview,
     .usage = "preview FILE",
     .help =
         "Dry-run the intent in FILE ('-' = stdin; an ActionIntentV1 as it would be submitted,\n"
         "unsigned; operator token of its tenant). Prints each Task in workflow order: its\n"
         "operation and undo, what the connector's guards would decide now, and the exact\n"
         "requests it would send (credentials redacted), or why it would fail. Nothing is stored\n"
         "or sent. Exit 1 when the intent would be refused, with the reasons on stderr (with\n"
         "--json the server's document is printed too).",
     .example = "preview intent.json"},
    {.name = "ledger verify",
     .opts = " ",
     .run = ctl_cmd_ledger_verify,
     .usage = "ledger verify",
     .help =
         "Check the ledger's hash chain (admin token). Exit 4 when a row was altered, removed or\n"
         "reordered; the first bad row's seq and the reason are printed.",
     .example = "ledger verify"},
    {.name = "ledger export",
     .opts = " since until format out tenant limit ",
     .run = ctl_cmd_ledger_export,
     .usage = "ledger export [--since TS] [--until TS] [--format jsonl|csv] [--out FILE]\n"
              "       [--tenant T] [--limit N]",
     .help =
         "Export ledger rows in seq order, following every page, to stdout or FILE (written to\n"
         "FILE.part, then renamed, so FILE is complete or untouched; mode 0600). TS is RFC 3339;\n"
         "--since includes, --until excludes. jsonl (default): one object per row with every\n"
         "column, hashes in hex, created_at_us as hashed, so a whole-ledger export can be\n"
         "re-verified offline. csv: RFC 4180 with one header row, payload as compact JSON.\n"
         "A global admin token exports every row (--tenant T: one tenant's); any other token\n"
         "its own tenant's rows. --limit N rows per request (server default 10000, max 100000).",
     .example = "ledger export --since 2026-11-01T00:00:00Z --format csv --out nov.csv"},
    {.name = "tenant create",
     .opts = " ",
     .run = ctl_cmd_tenant_create,
     .usage = "tenant create ID",
     .help = "Create a tenant (admin token). Prints its approval key and its operator and oncall\n"
             "tokens: they are shown this once and cannot be read back.",
     .example = "tenant create acme"},
    {.name = "tenant list",
     .opts = " after ",
     .run = ctl_cmd_tenant_list,
     .usage = "tenant list [--after ID]",
     .help = "List tenants (admin token; a tenant's admin token sees its own): TENANT CREATED\n"
             "KEY-ID TOKENS (tokens not revoked), by id, 1000 a page; when a page is full a line\n"
             "on stderr gives the --after to continue with. Never a secret.",
     .example = "tenant list --after acme"},
    {.name = "token create",
     .opts = " role tenant ",
     .run = ctl_cmd_token_create,
     .usage = "token create --tenant T --role operator|oncall|admin",
     .help = "Create another token for tenant T (admin token; T may also be given as the one\n"
             "argument). Prints the token, this once, and its TOKEN-ID.",
     .example = "token create --tenant acme --role oncall"},
    {.name = "token list",
     .opts = " tenant ",
     .run = ctl_cmd_token_list,
     .usage = "token list --tenant T",
     .help = "List tenant T's tokens (admin token): TOKEN-ID ROLE CREATED REVOKED. Never a secret.",
     .example = "token list --tenant acme"},
    {.name = "token revoke",
     .opts = " tenant ",
     .run = ctl_cmd_token_revoke,
     .usage = "token revoke --tenant T TOKEN_ID",
     .help = "Revoke a token of tenant T (admin token): refused (401) at once on every node.\n"
             "Revoking a revoked token changes nothing (exit 0). INTENTD_ADMIN_TOKEN is not a\n"
             "listed token and cannot be revoked here.",
     .example = "token revoke --tenant acme tok_3f9a0c1d2e4b5a69"},
    {.name = "key rotate",
     .opts = " tenant overlap ",
     .run = ctl_cmd_key_rotate,
     .usage = "key rotate --tenant T [--overlap 1d|3600]",
     .help =
         "Give tenant T a new approval key (admin token) and print it, this once. The previous\n"
         "key still verifies for --overlap (seconds, or with s, m, h, d; default 1d, at most\n"
         "30d, 0 = refused at once on every node). Rotating during an overlap drops the oldest\n"
         "key at once: only the current and the previous key are kept. --json for scripts.",
     .example = "key rotate --tenant acme --overlap 2h --json"},
    {.name = "key list",
     .opts = " tenant ",
     .run = ctl_cmd_key_list,
     .usage = "key list --tenant T",
     .help = "List tenant T's approval keys (admin token): KEY-ID STATE (current, previous or\n"
             "expired) CREATED EXPIRES. Never the key itself.",
     .example = "key list --tenant acme"},
    {.name = "connector set",
     .opts = " base-url auth token-url client-id secrets-file settings limits tenant bearer-token "
             "client-secret refresh-token access-token secret password api-key ",
     .run = ctl_cmd_connector_set,
     .usage =
         "connector set CONNECTOR --base-url URL [--auth none|bearer|oauth2]\n"
         "       [--token-url URL --client-id ID] [--secrets-file PATH] [--settings JSON|@FILE]\n"
         "       [--limits JSON|@FILE] [--tenant T]",
     .help =
         "Configure CONNECTOR (crm, calendar, email, notify, webhook) for the token's tenant\n"
         "(oncall or admin token; a global admin names the tenant with --tenant). The whole\n"
         "configuration is replaced. Secrets are read as a JSON object from --secrets-file PATH,\n"
         "else from stdin, never from the command line: {\"token\":\"...\"} for bearer,\n"
         "{\"client_secret\":\"...\",\"refresh_token\":\"...\"} for oauth2 (none needs none).\n"
         "notify's base URL is the Slack webhook URL, itself a secret: instead of --base-url it\n"
         "goes in the secrets as \"base_url\" (with --auth none: {\"base_url\":\"https://...\"}),\n"
         "and is shown as scheme://host/[redacted]. --settings and --limits take JSON or @FILE;\n"
         "limits: "
         "concurrency, rate_per_second, burst, breaker_failures, breaker_open_seconds,\n"
         "retry_budget, timeout_seconds. Prints the stored configuration, secrets redacted.",
     .example = "connector set calendar --base-url https://www.googleapis.com/calendar/v3 \\\n"
                "    --auth oauth2 --token-url https://oauth2.googleapis.com/token \\\n"
                "    --client-id 1234.apps.googleusercontent.com --secrets-file google.json"},
    {.name = "connector get",
     .opts = " tenant ",
     .run = ctl_cmd_connector_get,
     .usage = "connector get [CONNECTOR] [--tenant T]",
     .help =
         "Show one connector's configuration, or list them all, with secrets redacted and whether\n"
         "each one is set (operator token or higher).",
     .example = "connector get calendar"},
    {.name = "connector delete",
     .opts = " tenant ",
     .run = ctl_cmd_connector_delete,
     .usage = "connector delete CONNECTOR [--tenant T]",
     .help = "Remove a connector's configuration (oncall or admin token); the ledger records it.",
     .example = "connector delete webhook"},
    {.name = "toggle",
     .opts = " reason yes ",
     .run = ctl_cmd_toggle,
     .usage =
         "toggle global|tenant|action_type|connector [KEY] run|pause|kill --reason TEXT [--yes]",
     .help =
         "Flip a kill switch (oncall token for the own tenant's scopes, global admin for the\n"
         "global scope and keys whose tenant is *). KEY: tenant \"<tenant>\"; action_type and\n"
         "connector \"<tenant>/<name>\" or \"*/<name>\" for every tenant; global \"*\" (may be "
         "left\n"
         "out). pause: no new external call starts (held intents show held_by; deadlines still\n"
         "run); run: held intents resume, spread over the server's INTENTD_RESUME_WINDOW_MS;\n"
         "kill: covered intents that have not finished are cancelled, with compensation. On a\n"
         "terminal it asks for confirmation first (anything but y or yes: exit 1, nothing\n"
         "changed); without a terminal it refuses (exit 2) unless --yes, which skips the\n"
         "question. Flipping to the mode a switch already has changes nothing (exit 0).",
     .example = "toggle connector acme/crm pause --reason \"HubSpot incident 4411\""},
    {.name = "toggles",
     .opts = " tenant ",
     .run = ctl_cmd_toggles,
     .usage = "toggles [--tenant T]",
     .help =
         "List the kill switches that cover the token's tenant (a global admin sees all, or one\n"
         "tenant's with --tenant): SCOPE KEY MODE UPDATED BY REASON.",
     .example = "toggles"},
    {.name = "health",
     .opts = " ",
     .run = ctl_cmd_health,
     .usage = "health",
     .help = "Ask /healthz and /readyz (no token needed); exit 3 unless both answer 200.",
     .example = "health"},
    {.name = "action-types",
     .opts = " ",
     .run = ctl_cmd_action_types,
     .usage = "action-types",
     .help =
         "List the action types the server has loaded (operator token or higher): TYPE START\n"
         "TASKS (each Task's operation, with its undo after a slash) REVERSIBLE (every Task can\n"
         "be undone). --json for the whole workflows with their retry policies.",
     .example = "action-types"},
    {.name = "metrics",
     .opts = " ",
     .run = ctl_cmd_metrics,
     .usage = "metrics",
     .help = "Print the node's Prometheus metrics (GET /metrics, no token needed) as-is.",
     .example = "metrics | grep intentd_intents"},
    {.name = "help",
     .opts = " ",
     .run = ctl_cmd_help,
     .usage = "help [COMMAND]",
     .help = "Show the usage of every command, or COMMAND's help (the same as COMMAND --help).",
     .example = "help ledger export",
     .offline = true},
    {.name = "commands",
     .opts = " ",
     .run = ctl_cmd_commands,
     .usage = "commands",
     .help = "List every command, one per line, for scripts.",
     .example = "commands",
     .offline = true},
    {.name = "completion bash",
     .opts = " ",
     .run = ctl_cmd_completion_bash,
     .usage = "completion bash",
     .help = "Print a bash completion script for intentctl (commands, subcommands, options and\n"
             "their values). Installed as share/bash-completion/completions/intentctl; to use it\n"
             "without installing, source it from ~/.bashrc.",
     .example = "completion bash > ~/.local/share/bash-completion/completions/intentctl",
     .offline = true},
    {.name = "sign",
     .opts = " key key-file t ",
     .run = ctl_cmd_sign,
     .usage = "sign [--key-file PATH | --key KEY] [--t UNIX] FILE",
     .help = "Print the Intent-Signature header value for FILE, as submit would send it.",
     .example = "sign --key-file acme.key intent.json",
     .hidden = true},
};
const size_t ctl_ncommands = sizeof ctl_commands / sizeof ctl_commands[0];

#define STATES "PENDING EXECUTING COMPENSATING SUCCEEDED FAILED EXPIRED CANCELLED"
#define L(f)   offsetof(struct ctl_cmdline, f)
#define G(f)   offsetof(struct ctl_globals, f)

const struct ctl_opt ctl_local_opts[] = {
    {"key-file", L(key_file), false, "PATH", "file holding the tenant's approval key", "@file"},
    {"key", L(key), false, "KEY", "the approval key itself (shows in ps; prefer --key-file)", NULL},
    {"t", L(t), false, "UNIX", "signing time in Unix seconds (default: now)", NULL},
    {"tenant", L(tenant), false, "T", "the tenant, for a global admin token", NULL},
    {"reason", L(reason), false, "TEXT", "why; recorded in the ledger with who asked", NULL},
    {"role", L(role), false, "ROLE", "operator, oncall or admin", "operator oncall admin"},
    {"status", L(status), false, "S", "only intents in state S", STATES},
    {"action-type", L(action_type), false, "T", "only intents of action type T", NULL},
    {"account", L(account), false, "A", "only account A's intents", NULL},
    {"since", L(since), false, "TS", "from this RFC 3339 time, included", NULL},
    {"until", L(until), false, "TS", "up to this RFC 3339 time, excluded", NULL},
    {"limit", L(limit), false, "N", "items per request", NULL},
    {"cursor", L(cursor), false, "C", "continue from the page a previous list named", NULL},
    {"all", L(all), true, NULL, "follow every page to the end", NULL},
    {"partial", L(partial), true, NULL, "undo what can be undone and leave the rest", NULL},
    {"yes", L(yes), true, NULL, "do not ask for confirmation (needed without a terminal)", NULL},
    {"after", L(after), false, "X", "continue after this signal seq or tenant id", NULL},
    {"overlap", L(overlap), false, "DUR", "how long the previous key still verifies (default 1d)",
     NULL},
    {"format", L(format), false, "FMT", "jsonl (default) or csv", "jsonl csv"},
    {"out", L(out), false, "FILE", "write to FILE (complete or untouched) instead of stdout",
     "@file"},
    {"base-url", L(base_url), false, "URL", "the vendor API's base URL", NULL},
    {"auth", L(auth), false, "TYPE", "none, bearer or oauth2", "none bearer oauth2"},
    {"token-url", L(token_url), false, "URL", "the OAuth2 token endpoint", NULL},
    {"client-id", L(client_id), false, "ID", "the OAuth2 client id", NULL},
    {"secrets-file", L(secrets_file), false, "PATH", "JSON object of secrets (else stdin)",
     "@file"},
    {"settings", L(settings), false, "JSON", "connector settings, JSON or @FILE", NULL},
    {"limits", L(limits), false, "JSON", "guard limits, JSON or @FILE", NULL},
    {"interval", L(interval), false, "DUR", "time between polls: 500ms, 2s, 1m (default 1s)", NULL},
    {"retry-for", L(retry_for), false, "DUR",
     "keep retrying a failing server this long (default 60s)", NULL},
    {"until-empty", L(until_empty), true, NULL, "stop once no intent matches", NULL},
    {"count", L(count), false, "N", "stop after N lines", NULL},
    /* accepted only to refuse them with a reason (connector set): secrets never go in argv */
    {"bearer-token", L(argv_secret), false, "X", NULL, NULL},
    {"client-secret", L(argv_secret), false, "X", NULL, NULL},
    {"refresh-token", L(argv_secret), false, "X", NULL, NULL},
    {"access-token", L(argv_secret), false, "X", NULL, NULL},
    {"secret", L(argv_secret), false, "X", NULL, NULL},
    {"password", L(argv_secret), false, "X", NULL, NULL},
    {"api-key", L(argv_secret), false, "X", NULL, NULL},
    {NULL, 0, false, NULL, NULL, NULL},
};

const struct ctl_opt ctl_global_opts[] = {
    {"url", G(url), false, "URL", "server (env INTENTCTL_URL; default " CTL_DEFAULT_URL ")", NULL},
    {"token", G(token), false, "TOKEN", "bearer token (env INTENTCTL_TOKEN keeps it out of ps)",
     NULL},
    {"json", G(json), true, NULL, "print the server's JSON instead of a table", NULL},
    {"timeout", G(timeout), false, "SECONDS", "per request", NULL},
    {NULL, 0, false, NULL, NULL, NULL},
};

static const struct ctl_opt *find_opt(const struct ctl_opt *list, const char *name, size_t n)
{
    for (; list->name; list++)
        if (strlen(list->name) == n && strncmp(list->name, name, n) == 0)
            return list;
    return NULL;
}

/* Whether the command accepts its own option name (n bytes). */
static bool allows(const struct ctl_command *cmd, const char *name, size_t n)
{
    for (const char *p = cmd ? strstr(cmd->opts, " ") : NULL; p && p[1]; p = strchr(p + 1, ' '))
        if (strncmp(p + 1, name, n) == 0 && p[1 + n] == ' ')
            return true;
    return false;
}

/* Parses argv[0..argc) into options (the command's own into o, the global ones into g) and
 * positionals. Accepts "--name value", "--name=value", "--" (the rest is positional) and
 * "-" (a positional: stdin). Stops at the first positional when cmd is NULL (the global
 * options before the command word), returning its index in *stop. Returns 0 or
 * CTL_EXIT_USAGE after printing why. */
static int parse_args(const struct ctl_command *cmd, int argc, char **argv, struct ctl_cmdline *o,
                      struct ctl_globals *g, int *stop)
{
    const char *who = cmd ? cmd->name : "intentctl";
    bool rest = false;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (rest || s[0] != '-' || strcmp(s, "-") == 0) {
            if (!cmd) {
                *stop = i;
                return 0;
            }
            if (o->npos == CTL_MAX_POSITIONAL) {
                fprintf(stderr, "intentctl: %s: too many arguments\n", who);
                return CTL_EXIT_USAGE;
            }
            o->pos[o->npos++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            rest = true;
            continue;
        }
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            g->help = true;
            continue;
        }
        const char *name = s + 2, *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        const struct ctl_opt *op = NULL;
        char *base = (char *)o;
        if (s[1] == '-' && allows(cmd, name, n))
            op = find_opt(ctl_local_opts, name, n);
        if (s[1] == '-' && !op && (op = find_opt(ctl_global_opts, name, n)))
            base = (char *)g;
        if (!op) {
            fprintf(stderr, "intentctl: %s: unknown option %.*s (see intentctl %s --help)\n", who,
                    (int)(n + 2), s, cmd ? cmd->name : "");
            return CTL_EXIT_USAGE;
        }
        if (op->flag && eq) {
            fprintf(stderr, "intentctl: %s: --%s takes no value\n", who, op->name);
            return CTL_EXIT_USAGE;
        } else if (op->flag) {
            *(bool *)(void *)(base + op->off) = true;
        } else if (eq) {
            *(const char **)(void *)(base + op->off) = eq + 1;
        } else if (i + 1 < argc) {
            *(const char **)(void *)(base + op->off) = argv[++i];
        } else {
            fprintf(stderr, "intentctl: %s: --%s needs a value\n", who, op->name);
            return CTL_EXIT_USAGE;
        }
    }
    if (stop)
        *stop = argc;
    return 0;
}

/* Fills c from the global options and the environment; url receives the base URL without
 * trailing slashes. Returns 0 or CTL_EXIT_USAGE. */
static int settle(struct ctl *c, const struct ctl_globals *g, char url[URL_MAX])
{
    const char *u = g->url ? g->url : getenv("INTENTCTL_URL");
    const char *tok = g->token ? g->token : getenv("INTENTCTL_TOKEN");
    char *end = NULL;
    size_t n;
    u = u && *u ? u : CTL_DEFAULT_URL;
    c->token = tok && *tok ? tok : NULL;
    c->json = g->json;
    c->timeout = g->timeout ? strtol(g->timeout, &end, 10) : CTL_DEFAULT_TIMEOUT;
    if (g->timeout && (!*g->timeout || *end || c->timeout < 1 || c->timeout > 86400)) {
        fprintf(stderr, "intentctl: --timeout takes 1 to 86400 seconds\n");
        return CTL_EXIT_USAGE;
    }
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
        fprintf(stderr, "intentctl: the URL must start with http:// or https://\n");
        return CTL_EXIT_USAGE;
    }
    if (c->token && (strlen(c->token) > CTL_KEY_MAX || strpbrk(c->token, "\r\n"))) {
        fprintf(stderr, "intentctl: the token is malformed\n");
        return CTL_EXIT_USAGE;
    }
    for (n = strlen(u); n > 0 && u[n - 1] == '/'; n--)
        ;
    if (n >= URL_MAX) {
        fprintf(stderr, "intentctl: the URL is too long\n");
        return CTL_EXIT_USAGE;
    }
    memcpy(url, u, n);
    url[n] = '\0';
    c->url = url;
    return 0;
}

/* Runs cmd: offline commands directly, the others with a client. */
static int run(const struct ctl_command *cmd, const struct ctl_globals *g,
               const struct ctl_cmdline *o)
{
    struct ctl c = {0};
    char url[URL_MAX];
    int rc;
    if (cmd->offline)
        return cmd->run(&c, o);
    if ((rc = settle(&c, g, url)))
        return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "intentctl: cannot initialise libcurl\n");
        return CTL_EXIT_UNAVAILABLE;
    }
    if (!(rc = ctl_http_init(&c)))
        rc = cmd->run(&c, o);
    ctl_http_close(&c);
    curl_global_cleanup();
    return rc;
}

int main(int argc, char **argv)
{
    struct ctl_globals g = {0};
    struct ctl_cmdline o = {0};
    int first = 0, used = 0, rc;

    if (parse_args(NULL, argc - 1, argv + 1, &o, &g, &first))
        return CTL_EXIT_USAGE;
    first += 1; /* index in argv of the command word */
    if (first == argc) {
        ctl_usage(g.help ? stdout : stderr);
        return g.help ? 0 : CTL_EXIT_USAGE;
    }
    const struct ctl_command *cmd = ctl_find_command(argc - first, argv + first, &used);
    int group = ctl_group_words(argc - first, argv + first);
    if (group > (cmd ? used : 0)) {
        /* "ledger" or "signals push": a group, not a whole command; list what it holds */
        bool help = g.help || (first + group < argc && (!strcmp(argv[first + group], "--help") ||
                                                        !strcmp(argv[first + group], "-h")));
        if (!help)
            fprintf(stderr, "intentctl: a subcommand is needed\n");
        ctl_group_help(group, argv + first, help ? stdout : stderr);
        return help ? 0 : CTL_EXIT_USAGE;
    }
    if (!cmd) {
        fprintf(stderr, "intentctl: unknown command '%s' (see intentctl --help)\n", argv[first]);
        return CTL_EXIT_USAGE;
    }
    if (parse_args(cmd, argc - first - used, argv + first + used, &o, &g, NULL))
        return CTL_EXIT_USAGE;
    if (g.help) {
        ctl_command_help(cmd);
        return fflush(stdout) ? CTL_EXIT_UNAVAILABLE : 0;
    }
    rc = run(cmd, &g, &o);
    if (fflush(stdout) != 0 && !rc) {
        fprintf(stderr, "intentctl: cannot write the output\n");
        rc = CTL_EXIT_UNAVAILABLE;
    }
    return rc;
}
