/* Every SQL statement the engine sends while serving, in one place, next to the store that runs
 * them. Parameters are always bound ($n), never spliced into the text. The functions called here
 * live in engine/sql/. */
#ifndef INTENTD_QUERIES_H
#define INTENTD_QUERIES_H

#define Q_TOKEN_LOOKUP                                                                             \
    "SELECT tenant_id, role FROM intentd.tokens "                                                  \
    "WHERE token_hash = decode($1, 'hex') AND revoked_at IS NULL"

#define Q_TENANT_KEY "SELECT approval_key_enc FROM intentd.tenants WHERE tenant_id = $1"

#define Q_SUBMIT "SELECT req, idx, status, state FROM intentd.submit($1, $2::jsonb, $3::jsonb)"

#define Q_CREATE_TENANT "SELECT intentd.create_tenant($1, $2, $3::jsonb, $4, $5)"
#define Q_CREATE_TOKEN  "SELECT intentd.create_token($1, $2, $3, $4, $5)"

#define Q_CANCEL "SELECT result, state FROM intentd.cancel($1, $2, $3, $4, $5)"

#define Q_CLAIM                                                                                    \
    "SELECT tenant_id, action_intent_id, action_type, account_id, state, step_name, "              \
    "step_input::text, step_attempts, wait_until_epoch, fence, version, expires_epoch, "           \
    "parameters::text, attempts, started_epoch "                                                   \
    "FROM intentd.claim($1, $2::int, $3::int, $4::int)"

#define Q_APPLY "SELECT idx, result, version, cancel_requested FROM intentd.apply($1, $2::jsonb)"

#define Q_RENEW   "SELECT intentd.renew($1, $2::int, $3::jsonb)"
#define Q_RELEASE "SELECT intentd.release($1)"

#define INTENT_COLUMNS                                                                             \
    "tenant_id, action_intent_id, account_id, action_type, state, step_name, attempts, "           \
    "crash_attempts, priority, cancel_requested, terminal_reason, last_error::text, "              \
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "                \
    "to_char(submitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "              \
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "                \
    "to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "                \
    "extract(epoch FROM expires_at)::bigint, lease_owner, wait_until IS NOT NULL, "                \
    "to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "               \
    "to_char(wait_until AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* Columns of INTENT_COLUMNS by position. */
enum intent_col {
    IC_TENANT,
    IC_ID,
    IC_ACCOUNT,
    IC_TYPE,
    IC_STATE,
    IC_STEP,
    IC_ATTEMPTS,
    IC_CRASHES,
    IC_PRIORITY,
    IC_CANCEL_REQ,
    IC_TERMINAL_REASON,
    IC_LAST_ERROR,
    IC_CREATED,
    IC_SUBMITTED,
    IC_UPDATED,
    IC_EXPIRES,
    IC_EXPIRES_EPOCH,
    IC_LEASE_OWNER,
    IC_WAITING,
    IC_FINISHED,
    IC_WAIT_UNTIL,
    IC__COUNT
};

#define Q_GET_INTENT                                                                               \
    "SELECT " INTENT_COLUMNS ", output::text FROM intentd.intents "                                \
    "WHERE tenant_id = $1 AND action_intent_id = $2"

/* An admin without a tenant looks an id up across tenants (ids are unique per tenant only). */
#define Q_FIND_INTENT_ANY_TENANT                                                                   \
    "SELECT " INTENT_COLUMNS ", output::text FROM intentd.intents "                                \
    "WHERE action_intent_id = $1 ORDER BY tenant_id LIMIT 2"

#define Q_TIMELINE                                                                                 \
    "SELECT seq, event, from_state, to_state, node_id, actor, payload::text, "                     \
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "                 \
    "FROM intentd.ledger WHERE tenant_id = $1 AND action_intent_id = $2 ORDER BY seq"

#define Q_INTENT_DOC                                                                               \
    "SELECT intent::text FROM intentd.intents WHERE tenant_id = $1 AND action_intent_id = $2"

/* Keyset pagination, newest first: $1 tenant (NULL = all, admin only), $2 account (NULL = any),
 * $3 state, $4 action_type, $5 since, $6 until, $7 cursor submitted_at, $8 cursor tenant,
 * $9 cursor id, $10 limit + 1. */
#define Q_LIST                                                                                     \
    "SELECT " INTENT_COLUMNS " FROM intentd.intents "                                              \
    "WHERE ($1::text IS NULL OR tenant_id = $1) "                                                  \
    "AND ($2::text IS NULL OR account_id = $2) "                                                   \
    "AND ($3::text IS NULL OR state = $3) "                                                        \
    "AND ($4::text IS NULL OR action_type = $4) "                                                  \
    "AND ($5::timestamptz IS NULL OR submitted_at >= $5) "                                         \
    "AND ($6::timestamptz IS NULL OR submitted_at < $6) "                                          \
    "AND ($7::timestamptz IS NULL OR (submitted_at, tenant_id, action_intent_id) < "               \
    "($7::timestamptz, $8::text, $9::text)) "                                                      \
    "ORDER BY submitted_at DESC, tenant_id DESC, action_intent_id DESC LIMIT $10::int"

/* Ledger verification reads the chain in pages and recomputes every hash in C. */
#define Q_LEDGER_PAGE                                                                              \
    "SELECT seq, encode(prev_hash, 'hex'), encode(hash, 'hex'), intentd.ledger_canon(l) "          \
    "FROM intentd.ledger l WHERE seq > $1::bigint ORDER BY seq LIMIT $2::int"

/* Takes up to $3 tokens from the shared bucket of (tenant $1, connector $2), refilled at $4 per
 * second up to $5 (engine/sql/004_guards.sql); answers how many were granted. */
#define Q_TAKE_TOKENS "SELECT intentd.take_tokens($1, $2, $3::int, $4::float8, $5::int)"

#define Q_READY "SELECT coalesce(max(version), 0) FROM intentd.schema_migrations"

#endif
