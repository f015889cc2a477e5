-- intentd schema, version 15: claims and step outcomes cost the same on a table of a million
-- intents as on a table of a hundred, whenever their plans were made.
--
-- PL/pgSQL plans each statement of a function once per connection; after five calls it keeps
-- a generic plan, made from the table sizes of that moment and kept until an ANALYZE of the
-- table invalidates it. A node that starts on a new database plans while the tables are
-- nearly empty, and autovacuum's first ANALYZE comes a minute or more later. On such estimates
-- reading a whole table looks as cheap as probing it, and any index led by tenant_id looks as
-- good as the primary key for a lookup by (tenant_id, action_intent_id), though
-- intents_by_account and intents_by_time then read every entry of the tenant. auto_explain
-- under the latency benchmark (phase (d) on a fresh database) showed, among others:
--   * intentd.apply voided compensated records with UPDATE ... FROM joins, planned as a
--     sequential scan of internal_tasks on every call, voids or not (8 ms a call at 5,000
--     tasks, growing with the table); its row locks, update and result joined intents by
--     hash joins over sequential scans (5 ms a call at 4,900 intents);
--   * intentd.claim joined the rows it picked back to intents the same way (6.6 ms at 5,700
--     intents), and its update probed intents_by_account by tenant alone.
-- Now every join of these two functions to intents is a nested loop (hash and merge joins, and
-- for apply sequential scans, are off for them) probing by the key, the account and the
-- submission time, which pins one row whichever index serves the probe; apply matches its ops
-- with what it applied through a JSON object instead of joins of JSON arrays, reads intents for
-- its result only for ops that did not apply, and voids by primary key, only when an outcome
-- carries a void. Results, ledger rows and stored rows are unchanged.

-- Each claimed row now also says when it was submitted (microseconds since the epoch, exact), so
-- that the step outcomes the engine applies later can name the row by every column of every
-- index that could serve the probe (intentd.apply, below). The result type changes, hence DROP.
ALTER TYPE intentd.claimed ADD ATTRIBUTE submitted_us bigint;
DROP FUNCTION intentd.claim(text, int, int, int);
CREATE FUNCTION intentd.claim(p_node text, p_limit int, p_lease_s int, p_quarantine int)
RETURNS TABLE (tenant_id text, action_intent_id text, action_type text, account_id text,
               state text, step_name text, step_input jsonb, step_attempts int,
               wait_until_epoch double precision, fence bigint, version bigint,
               expires_epoch bigint, parameters jsonb, attempts int,
               started_epoch double precision, cancel_requested boolean, completed jsonb,
               call_inflight jsonb, step_prior jsonb, compensate_to text,
               terminal_reason text, submitted_us bigint)
LANGUAGE plpgsql
-- only nested loops (see the top of this file)
SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
#variable_conflict use_column
DECLARE
    res intentd.claimed[];
    led jsonb;
BEGIN
    WITH pick AS (
        -- everything the claim decides on is read here, from the rows it locks; the update
        -- below finds them again by every column of every index that could serve it, so
        -- whichever index its plan probes, a probe is one row
        SELECT c.* FROM (
            SELECT i.*, row_number() OVER (PARTITION BY i.tenant_id
                                           ORDER BY i.priority DESC, i.due_at) AS rn
            FROM intentd.tenants tn CROSS JOIN LATERAL (
                SELECT q.tenant_id, q.action_intent_id, q.account_id, q.submitted_at,
                       q.priority, q.due_at, q.state, q.in_hand, q.lease_owner, q.step_name,
                       q.cancel_reason, q.cancel_requested, q.crash_attempts, q.completed,
                       q.expires_at
                FROM intentd.intents q
                WHERE q.tenant_id = tn.tenant_id
                  AND q.state IN ('PENDING', 'EXECUTING', 'COMPENSATING')
                  AND q.due_at <= now()
                  AND (q.lease_owner IS NULL OR q.lease_expires_at < now())
                ORDER BY q.priority DESC, q.due_at
                LIMIT p_limit
                FOR UPDATE SKIP LOCKED) i
        ) c ORDER BY c.rn, c.priority DESC, c.due_at LIMIT p_limit
    ), cur AS (
        SELECT q.tenant_id, q.action_intent_id, q.account_id, q.submitted_at,
               q.state AS old_state, q.in_hand,
               q.lease_owner AS prev_owner, q.step_name AS old_step, q.cancel_reason,
               q.crash_attempts + q.in_hand::int AS crashes,
               -- an intent with succeeded Tasks to undo ends through the engine, which
               -- compensates them first; COMPENSATING runs on whatever the deadline or a
               -- cancel say, since undoing is never late
               CASE WHEN q.crash_attempts + q.in_hand::int >= p_quarantine THEN 'FAILED'
                    WHEN q.state = 'COMPENSATING' THEN 'COMPENSATING'
                    WHEN CASE WHEN q.completed = '[]'::jsonb THEN false
                              ELSE intentd.has_compensable(q.completed) END THEN 'EXECUTING'
                    WHEN q.cancel_requested THEN 'CANCELLED'
                    WHEN now() >= q.expires_at THEN 'EXPIRED'
                    ELSE 'EXECUTING' END AS new_state
        FROM pick q
    ), upd AS (
        UPDATE intentd.intents q SET
            state = d.new_state,
            crash_attempts = d.crashes,
            in_hand = d.new_state IN ('EXECUTING', 'COMPENSATING'),
            lease_owner = CASE WHEN d.new_state IN ('EXECUTING', 'COMPENSATING') THEN p_node END,
            lease_expires_at = CASE WHEN d.new_state IN ('EXECUTING', 'COMPENSATING')
                                    THEN now() + make_interval(secs => p_lease_s) END,
            fence = q.fence + 1,
            version = q.version + 1,
            started_at = CASE WHEN d.new_state = 'EXECUTING' THEN coalesce(q.started_at, now())
                              ELSE q.started_at END,
            terminal_reason = CASE d.new_state
                WHEN 'FAILED' THEN 'quarantined'
                WHEN 'CANCELLED' THEN 'cancelled: ' || coalesce(d.cancel_reason, '')
                WHEN 'EXPIRED' THEN CASE WHEN d.old_state = 'PENDING'
                                         THEN 'expired before it started'
                                         ELSE format('expired before step %s', d.old_step) END
                ELSE q.terminal_reason END,
            last_error = CASE WHEN d.new_state = 'FAILED' THEN jsonb_build_object(
                    'error', 'Intentd.Quarantined', 'cause',
                    format('%s attempts were cut short by node crashes', d.crashes))
                ELSE q.last_error END,
            finished_at = CASE WHEN d.new_state NOT IN ('EXECUTING', 'COMPENSATING')
                               THEN clock_timestamp() END,
            compensate_to = CASE WHEN d.new_state = 'COMPENSATING' THEN q.compensate_to END,
            updated_at = clock_timestamp()
        FROM cur d
        WHERE q.tenant_id = d.tenant_id AND q.action_intent_id = d.action_intent_id
          AND q.account_id = d.account_id AND q.submitted_at = d.submitted_at
        RETURNING q.tenant_id, q.action_intent_id, q.action_type, q.account_id, q.state,
                  q.step_name, q.step_input, q.step_attempts, q.wait_until, q.fence, q.version,
                  q.expires_at, q.intent -> 'parameters', q.attempts, q.started_at,
                  q.cancel_requested, q.completed, q.call_inflight, q.step_prior,
                  q.compensate_to, q.terminal_reason, q.crash_attempts, d.old_state,
                  d.in_hand, d.prev_owner, d.old_step,
                  (extract(epoch FROM q.submitted_at) * 1000000)::bigint
    )
    SELECT array_agg(u::intentd.claimed) INTO res FROM upd u;
    IF res IS NULL THEN
        RETURN;
    END IF;

    SELECT jsonb_agg(l ORDER BY k, j) INTO led FROM (
        SELECT u.ordinality AS k, 1 AS j, jsonb_build_object(
                   'tenant_id', u.tenant_id, 'action_intent_id', u.action_intent_id,
                   'event', 'attempt.interrupted',
                   'from_state', u.old_state, 'to_state', u.old_state,
                   'payload', jsonb_build_object('previous_owner', u.prev_owner,
                                                 'crash_attempts', u.crash_attempts,
                                                 'step', u.old_step)) AS l
        FROM unnest(res) WITH ORDINALITY AS u
        WHERE u.was_in_hand
        UNION ALL
        SELECT u.ordinality, 2, jsonb_build_object(
                   'tenant_id', u.tenant_id, 'action_intent_id', u.action_intent_id,
                   'event', 'intent.transition',
                   'from_state', u.old_state, 'to_state', u.state,
                   'payload', jsonb_build_object('reason', CASE WHEN u.state = 'EXECUTING'
                                                 THEN 'claimed'
                                                 ELSE u.terminal_reason END))
        FROM unnest(res) WITH ORDINALITY AS u
        WHERE u.old_state <> u.state
    ) z;
    PERFORM intentd.ledger_append(p_node, led);

    RETURN QUERY
    SELECT u.tenant_id, u.action_intent_id, u.action_type, u.account_id, u.state, u.step_name,
           nullif(u.step_input, 'null'::jsonb), u.step_attempts,
           extract(epoch FROM u.wait_until)::float8, u.fence, u.version,
           extract(epoch FROM u.expires_at)::bigint, u.parameters, u.attempts,
           extract(epoch FROM u.started_at)::float8, u.cancel_requested, u.completed,
           nullif(u.call_inflight, 'null'::jsonb), nullif(u.step_prior, 'null'::jsonb),
           u.compensate_to, u.terminal_reason, u.submitted_us
    FROM unnest(res) AS u
    WHERE u.state IN ('EXECUTING', 'COMPENSATING');
END $$;

-- The ops of an intentd.apply call, in order, with what finds each one's row: the key, the
-- account and the submission time. An op from a node older than schema 15 carries neither of
-- the last two; they are read from its row by key.
CREATE FUNCTION intentd.apply_ops(p_ops jsonb)
RETURNS TABLE (i int, op jsonb, t text, id text, acct text, sub timestamptz, rel boolean)
LANGUAGE sql STABLE AS $$
    SELECT (e.ord - 1)::int, e.op, e.op ->> 'tenant_id', e.op ->> 'action_intent_id',
           coalesce(e.op ->> 'account_id',
                    (SELECT k.account_id FROM intentd.intents k
                     WHERE k.tenant_id = e.op ->> 'tenant_id'
                       AND k.action_intent_id = e.op ->> 'action_intent_id')),
           coalesce(timestamptz 'epoch' + (e.op ->> 'submitted_us')::bigint
                                          * interval '1 microsecond',
                    (SELECT k.submitted_at FROM intentd.intents k
                     WHERE k.tenant_id = e.op ->> 'tenant_id'
                       AND k.action_intent_id = e.op ->> 'action_intent_id')),
           coalesce((e.op ->> 'release')::boolean, false)
    FROM jsonb_array_elements(p_ops) WITH ORDINALITY AS e(op, ord)
$$;

-- As in 002_functions.sql, except that no plan it makes can read a whole table: every join to
-- intents is a nested loop (hash joins, merge joins and sequential scans are off for it) probing
-- by the key, the account and the submission time, which every index that could serve the probe
-- holds whole, so any probe is one row; the ops are matched with the rows the update applied through a JSON object keyed
-- by op index instead of joins of two JSON arrays; the result reads intents only for the ops that
-- did not apply; and voids go by primary key, one UPDATE per table that has any. An op without account_id and submitted_us
-- (sent by a node older than this schema) is looked up by its key alone.
CREATE OR REPLACE FUNCTION intentd.apply(p_node text, p_ops jsonb)
RETURNS TABLE (idx int, result text, version bigint, cancel_requested boolean)
LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off
AS $$
#variable_conflict use_column
DECLARE
    done jsonb;
    led jsonb;
    effects bigint;
    void_tasks text[];
    void_notes text[];
    void_briefs text[];
BEGIN
    -- lock the rows in key order first (as intentd.renew does), so concurrent writers of the
    -- same intents queue instead of deadlocking
    PERFORM 1 FROM intentd.apply_ops(p_ops) AS o
        JOIN intentd.intents q
          ON q.tenant_id = o.t AND q.action_intent_id = o.id AND q.account_id = o.acct
         AND q.submitted_at = o.sub
        ORDER BY q.tenant_id, q.action_intent_id
        FOR UPDATE OF q;
    WITH ops AS (
        SELECT * FROM intentd.apply_ops(p_ops)
    ), upd AS (
        UPDATE intentd.intents q SET
            state = coalesce(o.op ->> 'state', q.state),
            step_name = CASE WHEN o.op ? 'step_name' THEN o.op ->> 'step_name'
                             ELSE q.step_name END,
            step_input = CASE WHEN o.op ? 'step_input' THEN o.op -> 'step_input'
                              ELSE q.step_input END,
            step_attempts = coalesce((o.op ->> 'step_attempts')::int, q.step_attempts),
            attempts = q.attempts + coalesce((o.op ->> 'attempts_inc')::int, 0),
            wait_until = CASE WHEN o.op ? 'wait_until'
                              THEN to_timestamp((o.op ->> 'wait_until')::float8)
                              ELSE q.wait_until END,
            due_at = CASE WHEN o.op ? 'due_epoch'
                          THEN to_timestamp((o.op ->> 'due_epoch')::float8) ELSE q.due_at END,
            output = CASE WHEN o.op ? 'output' THEN o.op -> 'output' ELSE q.output END,
            last_error = CASE WHEN o.op ? 'last_error' THEN o.op -> 'last_error'
                              ELSE q.last_error END,
            terminal_reason = coalesce(o.op ->> 'terminal_reason', q.terminal_reason),
            call_inflight = CASE WHEN o.op ? 'inflight' THEN nullif(o.op -> 'inflight', 'null')
                                 ELSE q.call_inflight END,
            step_prior = CASE WHEN o.op ? 'prior' THEN nullif(o.op -> 'prior', 'null')
                              ELSE q.step_prior END,
            completed = CASE WHEN o.op ? 'completed_add'
                                 THEN q.completed || jsonb_build_array(o.op -> 'completed_add')
                             WHEN o.op ? 'comp_set'
                                 THEN jsonb_set(q.completed,
                                                ARRAY[o.op -> 'comp_set' ->> 'index', 'comp'],
                                                o.op -> 'comp_set' -> 'value')
                             ELSE q.completed END,
            compensate_to = CASE WHEN o.op ? 'compensate_to' THEN o.op ->> 'compensate_to'
                                 ELSE q.compensate_to END,
            held_by = CASE WHEN o.op ? 'held_by' THEN o.op ->> 'held_by' ELSE NULL END,
            finished_at = CASE WHEN (o.op ->> 'state') IN ('SUCCEEDED', 'FAILED', 'EXPIRED',
                                                           'CANCELLED')
                               THEN clock_timestamp() ELSE q.finished_at END,
            in_hand = CASE WHEN o.rel THEN false ELSE q.in_hand END,
            lease_owner = CASE WHEN o.rel THEN NULL ELSE q.lease_owner END,
            lease_expires_at = CASE WHEN o.rel THEN NULL ELSE q.lease_expires_at END,
            version = q.version + 1,
            updated_at = clock_timestamp()
        FROM ops o
        WHERE q.tenant_id = o.t AND q.action_intent_id = o.id AND q.account_id = o.acct
          AND q.submitted_at = o.sub
          AND q.fence = (o.op ->> 'fence')::bigint
          AND q.version = (o.op ->> 'version')::bigint
          AND q.lease_owner = p_node AND q.lease_expires_at > now()
        RETURNING o.i, q.version, q.cancel_requested
    )
    SELECT jsonb_object_agg(u.i::text, jsonb_build_object('v', u.version, 'c', u.cancel_requested))
        INTO done FROM upd u;

    IF done IS NOT NULL THEN
        WITH ok AS (
            SELECT e.op, e.op -> 'effect' AS eff, e.op ->> 'tenant_id' AS t,
                   e.op ->> 'action_intent_id' AS id
            FROM jsonb_array_elements(p_ops) WITH ORDINALITY AS e(op, ord)
            WHERE done ? (e.ord - 1)::text AND jsonb_typeof(e.op -> 'effect') = 'object'
        ), tasks AS (
            INSERT INTO intentd.internal_tasks (record_id, tenant_id, action_intent_id, step,
                account_id, title, due_at, assignee, notes)
            SELECT eff ->> 'record_id', t, id, eff ->> 'step', eff ->> 'account_id',
                   eff ->> 'title', (eff ->> 'due_at')::timestamptz, eff ->> 'assignee',
                   eff ->> 'notes'
            FROM ok WHERE eff ->> 'kind' = 'task'
            ON CONFLICT DO NOTHING RETURNING 1
        ), notes AS (
            INSERT INTO intentd.internal_notes (record_id, tenant_id, action_intent_id, step,
                account_id, body)
            SELECT eff ->> 'record_id', t, id, eff ->> 'step', eff ->> 'account_id',
                   eff ->> 'body'
            FROM ok WHERE eff ->> 'kind' = 'note'
            ON CONFLICT DO NOTHING RETURNING 1
        ), briefs AS (
            INSERT INTO intentd.internal_briefs (record_id, tenant_id, action_intent_id, step,
                account_id, title, url, content)
            SELECT eff ->> 'record_id', t, id, eff ->> 'step', eff ->> 'account_id',
                   eff ->> 'title', eff ->> 'url', eff ->> 'content'
            FROM ok WHERE eff ->> 'kind' = 'brief'
            ON CONFLICT DO NOTHING RETURNING 1
        )
        SELECT (SELECT count(*) FROM tasks) + (SELECT count(*) FROM notes) +
               (SELECT count(*) FROM briefs)
            INTO effects; -- referencing every CTE makes each of them run

        -- A compensation voids the records it names, by primary key, one UPDATE per table that
        -- has any. These were three UPDATE ... FROM joins in the statement above, planned once
        -- per connection: planned while the tables were small, they read the whole of
        -- internal_tasks on every call, voids or not.
        SELECT array_agg(e.op -> 'effect' ->> 'record_id')
                   FILTER (WHERE e.op -> 'effect' ->> 'table' = 'task'),
               array_agg(e.op -> 'effect' ->> 'record_id')
                   FILTER (WHERE e.op -> 'effect' ->> 'table' = 'note'),
               array_agg(e.op -> 'effect' ->> 'record_id')
                   FILTER (WHERE e.op -> 'effect' ->> 'table' = 'brief')
            INTO void_tasks, void_notes, void_briefs
        FROM jsonb_array_elements(p_ops) WITH ORDINALITY AS e(op, ord)
        WHERE done ? (e.ord - 1)::text AND e.op -> 'effect' ->> 'kind' = 'void';
        IF void_tasks IS NOT NULL THEN
            UPDATE intentd.internal_tasks SET voided_at = clock_timestamp()
            WHERE record_id = ANY (void_tasks) AND voided_at IS NULL;
        END IF;
        IF void_notes IS NOT NULL THEN
            UPDATE intentd.internal_notes SET voided_at = clock_timestamp()
            WHERE record_id = ANY (void_notes) AND voided_at IS NULL;
        END IF;
        IF void_briefs IS NOT NULL THEN
            UPDATE intentd.internal_briefs SET voided_at = clock_timestamp()
            WHERE record_id = ANY (void_briefs) AND voided_at IS NULL;
        END IF;

        SELECT jsonb_agg(l.row || jsonb_build_object(
                   'tenant_id', e.op ->> 'tenant_id',
                   'action_intent_id', e.op ->> 'action_intent_id')
               ORDER BY e.ord, l.k) INTO led
        FROM jsonb_array_elements(p_ops) WITH ORDINALITY AS e(op, ord)
        CROSS JOIN LATERAL jsonb_array_elements(coalesce(e.op -> 'ledger', '[]'::jsonb))
            WITH ORDINALITY AS l(row, k)
        WHERE done ? (e.ord - 1)::text;
        PERFORM intentd.ledger_append(p_node, led);
    END IF;

    RETURN QUERY
    SELECT o.i,
           CASE WHEN d IS NOT NULL THEN 'ok'
                WHEN q.fence = (o.op ->> 'fence')::bigint
                     AND q.version = (o.op ->> 'version')::bigint + 1
                     AND (q.lease_owner = p_node OR o.rel) THEN 'dup'
                ELSE 'fenced' END,
           CASE WHEN d IS NOT NULL THEN (d ->> 'v')::bigint
                WHEN q.fence = (o.op ->> 'fence')::bigint
                     AND q.version = (o.op ->> 'version')::bigint + 1 THEN q.version END,
           CASE WHEN d IS NOT NULL THEN (d ->> 'c')::boolean ELSE q.cancel_requested END
    FROM intentd.apply_ops(p_ops) AS o
    CROSS JOIN LATERAL (SELECT done -> o.i::text) AS x(d)
    -- only an op that did not apply reads its row again; LIMIT keeps the subquery a per-op probe
    LEFT JOIN LATERAL (
        SELECT r.fence, r.version, r.lease_owner, r.cancel_requested FROM intentd.intents r
        WHERE x.d IS NULL AND r.tenant_id = o.t AND r.action_intent_id = o.id
          AND r.account_id = o.acct AND r.submitted_at = o.sub
        LIMIT 1) q ON true
    ORDER BY o.i;
END $$;
