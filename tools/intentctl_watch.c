/* `intentctl watch`: follows one intent (its timeline, until it finishes) or a filtered list
 * of intents (each appearance or change of state) by polling, since the API has no push
 * channel for this. A watch is often left running through a deploy or a database failover,
 * so transient failures (no connection, timeout, 429, 5xx) are retried with growing pauses
 * and only a run of them longer than --retry-for ends it; a 4xx means the question itself is
 * wrong and ends it at once. Each line is flushed as printed so that a pipe sees it live. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "intentctl.h"

#define WATCH_DEFAULT_INTERVAL_MS 1000L
#define WATCH_DEFAULT_RETRY_MS    60000L
#define WATCH_FIRST_PAUSE_MS      250L  /* the first retry's pause, doubled each time */
#define WATCH_MAX_PAUSE_MS        5000L /* retries are never further apart */
#define WATCH_PAGE                "500" /* intents per list request (the server's maximum) */
#define WATCH_PAGE_ITEMS          500
#define WATCH_MAX_PAGES           20 /* so one poll reads at most 10000 intents */
#define WATCH_MAX_COUNT           1000000000LL

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

struct watch {
    struct ctl *c;
    long interval_ms, retry_ms;
    long long left; /* lines still to print before stopping; -1: no limit */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms milliseconds, returning early when a signal arrives. */
static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (!stop_signal && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* "500ms", "2s", "1m", "1h" or a bare number of seconds, within [lo, hi] ms. Returns 0 or
 * CTL_EXIT_USAGE after a message naming the option. */
static int parse_duration(const char *s, const char *opt, long lo, long hi, long *ms)
{
    char *end = NULL;
    long long v = s && *s >= '0' && *s <= '9' ? strtoll(s, &end, 10) : -1;
    long long unit = !end                 ? 0
                     : !*end              ? 1000
                     : !strcmp(end, "ms") ? 1
                     : !strcmp(end, "s")  ? 1000
                     : !strcmp(end, "m")  ? 60000
                     : !strcmp(end, "h")  ? 3600000
                                          : 0;
    if (v < 0 || !unit || v > hi / unit || v * unit < lo) {
        fprintf(stderr,
                "intentctl: watch: --%s takes a duration from %ld ms to %ld s (500ms, "
                "2s, 1m)\n",
                opt, lo, hi / 1000);
        return CTL_EXIT_USAGE;
    }
    *ms = (long)(v * unit);
    return 0;
}

/* GETs path and parses the answer's object into *ans. Retries what may pass (see the top of
 * the file) while the failures in a row last less than w->retry_ms. Returns 0,
 * CTL_EXIT_REFUSED (a 4xx, printed), CTL_EXIT_UNAVAILABLE (gave up) or CTL_EXIT_INTERRUPTED. */
static int watch_get(struct watch *w, const char *path, json_t **ans)
{
    long long first_failure = -1;
    long pause = WATCH_FIRST_PAUSE_MS;
    for (;;) {
        struct ctl_response res;
        int rc = ctl_request(w->c, "GET", path, NULL, NULL, 0, &res);
        if (!rc) {
            bool final = res.status >= 400 && res.status < 500 && res.status != 429;
            if (!(rc = ctl_check(w->c, &res)) && !(*ans = ctl_parse_object(&res)))
                rc = CTL_EXIT_UNAVAILABLE;
            ctl_response_free(&res);
            if (!rc || final)
                return rc;
        }
        long long t = now_ms();
        if (first_failure < 0)
            first_failure = t;
        long left = (long)(w->retry_ms - (t - first_failure));
        if (stop_signal)
            return CTL_EXIT_INTERRUPTED;
        if (left <= 0) {
            fprintf(stderr, "intentctl: watch: giving up: no good answer for %ld ms\n",
                    w->retry_ms);
            return CTL_EXIT_UNAVAILABLE;
        }
        pause = pause < left ? pause : left;
        fprintf(stderr, "intentctl: watch: retrying in %ld ms\n", pause);
        pause_ms(pause);
        if (stop_signal)
            return CTL_EXIT_INTERRUPTED;
        pause = pause * 2 < WATCH_MAX_PAUSE_MS ? pause * 2 : WATCH_MAX_PAUSE_MS;
    }
}

/* Prints cells separated by two spaces and frees them; "-" for a failed cell. */
static void put_cells(char **cells, int n)
{
    for (int k = 0; k < n; k++) {
        fputs(k ? "  " : "", stdout);
        fputs(cells[k] ? cells[k] : "-", stdout);
        free(cells[k]);
    }
    fputc('\n', stdout);
}

/* Prints one object as a JSON line (--json) or its cells; flushes. Returns 0 or
 * CTL_EXIT_UNAVAILABLE when stdout fails (a closed pipe ends the watch). */
static int emit(struct watch *w, json_t *obj, char **cells, int n)
{
    if (w->c->json) {
        for (int k = 0; k < n; k++)
            free(cells[k]);
        if (json_dumpf(obj, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) == 0)
            fputc('\n', stdout);
    } else {
        put_cells(cells, n);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "intentctl: cannot write the output\n");
        return CTL_EXIT_UNAVAILABLE;
    }
    if (w->left > 0)
        w->left--;
    return 0;
}

/* The exit code for a state: the outcome's for a terminal one, else -1. */
static int outcome(const char *state)
{
    static const struct {
        const char *state;
        int code;
    } ends[] = {{"SUCCEEDED", CTL_EXIT_OK},
                {"FAILED", CTL_EXIT_FAILED},
                {"EXPIRED", CTL_EXIT_EXPIRED},
                {"CANCELLED", CTL_EXIT_CANCELLED}};
    for (size_t i = 0; state && i < sizeof ends / sizeof ends[0]; i++)
        if (!strcmp(state, ends[i].state))
            return ends[i].code;
    return -1;
}

/* Prints the events after *last_seq (the seq-less decision and approval only the first time)
 * and advances *last_seq. Returns 0 or CTL_EXIT_UNAVAILABLE. */
static int print_new_events(struct watch *w, json_t *events, json_int_t *last_seq, bool first)
{
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e)
    {
        json_t *seq = json_object_get(e, "seq");
        if (json_is_integer(seq) ? json_integer_value(seq) <= *last_seq : !first)
            continue;
        if (json_is_integer(seq))
            *last_seq = json_integer_value(seq);
        char *row[6];
        ctl_timeline_row(e, row);
        int rc = emit(w, e, row, 6);
        if (rc)
            return rc;
    }
    return 0;
}

/* watch ID: the state is read before the timeline, so that when it is terminal the timeline
 * read after it already holds the row that made it so. */
static int watch_one(struct watch *w, const struct ctl_cmdline *o)
{
    struct buf st_path, tl_path;
    json_int_t last_seq = -1;
    int rc;
    buf_init(&st_path, 4096);
    buf_init(&tl_path, 4096);
    if ((rc = ctl_intent_path(w->c, o->pos[0], "", o->tenant, &st_path)) ||
        (rc = ctl_intent_path(w->c, o->pos[0], "/timeline", o->tenant, &tl_path)))
        goto out;
    for (bool first = true;; first = false) {
        json_t *st = NULL, *tl = NULL;
        if ((rc = watch_get(w, st_path.data, &st)))
            break;
        const char *state = json_string_value(json_object_get(st, "state"));
        int end = outcome(state);
        if (!(rc = watch_get(w, tl_path.data, &tl)))
            rc = print_new_events(w, json_object_get(tl, "events"), &last_seq, first);
        if (!rc && end >= 0 && !w->c->json) {
            char *cells[3] = {ctl_cell(json_object_get(st, "action_intent_id"), 0),
                              ctl_cell(json_object_get(st, "state"), 0),
                              ctl_cell(json_object_get(st, "explanation"), 0)};
            printf("%s is %s: %s\n", cells[0] ? cells[0] : "-", cells[1] ? cells[1] : "-",
                   cells[2] ? cells[2] : "-");
            for (int k = 0; k < 3; k++)
                free(cells[k]);
        }
        json_decref(st);
        json_decref(tl);
        if (rc || end >= 0) {
            rc = rc ? rc : end;
            break;
        }
        pause_ms(w->interval_ms);
        if (stop_signal) {
            rc = CTL_EXIT_INTERRUPTED;
            break;
        }
    }
out:
    buf_free(&st_path);
    buf_free(&tl_path);
    return rc;
}

/* Prints an intent (a list item, or a GET's answer) as ID TENANT TYPE STATE ATTEMPTS UPDATED. */
static int emit_intent(struct watch *w, json_t *it)
{
    static const char *const keys[] = {"action_intent_id", "tenant_id", "action_type", "state",
                                       "attempts",         "updated_at"};
    char *cells[6];
    for (int k = 0; k < 6; k++)
        cells[k] = ctl_cell(json_object_get(it, keys[k]), 0);
    return emit(w, it, cells, 6);
}

/* "<tenant>/<id>": ids are unique per tenant only, and a global admin sees every tenant. */
static char *intent_key(json_t *it)
{
    json_t *k = json_sprintf("%s/%s", json_string_value(json_object_get(it, "tenant_id")),
                             json_string_value(json_object_get(it, "action_intent_id")));
    char *out = k ? strdup(json_string_value(k)) : NULL;
    json_decref(k);
    return out;
}

/* Reads every page of the filtered list (at most WATCH_MAX_PAGES) into now, keyed by
 * intent_key. Returns 0 or an exit code. */
static int read_list(struct watch *w, const struct ctl_cmdline *o, json_t *now, bool *warned)
{
    struct buf path;
    char *cursor = NULL;
    int rc = 0, pages = 0;
    buf_init(&path, 16384);
    do {
        json_t *page = NULL, *item;
        size_t i;
        buf_reset(&path);
        if ((rc = ctl_list_path(w->c, o, cursor, &path)) || (rc = watch_get(w, path.data, &page)))
            break;
        json_array_foreach(json_object_get(page, "items"), i, item)
        {
            char *key = intent_key(item);
            if (!key || json_object_set(now, key, item))
                rc = CTL_EXIT_UNAVAILABLE;
            free(key);
        }
        const char *next = json_string_value(json_object_get(page, "next_cursor"));
        free(cursor);
        cursor = next ? strdup(next) : NULL;
        json_decref(page);
    } while (!rc && cursor && ++pages < WATCH_MAX_PAGES);
    if (!rc && cursor && !*warned) {
        fprintf(stderr, "intentctl: watch: more than %d intents match; watching the newest\n",
                WATCH_MAX_PAGES * WATCH_PAGE_ITEMS);
        *warned = true;
    }
    free(cursor);
    buf_free(&path);
    return rc;
}

/* An intent seen before that no longer matches (it left a --status filter): print it in its
 * new state. One that vanished altogether (404) is dropped without a line. */
static int report_gone(struct watch *w, json_t *before)
{
    struct buf path;
    json_t *it = NULL;
    int rc;
    buf_init(&path, 4096);
    if (!(rc = ctl_intent_path(w->c, json_string_value(json_object_get(before, "action_intent_id")),
                               "", json_string_value(json_object_get(before, "tenant_id")), &path)))
        rc = watch_get(w, path.data, &it);
    if (!rc && !json_equal(json_object_get(it, "state"), json_object_get(before, "state")))
        rc = emit_intent(w, it);
    else if (rc == CTL_EXIT_REFUSED)
        rc = 0;
    json_decref(it);
    buf_free(&path);
    return rc;
}

/* watch without ID: each poll compares the list with the previous one. */
static int watch_list(struct watch *w, const struct ctl_cmdline *given, bool until_empty)
{
    struct ctl_cmdline o = *given;
    json_t *seen = json_object();
    bool warned = false;
    int rc = seen ? 0 : CTL_EXIT_UNAVAILABLE;
    if (!o.limit)
        o.limit = WATCH_PAGE;
    while (!rc) {
        json_t *now = json_object(), *it;
        const char *key;
        void *tmp;
        if (!now || (rc = read_list(w, &o, now, &warned))) {
            json_decref(now);
            break;
        }
        json_object_foreach(now, key, it)
        {
            json_t *before = json_object_get(seen, key);
            if (!rc && w->left &&
                (!before ||
                 !json_equal(json_object_get(before, "state"), json_object_get(it, "state"))))
                rc = emit_intent(w, it);
        }
        json_object_foreach_safe(seen, tmp, key, it)
        {
            if (!rc && w->left && !json_object_get(now, key))
                rc = report_gone(w, it);
        }
        json_decref(seen);
        seen = now;
        if (rc || !w->left || (until_empty && !json_object_size(now)))
            break;
        pause_ms(w->interval_ms);
        if (stop_signal)
            break;
    }
    json_decref(seen);
    /* an interrupted list watch has done what it was for */
    return rc == CTL_EXIT_INTERRUPTED ? 0 : rc;
}

int ctl_cmd_watch(struct ctl *c, const struct ctl_cmdline *o)
{
    struct watch w = {.c = c,
                      .interval_ms = WATCH_DEFAULT_INTERVAL_MS,
                      .retry_ms = WATCH_DEFAULT_RETRY_MS,
                      .left = -1};
    bool filtered = o->status || o->action_type || o->account || o->until_empty || o->count;
    if (o->npos > 1 || (o->npos == 1 && filtered)) {
        fprintf(stderr, "intentctl: watch takes one intent ID, or filters (--status, "
                        "--action-type, --account, --until-empty, --count), not both\n");
        return CTL_EXIT_USAGE;
    }
    if (o->npos == 0 && o->tenant) {
        /* the list endpoints have no tenant filter: a global admin's list holds every tenant */
        fprintf(stderr, "intentctl: watch: --tenant goes with an intent ID\n");
        return CTL_EXIT_USAGE;
    }
    if ((o->interval && parse_duration(o->interval, "interval", 100, 3600000L, &w.interval_ms)) ||
        (o->retry_for && parse_duration(o->retry_for, "retry-for", 1000, 86400000L, &w.retry_ms)))
        return CTL_EXIT_USAGE;
    if (o->count) {
        char *end = NULL;
        w.left = strtoll(o->count, &end, 10);
        if (!*o->count || *end || w.left < 1 || w.left > WATCH_MAX_COUNT) {
            fprintf(stderr, "intentctl: watch: --count takes 1 to %lld\n", WATCH_MAX_COUNT);
            return CTL_EXIT_USAGE;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a pause ends at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return o->npos == 1 ? watch_one(&w, o) : watch_list(&w, o, o->until_empty);
}
