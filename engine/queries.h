/* Every SQL statement the engine sends while serving, in one place, next to the store that runs
 * them. Parameters are always bound ($n), never spliced into the text. The functions called here
 * live in engine/sql/. */
#ifndef INTENTD_QUERIES_H
#define INTENTD_QUERIES_H

#define Q_TOKEN_LOOKUP                                                                             \
    "SELECT tenant_id, role FROM intentd.tokens "                                                  \
    "WHERE token_hash = decode($1, 'hex') AND revoked_at IS NULL"

/* The current key and its version; the previous key and how many milliseconds it has left,
 * only while its overlap lasts (the database's clock decides, not the node's). */
#define Q_TENANT_KEY                                                                               \
    "SELECT approval_key_enc, key_version, "                                                       \
    "CASE WHEN previous_expires_at > now() THEN previous_key_enc END, "                            \
    "greatest(0, ceil(extract(epoch FROM previous_expires_at - now()) * 1000))::bigint "           \
    "FROM intentd.tenants WHERE tenant_id = $1"

#define TS_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* $1 one tenant or NULL for all, $2 after this id, $3 limit. */
#define Q_TENANTS_LIST                                                                             \
    "SELECT n.tenant_id, " TS_UTC(                                                                 \
        "n.created_at") ", n.key_version, "                                                        \
                        "(SELECT count(*) FROM intentd.tokens k WHERE k.tenant_id = n.tenant_id "  \
                        "AND k.revoked_at IS NULL) FROM intentd.tenants n "                        \
                        "WHERE ($1::text IS NULL OR n.tenant_id = $1) AND n.tenant_id > $2 "       \
                        "ORDER BY n.tenant_id LIMIT $3::int"

/* $1 tenant: NULL rows when the tenant does not exist, else one row per token (token_id NULL
 * when it has none). */
#define Q_TOKENS_LIST                                                                              \
    "SELECT k.token_id, k.role, " TS_UTC("k.created_at") ", " TS_UTC(                              \
        "k.revoked_at") " "                                                                        \
                        "FROM intentd.tenants n LEFT JOIN intentd.tokens k ON k.tenant_id = "      \
                        "n.tenant_id "                                                             \
                        "WHERE n.tenant_id = $1 ORDER BY k.created_at, k.token_id"
#define Q_TOKEN_REVOKE                                                                             \
    "SELECT result, role, " TS_UTC("created_at") ", " TS_UTC(                                      \
        "revoked_at") " "                                                                          \
                      "FROM intentd.revoke_token($1, $2, $3, $4)"
/* $1 tenant, $2 sealed key, $3 overlap seconds, $4 actor, $5 node. */
#define Q_KEY_ROTATE                                                                               \
    "SELECT key_version, previous_version, " TS_UTC(                                               \
        "previous_expires_at") ", dropped_version "                                                \
                               "FROM intentd.rotate_key($1, $2, $3::int, $4, $5)"
#define Q_KEYS_LIST                                                                                \
    "SELECT key_version, " TS_UTC("key_created_at") ", previous_key_enc IS NOT NULL, " TS_UTC(     \
        "previous_key_created_at") ", " TS_UTC("previous_expires_at") ", "                         \
                                                                      "previous_expires_at > "     \
                                                                      "now() FROM "                \
                                                                      "intentd.tenants WHERE "     \
                                                                      "tenant_id = $1"

/* check_key_versions refuses (SQLSTATE 28000) a group holding a submission verified with a key
 * rotated out since this node cached it. */
#define Q_SUBMIT                                                                                   \
    "SELECT req, idx, status, state FROM "                                                         \
    "intentd.submit($1, intentd.check_key_versions($2::jsonb), $3::jsonb)"

#define Q_CREATE_TENANT "SELECT intentd.create_tenant($1, $2, $3::jsonb, $4, $5)"
#define Q_CREATE_TOKEN  "SELECT intentd.create_token($1, $2, $3, $4, $5)"

#define Q_CANCEL "SELECT result, state FROM intentd.cancel($1, $2, $3, $4, $5)"
#define Q_OPERATOR_COMPENSATE                                                                      \
    "SELECT result, state, steps::text FROM intentd.operator_compensate($1, $2, $3::boolean, $4, " \
    "$5, $6)"
#define Q_OPERATOR_REDRIVE "SELECT result, state FROM intentd.operator_redrive($1, $2, $3, $4, $5)"

#define Q_CLAIM                                                                                    \
    "SELECT tenant_id, action_intent_id, action_type, account_id, state, step_name, "              \
    "step_input::text, step_attempts, wait_until_epoch, fence, version, expires_epoch, "           \
    "parameters::text, attempts, started_epoch, cancel_requested, completed::text, "               \
    "call_inflight::text, step_prior::text, compensate_to, terminal_reason, submitted_us "         \
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
    "to_char(wait_until AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "                \
    "completed::text, held_by, compensate_to"

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
    IC_COMPLETED,
    IC_HELD_BY,
    IC_COMPENSATE_TO,
    IC__COUNT
};

/* Single intents are read from intents_all (engine/sql/009_retention.sql): an intent the
 * retention sweep moved to the archive still answers with everything it had. */
#define Q_GET_INTENT                                                                               \
    "SELECT " INTENT_COLUMNS ", output::text FROM intentd.intents_all "                            \
    "WHERE tenant_id = $1 AND action_intent_id = $2"

/* An admin without a tenant looks an id up across tenants (ids are unique per tenant only). */
#define Q_FIND_INTENT_ANY_TENANT                                                                   \
    "SELECT " INTENT_COLUMNS ", output::text FROM intentd.intents_all "                            \
    "WHERE action_intent_id = $1 ORDER BY tenant_id LIMIT 2"

#define Q_TIMELINE                                                                                 \
    "SELECT seq, event, from_state, to_state, node_id, actor, payload::text, "                     \
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "                 \
    "FROM intentd.ledger WHERE tenant_id = $1 AND action_intent_id = $2 ORDER BY seq"

#define Q_INTENT_DOC                                                                               \
    "SELECT intent::text FROM intentd.intents_all WHERE tenant_id = $1 AND action_intent_id = $2"

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

/* Where verification starts: after the newest archived range that ends just before the first
 * retained row (seq 0 and the genesis hash when nothing was archived). Also answers the first
 * retained seq, so a gap before it with no archive record is reported as rows missing. */
#define Q_LEDGER_ANCHOR                                                                            \
    "SELECT coalesce(a.to_seq, 0), encode(coalesce(a.last_hash, "                                  \
    "decode(repeat('00', 32), 'hex')), 'hex') FROM (SELECT min(seq) AS first FROM "                \
    "intentd.ledger) f LEFT JOIN intentd.ledger_archives a ON a.to_seq = f.first - 1"

/* Retention (engine/retention.c): one batch of the sweep, and the ledger's partitions ahead. */
#define Q_RETENTION_SWEEP "SELECT intentd.retention_sweep($1::bigint, $2::int)"
#define Q_LEDGER_ENSURE_PARTITIONS                                                                 \
    "SELECT array_to_string(intentd.ledger_ensure_partitions($1::int), ', ')"

/* Ledger export: every column in seq order (keyset by seq), hashes in hex, created_at in UTC
 * with microseconds and as the integer microseconds ledger_canon hashes over. */
#define Q_LEDGER_EXPORT                                                                            \
    "SELECT seq, tenant_id, action_intent_id, event, from_state, to_state, node_id, actor, "       \
    "payload::text, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), " \
    "(extract(epoch FROM created_at) * 1000000)::bigint, encode(prev_hash, 'hex'), "               \
    "encode(hash, 'hex') FROM intentd.ledger WHERE seq > $1::bigint "                              \
    "AND ($2::text IS NULL OR tenant_id = $2) "                                                    \
    "AND ($3::timestamptz IS NULL OR created_at >= $3::timestamptz) "                              \
    "AND ($4::timestamptz IS NULL OR created_at < $4::timestamptz) ORDER BY seq LIMIT $5::int"

/* Terminal transitions of a tenant after a ledger seq, with what the upstream system needs. */
#define Q_SIGNALS                                                                                  \
    "SELECT l.seq, l.action_intent_id, l.from_state, l.to_state, "                                 \
    "to_char(l.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "              \
    "i.action_type, i.account_id, i.completed::text, l.payload ->> 'reason', "                     \
    "i.last_error::text, "                                                                         \
    "i.intent -> 'decision' ->> 'decision_id', "                                                   \
    "EXISTS (SELECT 1 FROM intentd.ledger o WHERE o.tenant_id = l.tenant_id "                      \
    "AND o.action_intent_id = l.action_intent_id AND o.event = 'operator.compensate' "             \
    "AND o.seq < l.seq) "                                                                          \
    "FROM intentd.ledger l JOIN intentd.intents_all i "                                            \
    "ON i.tenant_id = l.tenant_id AND i.action_intent_id = l.action_intent_id "                    \
    "WHERE l.tenant_id = $1 AND l.seq > $2::bigint AND l.event = 'intent.transition' "             \
    "AND l.to_state IN ('SUCCEEDED', 'FAILED', 'EXPIRED', 'CANCELLED') ORDER BY l.seq LIMIT "      \
    "$3::int"

#define Q_TAKE_ALERTS                                                                              \
    "SELECT tenant_id, action_intent_id, kind, text, attempts FROM intentd.take_alerts($1::int, "  \
    "$2::int)"
#define Q_ALERT_DONE "SELECT intentd.alert_done($1, $2, $3, $4::boolean, $5, $6::int)"

/* Signal push (engine/sql/006_signal_push.sql). */
#define SIGNAL_PUSH_COLUMNS                                                                        \
    "tenant_id, url, last_seq, attempts, last_error, "                                             \
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), updated_by, "    \
    "to_char(next_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
#define Q_SIGNAL_PUSH_PUT                                                                          \
    "SELECT " SIGNAL_PUSH_COLUMNS " FROM intentd.put_signal_push($1, $2, $3, $4)"
#define Q_SIGNAL_PUSH_GET                                                                          \
    "SELECT " SIGNAL_PUSH_COLUMNS " FROM intentd.signal_push WHERE tenant_id = $1"
#define Q_SIGNAL_PUSH_DELETE "SELECT intentd.delete_signal_push($1, $2, $3)"
/* $1 limit, $2 lease seconds, $3 node id. */
#define Q_SIGNAL_PUSH_TAKE                                                                         \
    "SELECT tenant_id, url, last_seq, attempts FROM intentd.take_signal_push($1::int, $2::int, "   \
    "$3)"
/* $1 tenant, $2 url, $3 last_seq read, $4 last seq sent, $5 node id. */
#define Q_SIGNAL_PUSH_ACKED "SELECT intentd.signal_push_acked($1, $2, $3::bigint, $4::bigint, $5)"
/* $1 tenant, $2 url, $3 last_seq read, $4 error, $5 retry seconds, $6 node id. */
#define Q_SIGNAL_PUSH_FAILED                                                                       \
    "SELECT intentd.signal_push_failed($1, $2, $3::bigint, $4, $5::int, $6)"

/* Takes up to $3 tokens from the shared bucket of (tenant $1, connector $2), refilled at $4 per
 * second up to $5 (engine/sql/004_guards.sql); answers how many were granted. */
#define Q_TAKE_TOKENS "SELECT intentd.take_tokens($1, $2, $3::int, $4::float8, $5::int)"

#define Q_READY "SELECT coalesce(max(version), 0) FROM intentd.schema_migrations"

/* Connector configurations (engine/sql/003_connectors.sql). Secret columns come back sealed; the
 * API only tests them for NULL, the cache (connectors.c) opens them. */
#define CONNECTOR_COLUMNS                                                                          \
    "tenant_id, connector, base_url_enc, auth_kind, token_url, client_id, settings::text, "        \
    "limits::text, token_enc, client_secret_enc, refresh_token_enc, access_token_enc, "            \
    "extract(epoch FROM access_expires_at)::float8, version, "                                     \
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), updated_by"

/* Columns of CONNECTOR_COLUMNS by position. */
enum connector_col {
    CC_TENANT,
    CC_CONNECTOR,
    CC_BASE_URL_ENC,
    CC_AUTH,
    CC_TOKEN_URL,
    CC_CLIENT_ID,
    CC_SETTINGS,
    CC_LIMITS,
    CC_TOKEN_ENC,
    CC_CLIENT_SECRET_ENC,
    CC_REFRESH_TOKEN_ENC,
    CC_ACCESS_TOKEN_ENC,
    CC_ACCESS_EXPIRES,
    CC_VERSION,
    CC_UPDATED_AT,
    CC_UPDATED_BY,
    CC__COUNT
};

#define Q_CONNECTOR_GET                                                                            \
    "SELECT " CONNECTOR_COLUMNS " FROM intentd.connectors WHERE tenant_id = $1 AND connector = $2"

/* $1 tenant (NULL = every tenant, global admin only). */
#define Q_CONNECTOR_LIST                                                                           \
    "SELECT " CONNECTOR_COLUMNS " FROM intentd.connectors "                                        \
    "WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY tenant_id, connector LIMIT 10000"

/* $1 tenant, $2 connector, $3 base_url_enc, $4 auth kind, $5 token_enc, $6 client_secret_enc,
 * $7 refresh_token_enc, $8 token_url, $9 client_id, $10 settings, $11 limits, $12 actor,
 * $13 node. No row: no such tenant. */
#define Q_CONNECTOR_PUT                                                                            \
    "SELECT " CONNECTOR_COLUMNS " FROM intentd.put_connector($1, $2, $3, $4, $5, $6, $7, $8, "     \
    "$9, $10::jsonb, $11::jsonb, $12, $13)"

#define Q_CONNECTOR_DELETE "SELECT intentd.delete_connector($1, $2, $3, $4)"

/* $1 tenant, $2 connector, $3 sealed token, $4 expiry epoch (0 unknown), $5 expected version.
 * NULL: the configuration changed meanwhile. */
#define Q_CONNECTOR_SAVE_TOKEN                                                                     \
    "SELECT intentd.save_access_token($1, $2, $3, $4::float8, $5::bigint)"

/* Kill switches (007_toggles.sql). The snapshot every node keeps: toggles not in run. */
#define Q_TOGGLES_SNAPSHOT                                                                         \
    "SELECT scope, key, mode FROM intentd.toggles WHERE mode <> 'run' ORDER BY scope, key "        \
    "LIMIT 4097"
/* $1 scope, $2 key, $3 mode, $4 reason, $5 actor, $6 node id, $7 resume window ms, $8 the
 * action types a connector scope covers (text[] literal). */
#define Q_TOGGLE_SET                                                                               \
    "SELECT changed, previous, affected, "                                                         \
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), updated_by "     \
    "FROM intentd.set_toggle($1, $2, $3, $4, $5, $6, $7::int, $8::text[])"
/* $1 tenant (NULL: all): the toggles that can cover its intents. */
#define Q_TOGGLES_LIST                                                                             \
    "SELECT scope, key, mode, reason, "                                                            \
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), updated_by "     \
    "FROM intentd.toggles WHERE $1::text IS NULL OR split_part(key, '/', 1) IN ('*', $1) "         \
    "ORDER BY scope, key LIMIT 10000"

#endif
