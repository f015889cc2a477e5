/* The connector configuration cache against a real, throwaway PostgreSQL (tests/pg_harness.sh)
 * with intentd's migrations applied: loading and opening a configuration, one query for
 * concurrent misses, fresh hits answered at once, invalidation (also during a load), not found,
 * a seal that does not open, references held past invalidation, expiry, and storing a refreshed
 * access token with its version check. Exits 77 (skipped) without PostgreSQL's binaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pg_test.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app.h"
#include "connectors.h"
#include "log.h"
#include "migrations.h"
#include "store.h"

static char harness[4096];
static char dir[256];
static char url[512];

#define run_harness(cmd, out, outlen) pg_test_run(harness, cmd, dir, out, outlen)

/* ---- fixture: an app with a loop, a store and the cache ---- */

struct fx {
    uv_loop_t loop;
    struct app app;
};

static void fx_open(struct fx *f)
{
    memset(f, 0, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->app.loop = &f->loop;
    for (int i = 0; i < CRYPTO_KEY_LEN; i++)
        f->app.master_key[i] = (unsigned char)(i * 7 + 1);
    struct store_config sc = {.conninfo = url, .pool_size = 2, .app_name = "test-connectors"};
    assert_int_equal(store_open(&f->loop, &sc, &f->app.store), 0);
    assert_int_equal(connectors_new(&f->app, &f->app.connectors), 0);
}

static void fx_close(struct fx *f)
{
    store_close(f->app.store, NULL, NULL);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    connectors_free(f->app.connectors);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static unsigned long long jobs_done(struct fx *f)
{
    struct store_stats st;
    store_get_stats(f->app.store, &st);
    return st.jobs_done + st.jobs_failed;
}

/* Writes a configuration through intentd.put_connector, sealed under key. */
static void put_row(const unsigned char *key, const char *tenant, const char *connector,
                    const char *base, const char *auth, const char *token, const char *secret,
                    const char *refresh, const char *limits)
{
    char *sb = NULL, *st = NULL, *ss = NULL, *sr = NULL, sql[8192], err[512];
    assert_int_equal(connectors_seal(key, tenant, connector, "base_url", base, &sb), 0);
    if (token)
        assert_int_equal(connectors_seal(key, tenant, connector, "token", token, &st), 0);
    if (secret)
        assert_int_equal(connectors_seal(key, tenant, connector, "client_secret", secret, &ss), 0);
    if (refresh)
        assert_int_equal(connectors_seal(key, tenant, connector, "refresh_token", refresh, &sr), 0);
    /* sealed text is base64url and the other values are test literals: safe to splice here */
    snprintf(sql, sizeof sql,
             "INSERT INTO intentd.tenants (tenant_id, approval_key_enc) VALUES ('%s', 'x') "
             "ON CONFLICT DO NOTHING; "
             "SELECT intentd.put_connector('%s', '%s', '%s', '%s', %s%s%s, %s%s%s, %s%s%s, %s, %s, "
             "'{\"k\":\"v\"}', '%s', 'test', 'test-node')",
             tenant, tenant, connector, sb, auth, st ? "'" : "", st ? st : "NULL", st ? "'" : "",
             ss ? "'" : "", ss ? ss : "NULL", ss ? "'" : "", sr ? "'" : "", sr ? sr : "NULL",
             sr ? "'" : "", secret ? "'https://oauth.example/token'" : "NULL",
             secret ? "'cid'" : "NULL", limits);
    const char *sqls[1] = {sql};
    if (store_exec_startup(url, sqls, 1, err, sizeof err) != 0)
        fail_msg("put_row: %s", err);
    free(sb);
    free(st);
    free(ss);
    free(sr);
}

static void sql_exec(const char *sql)
{
    char err[512];
    const char *sqls[1] = {sql};
    if (store_exec_startup(url, sqls, 1, err, sizeof err) != 0)
        fail_msg("%s: %s", sql, err);
}

/* What a callback saw. */
struct seen {
    int calls;
    int err;
    struct connector_config *cfg; /* a reference of our own when err is 0 */
    char bearer[128];
    char base_url[256];
};

static void got(void *arg, int err, struct connector_config *cfg)
{
    struct seen *s = arg;
    s->calls++;
    s->err = err;
    if (!err) {
        connector_config_ref(cfg);
        s->cfg = cfg;
        snprintf(s->bearer, sizeof s->bearer, "%s", cfg->bearer ? cfg->bearer : "");
        snprintf(s->base_url, sizeof s->base_url, "%s", cfg->base_url);
    }
}

static void seen_release(struct seen *s)
{
    connector_config_unref(s->cfg);
    s->cfg = NULL;
}

static void wait_calls(struct fx *f, const int *calls, int want)
{
    while (*calls < want)
        assert_int_not_equal(uv_run(&f->loop, UV_RUN_ONCE), 0);
}

/* ---- tests ---- */

static void concurrent_misses_share_one_query(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    put_row(f.app.master_key, "acme", "crm", "https://api.example/base//", "bearer", "tok-1", NULL,
            NULL, "{\"concurrency\":3,\"retry_budget\":0}");
    struct seen a = {0}, b = {0};
    unsigned long long before = jobs_done(&f);
    assert_int_equal(connectors_get(f.app.connectors, "acme", "crm", got, &a), 0);
    assert_int_equal(connectors_get(f.app.connectors, "acme", "crm", got, &b), 0);
    assert_int_equal(a.calls + b.calls, 0); /* never from inside the call on a miss */
    wait_calls(&f, &b.calls, 1);
    assert_int_equal(a.calls, 1);
    assert_int_equal(jobs_done(&f) - before, 1);
    assert_int_equal(a.err, 0);
    assert_ptr_equal(a.cfg, b.cfg);
    assert_string_equal(a.base_url, "https://api.example/base");
    assert_string_equal(a.bearer, "tok-1");
    assert_int_equal(a.cfg->auth, CONNECTOR_AUTH_BEARER);
    assert_string_equal(a.cfg->tenant_id, "acme");
    assert_string_equal(a.cfg->connector, "crm");
    assert_string_equal(json_string_value(json_object_get(a.cfg->settings, "k")), "v");
    assert_int_equal(a.cfg->limits.concurrency, 3);
    assert_true(a.cfg->limits.retry_budget == 0);
    assert_int_equal(a.cfg->limits.timeout_seconds, 30);
    assert_int_equal(a.cfg->version, 1);
    seen_release(&a);
    seen_release(&b);
    fx_close(&f);
}

static void fresh_hit_answers_at_once(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    put_row(f.app.master_key, "acme", "email", "https://gmail.example", "none", NULL, NULL, NULL,
            "{}");
    struct seen a = {0}, b = {0};
    assert_int_equal(connectors_get(f.app.connectors, "acme", "email", got, &a), 0);
    wait_calls(&f, &a.calls, 1);
    unsigned long long before = jobs_done(&f);
    assert_int_equal(connectors_get(f.app.connectors, "acme", "email", got, &b), 0);
    assert_int_equal(b.calls, 1);
    assert_ptr_equal(a.cfg, b.cfg);
    assert_int_equal(jobs_done(&f), before);
    assert_null(b.cfg->bearer);
    seen_release(&a);
    seen_release(&b);
    fx_close(&f);
}

static void invalidate_forces_a_reload_and_held_references_survive(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    put_row(f.app.master_key, "acme", "webhook", "https://one.example", "bearer", "old", NULL, NULL,
            "{}");
    struct seen a = {0}, b = {0};
    assert_int_equal(connectors_get(f.app.connectors, "acme", "webhook", got, &a), 0);
    wait_calls(&f, &a.calls, 1);
    put_row(f.app.master_key, "acme", "webhook", "https://two.example", "bearer", "new", NULL, NULL,
            "{}");
    connectors_invalidate(f.app.connectors, "acme", "webhook");
    /* our reference outlives the cache's */
    assert_string_equal(a.cfg->bearer, "old");
    assert_int_equal(connectors_get(f.app.connectors, "acme", "webhook", got, &b), 0);
    assert_int_equal(b.calls, 0);
    wait_calls(&f, &b.calls, 1);
    assert_string_equal(b.bearer, "new");
    assert_string_equal(b.base_url, "https://two.example");
    assert_int_equal(b.cfg->version, 2);
    assert_ptr_not_equal(a.cfg, b.cfg);
    seen_release(&a);
    seen_release(&b);
    connectors_invalidate(f.app.connectors, "acme", "nothing-cached"); /* a no-op */
    fx_close(&f);
}

static void invalidate_during_a_load_answers_but_does_not_keep(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    put_row(f.app.master_key, "acme", "calendar", "https://cal.example", "none", NULL, NULL, NULL,
            "{}");
    struct seen a = {0}, b = {0}, c = {0};
    assert_int_equal(connectors_get(f.app.connectors, "acme", "calendar", got, &a), 0);
    connectors_invalidate(f.app.connectors, "acme", "calendar");
    /* a caller after the invalidation does not join the load that began before it */
    unsigned long long before = jobs_done(&f);
    assert_int_equal(connectors_get(f.app.connectors, "acme", "calendar", got, &b), 0);
    wait_calls(&f, &a.calls, 1);
    wait_calls(&f, &b.calls, 1);
    assert_int_equal(jobs_done(&f) - before, 2);
    assert_int_equal(a.err, 0);
    assert_int_equal(b.err, 0);
    /* b's load is the one kept */
    assert_int_equal(connectors_get(f.app.connectors, "acme", "calendar", got, &c), 0);
    assert_int_equal(c.calls, 1);
    assert_ptr_equal(c.cfg, b.cfg);
    seen_release(&a);
    seen_release(&b);
    seen_release(&c);
    fx_close(&f);
}

static void unconfigured_is_not_found_and_not_cached(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    struct seen a = {0}, b = {0};
    assert_int_equal(connectors_get(f.app.connectors, "nobody", "crm", got, &a), 0);
    wait_calls(&f, &a.calls, 1);
    assert_int_equal(a.err, IE_NOTFOUND);
    assert_null(a.cfg);
    unsigned long long before = jobs_done(&f);
    assert_int_equal(connectors_get(f.app.connectors, "nobody", "crm", got, &b), 0);
    wait_calls(&f, &b.calls, 1);
    assert_int_equal(b.err, IE_NOTFOUND);
    assert_int_equal(jobs_done(&f) - before, 1);
    fx_close(&f);
}

static void seal_under_another_key_is_crypto_error(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    unsigned char other[CRYPTO_KEY_LEN] = {42};
    put_row(other, "acme", "notify", "https://hooks.example/secret", "none", NULL, NULL, NULL,
            "{}");
    struct seen a = {0};
    assert_int_equal(connectors_get(f.app.connectors, "acme", "notify", got, &a), 0);
    wait_calls(&f, &a.calls, 1);
    assert_int_equal(a.err, IE_CRYPTO);
    assert_null(a.cfg);
    fx_close(&f);
}

static void bad_arguments_are_refused_without_a_callback(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    char long_tenant[100];
    memset(long_tenant, 't', sizeof long_tenant - 1);
    long_tenant[sizeof long_tenant - 1] = '\0';
    struct seen a = {0};
    assert_int_equal(connectors_get(f.app.connectors, long_tenant, "crm", got, &a), IE_INVAL);
    assert_int_equal(connectors_get(f.app.connectors, "acme", NULL, got, &a), IE_INVAL);
    assert_int_equal(connectors_get(f.app.connectors, "acme", "crm", NULL, &a), IE_INVAL);
    struct connector_config none = {.refs = 1, .auth = CONNECTOR_AUTH_BEARER};
    assert_int_equal(connectors_save_access_token(f.app.connectors, &none, "t", 0, NULL, NULL),
                     IE_INVAL);
    none.auth = CONNECTOR_AUTH_OAUTH2;
    assert_int_equal(connectors_save_access_token(f.app.connectors, &none, "", 0, NULL, NULL),
                     IE_INVAL);
    assert_int_equal(connectors_save_access_token(f.app.connectors, &none, "t", -1, NULL, NULL),
                     IE_INVAL);
    assert_int_equal(a.calls, 0);
    fx_close(&f);
}

static void entries_expire(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    put_row(f.app.master_key, "acme", "crm", "https://api.example", "none", NULL, NULL, NULL, "{}");
    struct seen a = {0}, b = {0};
    assert_int_equal(connectors_get(f.app.connectors, "acme", "crm", got, &a), 0);
    wait_calls(&f, &a.calls, 1);
    uv_sleep(CONNECTORS_CACHE_S * 1000 + 100);
    uv_update_time(&f.loop);
    assert_int_equal(connectors_get(f.app.connectors, "acme", "crm", got, &b), 0);
    assert_int_equal(b.calls, 0); /* stale: loaded again */
    wait_calls(&f, &b.calls, 1);
    assert_ptr_not_equal(a.cfg, b.cfg);
    seen_release(&a);
    seen_release(&b);
    fx_close(&f);
}

struct saved {
    int calls;
    int err;
};

static void on_saved(void *arg, int err)
{
    struct saved *s = arg;
    s->calls++;
    s->err = err;
}

static void access_token_is_stored_only_at_the_expected_version(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    put_row(f.app.master_key, "acme", "calendar", "https://cal.example", "oauth2", NULL, "csecret",
            "rtoken", "{}");
    struct seen a = {0}, b = {0}, c = {0};
    assert_int_equal(connectors_get(f.app.connectors, "acme", "calendar", got, &a), 0);
    wait_calls(&f, &a.calls, 1);
    assert_int_equal(a.err, 0);
    assert_null(a.cfg->bearer);
    assert_string_equal(a.cfg->client_secret, "csecret");
    assert_string_equal(a.cfg->refresh_token, "rtoken");
    assert_string_equal(a.cfg->client_id, "cid");
    assert_string_equal(a.cfg->token_url, "https://oauth.example/token");
    assert_int_equal(a.cfg->version, 1);

    struct saved s1 = {0}, s2 = {0};
    assert_int_equal(
        connectors_save_access_token(f.app.connectors, a.cfg, "access-1", 2e9, on_saved, &s1), 0);
    wait_calls(&f, &s1.calls, 1);
    assert_int_equal(s1.err, 0);
    /* the cache holds the new token at once, without a query */
    unsigned long long before = jobs_done(&f);
    assert_int_equal(connectors_get(f.app.connectors, "acme", "calendar", got, &b), 0);
    assert_int_equal(b.calls, 1);
    assert_int_equal(jobs_done(&f), before);
    assert_string_equal(b.bearer, "access-1");
    assert_int_equal(b.cfg->version, 2);
    assert_true(b.cfg->access_expires_epoch == 2e9);
    assert_string_equal(b.cfg->refresh_token, "rtoken");

    /* a refresh that started from version 1 lost the race: refused, and the cache reloads */
    assert_int_equal(
        connectors_save_access_token(f.app.connectors, a.cfg, "access-stale", 0, on_saved, &s2), 0);
    wait_calls(&f, &s2.calls, 1);
    assert_int_equal(s2.err, IE_CONFLICT);
    assert_int_equal(connectors_get(f.app.connectors, "acme", "calendar", got, &c), 0);
    wait_calls(&f, &c.calls, 1);
    assert_string_equal(c.bearer, "access-1");
    assert_int_equal(c.cfg->version, 2);

    /* what was stored is sealed, and a NULL callback is allowed */
    assert_int_equal(
        connectors_save_access_token(f.app.connectors, c.cfg, "access-2", 0, NULL, NULL), 0);
    while (jobs_done(&f) < before + 3)
        assert_int_not_equal(uv_run(&f.loop, UV_RUN_ONCE), 0);
    sql_exec("DO $$ BEGIN IF (SELECT count(*) FROM intentd.connectors WHERE access_token_enc "
             "LIKE '%access%' OR access_token_enc IS NULL OR version <> 3) > 0 THEN "
             "RAISE 'access token not stored sealed at version 3'; END IF; END $$");
    seen_release(&a);
    seen_release(&b);
    seen_release(&c);
    fx_close(&f);
}

static int reset(void **state)
{
    (void)state;
    sql_exec("DELETE FROM intentd.connectors");
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(concurrent_misses_share_one_query, reset),
        cmocka_unit_test_setup(fresh_hit_answers_at_once, reset),
        cmocka_unit_test_setup(invalidate_forces_a_reload_and_held_references_survive, reset),
        cmocka_unit_test_setup(invalidate_during_a_load_answers_but_does_not_keep, reset),
        cmocka_unit_test_setup(unconfigured_is_not_found_and_not_cached, reset),
        cmocka_unit_test_setup(seal_under_another_key_is_crypto_error, reset),
        cmocka_unit_test_setup(bad_arguments_are_refused_without_a_callback, reset),
        cmocka_unit_test_setup(access_token_is_stored_only_at_the_expected_version, reset),
        cmocka_unit_test_setup(entries_expire, reset),
    };
    char err[512];
    log_set_level(LOG_ERROR);
    pg_test_find_harness(harness, sizeof harness);
    snprintf(dir, sizeof dir, "/tmp/intentd-test-connectors-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int rc = run_harness("start", url, sizeof url);
    if (rc == 77) {
        fprintf(stderr, "SKIP: PostgreSQL server binaries not found\n");
        return 77;
    }
    if (rc != 0) {
        fprintf(stderr, "test_connectors_cache: %s start %s failed (%d)\n", harness, dir, rc);
        return 1;
    }
    if (migrations_apply(url, NULL, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "test_connectors_cache: migrations: %s\n", err);
        rc = 1;
    } else {
        rc = cmocka_run_group_tests(tests, NULL, NULL);
    }
    if (run_harness("destroy", NULL, 0) != 0)
        fprintf(stderr, "test_connectors_cache: could not stop the cluster in %s\n", dir);
    return rc;
}
