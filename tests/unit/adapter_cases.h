/* Table helpers shared by the HTTP adapter unit tests: validate() cases checked by JSON
 * Pointer, request descriptions compared as JSON, and classify() cases. Include after cmocka.h
 * and test_json.h. */
#ifndef INTENTD_TEST_ADAPTER_CASES_H
#define INTENTD_TEST_ADAPTER_CASES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))
/* A step key as the engine derives them: "ik_" and 40 hex digits. */
#define KEY "ik_0123456789abcdef0123456789abcdef01234567"

static inline const struct adapter_op *op_of(const char *name)
{
    const struct adapter_op *op = adapter_find(name);

    if (!op)
        print_error("no operation %s\n", name);
    assert_non_null(op);
    return op;
}

/* One validate() case: params as JSON text and the pointers of the expected errors. */
struct vcase {
    const char *op;
    const char *params;
    const char *want[4];
    size_t nwant;
};

/* Runs op's validate on params; prints what differs and returns false on a mismatch. */
static inline bool check_errors(const char *opname, const json_t *params, const char *const *want,
                                size_t nwant, const char *what)
{
    const struct adapter_op *op = op_of(opname);
    struct adapter_errors errs = {0};
    size_t n = op->validate(params, &errs);
    bool ok = n == nwant && errs.count == nwant;

    for (size_t i = 0; ok && i < nwant; i++)
        ok = !strcmp(errs.items[i].pointer, want[i]) && errs.items[i].message[0] != '\0';
    if (!ok) {
        char *s = json_dumps(params, JSON_COMPACT | JSON_ENCODE_ANY);

        print_error("%s: %s %.160s: got %zu error(s):\n", what, opname, s ? s : "?", n);
        for (size_t i = 0; i < errs.count; i++)
            print_error("  \"%s\": %s\n", errs.items[i].pointer, errs.items[i].message);
        print_error("want %zu:\n", nwant);
        for (size_t i = 0; i < nwant; i++)
            print_error("  \"%s\"\n", want[i]);
        free(s);
    }
    return ok;
}

/* Tries every case, so that a failure lists all the mismatching ones. */
static inline void run_cases(const struct vcase *cases, size_t n)
{
    size_t failed = 0;

    for (size_t i = 0; i < n; i++) {
        json_t *p = doc_of(cases[i].params);
        char what[32];

        snprintf(what, sizeof what, "case %zu", i);
        failed += !check_errors(cases[i].op, p, cases[i].want, cases[i].nwant, what);
        json_decref(p);
    }
    assert_int_equal(failed, 0);
}

/* The context every test runs under; settings, prior and done as JSON text (NULL: none, and
 * settings then "{}"). The returned documents are released by ctx_free. */
struct test_ctx {
    struct adapter_ctx ctx;
    json_t *settings, *prior, *done;
};

static inline void ctx_init(struct test_ctx *t, const char *settings, const char *prior,
                            const char *done)
{
    t->settings = doc_of(settings ? settings : "{}");
    t->prior = prior ? doc_of(prior) : NULL;
    t->done = done ? doc_of(done) : NULL;
    t->ctx = (struct adapter_ctx){
        .tenant_id = "ten_1",
        .action_intent_id = "ai_1",
        .account_id = "acct_1",
        .step = "Step",
        .idempotency_key = KEY,
        .settings = t->settings,
        .prior = t->prior,
        .done = t->done,
    };
}

static inline void ctx_free(struct test_ctx *t)
{
    json_decref(t->settings);
    json_decref(t->prior);
    json_decref(t->done);
}

/* Builds with fn and compares the request description with want (JSON text). */
static inline void expect_build(adapter_build_fn fn, const char *params,
                                const struct adapter_ctx *ctx, const char *want)
{
    json_t *p = doc_of(params), *req = NULL;
    char cause[ADAPTER_MESSAGE_MAX] = "";

    assert_non_null(fn);
    if (fn(p, ctx, &req, cause))
        print_error("build failed: %s\n", cause);
    assert_non_null(req);
    assert_json_eq(req, want);
    assert_int_equal(req->refcount, 1);
    json_decref(req);
    json_decref(p);
}

/* Builds with fn, which must fail with a cause containing has. */
static inline void expect_build_fails(adapter_build_fn fn, const char *params,
                                      const struct adapter_ctx *ctx, const char *has)
{
    json_t *p = doc_of(params), *req = NULL;
    char cause[ADAPTER_MESSAGE_MAX] = "";

    assert_int_equal(fn(p, ctx, &req, cause), -1);
    assert_null(req);
    if (!strstr(cause, has))
        print_error("cause \"%s\" does not contain \"%s\"\n", cause, has);
    assert_non_null(strstr(cause, has));
    json_decref(p);
}

/* One classify() case: a response and the outcome wanted. result is JSON text (ADAPTER_OK
 * only); cause_has, when not NULL, must appear in the cause. */
struct ccase {
    long status;
    const char *body;
    enum adapter_verdict verdict;
    const char *external_id;
    const char *result;
    const char *cause_has;
};

static inline bool check_outcome(adapter_classify_fn fn, const json_t *params,
                                 const struct adapter_ctx *ctx, const struct ccase *c, size_t i)
{
    struct adapter_response resp = {
        .status = c->status, .body = c->body, .body_len = strlen(c->body)};
    struct adapter_outcome out;

    memset(&out, 0x5a, sizeof out); /* every field must be set */
    fn(params, ctx, &resp, &out);
    bool ok = out.verdict == c->verdict && out.retry_after_s < 0 &&
              memchr(out.external_id, '\0', sizeof out.external_id) &&
              memchr(out.cause, '\0', sizeof out.cause);
    if (ok && c->verdict == ADAPTER_OK) {
        json_t *want = doc_of(c->result);

        ok = out.result && json_equal(out.result, want) &&
             !strcmp(out.external_id, c->external_id ? c->external_id : "");
        json_decref(want);
    } else if (ok) {
        ok = out.result == NULL && out.cause[0] != '\0';
    }
    if (ok && c->cause_has)
        ok = strstr(out.cause, c->cause_has) != NULL;
    if (!ok) {
        char *r = out.verdict == ADAPTER_OK && out.result
                      ? json_dumps(out.result, JSON_COMPACT | JSON_SORT_KEYS)
                      : NULL;

        print_error("case %zu (HTTP %ld %.60s): verdict %d (want %d), id \"%.40s\", result %s, "
                    "cause \"%.120s\"\n",
                    i, c->status, c->body, (int)out.verdict, (int)c->verdict,
                    memchr(out.external_id, '\0', sizeof out.external_id) ? out.external_id : "?",
                    r ? r : "-", memchr(out.cause, '\0', sizeof out.cause) ? out.cause : "?");
        free(r);
    }
    if (out.verdict == ADAPTER_OK && out.result)
        json_decref(out.result);
    return ok;
}

static inline void run_classify(adapter_classify_fn fn, const char *params,
                                const struct adapter_ctx *ctx, const struct ccase *cases, size_t n)
{
    json_t *p = doc_of(params);
    size_t failed = 0;

    assert_non_null(fn);
    for (size_t i = 0; i < n; i++)
        failed += !check_outcome(fn, p, ctx, &cases[i], i);
    json_decref(p);
    assert_int_equal(failed, 0);
}

#endif
