/* intentd: start-up, the event loop, and graceful shutdown. Everything that blocks (the
 * embedded cluster, migrations, key and workflow files) happens here before the loop serves;
 * once uv_run starts, nothing blocks it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alerts.h"
#include "api.h"
#include "app.h"
#include "app_metrics.h"
#include "connectors.h"
#include "guards.h"
#include "http_client.h"
#include "http_server.h"
#include "lifecycle.h"
#include "log.h"
#include "migrations.h"
#include "retention.h"
#include "pgembed.h"
#include "scheduler.h"
#include "signal_push.h"
#include "store.h"
#include "submitter.h"
#include "tenant_keys.h"
#include "toggles.h"
#include "workflows.h"

#define MIGRATE_ATTEMPTS 60

struct daemon {
    struct app app;
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    int pending_stops; /* http server and scheduler */
    int exit_code;
};

static void signals_closed(uv_handle_t *h)
{
    (void)h;
}

static void store_closed(void *arg)
{
    struct daemon *d = arg;
    uv_close((uv_handle_t *)&d->sigterm, signals_closed);
    uv_close((uv_handle_t *)&d->sigint, signals_closed);
}

static void part_stopped(void *arg)
{
    struct daemon *d = arg;
    if (--d->pending_stops > 0)
        return;
    submitter_free(d->app.submitter);
    d->app.submitter = NULL;
    /* the scheduler has drained: no call is in flight any more */
    alerts_stop(d->app.alerts);
    d->app.alerts = NULL;
    signal_push_stop(d->app.signal_push);
    d->app.signal_push = NULL;
    toggles_stop(d->app.toggles);
    d->app.toggles = NULL;
    retention_stop(d->app.retention);
    d->app.retention = NULL;
    http_client_close(d->app.http_client, NULL, NULL);
    d->app.http_client = NULL;
    /* Before the store: guards finish freeing once their token requests have answered. */
    guards_free(d->app.guards);
    d->app.guards = NULL;
    store_close(d->app.store, store_closed, d);
    d->app.store = NULL;
}

static void http_stopped(void *arg)
{
    struct daemon *d = arg;
    d->app.http = NULL;
    part_stopped(d);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    if (d->app.stopping) {
        log_warn("second signal %d: exiting at once", signum);
        _exit(1);
    }
    log_info("signal %d: stopping gracefully (in-flight work finishes, leases are released)",
             signum);
    d->app.stopping = true;
    d->pending_stops = 2;
    http_server_stop(d->app.http, http_stopped, d);
    scheduler_stop(d->app.scheduler, part_stopped, d);
}

static int ensure_home(const char *home)
{
    if (mkdir(home, 0700) && errno != EEXIST) {
        fprintf(stderr, "intentd: cannot create INTENTD_HOME %s: %s\n", home, strerror(errno));
        return -1;
    }
    return 0;
}

static int migrate(struct app *app)
{
    char err[1024];
    for (int i = 0; i < MIGRATE_ATTEMPTS; i++) {
        int rc =
            migrations_apply(app->conninfo, app->lifecycle, &app->ledger_head, err, sizeof err);
        if (rc == 0)
            return 0;
        if (rc != IE_UNAVAIL) {
            log_error("schema migration failed: %s", err);
            return -1;
        }
        if (i == 0)
            log_warn("database not reachable yet; retrying for up to %d s", MIGRATE_ATTEMPTS);
        sleep(1); /* start-up only: the loop is not running yet */
    }
    log_error("giving up: %s", err);
    return -1;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            config_print_help(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("intentd %s (malloc: %s)\n", INTENTD_VERSION, INTENTD_ALLOCATOR);
            return 0;
        }
        fprintf(stderr, "intentd: unknown argument %s (try --help)\n", argv[i]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    static struct daemon d;
    struct app *app = &d.app;
    char err[1024];
    int rc = config_load(&app->cfg, err, sizeof err);
    if (rc) {
        fprintf(stderr, "intentd: %s\n", rc == IE_CONFIG ? err : ie_strerror(rc));
        return 2;
    }
    log_set_level(app->cfg.log_level);
    log_set_node(app->cfg.node_id);
    struct pgembed *pg = NULL;
    int code = 1;
    if (ensure_home(app->cfg.home))
        goto out;
    if (crypto_master_key_load_or_create(app->cfg.master_key_file, app->master_key, err,
                                         sizeof err)) {
        log_error("master key: %s", err);
        goto out;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/lifecycle.json", app->cfg.statemachines_dir);
    if (lifecycle_load(path, &app->lifecycle, err, sizeof err)) {
        log_error("lifecycle table: %s", err);
        goto out;
    }
    if (workflows_load(app->cfg.statemachines_dir, &app->workflows, err, sizeof err)) {
        log_error("workflows: %s", err);
        goto out;
    }
    log_info("loaded %zu action types from %s", workflows_count(app->workflows),
             app->cfg.statemachines_dir);
    if (app->cfg.database_url) {
        snprintf(app->conninfo, sizeof app->conninfo, "%s", app->cfg.database_url);
    } else {
        log_info("no INTENTD_DATABASE_URL: starting the embedded PostgreSQL under %s",
                 app->cfg.home);
        if (pgembed_start(app->cfg.home, &pg, app->conninfo, sizeof app->conninfo, err,
                          sizeof err)) {
            log_error("embedded PostgreSQL: %s", err);
            goto out;
        }
    }
    if (migrate(app))
        goto out;

    uv_loop_init(&d.loop);
    app->loop = &d.loop;
    struct store_config sc = {.conninfo = app->conninfo,
                              .listen_conninfo = app->cfg.listen_database_url,
                              .no_prepared = !app->cfg.db_prepared,
                              .pool_size = app->cfg.db_pool,
                              .group_inflight = app->cfg.db_group_inflight,
                              .max_queue = 20000,
                              .app_name = "intentd"};
    if (store_open(app->loop, &sc, &app->store) || tenant_keys_new(&app->keys) ||
        connectors_new(app, &app->connectors) || submitter_new(app, &app->submitter) ||
        guards_new(app, &app->guards) || app_metrics_new(&app->metrics)) {
        log_error("out of memory at start-up");
        goto out_loop;
    }
    /* the transitions counter starts with the ledger rows written after this point */
    app_metrics_scrape_state(app->metrics)->ledger_seq = app->ledger_head;
    /* thousands of connector calls may be in flight at once: lift the soft limit on open
     * files to the hard one (bounded) */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max < 65536 ? nofile.rlim_max : 65536;
        if (setrlimit(RLIMIT_NOFILE, &nofile))
            log_warn("cannot raise the open-file limit: %s", strerror(errno));
    }
    struct http_client_config hcc = {
        .ca_file = app->cfg.ca_file, .max_host_conns = 4096, .max_total_conns = 8192};
    if (http_client_new(app->loop, &hcc, &app->http_client, err, sizeof err)) {
        log_error("outbound HTTP client: %s", err);
        goto out_loop;
    }
    struct http_server_config hc = {.listen = app->cfg.listen,
                                    .max_connections = app->cfg.max_connections,
                                    .header_timeout_ms = 10000,
                                    .idle_timeout_ms = 60000,
                                    .body_timeout_ms = 30000};
    if (http_server_start(app->loop, &hc, api_handle, app, &app->http, err, sizeof err)) {
        log_error("cannot listen on %s: %s", app->cfg.listen, err);
        goto out_loop;
    }
    if (alerts_start(app, &app->alerts) || signal_push_start(app, &app->signal_push) ||
        toggles_start(app, &app->toggles) || retention_start(app, &app->retention)) {
        log_error("out of memory at start-up");
        goto out_loop;
    }
    if (scheduler_start(app, &app->scheduler)) {
        log_error("cannot start the scheduler");
        goto out_loop;
    }
    uv_signal_init(app->loop, &d.sigterm);
    uv_signal_init(app->loop, &d.sigint);
    d.sigterm.data = d.sigint.data = &d;
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    log_info("intentd %s node %s listening on %s (port %d)", INTENTD_VERSION, app->cfg.node_id,
             app->cfg.listen, http_server_port(app->http));
    uv_run(app->loop, UV_RUN_DEFAULT);
    code = 0;
    log_info("stopped");
out_loop:
    if (code != 0) {
        /* Start-up failed half-way: close what was opened, then let the loop finish it. */
        if (app->scheduler)
            scheduler_stop(app->scheduler, NULL, NULL);
        if (app->http)
            http_server_stop(app->http, NULL, NULL);
        submitter_free(app->submitter);
        guards_free(app->guards);
        alerts_stop(app->alerts);
        signal_push_stop(app->signal_push);
        toggles_stop(app->toggles);
        retention_stop(app->retention);
        if (app->http_client)
            http_client_close(app->http_client, NULL, NULL);
        if (app->store)
            store_close(app->store, NULL, NULL);
        uv_run(app->loop, UV_RUN_DEFAULT);
    }
    if (uv_loop_close(app->loop))
        log_warn("the loop still had open handles at exit");
out:
    tenant_keys_free(app->keys);
    app_metrics_free(app->metrics);   /* the loop has ended: nothing records any more */
    connectors_free(app->connectors); /* after the store closed: no load is in flight */
    workflows_free(app->workflows);
    lifecycle_free(app->lifecycle);
    if (pg)
        pgembed_stop(pg);
    crypto_cleanse(app->master_key, sizeof app->master_key);
    config_free(&app->cfg);
    http_client_global_cleanup();
    return code;
}
