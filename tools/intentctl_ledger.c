/* `intentctl ledger export`: follows GET /v1/ledger page by page (Intentd-Next-After-Seq) and
 * writes the rows as one JSONL or CSV document. With --out the document goes to FILE.part and
 * is renamed over FILE only once every page arrived, so a failed export never leaves a file
 * that looks complete. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "intentctl.h"

#define PATH_MAX_OUT 4000

/* Writes all of p, or returns false after a message. */
static bool write_all(int fd, const char *p, size_t n, const char *name)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "intentctl: cannot write %s: %s\n", name, strerror(errno));
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* A digit string without sign or leading junk that fits a long long. */
static bool parse_seq(const char *s, long long *out)
{
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* Appends "&name=<escaped value>" when value is set. Returns 0 or CTL_EXIT_USAGE. */
static int add_param(struct ctl *c, struct buf *q, const char *name, const char *value)
{
    if (!value)
        return 0;
    char *e = ctl_escape(c, value);
    int err = !e || buf_printf(q, "&%s=%s", name, e);
    curl_free(e);
    if (err)
        fprintf(stderr, "intentctl: --%s is too long\n", name);
    return err ? CTL_EXIT_USAGE : 0;
}

/* Fetches every page into fd. *bytes counts what was written. */
static int export_pages(struct ctl *c, const char *query, bool csv, int fd, const char *name,
                        unsigned long long *bytes)
{
    long long after = 0;
    for (bool first = true;; first = false) {
        char path[PATH_MAX_OUT + 64];
        struct ctl_response res;
        int n = snprintf(path, sizeof path, "/v1/ledger?after_seq=%lld%s", after, query);
        if (n < 0 || (size_t)n >= sizeof path) {
            fprintf(stderr, "intentctl: the options are too long\n");
            return CTL_EXIT_USAGE;
        }
        int rc = ctl_request(c, "GET", path, NULL, NULL, 0, &res);
        if (rc)
            return rc;
        if ((rc = ctl_check(c, &res))) {
            ctl_response_free(&res);
            return rc;
        }
        const char *want = csv ? "text/csv" : "application/jsonl";
        if (strcmp(res.content_type, want)) {
            fprintf(stderr, "intentctl: unreadable answer: %s instead of %s (request %s)\n",
                    res.content_type[0] ? res.content_type : "no content type", want,
                    res.request_id);
            ctl_response_free(&res);
            return CTL_EXIT_UNAVAILABLE;
        }
        const char *body = res.body.data ? res.body.data : "";
        size_t len = res.body.len;
        if (csv && !first) {
            /* every page repeats the header row; the document keeps the first one */
            const char *eol = memchr(body, '\n', len);
            size_t skip = eol ? (size_t)(eol - body) + 1 : len;
            body += skip;
            len -= skip;
        }
        bool ok = write_all(fd, body, len, name);
        *bytes += len;
        long long next = 0;
        bool more = res.next_after_seq[0] != '\0';
        if (ok && more && (!parse_seq(res.next_after_seq, &next) || next <= after)) {
            fprintf(stderr,
                    "intentctl: unreadable answer: Intentd-Next-After-Seq '%s' (request %s)\n",
                    res.next_after_seq, res.request_id);
            ctl_response_free(&res);
            return CTL_EXIT_UNAVAILABLE;
        }
        ctl_response_free(&res);
        if (!ok)
            return CTL_EXIT_UNAVAILABLE;
        if (!more)
            return 0;
        after = next;
    }
}

int ctl_cmd_ledger_export(struct ctl *c, const struct ctl_cmdline *o)
{
    if (o->npos != 0) {
        fprintf(stderr, "intentctl: ledger export takes no arguments (see --help)\n");
        return CTL_EXIT_USAGE;
    }
    const char *format = o->format ? o->format : "jsonl";
    if (strcmp(format, "jsonl") && strcmp(format, "csv")) {
        fprintf(stderr, "intentctl: --format must be jsonl or csv\n");
        return CTL_EXIT_USAGE;
    }
    if (o->out && (!o->out[0] || strlen(o->out) > PATH_MAX_OUT)) {
        fprintf(stderr, "intentctl: --out needs a file name\n");
        return CTL_EXIT_USAGE;
    }
    struct buf q;
    buf_init(&q, PATH_MAX_OUT);
    int rc = add_param(c, &q, "format", format);
    if (!rc)
        rc = add_param(c, &q, "since", o->since);
    if (!rc)
        rc = add_param(c, &q, "until", o->until);
    if (!rc)
        rc = add_param(c, &q, "tenant_id", o->tenant);
    if (!rc)
        rc = add_param(c, &q, "limit", o->limit);
    if (rc) {
        buf_free(&q);
        return rc;
    }
    char part[PATH_MAX_OUT + 8];
    int fd = STDOUT_FILENO;
    const char *name = "stdout";
    if (o->out) {
        snprintf(part, sizeof part, "%s.part", o->out);
        fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            fprintf(stderr, "intentctl: cannot create %s: %s\n", part, strerror(errno));
            buf_free(&q);
            return CTL_EXIT_USAGE;
        }
        name = part;
    } else {
        fflush(stdout); /* the rows bypass stdio */
    }
    unsigned long long bytes = 0;
    rc = export_pages(c, q.data ? q.data : "", !strcmp(format, "csv"), fd, name, &bytes);
    buf_free(&q);
    if (o->out) {
        bool synced = rc || fsync(fd) == 0;
        if (close(fd) != 0 || !synced) {
            if (!rc)
                fprintf(stderr, "intentctl: cannot write %s: %s\n", part, strerror(errno));
            rc = rc ? rc : CTL_EXIT_UNAVAILABLE;
        }
        if (!rc && rename(part, o->out) != 0) {
            fprintf(stderr, "intentctl: cannot rename %s to %s: %s\n", part, o->out,
                    strerror(errno));
            rc = CTL_EXIT_UNAVAILABLE;
        }
        if (rc)
            unlink(part);
        else
            fprintf(stderr, "intentctl: ledger exported to %s (%llu bytes)\n", o->out, bytes);
    }
    return rc;
}
