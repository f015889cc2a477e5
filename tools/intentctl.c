/* intentctl: the operator's command-line client for intentd's HTTP API (docs/api-contract.md).
 * This file holds the command line, the help and the dispatch; the commands live in
 * intentctl_cmd.c, intentctl_connector.c and intentctl_ops.c, the tables in intentctl_table.c,
 * the transport in intentctl_http.c.
 *
 * Exit codes (also in --help): 0 ok; 1 the server said no (4xx, or any intent of a batch
 * rejected, or a preview found the intent invalid); 2 usage error, unreadable FILE or key;
 * 3 cannot connect, timeout, 5xx or an unreadable answer; 4 `ledger verify` found tampering. */
#include "intentctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_URL "http://127.0.0.1:8080"
#define URL_MAX     2048

/* One long option: a value option stores into *value, a flag sets *flag. */
struct opt {
    const char *name; /* without the leading "--" */
    const char **value;
    bool *flag;
};

/* Global options, accepted before or after the command. */
struct globals {
    const char *url;
    const char *token;
    const char *timeout;
    bool json;
    bool help;
};

struct command {
    const char *name; /* one or two words */
    const char *opts; /* its own options, each between spaces */
    int (*run)(struct ctl *c, const struct ctl_cmdline *o);
    const char *usage; /* after "intentctl "; NULL hides the command from --help */
    const char *help;  /* shown by COMMAND --help */
};

static const struct command commands[] = {
    {"submit", " key key-file ", ctl_cmd_submit, "submit FILE [--key-file PATH | --key KEY]",
     "Sign FILE ('-' = stdin) with the tenant's approval key and submit it byte-exact. A file\n"
     "holding {\"intents\":[...]} goes to /v1/intents:batch, anything else to /v1/intents.\n"
     "The key comes from --key-file PATH (one trailing newline ignored), else the environment\n"
     "variable INTENTCTL_APPROVAL_KEY, else --key KEY (visible to other users in ps; warned).\n"
     "Submissions carry only the Intent-Signature header, never the bearer token.\n"
     "A batch exits 1 when any intent in it was rejected."},
    {"status", " tenant ", ctl_cmd_status, "status ID [--tenant T]",
     "Show one intent: state, explanation, step, attempts, last error, timestamps.\n"
     "--tenant T names the intent's tenant for a global admin token, which sees every tenant."},
    {"timeline", " tenant ", ctl_cmd_timeline, "timeline ID [--tenant T]",
     "Show an intent's history in ledger order: decision, approval, then each ledger row\n"
     "(SEQ TIME EVENT FROM\xe2\x86\x92TO ACTOR DETAIL, DETAIL being the payload)."},
    {"list", " status action-type account since until limit cursor all ", ctl_cmd_list,
     "list [--status S] [--action-type T] [--account A] [--since TS] [--until TS]\n"
     "       [--limit N] [--cursor C] [--all]",
     "List executions, newest first: ID TENANT TYPE STATE ATTEMPTS SUBMITTED. TS is RFC 3339\n"
     "(2026-11-21T10:00:00Z). --limit is per page (server default 50, max 500). --all follows\n"
     "the cursors to the end (with --json: one document holding every item); without it, a\n"
     "line on stderr gives the next --cursor."},
    {"cancel", " reason tenant ", ctl_cmd_cancel, "cancel ID --reason TEXT [--tenant T]",
     "Cancel an intent: PENDING becomes CANCELLED at once; EXECUTING stops at the next state\n"
     "boundary (both exit 0); a finished intent answers 409 (exit 1)."},
    {"compensate", " reason partial tenant ", ctl_cmd_compensate,
     "compensate ID --reason TEXT [--partial] [--tenant T]",
     "Undo a SUCCEEDED intent: its reversible steps are undone in reverse order, then it ends\n"
     "CANCELLED (FAILED with compensation_failed if an undo cannot finish; see status). Prints\n"
     "the steps and how each will be undone. When some steps cannot be undone (e.g. a posted\n"
     "Slack message) the server refuses with 409 naming them (exit 1) and nothing changes;\n"
     "--partial undoes the others and leaves those. Other 409s: the intent is not SUCCEEDED,\n"
     "or none of its steps can be undone. The ledger records the reason and who asked."},
    {"redrive", " reason tenant ", ctl_cmd_redrive, "redrive ID --reason TEXT [--tenant T]",
     "Run a FAILED intent again from the step that failed, with fresh attempts; the steps\n"
     "that succeeded are not repeated. Refused with 409 (exit 1) unless it is FAILED, before\n"
     "its deadline, and its completed steps were not already undone. The ledger records the\n"
     "reason and who asked."},
    {"signals", " after limit tenant ", ctl_cmd_signals,
     "signals [--after SEQ] [--limit N] [--tenant T]",
     "List outcome signals in ledger order: SEQ AT SIGNAL INTENT ACTION EXTERNAL-IDS REASON.\n"
     "SIGNAL is ACTION_EXECUTED, ACTION_FAILED, ACTION_EXPIRED, ACTION_CANCELLED or\n"
     "ACTION_COMPENSATED (undone by an operator). --after SEQ shows only later ones; --limit\n"
     "is 1 to 1000 (server default 100). When a page is full, a line on stderr gives the\n"
     "--after to continue with. --json prints the server's page, whose next_after is the seq\n"
     "to resume from. --tenant T is for a global admin token."},
    {"preview", " ", ctl_cmd_preview, "preview FILE",
     "Dry-run the intent in FILE ('-' = stdin; an ActionIntentV1 as it would be submitted,\n"
     "unsigned; operator token of its tenant). Prints each Task in workflow order: its\n"
     "operation and undo, what the connector's guards would decide now, and the exact\n"
     "requests it would send (credentials redacted), or why it would fail. Nothing is stored\n"
     "or sent. Exit 1 when the intent would be refused, with the reasons on stderr (with\n"
     "--json the server's document is printed too)."},
    {"ledger verify", " ", ctl_cmd_ledger_verify, "ledger verify",
     "Check the ledger's hash chain (admin token). Exit 4 when a row was altered, removed or\n"
     "reordered; the first bad row's seq and the reason are printed."},
    {"ledger export", " since until format out tenant limit ", ctl_cmd_ledger_export,
     "ledger export [--since TS] [--until TS] [--format jsonl|csv] [--out FILE]\n"
     "       [--tenant T] [--limit N]",
     "Export ledger rows in seq order, following every page, to stdout or FILE (written to\n"
     "FILE.part, then renamed, so FILE is complete or untouched; mode 0600). TS is RFC 3339;\n"
     "--since includes, --until excludes. jsonl (default): one object per row with every\n"
     "column, hashes in hex, created_at_us as hashed, so a whole-ledger export can be\n"
     "re-verified offline. csv: RFC 4180 with one header row, payload as compact JSON.\n"
     "A global admin token exports every row (--tenant T: one tenant's); any other token\n"
     "its own tenant's rows. --limit N rows per request (server default 10000, max 100000)."},
    {"tenant create", " ", ctl_cmd_tenant_create, "tenant create ID",
     "Create a tenant (admin token). Prints its approval key and its operator and oncall\n"
     "tokens: they are shown this once and cannot be read back."},
    {"token create", " role ", ctl_cmd_token_create,
     "token create TENANT --role operator|oncall|admin",
     "Create another token for TENANT (admin token). Prints the token, this once."},
    {"connector set",
     " base-url auth token-url client-id secrets-file settings limits tenant bearer-token "
     "client-secret refresh-token access-token secret password api-key ",
     ctl_cmd_connector_set,
     "connector set CONNECTOR --base-url URL [--auth none|bearer|oauth2]\n"
     "       [--token-url URL --client-id ID] [--secrets-file PATH] [--settings JSON|@FILE]\n"
     "       [--limits JSON|@FILE] [--tenant T]",
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
     "retry_budget, timeout_seconds. Prints the stored configuration, secrets redacted."},
    {"connector get", " tenant ", ctl_cmd_connector_get, "connector get [CONNECTOR] [--tenant T]",
     "Show one connector's configuration, or list them all, with secrets redacted and whether\n"
     "each one is set (operator token or higher)."},
    {"connector delete", " tenant ", ctl_cmd_connector_delete,
     "connector delete CONNECTOR [--tenant T]",
     "Remove a connector's configuration (oncall or admin token); the ledger records it."},
    {"toggle", " reason yes ", ctl_cmd_toggle,
     "toggle global|tenant|action_type|connector [KEY] run|pause|kill --reason TEXT [--yes]",
     "Flip a kill switch (oncall token for the own tenant's scopes, global admin for the\n"
     "global scope and keys whose tenant is *). KEY: tenant \"<tenant>\"; action_type and\n"
     "connector \"<tenant>/<name>\" or \"*/<name>\" for every tenant; global \"*\" (may be left\n"
     "out). pause: no new external call starts (held intents show held_by; deadlines still\n"
     "run); run: held intents resume, spread over the server's INTENTD_RESUME_WINDOW_MS;\n"
     "kill: covered intents that have not finished are cancelled, with compensation. On a\n"
     "terminal it asks for confirmation first (anything but y or yes: exit 1, nothing\n"
     "changed); without a terminal it refuses (exit 2) unless --yes, which skips the\n"
     "question. Flipping to the mode a switch already has changes nothing (exit 0)."},
    {"toggles", " tenant ", ctl_cmd_toggles, "toggles [--tenant T]",
     "List the kill switches that cover the token's tenant (a global admin sees all, or one\n"
     "tenant's with --tenant): SCOPE KEY MODE UPDATED BY REASON."},
    {"health", " ", ctl_cmd_health, "health",
     "Ask /healthz and /readyz (no token needed); exit 3 unless both answer 200."},
    {"sign", " key key-file t ", ctl_cmd_sign, NULL,
     "usage: intentctl sign [--key-file PATH | --key KEY] [--t UNIX] FILE\n"
     "Print the Intent-Signature header value for FILE, as submit would send it."},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: intentctl [--url URL] [--token TOKEN] [--json] [--timeout SECONDS] "
               "COMMAND\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (commands[i].usage)
            fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f,
            "\n"
            "options (before or after the command):\n"
            "  --url URL          server (env INTENTCTL_URL; default " DEFAULT_URL ")\n"
            "  --token TOKEN      bearer token (env INTENTCTL_TOKEN keeps it out of ps)\n"
            "  --json             print the server's JSON document instead of a table\n"
            "  --timeout SECONDS  per request (default %d; connecting %d)\n"
            "  -h, --help         this text; COMMAND --help for one command\n"
            "\n"
            "Errors go to stderr as 'intentctl: <status> <title>: <detail> (request <id>)' and\n"
            "one line per invalid field; stdout then stays empty, also with --json.\n"
            "\n"
            "exit codes:\n"
            "  0  ok\n"
            "  1  the server said no (4xx, an intent of a batch was rejected, or a preview\n"
            "     found the intent invalid)\n"
            "  2  usage error, unreadable file or key\n"
            "  3  cannot connect, timeout, 5xx, or an unreadable answer\n"
            "  4  ledger verify found tampering\n",
            CTL_DEFAULT_TIMEOUT, CTL_CONNECT_TIMEOUT);
}

static void command_help(const struct command *cmd)
{
    if (cmd->usage)
        printf("usage: intentctl %s\n\n", cmd->usage);
    printf("%s\n", cmd->help);
}

static const struct opt *find_opt(const struct opt *list, const char *name, size_t n)
{
    for (; list && list->name; list++)
        if (strlen(list->name) == n && strncmp(list->name, name, n) == 0)
            return list;
    return NULL;
}

/* Whether the command accepts its own option name (n bytes). */
static bool allows(const struct command *cmd, const char *name, size_t n)
{
    for (const char *p = cmd ? strstr(cmd->opts, " ") : NULL; p && p[1]; p = strchr(p + 1, ' '))
        if (strncmp(p + 1, name, n) == 0 && p[1 + n] == ' ')
            return true;
    return false;
}

/* Parses argv[0..argc) into options (the command's own from local, else global) and
 * positionals. Accepts "--name value", "--name=value", "--" (the rest is positional) and
 * "-" (a positional: stdin). Stops at the first positional when cmd is NULL (the global
 * options before the command word), returning its index in *stop. Returns 0 or
 * CTL_EXIT_USAGE after printing why. */
static int parse_args(const struct command *cmd, int argc, char **argv, const struct opt *local,
                      const struct opt *global, struct ctl_cmdline *o, bool *help, int *stop)
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
            *help = true;
            continue;
        }
        const char *name = s + 2, *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *op = NULL;
        if (s[1] == '-' && allows(cmd, name, n))
            op = find_opt(local, name, n);
        if (s[1] == '-' && !op)
            op = find_opt(global, name, n);
        if (!op) {
            fprintf(stderr, "intentctl: %s: unknown option %.*s\n", who, (int)(n + 2), s);
            return CTL_EXIT_USAGE;
        }
        if (op->flag && eq) {
            fprintf(stderr, "intentctl: %s: --%s takes no value\n", who, op->name);
            return CTL_EXIT_USAGE;
        } else if (op->flag) {
            *op->flag = true;
        } else if (eq) {
            *op->value = eq + 1;
        } else if (i + 1 < argc) {
            *op->value = argv[++i];
        } else {
            fprintf(stderr, "intentctl: %s: --%s needs a value\n", who, op->name);
            return CTL_EXIT_USAGE;
        }
    }
    if (stop)
        *stop = argc;
    return 0;
}

/* Matches argv against the command names; *used gets the number of words consumed. */
static const struct command *find_command(int argc, char **argv, int *used)
{
    for (size_t i = 0; i < N_COMMANDS && argc > 0; i++) {
        const char *n = commands[i].name, *sp = strchr(n, ' ');
        if (!sp && strcmp(argv[0], n) == 0) {
            *used = 1;
            return &commands[i];
        }
        if (sp && argc > 1 && strlen(argv[0]) == (size_t)(sp - n) &&
            strncmp(argv[0], n, (size_t)(sp - n)) == 0 && strcmp(argv[1], sp + 1) == 0) {
            *used = 2;
            return &commands[i];
        }
    }
    return NULL;
}

/* Fills c from the global options and the environment; url receives the base URL without
 * trailing slashes. Returns 0 or CTL_EXIT_USAGE. */
static int settle(struct ctl *c, const struct globals *g, char url[URL_MAX])
{
    const char *u = g->url ? g->url : getenv("INTENTCTL_URL");
    const char *tok = g->token ? g->token : getenv("INTENTCTL_TOKEN");
    char *end = NULL;
    size_t n;
    u = u && *u ? u : DEFAULT_URL;
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

int main(int argc, char **argv)
{
    struct globals g = {0};
    struct ctl_cmdline o = {0};
    struct ctl c = {0};
    char url[URL_MAX];
    const struct opt global[] = {
        {"url", &g.url, NULL},         {"token", &g.token, NULL}, {"json", NULL, &g.json},
        {"timeout", &g.timeout, NULL}, {NULL, NULL, NULL},
    };
    const struct opt local[] = {
        {"key", &o.key, NULL},
        {"key-file", &o.key_file, NULL},
        {"t", &o.t, NULL},
        {"tenant", &o.tenant, NULL},
        {"reason", &o.reason, NULL},
        {"role", &o.role, NULL},
        {"status", &o.status, NULL},
        {"action-type", &o.action_type, NULL},
        {"account", &o.account, NULL},
        {"since", &o.since, NULL},
        {"until", &o.until, NULL},
        {"limit", &o.limit, NULL},
        {"cursor", &o.cursor, NULL},
        {"all", NULL, &o.all},
        {"partial", NULL, &o.partial},
        {"yes", NULL, &o.yes},
        {"after", &o.after, NULL},
        {"format", &o.format, NULL},
        {"out", &o.out, NULL},
        {"base-url", &o.base_url, NULL},
        {"auth", &o.auth, NULL},
        {"token-url", &o.token_url, NULL},
        {"client-id", &o.client_id, NULL},
        {"secrets-file", &o.secrets_file, NULL},
        {"settings", &o.settings, NULL},
        {"limits", &o.limits, NULL},
        /* accepted only to refuse them with a reason (connector set) */
        {"bearer-token", &o.argv_secret, NULL},
        {"client-secret", &o.argv_secret, NULL},
        {"refresh-token", &o.argv_secret, NULL},
        {"access-token", &o.argv_secret, NULL},
        {"secret", &o.argv_secret, NULL},
        {"password", &o.argv_secret, NULL},
        {"api-key", &o.argv_secret, NULL},
        {NULL, NULL, NULL},
    };
    int first = 0, used = 0, rc;

    if (parse_args(NULL, argc - 1, argv + 1, NULL, global, &o, &g.help, &first))
        return CTL_EXIT_USAGE;
    first += 1; /* index in argv of the command word */
    if (first < argc && strcmp(argv[first], "help") == 0) {
        const struct command *hc = find_command(argc - first - 1, argv + first + 1, &used);
        if (hc)
            command_help(hc);
        else
            usage(stdout);
        return 0;
    }
    if (first == argc) {
        usage(g.help ? stdout : stderr);
        return g.help ? 0 : CTL_EXIT_USAGE;
    }
    const struct command *cmd = find_command(argc - first, argv + first, &used);
    if (!cmd) {
        fprintf(stderr, "intentctl: unknown command '%s' (see intentctl --help)\n", argv[first]);
        return CTL_EXIT_USAGE;
    }
    if (parse_args(cmd, argc - first - used, argv + first + used, local, global, &o, &g.help, NULL))
        return CTL_EXIT_USAGE;
    if (g.help) {
        command_help(cmd);
        return 0;
    }
    if ((rc = settle(&c, &g, url)))
        return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "intentctl: cannot initialise libcurl\n");
        return CTL_EXIT_UNAVAILABLE;
    }
    if (!(rc = ctl_http_init(&c)))
        rc = cmd->run(&c, &o);
    ctl_http_close(&c);
    curl_global_cleanup();
    if (fflush(stdout) != 0 && !rc) {
        fprintf(stderr, "intentctl: cannot write the output\n");
        rc = CTL_EXIT_UNAVAILABLE;
    }
    return rc;
}
