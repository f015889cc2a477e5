/* intentctl's help, command listing and bash completion, all generated from the command and
 * option tables in intentctl.c, so that a command added there has them without more work and
 * they cannot disagree with what the parser accepts. */
#include <stdio.h>
#include <string.h>

#include "intentctl.h"

/* Bytes of the first j words of name (j = 0: 0; j past the last word: the whole name). */
static size_t words_len(const char *name, int j)
{
    size_t end = 0;
    for (int k = 0; k < j; k++) {
        const char *sp = strchr(name + end + (k ? 1 : 0), ' ');
        if (!sp)
            return strlen(name);
        end = (size_t)(sp - name);
    }
    return end;
}

static int nwords(const char *name)
{
    int n = 1;
    for (; *name; name++)
        n += *name == ' ';
    return n;
}

/* Whether argv[0..words) spelled with single spaces is the first bytes of name followed by a
 * space (a proper prefix, word by word) or, with whole set, is all of name. */
static bool starts(const char *name, int words, char **argv, bool whole)
{
    const char *p = name;
    for (int k = 0; k < words; k++) {
        size_t n = strlen(argv[k]);
        if (strncmp(p, argv[k], n) != 0 || (p[n] != ' ' && p[n] != '\0'))
            return false;
        if (p[n] == '\0')
            return whole && k + 1 == words;
        p += n + 1;
    }
    return !whole;
}

const struct ctl_command *ctl_find_command(int argc, char **argv, int *used)
{
    const struct ctl_command *best = NULL;
    for (size_t i = 0; i < ctl_ncommands; i++) {
        int n = nwords(ctl_commands[i].name);
        if (n <= argc && (!best || n > *used) && starts(ctl_commands[i].name, n, argv, true)) {
            best = &ctl_commands[i];
            *used = n;
        }
    }
    return best;
}

int ctl_group_words(int argc, char **argv)
{
    int best = 0;
    for (size_t i = 0; i < ctl_ncommands; i++)
        for (int k = best + 1; k < nwords(ctl_commands[i].name) && k <= argc; k++)
            if (argv[k - 1][0] != '-' && starts(ctl_commands[i].name, k, argv, false))
                best = k;
    return best;
}

/* Prints a usage text (possibly several lines) indented by two spaces. */
static void put_usage(FILE *f, const char *usage)
{
    fprintf(f, "  %s\n", usage);
}

void ctl_group_help(int words, char **argv, FILE *f)
{
    fprintf(f, "usage: intentctl");
    for (int k = 0; k < words; k++)
        fprintf(f, " %s", argv[k]);
    fprintf(f, " SUBCOMMAND\n\nsubcommands:\n");
    for (size_t i = 0; i < ctl_ncommands; i++)
        if (!ctl_commands[i].hidden && starts(ctl_commands[i].name, words, argv, false))
            put_usage(f, ctl_commands[i].usage);
    fprintf(f, "\nintentctl");
    for (int k = 0; k < words; k++)
        fprintf(f, " %s", argv[k]);
    fprintf(f, " SUBCOMMAND --help for one of them.\n");
}

/* "--name META" into out (at most n bytes). */
static void opt_label(const struct ctl_opt *op, char *out, size_t n)
{
    snprintf(out, n, "--%s%s%s", op->name, op->meta ? " " : "", op->meta ? op->meta : "");
}

static void put_opt(FILE *f, const struct ctl_opt *op)
{
    char label[64];
    opt_label(op, label, sizeof label);
    fprintf(f, "  %-22s %s\n", label, op->help);
}

void ctl_usage(FILE *f)
{
    fprintf(f, "usage: intentctl [--url URL] [--token TOKEN] [--json] [--timeout SECONDS] "
               "COMMAND\n\ncommands:\n");
    for (size_t i = 0; i < ctl_ncommands; i++)
        if (!ctl_commands[i].hidden)
            put_usage(f, ctl_commands[i].usage);
    fprintf(f, "\noptions (before or after the command):\n");
    for (const struct ctl_opt *op = ctl_global_opts; op->name; op++)
        put_opt(f, op);
    fprintf(f,
            "  %-22s per request: %d s by default, connecting %d s\n"
            "  %-22s this text; COMMAND --help (or help COMMAND) for one command\n"
            "\n"
            "Errors go to stderr as 'intentctl: <status> <title>: <detail> (request <id>)' and\n"
            "one line per invalid field; stdout then stays empty, also with --json.\n"
            "\n"
            "exit codes:\n"
            "  0    ok (watch ID: the intent SUCCEEDED)\n"
            "  1    the server said no (4xx, an intent of a batch was rejected, a preview found\n"
            "       the intent invalid, or a toggle was not confirmed)\n"
            "  2    usage error, unreadable file or key\n"
            "  3    cannot connect, timeout, 5xx, or an unreadable answer (watch: after\n"
            "       --retry-for of them)\n"
            "  4    ledger verify found tampering\n"
            "  5    watch ID: the intent FAILED\n"
            "  6    watch ID: the intent EXPIRED\n"
            "  7    watch ID: the intent was CANCELLED\n"
            "  130  watch ID: interrupted before the intent finished\n",
            "(--timeout)", CTL_DEFAULT_TIMEOUT, CTL_CONNECT_TIMEOUT, "-h, --help");
}

static const struct ctl_opt *local_opt(const char *name, size_t n)
{
    for (const struct ctl_opt *op = ctl_local_opts; op->name; op++)
        if (strlen(op->name) == n && strncmp(op->name, name, n) == 0)
            return op;
    return NULL;
}

/* Calls fn for each shown option of cmd, in the order of its opts string. */
static void each_opt(const struct ctl_command *cmd, void (*fn)(FILE *, const struct ctl_opt *),
                     FILE *f)
{
    for (const char *p = cmd->opts; *p;) {
        p += strspn(p, " ");
        size_t n = strcspn(p, " ");
        const struct ctl_opt *op = n ? local_opt(p, n) : NULL;
        if (op && op->help)
            fn(f, op);
        p += n;
    }
}

void ctl_command_help(const struct ctl_command *cmd)
{
    printf("usage: intentctl %s\n\n%s\n\noptions:\n", cmd->usage, cmd->help);
    each_opt(cmd, put_opt, stdout);
    printf("  %-22s this text\n", "-h, --help");
    printf("global options: --url URL, --token TOKEN, --json, --timeout SECONDS (intentctl "
           "--help)\n");
    if (cmd->example) {
        printf("\nexample:\n");
        for (const char *p = cmd->example; *p;) {
            size_t n = strcspn(p, "\n");
            /* lines that start with a space continue the previous one */
            printf("  %s%.*s\n", *p == ' ' ? "" : "intentctl ", (int)n, p);
            p += n + (p[n] == '\n');
        }
    }
}

int ctl_cmd_help(struct ctl *c, const struct ctl_cmdline *o)
{
    (void)c;
    char *words[CTL_MAX_POSITIONAL];
    int used = 0;
    for (int k = 0; k < o->npos; k++)
        words[k] = (char *)o->pos[k];
    if (o->npos == 0) {
        ctl_usage(stdout);
        return 0;
    }
    const struct ctl_command *cmd = ctl_find_command(o->npos, words, &used);
    int group = ctl_group_words(o->npos, words);
    if (group > (cmd ? used : 0)) {
        ctl_group_help(group, words, stdout);
        return 0;
    }
    if (!cmd || used != o->npos) {
        fprintf(stderr, "intentctl: help: unknown command '%s' (see intentctl --help)\n",
                o->pos[0]);
        return CTL_EXIT_USAGE;
    }
    ctl_command_help(cmd);
    return 0;
}

int ctl_cmd_commands(struct ctl *c, const struct ctl_cmdline *o)
{
    (void)c;
    if (o->npos) {
        fprintf(stderr, "intentctl: commands takes no arguments\n");
        return CTL_EXIT_USAGE;
    }
    for (size_t i = 0; i < ctl_ncommands; i++)
        printf("%s\n", ctl_commands[i].name);
    return 0;
}

/* ---- bash completion ---- */

/* Whether commands i and m are visible and share their first j words, both having more. */
static bool same_prefix(size_t i, size_t m, int j)
{
    const char *a = ctl_commands[i].name, *b = ctl_commands[m].name;
    size_t la = words_len(a, j);
    return !ctl_commands[m].hidden && nwords(b) > j && words_len(b, j) == la &&
           strncmp(a, b, la) == 0;
}

/* Word j of command i: *len bytes at the returned pointer. */
static const char *word_at(size_t i, int j, size_t *len)
{
    const char *name = ctl_commands[i].name;
    size_t start = words_len(name, j) + (j ? 1 : 0);
    *len = words_len(name, j + 1) - start;
    return name + start;
}

/* Prints the case arm "PREFIX") echo "NEXT-WORDS";; for every group prefix, each once. */
static void emit_subcommands(void)
{
    for (size_t i = 0; i < ctl_ncommands; i++) {
        for (int j = 0; j < nwords(ctl_commands[i].name) && !ctl_commands[i].hidden; j++) {
            bool seen = false;
            for (size_t m = 0; m < i && !seen; m++)
                seen = same_prefix(i, m, j);
            if (seen)
                continue;
            const char *name = ctl_commands[i].name;
            printf("    \"%.*s\"%s) echo \"", (int)words_len(name, j), name,
                   j ? "" : " | \"help\"");
            const char *sep = "";
            for (size_t m = i; m < ctl_ncommands; m++) {
                size_t len, len2;
                const char *w = same_prefix(i, m, j) ? word_at(m, j, &len) : NULL;
                for (size_t k = i; w && k < m; k++)
                    if (same_prefix(i, k, j) && word_at(k, j, &len2) && len2 == len &&
                        !strncmp(word_at(k, j, &len2), w, len))
                        w = NULL;
                if (w) {
                    printf("%s%.*s", sep, (int)len, w);
                    sep = " ";
                }
            }
            printf("\" ;;\n");
        }
    }
}

static void put_name(FILE *f, const struct ctl_opt *op)
{
    fprintf(f, " --%s", op->name);
}

int ctl_cmd_completion_bash(struct ctl *c, const struct ctl_cmdline *o)
{
    (void)c;
    if (o->npos) {
        fprintf(stderr, "intentctl: completion bash takes no arguments\n");
        return CTL_EXIT_USAGE;
    }
    printf("# bash completion for intentctl; generated by `intentctl completion bash` from its\n"
           "# command table: regenerate it rather than editing it.\n\n"
           "# the words that may follow the command words in $1\n"
           "_intentctl_sub()\n{\n    case \"$1\" in\n");
    emit_subcommands();
    printf("    esac\n}\n\n# the options of the command named $1\n"
           "_intentctl_opts()\n{\n    case \"$1\" in\n");
    for (size_t i = 0; i < ctl_ncommands; i++) {
        if (ctl_commands[i].hidden)
            continue;
        printf("    \"%s\") echo \"", ctl_commands[i].name);
        each_opt(&ctl_commands[i], put_name, stdout);
        printf("\" ;;\n");
    }
    printf("    esac\n}\n\n# the values of option $1: words, or @file for file names\n"
           "_intentctl_values()\n{\n    case \"$1\" in\n");
    for (const struct ctl_opt *op = ctl_local_opts; op->name; op++)
        if (op->complete && op->help)
            printf("    --%s) echo \"%s\" ;;\n", op->name, op->complete);
    printf("    esac\n}\n\n_intentctl()\n{\n    local valued=\"");
    for (const struct ctl_opt *op = ctl_global_opts; op->name; op++)
        if (!op->flag)
            printf(" --%s", op->name);
    for (const struct ctl_opt *op = ctl_local_opts; op->name; op++)
        if (!op->flag)
            printf(" --%s", op->name);
    printf(" \"\n    local globals=\"");
    for (const struct ctl_opt *op = ctl_global_opts; op->name; op++)
        printf(" --%s", op->name);
    printf(
        " --help\"\n"
        "    local cur=${COMP_WORDS[COMP_CWORD]} prev=\"\" cmd=\"\" w i v\n"
        "    COMPREPLY=()\n"
        "    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
        "    # the command words typed so far, skipping options and their values\n"
        "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
        "        w=${COMP_WORDS[i]}\n"
        "        case \"$w\" in\n"
        "        --*=*) ;;\n"
        "        -*) [[ $valued == *\" $w \"* ]] && ((i++)) ;;\n"
        "        *) [[ \" $(_intentctl_sub \"$cmd\") \" == *\" $w \"* ]] && cmd=${cmd:+$cmd }$w "
        ";;\n"
        "        esac\n"
        "    done\n"
        "    if [[ $valued == *\" $prev \"* ]]; then\n"
        "        v=$(_intentctl_values \"$prev\")\n"
        "        if [[ $v == @file ]]; then\n"
        "            mapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
        "        else\n"
        "            mapfile -t COMPREPLY < <(compgen -W \"$v\" -- \"$cur\")\n"
        "        fi\n"
        "        return 0\n"
        "    fi\n"
        "    if [[ $cur == -* ]]; then\n"
        "        mapfile -t COMPREPLY < <(compgen -W \"$(_intentctl_opts \"$cmd\") $globals\" -- "
        "\"$cur\")\n"
        "        return 0\n"
        "    fi\n"
        "    v=$(_intentctl_sub \"$cmd\")\n"
        "    if [[ -n $v ]]; then\n"
        "        mapfile -t COMPREPLY < <(compgen -W \"$v\" -- \"$cur\")\n"
        "    else\n"
        "        mapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
        "    fi\n"
        "    return 0\n"
        "}\n"
        "complete -F _intentctl intentctl\n");
    return 0;
}
