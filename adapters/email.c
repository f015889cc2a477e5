/* The email connector: Gmail v1 drafts (docs/connectors-wire.md, "email"); it never sends.
 * Gmail does not de-duplicate drafts, so each message carries Message-ID <key@domain>, built
 * from the step's idempotency key: a draft from an earlier attempt is found by that id before
 * any retry. The message is built deterministically (no Date, fixed header order), so every
 * attempt sends the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors.h"
#include "http_common.h"
#include "params.h"

#define SUBJECT_MAX    500
#define BODY_MAX       500000
#define RECIPIENTS_MAX 100
#define USER_ID_MAX    254
#define DOMAIN_MAX     253
/* The whole RFC 2822 message: a body of BODY_MAX characters of 4 bytes, in base64, fits. */
#define MESSAGE_MAX (4 * 1024 * 1024)
/* RFC 5322's recommended line length, which folding keeps to. */
#define LINE_SOFT 78
/* Bytes of UTF-8 per RFC 2047 encoded word: 52 base64 characters, a 64-character word. */
#define WORD_BYTES 39

/* ---- validate ---- */

/* to and cc: one address, or a list of 1..RECIPIENTS_MAX. Returns how many there are. */
static size_t check_recipients(const json_t *params, const char *key, bool required,
                               struct adapter_errors *errs)
{
    char ptr[32];
    snprintf(ptr, sizeof ptr, "/%s", key);
    const json_t *v = json_object_get(params, key);
    if (!v || json_is_null(v)) {
        if (required)
            adapter_error(errs, ptr, "%s is required", key);
        return 0;
    }
    if (json_is_string(v))
        return adapter_check_email(v, ptr, key, errs) ? 1 : 0;
    if (!json_is_array(v)) {
        adapter_error(errs, ptr, "%s must be an e-mail address or a list of them", key);
        return 0;
    }
    size_t n = json_array_size(v);
    if (n == 0 || n > RECIPIENTS_MAX) {
        adapter_error(errs, ptr, "%s must list 1 to %d addresses, not %zu", key, RECIPIENTS_MAX, n);
        return 0;
    }
    size_t i;
    const json_t *a;
    json_array_foreach(v, i, a)
    {
        char item[48];
        snprintf(item, sizeof item, "/%s/%zu", key, i);
        adapter_check_email(a, item, key, errs);
    }
    return n;
}

static size_t validate_create_draft(const json_t *params, struct adapter_errors *errs)
{
    static const char *const known[] = {"to", "cc", "subject", "body", "from", NULL};
    size_t before = errs->count;
    if (!adapter_params_object(params, errs))
        return errs->count - before;
    adapter_params_known(params, "", known, errs);
    /* Every header-bound value is one line: CR or LF in it would start a header of its own. */
    check_recipients(params, "to", true, errs);
    check_recipients(params, "cc", false, errs);
    adapter_check_text(params, "subject", true, SUBJECT_MAX, false, errs);
    adapter_check_text(params, "body", true, BODY_MAX, true, errs);
    const json_t *from = json_object_get(params, "from");
    if (from && !json_is_null(from))
        adapter_check_email(from, "/from", "from", errs);
    return errs->count - before;
}

/* ---- the message ---- */

struct text {
    char *s;
    size_t n, cap;
    bool bad; /* out of memory or past MESSAGE_MAX: sticky */
};

static void add(struct text *t, const char *s, size_t n)
{
    if (t->bad)
        return;
    if (t->n + n + 1 > MESSAGE_MAX) {
        t->bad = true;
        return;
    }
    if (t->n + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->n + n + 1)
            cap *= 2;
        char *s2 = realloc(t->s, cap);
        if (!s2) {
            t->bad = true;
            return;
        }
        t->s = s2;
        t->cap = cap;
    }
    memcpy(t->s + t->n, s, n);
    t->n += n;
    t->s[t->n] = '\0';
}

static void adds(struct text *t, const char *s)
{
    add(t, s, strlen(s));
}

/* "Name: a@x.example, b@y.example", folded before an address that would pass LINE_SOFT. */
static void address_header(struct text *t, const char *name, const json_t *v)
{
    size_t col = strlen(name) + 2;
    adds(t, name);
    adds(t, ": ");
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t i = 0; i < n; i++) {
        const char *a = json_string_value(json_is_array(v) ? json_array_get(v, i) : v);
        size_t len = strlen(a);
        if (i > 0 && col + 2 + len > LINE_SOFT) {
            adds(t, ",\r\n ");
            col = 1;
        } else if (i > 0) {
            adds(t, ", ");
            col += 2;
        }
        add(t, a, len);
        col += len;
    }
    adds(t, "\r\n");
}

static bool needs_encoding(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p >= 0x7f)
            return true;
    /* Text that looks like an encoded word would be decoded by the reader. */
    return strstr(s, "=?") != NULL;
}

/* Subject as is when it is plain ASCII, else as RFC 2047 "B" encoded words of at most
 * WORD_BYTES bytes each, never splitting a UTF-8 sequence, one per folded line. */
static void subject_header(struct text *t, const char *s)
{
    adds(t, "Subject: ");
    if (!needs_encoding(s)) {
        adds(t, s);
        adds(t, "\r\n");
        return;
    }
    size_t n = strlen(s), i = 0;
    while (i < n) {
        size_t end = i + WORD_BYTES < n ? i + WORD_BYTES : n;
        while (end < n && end > i && ((unsigned char)s[end] & 0xc0) == 0x80)
            end--;
        char *b = adapter_base64(s + i, end - i, false, 0);
        if (!b) {
            t->bad = true;
            return;
        }
        if (i > 0)
            adds(t, "\r\n ");
        adds(t, "=?UTF-8?B?");
        adds(t, b);
        adds(t, "?=");
        free(b);
        i = end;
    }
    adds(t, "\r\n");
}

/* The body in canonical form (RFC 2045 §6.4): every line break CRLF, whatever was given. */
static void canonical_lines(struct text *t, const char *s)
{
    for (; *s; s++) {
        if (*s == '\r' && s[1] == '\n')
            continue;
        if (*s == '\r' || *s == '\n')
            adds(t, "\r\n");
        else
            add(t, s, 1);
    }
}

/* Builds the RFC 2822 message; NULL when out of memory or too large. The caller frees it. */
static char *message_of(const json_t *params, const char *message_id, size_t *len)
{
    struct text t = {0}, body = {0};
    address_header(&t, "To", json_object_get(params, "to"));
    const json_t *cc = json_object_get(params, "cc");
    if (cc && !json_is_null(cc))
        address_header(&t, "Cc", cc);
    const json_t *from = json_object_get(params, "from");
    if (json_is_string(from))
        address_header(&t, "From", from);
    subject_header(&t, json_string_value(json_object_get(params, "subject")));
    adds(&t, "Message-ID: ");
    adds(&t, message_id);
    adds(&t, "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
             "Content-Transfer-Encoding: base64\r\n\r\n");
    canonical_lines(&body, json_string_value(json_object_get(params, "body")));
    char *b64 = body.bad ? NULL : adapter_base64(body.s ? body.s : "", body.n, false, 76);
    if (!b64)
        t.bad = true;
    else
        adds(&t, b64);
    free(b64);
    free(body.s);
    if (t.bad) {
        free(t.s);
        return NULL;
    }
    *len = t.n;
    return t.s;
}

/* ---- requests ---- */

struct mailbox {
    const char *user;
    char message_id[ADAPTER_ID_MAX + DOMAIN_MAX + 4]; /* <key@domain> */
};

static int mailbox_of(const struct adapter_ctx *ctx, struct mailbox *m,
                      char cause[ADAPTER_MESSAGE_MAX])
{
    const char *domain;
    if (adapter_setting(ctx, "user_id", "me", USER_ID_MAX, &m->user, cause) ||
        adapter_setting(ctx, "message_id_domain", "intentd.invalid", DOMAIN_MAX, &domain, cause))
        return -1;
    if (!adapter_domain_shape(domain))
        return adapter_build_fail(cause, "setting message_id_domain must be a domain name");
    snprintf(m->message_id, sizeof m->message_id, "<%s@%s>",
             ctx->idempotency_key ? ctx->idempotency_key : "", domain);
    return 0;
}

static void drafts_path(struct adapter_path *p, const char *user)
{
    adapter_path_init(p);
    adapter_path_lit(p, "/gmail/v1/users/");
    adapter_path_esc(p, user);
    adapter_path_lit(p, "/drafts");
}

static int build_create_draft(const json_t *params, const struct adapter_ctx *ctx, json_t **request,
                              char cause[ADAPTER_MESSAGE_MAX])
{
    struct mailbox m;
    if (mailbox_of(ctx, &m, cause))
        return -1;
    size_t len;
    char *msg = message_of(params, m.message_id, &len);
    char *raw = msg ? adapter_base64(msg, len, true, 0) : NULL;
    free(msg);
    json_t *body = raw ? json_pack("{s:{s:s}}", "message", "raw", raw) : NULL;
    free(raw);
    if (!body)
        return adapter_build_fail(cause, "message too large or out of memory");
    struct adapter_path p;
    drafts_path(&p, m.user);
    return adapter_request("POST", &p, body, request, cause);
}

/* drafts.list with Gmail's search operator for the Message-ID (written without its angle
 * brackets, as Gmail's search syntax expects). */
static int build_find_draft(const json_t *params, const struct adapter_ctx *ctx, json_t **request,
                            char cause[ADAPTER_MESSAGE_MAX])
{
    (void)params;
    struct mailbox m;
    if (mailbox_of(ctx, &m, cause))
        return -1;
    char q[sizeof m.message_id + 16];
    size_t n = strlen(m.message_id);
    snprintf(q, sizeof q, "rfc822msgid:%.*s", (int)(n - 2), m.message_id + 1);
    struct adapter_path p;
    drafts_path(&p, m.user);
    adapter_path_lit(&p, "?q=");
    adapter_path_esc(&p, q);
    return adapter_request("GET", &p, NULL, request, cause);
}

/* A draft as the Task's result: {"draft_id", "message_id", "thread_id", "rfc822_message_id"};
 * what the answer does not give is null. */
static void draft_found(const json_t *draft, const struct adapter_ctx *ctx,
                        struct adapter_outcome *out)
{
    struct mailbox m;
    if (mailbox_of(ctx, &m, NULL))
        m.message_id[0] = '\0';
    char id[ADAPTER_ID_MAX], mid[ADAPTER_ID_MAX], tid[ADAPTER_ID_MAX];
    const json_t *msg = json_object_get(draft, "message");
    const char *d = adapter_id_text(json_object_get(draft, "id"), id, sizeof id);
    const char *mi = adapter_id_text(json_object_get(msg, "id"), mid, sizeof mid);
    const char *ti = adapter_id_text(json_object_get(msg, "threadId"), tid, sizeof tid);
    adapter_ok(out, d,
               json_pack("{s:s?, s:s?, s:s?, s:s}", "draft_id", d, "message_id", mi, "thread_id",
                         ti, "rfc822_message_id", m.message_id));
}

static void classify_create_draft(const json_t *params, const struct adapter_ctx *ctx,
                                  const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)params;
    if (!adapter_is_2xx(resp->status)) {
        adapter_classify_google(resp, out);
        return;
    }
    json_t *body = adapter_body_object(resp);
    draft_found(body, ctx, out);
    json_decref(body);
}

static void classify_find_draft(const json_t *params, const struct adapter_ctx *ctx,
                                const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)params;
    if (!adapter_is_2xx(resp->status)) {
        adapter_classify_google(resp, out);
        return;
    }
    json_t *body = adapter_body_object(resp);
    const json_t *drafts = json_object_get(body, "drafts");
    if (!body)
        adapter_fail(out, ADAPTER_PERMANENT, "HTTP %ld: drafts list that is not JSON",
                     resp->status);
    else if (json_array_size(drafts) == 0)
        adapter_fail(out, ADAPTER_ABSENT, "no draft carries this step's Message-ID");
    else
        draft_found(json_array_get(drafts, 0), ctx, out);
    json_decref(body);
}

static int build_delete_draft(const json_t *params, const struct adapter_ctx *ctx, json_t **request,
                              char cause[ADAPTER_MESSAGE_MAX])
{
    (void)params;
    struct mailbox m;
    char id[ADAPTER_ID_MAX];
    if (mailbox_of(ctx, &m, cause))
        return -1;
    if (!adapter_done_id(ctx, "draft_id", id, sizeof id))
        return adapter_build_fail(cause, "no draft id was recorded for the step to undo");
    struct adapter_path p;
    drafts_path(&p, m.user);
    adapter_path_lit(&p, "/");
    adapter_path_esc(&p, id);
    return adapter_request("DELETE", &p, NULL, request, cause);
}

/* 2xx deleted; 404 deleted before (or sent by someone: a sent draft is no longer a draft). */
static void classify_delete_draft(const json_t *params, const struct adapter_ctx *ctx,
                                  const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)params;
    char id[ADAPTER_ID_MAX] = "";
    adapter_done_id(ctx, "draft_id", id, sizeof id);
    if (adapter_is_2xx(resp->status) || resp->status == 404)
        adapter_ok(out, id,
                   json_pack("{s:s, s:b, s:b}", "draft_id", id, "deleted", 1, "already_gone",
                             resp->status == 404));
    else
        adapter_classify_google(resp, out);
}

const struct adapter_op email_create_draft = {
    .name = "email.create_draft",
    .reversible = true,
    .validate = validate_create_draft,
    .build_request = build_create_draft,
    .classify = classify_create_draft,
    .build_reconcile = build_find_draft,
    .classify_reconcile = classify_find_draft,
};

const struct adapter_op email_delete_draft = {
    .name = "email.delete_draft",
    .repeat_safe = true,
    .validate = adapter_params_any,
    .build_request = build_delete_draft,
    .classify = classify_delete_draft,
};
