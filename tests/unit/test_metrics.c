/* Unit tests for engine/metrics.c: registration rules, updates, the series bound, and the text
 * the renderer writes (escaping, cumulative histogram buckets, HELP/TYPE once per family). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_metrics.h"
#include "metrics.h"

static char *render(const struct metrics *m)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(metrics_render(m, &b), 0);
    size_t len;
    char *s = buf_detach(&b, &len);
    assert_non_null(s);
    return s;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void counter_renders_help_type_once_and_every_series(void **state)
{
    (void)state;
    struct metrics *m;
    assert_int_equal(metrics_new(&m), 0);
    static const char *const l[] = {"route", "status"};
    struct metrics_family *f =
        metrics_add(m, "intentd_x_total", "Some things.", METRICS_COUNTER, l, 2, NULL, 0);
    assert_non_null(f);
    const char *a[] = {"/a", "200"}, *b[] = {"/b", "404"};
    metrics_inc(f, a, 1);
    metrics_inc(f, b, 2);
    metrics_inc(f, a, 0.5);
    char *s = render(m);
    assert_string_equal(s, "# HELP intentd_x_total Some things.\n"
                           "# TYPE intentd_x_total counter\n"
                           "intentd_x_total{route=\"/a\",status=\"200\"} 1.5\n"
                           "intentd_x_total{route=\"/b\",status=\"404\"} 2\n"
                           "# HELP intentd_metrics_updates_dropped_total Metric updates not "
                           "recorded (a series limit reached, an invalid value or out of "
                           "memory).\n"
                           "# TYPE intentd_metrics_updates_dropped_total counter\n"
                           "intentd_metrics_updates_dropped_total 0\n");
    free(s);
    metrics_free(m);
}

static void label_values_and_help_are_escaped(void **state)
{
    (void)state;
    struct metrics *m;
    assert_int_equal(metrics_new(&m), 0);
    static const char *const l[] = {"v"};
    struct metrics_family *f =
        metrics_add(m, "g", "a \\ back\nslash \"quoted\"", METRICS_GAUGE, l, 1, NULL, 0);
    const char *v[] = {"q\"\\\nz"};
    metrics_set(f, v, -3);
    char *s = render(m);
    /* HELP escapes backslash and line feed only; label values also the double quote */
    assert_non_null(strstr(s, "# HELP g a \\\\ back\\nslash \"quoted\"\n"));
    assert_non_null(strstr(s, "g{v=\"q\\\"\\\\\\nz\"} -3\n"));
    free(s);
    metrics_free(m);
}

static void histogram_buckets_are_cumulative(void **state)
{
    (void)state;
    struct metrics *m;
    assert_int_equal(metrics_new(&m), 0);
    static const char *const l[] = {"connector"};
    static const double b[] = {0.5, 1, 2.5};
    struct metrics_family *f =
        metrics_add(m, "h_seconds", "Latency.", METRICS_HISTOGRAM, l, 1, b, 3);
    assert_non_null(f);
    const char *v[] = {"crm"};
    metrics_observe(f, v, 0.25);
    metrics_observe(f, v, 0.5); /* on the bound: counted in it (le means <=) */
    metrics_observe(f, v, 2);
    metrics_observe(f, v, 100);
    metrics_observe(f, v, NAN); /* dropped */
    char *s = render(m);
    assert_non_null(strstr(s, "# HELP h_seconds Latency.\n# TYPE h_seconds histogram\n"
                              "h_seconds_bucket{connector=\"crm\",le=\"0.5\"} 2\n"
                              "h_seconds_bucket{connector=\"crm\",le=\"1\"} 2\n"
                              "h_seconds_bucket{connector=\"crm\",le=\"2.5\"} 3\n"
                              "h_seconds_bucket{connector=\"crm\",le=\"+Inf\"} 4\n"
                              "h_seconds_sum{connector=\"crm\"} 102.75\n"
                              "h_seconds_count{connector=\"crm\"} 4\n"));
    assert_int_equal(count_of(s, "# TYPE h_seconds"), 1);
    assert_non_null(strstr(s, "intentd_metrics_updates_dropped_total 1\n"));
    free(s);
    metrics_free(m);
}

static void histogram_without_labels_has_only_le(void **state)
{
    (void)state;
    struct metrics *m;
    assert_int_equal(metrics_new(&m), 0);
    static const double b[] = {0.001};
    struct metrics_family *f = metrics_add(m, "a_seconds", "A.", METRICS_HISTOGRAM, NULL, 0, b, 1);
    metrics_observe(f, NULL, 0.0001);
    char *s = render(m);
    assert_non_null(strstr(s, "a_seconds_bucket{le=\"0.001\"} 1\n"
                              "a_seconds_bucket{le=\"+Inf\"} 1\n"
                              "a_seconds_sum 0.0001\na_seconds_count 1\n"));
    free(s);
    metrics_free(m);
}

static void registration_refuses_bad_arguments(void **state)
{
    (void)state;
    struct metrics *m;
    assert_int_equal(metrics_new(&m), 0);
    static const char *const ok[] = {"a"}, *const le[] = {"le"}, *const dunder[] = {"__x"},
                             *const dup[] = {"a", "a"}, *const bad[] = {"1a"};
    static const double b[] = {1, 2}, unordered[] = {2, 1}, inf[] = {1, INFINITY};
    assert_null(metrics_add(m, "1bad", "h", METRICS_GAUGE, NULL, 0, NULL, 0));
    assert_null(metrics_add(m, "bad-name", "h", METRICS_GAUGE, NULL, 0, NULL, 0));
    assert_null(metrics_add(m, "", "h", METRICS_GAUGE, NULL, 0, NULL, 0));
    assert_null(metrics_add(m, "x", NULL, METRICS_GAUGE, NULL, 0, NULL, 0));
    assert_null(metrics_add(m, "x", "h", METRICS_HISTOGRAM, le, 1, b, 2));
    assert_null(metrics_add(m, "x", "h", METRICS_GAUGE, dunder, 1, NULL, 0));
    assert_null(metrics_add(m, "x", "h", METRICS_GAUGE, dup, 2, NULL, 0));
    assert_null(metrics_add(m, "x", "h", METRICS_GAUGE, bad, 1, NULL, 0));
    assert_null(metrics_add(m, "x", "h", METRICS_GAUGE, ok, METRICS_MAX_LABELS + 1, NULL, 0));
    assert_null(metrics_add(m, "x", "h", METRICS_GAUGE, NULL, 0, b, 2));
    assert_null(metrics_add(m, "x", "h", METRICS_HISTOGRAM, NULL, 0, NULL, 0));
    assert_null(metrics_add(m, "x", "h", METRICS_HISTOGRAM, NULL, 0, unordered, 2));
    assert_null(metrics_add(m, "x", "h", METRICS_HISTOGRAM, NULL, 0, inf, 2));
    assert_null(metrics_add(m, "x", "h", METRICS_HISTOGRAM, NULL, 0, b, METRICS_MAX_BUCKETS + 1));
    assert_null(metrics_add(m, "intentd_metrics_updates_dropped_total", "h", METRICS_COUNTER, NULL,
                            0, NULL, 0));
    assert_non_null(metrics_add(m, "x", "h", METRICS_GAUGE, ok, 1, NULL, 0));
    assert_null(metrics_add(m, "x", "h", METRICS_GAUGE, ok, 1, NULL, 0)); /* taken */
    assert_null(metrics_add(NULL, "y", "h", METRICS_GAUGE, NULL, 0, NULL, 0));
    metrics_free(m);
}

static void wrong_updates_are_dropped_and_counted(void **state)
{
    (void)state;
    struct metrics *m;
    assert_int_equal(metrics_new(&m), 0);
    static const char *const l[] = {"k"};
    struct metrics_family *c = metrics_add(m, "c_total", "C.", METRICS_COUNTER, l, 1, NULL, 0);
    struct metrics_family *g = metrics_add(m, "g", "G.", METRICS_GAUGE, NULL, 0, NULL, 0);
    const char *v[] = {"x"}, *missing[] = {NULL};
    char longv[METRICS_MAX_VALUE_LEN + 2];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    const char *toolong[] = {longv};
    metrics_inc(c, v, -1);       /* counters only go up */
    metrics_inc(c, v, NAN);      /* nor by NaN */
    metrics_set(c, v, 1);        /* not a gauge */
    metrics_observe(g, NULL, 1); /* not a histogram */
    metrics_inc(g, NULL, 1);     /* not a counter */
    metrics_inc(c, missing, 1);  /* a value missing */
    metrics_inc(c, NULL, 1);     /* no values at all */
    metrics_inc(c, toolong, 1);  /* too long */
    metrics_inc(NULL, v, 1);     /* no family: ignored, not counted */
    char *s = render(m);
    assert_non_null(strstr(s, "intentd_metrics_updates_dropped_total 8\n"));
    assert_null(strstr(s, "c_total{"));
    assert_null(strstr(s, "\ng "));
    free(s);
    metrics_free(m);
}

static void series_are_bounded(void **state)
{
    (void)state;
    struct metrics *m;
    assert_int_equal(metrics_new(&m), 0);
    static const char *const l[] = {"k"};
    struct metrics_family *c = metrics_add(m, "c_total", "C.", METRICS_COUNTER, l, 1, NULL, 0);
    for (int i = 0; i < METRICS_MAX_SERIES + 10; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        const char *v[] = {k};
        metrics_inc(c, v, 1);
    }
    const char *first[] = {"k0"};
    metrics_inc(c, first, 1); /* an existing series still counts */
    char *s = render(m);
    assert_int_equal(count_of(s, "c_total{"), METRICS_MAX_SERIES);
    assert_non_null(strstr(s, "c_total{k=\"k0\"} 2\n"));
    assert_non_null(strstr(s, "intentd_metrics_updates_dropped_total 10\n"));
    free(s);
    /* a cleared family keeps its HELP and TYPE, loses its series, and has room again */
    metrics_clear(c);
    metrics_clear(NULL); /* ignored */
    const char *fresh[] = {"fresh"};
    metrics_inc(c, fresh, 3);
    s = render(m);
    assert_non_null(
        strstr(s, "# HELP c_total C.\n# TYPE c_total counter\nc_total{k=\"fresh\"} 3\n"));
    assert_int_equal(count_of(s, "c_total{"), 1);
    assert_non_null(strstr(s, "intentd_metrics_updates_dropped_total 10\n"));
    free(s);
    metrics_free(m);
}

static void render_stops_at_the_buffer_limit(void **state)
{
    (void)state;
    struct metrics *m;
    assert_int_equal(metrics_new(&m), 0);
    assert_non_null(metrics_add(m, "g", "G.", METRICS_GAUGE, NULL, 0, NULL, 0));
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(metrics_render(m, &b), IE_TOOBIG);
    buf_free(&b);
    metrics_free(m);
}

static void special_values_use_the_format_spelling(void **state)
{
    (void)state;
    struct metrics *m;
    assert_int_equal(metrics_new(&m), 0);
    static const char *const l[] = {"k"};
    struct metrics_family *g = metrics_add(m, "g", "G.", METRICS_GAUGE, l, 1, NULL, 0);
    const char *a[] = {"a"}, *b[] = {"b"}, *c[] = {"c"}, *d[] = {"d"};
    metrics_set(g, a, INFINITY);
    metrics_set(g, b, -INFINITY);
    metrics_set(g, c, NAN);
    metrics_set(g, d, 0.1);
    char *s = render(m);
    assert_non_null(
        strstr(s, "g{k=\"a\"} +Inf\ng{k=\"b\"} -Inf\ng{k=\"c\"} NaN\ng{k=\"d\"} 0.1\n"));
    free(s);
    metrics_free(m);
}

/* The engine's families: every name follows the conventions, and the fixed series (every
 * lifecycle state) exist before anything happened. */
static void engine_families_follow_the_conventions(void **state)
{
    (void)state;
    struct app_metrics *am;
    assert_int_equal(app_metrics_new(&am), 0);
    app_metrics_transitions(am, "EXECUTING", "SUCCEEDED", 1);
    app_metrics_transitions(am, "EXECUTING", "NOT_A_STATE", 1); /* ignored */
    app_metrics_attempt(am, "crm", NULL, false);
    app_metrics_attempt(am, "crm", "Connector.RateLimited", false);
    app_metrics_attempt(am, "crm", "Connector.Transient", true);
    app_metrics_deferral(am, "Connector configuration unavailable");
    app_metrics_http(am, "GET", NULL, 404);
    app_metrics_http(am, "GET", "/v1/intents/*", 1000); /* impossible status: 0 */
    struct store_stats st = {
        .connections_up = 2, .jobs_done = 7, .group_txns = 3, .group_members = 10};
    app_metrics_set_pool(am, &st);
    st.jobs_done = 9;
    st.group_txns = 4;
    st.group_members = 15;
    st.group_fallbacks = 1;
    app_metrics_set_pool(am, &st);
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(app_metrics_render(am, &b), 0);
    const char *s = b.data;
    assert_non_null(strstr(s, "intentd_intents{state=\"COMPENSATING\"} 0\n"));
    assert_non_null(strstr(s, "intentd_intent_transitions_total{from=\"EXECUTING\","
                              "to=\"SUCCEEDED\"} 1\n"));
    assert_int_equal(count_of(s, "intentd_intent_transitions_total{"), 1);
    assert_non_null(
        strstr(s, "intentd_connector_attempts_total{connector=\"crm\",outcome=\"succeeded\"} 1\n"));
    assert_non_null(strstr(
        s, "intentd_connector_attempts_total{connector=\"crm\",outcome=\"rate_limited\"} 1\n"));
    assert_non_null(
        strstr(s, "intentd_connector_attempts_total{connector=\"crm\",outcome=\"unknown\"} 1\n"));
    assert_non_null(
        strstr(s, "intentd_deferrals_total{cause=\"connector_configuration_unavailable\"} 1\n"));
    assert_non_null(strstr(s, "intentd_http_requests_total{method=\"GET\",route=\"unmatched\","
                              "status=\"404\"} 1\n"));
    assert_non_null(strstr(s, "status=\"0\"} 1\n"));
    assert_non_null(strstr(s, "intentd_db_jobs_total{result=\"done\"} 9\n"));
    assert_non_null(strstr(s, "intentd_db_pool_connections{state=\"up\"} 2\n"));
    /* totals from the store become counters that add what changed between scrapes */
    assert_non_null(strstr(s, "intentd_db_group_transactions_total 4\n"));
    assert_non_null(strstr(s, "intentd_db_group_statements_total 15\n"));
    assert_non_null(strstr(s, "intentd_db_group_fallbacks_total 1\n"));
    assert_non_null(strstr(s, "intentd_database_stats_up 0\n"));
    /* no snapshot yet: the global switch runs */
    assert_non_null(strstr(s, "intentd_toggle_mode{scope=\"global\",key=\"*\",mode=\"run\"} 1\n"));
    assert_non_null(strstr(s, "intentd_toggle_mode{scope=\"global\",key=\"*\",mode=\"kill\"} 0\n"));
    assert_int_equal(count_of(s, "intentd_toggle_mode{"), 3);
    /* every counter ends in _total and nothing else does; every name has the prefix */
    for (const char *p = s; (p = strstr(p, "# TYPE ")); p++) {
        char name[128], type[32];
        assert_int_equal(sscanf(p, "# TYPE %127s %31s", name, type), 2);
        assert_int_equal(strncmp(name, "intentd_", 8), 0);
        size_t n = strlen(name);
        bool total = n > 6 && !strcmp(name + n - 6, "_total");
        assert_int_equal(total, !strcmp(type, "counter"));
        char help[160];
        snprintf(help, sizeof help, "# HELP %s ", name);
        assert_int_equal(count_of(s, help), 1);
    }
    buf_free(&b);
    app_metrics_free(am);
    app_metrics_free(NULL);
    app_metrics_transitions(NULL, "PENDING", "EXECUTING", 1); /* no metrics: ignored */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counter_renders_help_type_once_and_every_series),
        cmocka_unit_test(label_values_and_help_are_escaped),
        cmocka_unit_test(histogram_buckets_are_cumulative),
        cmocka_unit_test(histogram_without_labels_has_only_le),
        cmocka_unit_test(registration_refuses_bad_arguments),
        cmocka_unit_test(wrong_updates_are_dropped_and_counted),
        cmocka_unit_test(series_are_bounded),
        cmocka_unit_test(render_stops_at_the_buffer_limit),
        cmocka_unit_test(special_values_use_the_format_spelling),
        cmocka_unit_test(engine_families_follow_the_conventions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
