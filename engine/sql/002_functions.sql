-- The engine's write paths, one function each. Each takes the ledger lock first (see
-- 001_core.sql), applies its changes only where the caller still holds the right to make them
-- (fence and version checks), and writes the matching ledger rows in the same transaction.

-- Accepts the validated items of a group of submission requests in one call. p_subs is
-- [{tenant, body, signature}] (one per request, stored for re-verification); p_items is
-- [{req, idx, id, account_id, action_type, priority, expires_epoch, created_at, hash, intent}]
-- where req indexes p_subs. Answers one row per item, ordered by (req, idx): 202 new, 200
-- identical to what is stored, 409 same id with another body.
CREATE FUNCTION intentd.submit(p_node text, p_subs jsonb, p_items jsonb)
RETURNS TABLE (req int, idx int, status int, state text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    sids bigint[];
    fresh text[];
    led jsonb;
BEGIN
    SELECT array_agg(nextval('intentd.submissions_submission_id_seq'::regclass))
        INTO sids FROM generate_series(1, jsonb_array_length(p_subs));
    INSERT INTO intentd.submissions (submission_id, tenant_id, body, signature)
    SELECT sids[x.ord], x.tenant, x.body, x.signature
    FROM ROWS FROM (jsonb_to_recordset(p_subs) AS (tenant text, body text, signature text))
         WITH ORDINALITY AS x(tenant, body, signature, ord);

    WITH items AS (
        SELECT x.*, (p_subs -> x.req ->> 'tenant') AS tenant
        FROM jsonb_to_recordset(p_items) AS x(req int, idx int, id text, account_id text,
             action_type text, priority int, expires_epoch bigint, created_at timestamptz,
             hash text, intent jsonb)
    ), firsts AS (
        SELECT DISTINCT ON (i.tenant, i.id) i.* FROM items i ORDER BY i.tenant, i.id, i.req, i.idx
    ), ins AS (
        INSERT INTO intentd.intents AS t (tenant_id, action_intent_id, account_id, action_type,
            priority, intent_hash, intent, submission_id, expires_at, created_at)
        SELECT f.tenant, f.id, f.account_id, f.action_type, f.priority, decode(f.hash, 'hex'),
               f.intent, sids[f.req + 1], to_timestamp(f.expires_epoch), f.created_at
        FROM firsts f ORDER BY f.req, f.idx
        ON CONFLICT (tenant_id, action_intent_id) DO NOTHING
        RETURNING t.tenant_id, t.action_intent_id, t.intent, t.submission_id
    )
    SELECT array_agg(n.tenant_id || chr(31) || n.action_intent_id),
           jsonb_agg(jsonb_build_object(
               'tenant_id', n.tenant_id, 'action_intent_id', n.action_intent_id,
               'event', 'intent.submitted', 'to_state', 'PENDING',
               'actor', 'approval:' || coalesce(n.intent -> 'approval' ->> 'approved_by',
                                                'unknown'),
               'payload', jsonb_build_object(
                   'submission_id', n.submission_id,
                   'action_type', n.intent ->> 'action_type',
                   'account_id', n.intent ->> 'account_id',
                   'decision', n.intent -> 'decision',
                   'approval', n.intent -> 'approval',
                   'expires_at_epoch', n.intent -> 'expires_at_epoch'))
               ORDER BY n.submission_id, n.action_intent_id)
        INTO fresh, led FROM ins n;

    -- A new statement sees the rows just inserted: an item is new only if it was inserted and
    -- is the first of its id; any other compares its hash with what is stored now.
    RETURN QUERY
    WITH items AS (
        SELECT x.req, x.idx, x.id, x.hash, (p_subs -> x.req ->> 'tenant') AS tenant
        FROM jsonb_to_recordset(p_items) AS x(req int, idx int, id text, hash text)
    ), firsts AS (
        SELECT DISTINCT ON (i.tenant, i.id) i.tenant, i.id, i.req, i.idx
        FROM items i ORDER BY i.tenant, i.id, i.req, i.idx
    )
    SELECT it.req, it.idx,
           CASE WHEN fr.k IS NOT NULL AND f.req = it.req AND f.idx = it.idx THEN 202
                WHEN ex.intent_hash = decode(it.hash, 'hex') THEN 200
                ELSE 409 END,
           ex.state
    FROM items it
    JOIN firsts f ON f.tenant = it.tenant AND f.id = it.id
    LEFT JOIN unnest(fresh) AS fr(k) ON fr.k = it.tenant || chr(31) || it.id
    LEFT JOIN intentd.intents ex ON ex.tenant_id = it.tenant AND ex.action_intent_id = it.id
    ORDER BY it.req, it.idx;

    IF led IS NOT NULL THEN
        PERFORM pg_notify('intentd_work', '');
        PERFORM intentd.ledger_append(p_node, led);
    END IF;
END $$;

CREATE FUNCTION intentd.transition_row(p_tenant text, p_id text, p_from text, p_to text,
                                       p_node text, p_actor text, p_payload jsonb)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, from_state, to_state, node_id,
                                actor, payload)
    VALUES (p_tenant, p_id, 'intent.transition', p_from, p_to, p_node, p_actor, p_payload)
$$;

-- True when a Task that succeeded names a Compensate operation that has not run yet.
CREATE FUNCTION intentd.has_compensable(p_completed jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT EXISTS (SELECT 1 FROM jsonb_array_elements(p_completed) AS e(s)
                   WHERE e.s ->> 'compensate' IS NOT NULL AND e.s -> 'comp' IS NULL)
$$;

-- Claims up to p_limit due intents for p_node: highest priority first, then oldest, taking
-- turns across tenants so one tenant's backlog cannot starve another. Intents found past their
-- TTL or with a cancel request end here; an intent whose previous holder's lease lapsed while it
-- was in hand counts one crash attempt, and p_quarantine of them fail it as quarantined. All of
-- it is set-based; the ledger rows are appended last, so the ledger lock is held only briefly.
CREATE FUNCTION intentd.claim(p_node text, p_limit int, p_lease_s int, p_quarantine int)
RETURNS TABLE (tenant_id text, action_intent_id text, action_type text, account_id text,
               state text, step_name text, step_input jsonb, step_attempts int,
               wait_until_epoch double precision, fence bigint, version bigint,
               expires_epoch bigint, parameters jsonb, attempts int,
               started_epoch double precision, cancel_requested boolean, completed jsonb,
               call_inflight jsonb, step_prior jsonb, compensate_to text,
               terminal_reason text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    res jsonb;
    led jsonb;
BEGIN
    WITH pick AS (
        SELECT c.tenant_id, c.action_intent_id FROM (
            SELECT i.tenant_id, i.action_intent_id, i.priority, i.due_at,
                   row_number() OVER (PARTITION BY i.tenant_id
                                      ORDER BY i.priority DESC, i.due_at) AS rn
            FROM intentd.tenants tn CROSS JOIN LATERAL (
                SELECT q.tenant_id, q.action_intent_id, q.priority, q.due_at
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
        SELECT q.tenant_id, q.action_intent_id, q.state AS old_state, q.in_hand,
               q.lease_owner AS prev_owner, q.step_name AS old_step, q.cancel_reason,
               q.crash_attempts + q.in_hand::int AS crashes,
               -- an intent with succeeded Tasks to undo ends through the engine, which
               -- compensates them first; COMPENSATING runs on whatever the deadline or a
               -- cancel say, since undoing is never late
               CASE WHEN q.crash_attempts + q.in_hand::int >= p_quarantine THEN 'FAILED'
                    WHEN q.state = 'COMPENSATING' THEN 'COMPENSATING'
                    WHEN intentd.has_compensable(q.completed) THEN 'EXECUTING'
                    WHEN q.cancel_requested THEN 'CANCELLED'
                    WHEN now() >= q.expires_at THEN 'EXPIRED'
                    ELSE 'EXECUTING' END AS new_state
        FROM intentd.intents q JOIN pick USING (tenant_id, action_intent_id)
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
        RETURNING q.*, d.old_state, d.in_hand AS was_in_hand, d.prev_owner, d.old_step
    )
    SELECT jsonb_agg(to_jsonb(u)) INTO res FROM upd u;
    IF res IS NULL THEN
        RETURN;
    END IF;

    SELECT jsonb_agg(l ORDER BY k, j) INTO led FROM (
        SELECT u.ord AS k, 1 AS j, jsonb_build_object(
                   'tenant_id', u.r ->> 'tenant_id', 'action_intent_id',
                   u.r ->> 'action_intent_id', 'event', 'attempt.interrupted',
                   'from_state', u.r ->> 'old_state', 'to_state', u.r ->> 'old_state',
                   'payload', jsonb_build_object('previous_owner', u.r -> 'prev_owner',
                                                 'crash_attempts', u.r -> 'crash_attempts',
                                                 'step', u.r -> 'old_step')) AS l
        FROM jsonb_array_elements(res) WITH ORDINALITY AS u(r, ord)
        WHERE (u.r ->> 'was_in_hand')::boolean
        UNION ALL
        SELECT u.ord, 2, jsonb_build_object(
                   'tenant_id', u.r ->> 'tenant_id', 'action_intent_id',
                   u.r ->> 'action_intent_id', 'event', 'intent.transition',
                   'from_state', u.r ->> 'old_state', 'to_state', u.r ->> 'state',
                   'payload', jsonb_build_object('reason', CASE WHEN u.r ->> 'state' = 'EXECUTING'
                                                 THEN 'claimed'
                                                 ELSE u.r ->> 'terminal_reason' END))
        FROM jsonb_array_elements(res) WITH ORDINALITY AS u(r, ord)
        WHERE u.r ->> 'old_state' <> u.r ->> 'state'
    ) z;
    PERFORM intentd.ledger_append(p_node, led);

    RETURN QUERY
    SELECT u.r ->> 'tenant_id', u.r ->> 'action_intent_id', u.r ->> 'action_type',
           u.r ->> 'account_id', u.r ->> 'state', u.r ->> 'step_name',
           nullif(u.r -> 'step_input', 'null'::jsonb),
           (u.r ->> 'step_attempts')::int,
           extract(epoch FROM (u.r ->> 'wait_until')::timestamptz)::float8,
           (u.r ->> 'fence')::bigint, (u.r ->> 'version')::bigint,
           extract(epoch FROM (u.r ->> 'expires_at')::timestamptz)::bigint,
           u.r -> 'intent' -> 'parameters', (u.r ->> 'attempts')::int,
           extract(epoch FROM (u.r ->> 'started_at')::timestamptz)::float8,
           (u.r ->> 'cancel_requested')::boolean, u.r -> 'completed',
           nullif(u.r -> 'call_inflight', 'null'::jsonb),
           nullif(u.r -> 'step_prior', 'null'::jsonb), u.r ->> 'compensate_to',
           u.r ->> 'terminal_reason'
    FROM jsonb_array_elements(res) AS u(r)
    WHERE u.r ->> 'state' IN ('EXECUTING', 'COMPENSATING');
END $$;

-- Applies a batch of step outcomes for intents p_node holds. Each op:
-- {tenant_id, action_intent_id, fence, version, state?, step_name?, step_input?, step_attempts?,
--  attempts_inc?, wait_until?, due_epoch?, output?, last_error?, terminal_reason?, release?,
--  effect?, inflight? (write-ahead marker, null clears), prior?, completed_add? (a succeeded
--  Task), comp_set? ({index, value}: a compensation's outcome), compensate_to?, held_by?,
--  ledger: [{event, from_state?, to_state?, actor?, payload?}]}
-- An op applies only while p_node's lease is live with the same fence and the row is at the
-- version the engine last saw. Result per op: 'ok' (applied; version is the new one), 'dup' (a
-- retry of an op that had already committed) or 'fenced' (the lease is gone: drop the work).
-- Set-based: one UPDATE for all ops, one INSERT per effect table, one ledger append at the end.
CREATE FUNCTION intentd.apply(p_node text, p_ops jsonb)
RETURNS TABLE (idx int, result text, version bigint, cancel_requested boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    done jsonb;
    led jsonb;
    effects bigint;
BEGIN
    -- lock the rows in key order first (as intentd.renew does), so concurrent writers of the
    -- same intents queue instead of deadlocking
    PERFORM 1 FROM intentd.intents q
        JOIN jsonb_array_elements(p_ops) AS e(op)
          ON q.tenant_id = e.op ->> 'tenant_id' AND q.action_intent_id = e.op ->> 'action_intent_id'
        ORDER BY q.tenant_id, q.action_intent_id
        FOR UPDATE OF q;
    WITH ops AS (
        SELECT (e.ord - 1)::int AS i, e.op, e.op ->> 'tenant_id' AS t,
               e.op ->> 'action_intent_id' AS id,
               coalesce((e.op ->> 'release')::boolean, false) AS rel
        FROM jsonb_array_elements(p_ops) WITH ORDINALITY AS e(op, ord)
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
        WHERE q.tenant_id = o.t AND q.action_intent_id = o.id
          AND q.fence = (o.op ->> 'fence')::bigint
          AND q.version = (o.op ->> 'version')::bigint
          AND q.lease_owner = p_node AND q.lease_expires_at > now()
        RETURNING o.i, q.version, q.cancel_requested
    )
    SELECT jsonb_agg(jsonb_build_object('i', u.i, 'v', u.version, 'c', u.cancel_requested))
        INTO done FROM upd u;

    IF done IS NOT NULL THEN
        WITH ok AS (
            SELECT e.op, e.op -> 'effect' AS eff, e.op ->> 'tenant_id' AS t,
                   e.op ->> 'action_intent_id' AS id
            FROM jsonb_array_elements(p_ops) WITH ORDINALITY AS e(op, ord)
            JOIN jsonb_array_elements(done) AS d(r) ON (d.r ->> 'i')::int = e.ord - 1
            WHERE jsonb_typeof(e.op -> 'effect') = 'object'
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
        ), void_tasks AS (
            UPDATE intentd.internal_tasks x SET voided_at = clock_timestamp()
            FROM ok WHERE ok.eff ->> 'kind' = 'void' AND ok.eff ->> 'table' = 'task'
              AND x.record_id = ok.eff ->> 'record_id' AND x.voided_at IS NULL
            RETURNING 1
        ), void_notes AS (
            UPDATE intentd.internal_notes x SET voided_at = clock_timestamp()
            FROM ok WHERE ok.eff ->> 'kind' = 'void' AND ok.eff ->> 'table' = 'note'
              AND x.record_id = ok.eff ->> 'record_id' AND x.voided_at IS NULL
            RETURNING 1
        ), void_briefs AS (
            UPDATE intentd.internal_briefs x SET voided_at = clock_timestamp()
            FROM ok WHERE ok.eff ->> 'kind' = 'void' AND ok.eff ->> 'table' = 'brief'
              AND x.record_id = ok.eff ->> 'record_id' AND x.voided_at IS NULL
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM tasks) + (SELECT count(*) FROM notes) +
               (SELECT count(*) FROM briefs) + (SELECT count(*) FROM void_tasks) +
               (SELECT count(*) FROM void_notes) + (SELECT count(*) FROM void_briefs)
            INTO effects; -- referencing every CTE makes each of them run

        SELECT jsonb_agg(l.row || jsonb_build_object(
                   'tenant_id', e.op ->> 'tenant_id',
                   'action_intent_id', e.op ->> 'action_intent_id')
               ORDER BY e.ord, l.k) INTO led
        FROM jsonb_array_elements(p_ops) WITH ORDINALITY AS e(op, ord)
        JOIN jsonb_array_elements(done) AS d(r) ON (d.r ->> 'i')::int = e.ord - 1
        CROSS JOIN LATERAL jsonb_array_elements(coalesce(e.op -> 'ledger', '[]'::jsonb))
            WITH ORDINALITY AS l(row, k);
        PERFORM intentd.ledger_append(p_node, led);
    END IF;

    RETURN QUERY
    SELECT (e.ord - 1)::int,
           CASE WHEN d.r IS NOT NULL THEN 'ok'
                WHEN q.fence = (e.op ->> 'fence')::bigint
                     AND q.version = (e.op ->> 'version')::bigint + 1
                     AND (q.lease_owner = p_node
                          OR coalesce((e.op ->> 'release')::boolean, false)) THEN 'dup'
                ELSE 'fenced' END,
           CASE WHEN d.r IS NOT NULL THEN (d.r ->> 'v')::bigint
                WHEN q.fence = (e.op ->> 'fence')::bigint
                     AND q.version = (e.op ->> 'version')::bigint + 1 THEN q.version END,
           CASE WHEN d.r IS NOT NULL THEN (d.r ->> 'c')::boolean ELSE q.cancel_requested END
    FROM jsonb_array_elements(p_ops) WITH ORDINALITY AS e(op, ord)
    LEFT JOIN jsonb_array_elements(done) AS d(r) ON (d.r ->> 'i')::int = e.ord - 1
    LEFT JOIN intentd.intents q ON q.tenant_id = e.op ->> 'tenant_id'
                               AND q.action_intent_id = e.op ->> 'action_intent_id'
    ORDER BY e.ord;
END $$;

-- Keeps p_node's leases alive on the intents it names (p_keys: [{"t": tenant, "id": id}]);
-- returns how many it still holds.
-- Rows are locked in key order, as intentd.apply locks them, so the two never deadlock.
CREATE FUNCTION intentd.renew(p_node text, p_lease_s int, p_keys jsonb) RETURNS bigint
LANGUAGE sql AS $$
    WITH lk AS (
        SELECT q.tenant_id, q.action_intent_id FROM intentd.intents q
        JOIN jsonb_to_recordset(p_keys) AS k(t text, id text)
          ON q.tenant_id = k.t AND q.action_intent_id = k.id
        WHERE q.lease_owner = p_node
        ORDER BY q.tenant_id, q.action_intent_id
        FOR UPDATE OF q
    ), u AS (
        UPDATE intentd.intents q SET lease_expires_at = now() + make_interval(secs => p_lease_s)
        FROM lk
        WHERE q.tenant_id = lk.tenant_id AND q.action_intent_id = lk.action_intent_id
          AND q.lease_owner = p_node AND q.lease_expires_at > now()
        RETURNING 1)
    SELECT count(*) FROM u
$$;

-- Gives back everything p_node holds (graceful shutdown): the work becomes due at once for any
-- node, the fence moves on so nothing p_node still sends can land, and no crash is counted.
CREATE FUNCTION intentd.release(p_node text) RETURNS bigint
LANGUAGE sql AS $$
    WITH u AS (
        UPDATE intentd.intents q SET lease_owner = NULL, lease_expires_at = NULL,
            in_hand = false, fence = q.fence + 1, due_at = least(q.due_at, now()),
            updated_at = clock_timestamp()
        WHERE q.state IN ('PENDING', 'EXECUTING', 'COMPENSATING') AND q.lease_owner = p_node
        RETURNING 1),
    n AS (SELECT count(*) AS c FROM u)
    SELECT n.c FROM n, LATERAL (SELECT pg_notify('intentd_work', '') WHERE n.c > 0) z
$$;

-- Lock order everywhere: intent rows first, the ledger lock (taken by the ledger insert) last,
-- so no two transactions can wait on each other.

-- Operator cancel. PENDING ends at once; EXECUTING (running or waiting) is marked and ends at
-- its next state boundary. Answers 'cancelled', 'requested', 'terminal' or 'notfound'.
CREATE FUNCTION intentd.cancel(p_tenant text, p_id text, p_reason text, p_actor text,
                               p_node text)
RETURNS TABLE (result text, state text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    x intentd.intents%ROWTYPE;
BEGIN
    SELECT * INTO x FROM intentd.intents q
        WHERE q.tenant_id = p_tenant AND q.action_intent_id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        result := 'notfound'; state := NULL; RETURN NEXT; RETURN;
    END IF;
    IF x.state IN ('SUCCEEDED', 'FAILED', 'EXPIRED', 'CANCELLED') THEN
        result := 'terminal'; state := x.state; RETURN NEXT; RETURN;
    END IF;
    INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, from_state, to_state,
                                node_id, actor, payload)
    VALUES (p_tenant, p_id, 'intent.cancel_requested', x.state, x.state, p_node, p_actor,
            jsonb_build_object('reason', p_reason));
    IF x.state = 'PENDING' THEN
        UPDATE intentd.intents q SET state = 'CANCELLED', cancel_requested = true,
            cancel_reason = p_reason, terminal_reason = 'cancelled: ' || p_reason,
            fence = q.fence + 1, version = q.version + 1, finished_at = clock_timestamp(),
            updated_at = clock_timestamp()
            WHERE q.tenant_id = p_tenant AND q.action_intent_id = p_id;
        PERFORM intentd.transition_row(p_tenant, p_id, 'PENDING', 'CANCELLED', p_node, p_actor,
                                       jsonb_build_object('reason', p_reason));
        result := 'cancelled'; state := 'CANCELLED';
    ELSE
        UPDATE intentd.intents q SET cancel_requested = true, cancel_reason = p_reason,
            due_at = least(q.due_at, now()), updated_at = clock_timestamp()
            WHERE q.tenant_id = p_tenant AND q.action_intent_id = p_id;
        PERFORM pg_notify('intentd_work', '');
        result := 'requested'; state := x.state;
    END IF;
    RETURN NEXT;
END $$;

-- Creates a tenant with its sealed approval key and initial token hashes
-- (p_tokens: [{"hash": hex, "role": …}]). Returns false when the tenant exists.
CREATE FUNCTION intentd.create_tenant(p_tenant text, p_key_enc text, p_tokens jsonb,
                                      p_actor text, p_node text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO intentd.tenants (tenant_id, approval_key_enc) VALUES (p_tenant, p_key_enc)
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO intentd.tokens (token_hash, tenant_id, role)
        SELECT decode(e ->> 'hash', 'hex'), p_tenant, e ->> 'role'
        FROM jsonb_array_elements(p_tokens) AS e;
    INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, node_id, actor, payload)
    VALUES (p_tenant, NULL, 'tenant.created', p_node, p_actor,
            jsonb_build_object('roles', (SELECT jsonb_agg(e ->> 'role')
                                         FROM jsonb_array_elements(p_tokens) AS e)));
    RETURN true;
END $$;

-- Adds a token to an existing tenant. Returns false when the tenant does not exist.
CREATE FUNCTION intentd.create_token(p_tenant text, p_hash text, p_role text, p_actor text,
                                     p_node text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM intentd.tenants WHERE tenant_id = p_tenant;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO intentd.tokens (token_hash, tenant_id, role)
        VALUES (decode(p_hash, 'hex'), p_tenant, p_role);
    INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, node_id, actor, payload)
    VALUES (p_tenant, NULL, 'token.created', p_node, p_actor,
            jsonb_build_object('role', p_role, 'token_sha256_prefix', left(p_hash, 12)));
    RETURN true;
END $$;

-- Operator compensate (POST /v1/intents/{id}/compensate): undoes a SUCCEEDED intent by running
-- its Tasks' Compensate operations in reverse; it then ends CANCELLED. Irreversible Tasks make
-- it refuse ('irreversible', naming them) unless p_partial. Answers 'started', 'notfound',
-- 'state' (not SUCCEEDED), 'nothing' (no Task can be undone) or 'irreversible'.
CREATE FUNCTION intentd.operator_compensate(p_tenant text, p_id text, p_partial boolean,
                                            p_reason text, p_actor text, p_node text)
RETURNS TABLE (result text, state text, steps jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    x intentd.intents%ROWTYPE;
    irrev jsonb;
BEGIN
    SELECT * INTO x FROM intentd.intents q
        WHERE q.tenant_id = p_tenant AND q.action_intent_id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        result := 'notfound'; RETURN NEXT; RETURN;
    END IF;
    state := x.state;
    IF x.state <> 'SUCCEEDED' THEN
        result := 'state'; RETURN NEXT; RETURN;
    END IF;
    SELECT coalesce(jsonb_agg(e.s -> 'step'), '[]') INTO irrev
        FROM jsonb_array_elements(x.completed) AS e(s) WHERE e.s ->> 'compensate' IS NULL;
    IF NOT intentd.has_compensable(x.completed) THEN
        result := 'nothing'; steps := irrev; RETURN NEXT; RETURN;
    END IF;
    IF jsonb_array_length(irrev) > 0 AND NOT p_partial THEN
        result := 'irreversible'; steps := irrev; RETURN NEXT; RETURN;
    END IF;
    UPDATE intentd.intents q SET state = 'COMPENSATING', compensate_to = 'CANCELLED',
        terminal_reason = 'compensated by an operator: ' || p_reason, finished_at = NULL,
        due_at = now(), lease_owner = NULL, lease_expires_at = NULL, in_hand = false,
        step_attempts = 0, call_inflight = NULL, fence = q.fence + 1, version = q.version + 1,
        updated_at = clock_timestamp()
        WHERE q.tenant_id = p_tenant AND q.action_intent_id = p_id;
    INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, from_state, to_state,
                                node_id, actor, payload)
    VALUES (p_tenant, p_id, 'operator.compensate', 'SUCCEEDED', 'COMPENSATING', p_node, p_actor,
            jsonb_build_object('reason', p_reason, 'partial', p_partial,
                               'irreversible', irrev));
    PERFORM intentd.transition_row(p_tenant, p_id, 'SUCCEEDED', 'COMPENSATING', p_node, p_actor,
                                   jsonb_build_object('reason', p_reason));
    PERFORM pg_notify('intentd_work', '');
    result := 'started'; state := 'COMPENSATING'; steps := irrev;
    RETURN NEXT;
END $$;

-- Operator redrive (POST /v1/intents/{id}/redrive): a FAILED intent whose deadline has not
-- passed runs again from the state that failed, with fresh attempts (its crash count too).
-- Refused when compensation already undid its earlier Tasks: resuming would build on effects
-- that are gone. Answers 'started', 'notfound', 'state', 'expired' or 'compensated'.
CREATE FUNCTION intentd.operator_redrive(p_tenant text, p_id text, p_reason text, p_actor text,
                                         p_node text)
RETURNS TABLE (result text, state text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    x intentd.intents%ROWTYPE;
BEGIN
    SELECT * INTO x FROM intentd.intents q
        WHERE q.tenant_id = p_tenant AND q.action_intent_id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        result := 'notfound'; RETURN NEXT; RETURN;
    END IF;
    state := x.state;
    IF x.state <> 'FAILED' THEN
        result := 'state'; RETURN NEXT; RETURN;
    END IF;
    IF now() >= x.expires_at THEN
        result := 'expired'; RETURN NEXT; RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_array_elements(x.completed) AS e(s) WHERE e.s ? 'comp') THEN
        result := 'compensated'; RETURN NEXT; RETURN;
    END IF;
    UPDATE intentd.intents q SET state = 'EXECUTING', step_attempts = 0, crash_attempts = 0,
        terminal_reason = NULL, finished_at = NULL, compensate_to = NULL, started_at = now(),
        due_at = now(), lease_owner = NULL, lease_expires_at = NULL, in_hand = false,
        fence = q.fence + 1, version = q.version + 1, updated_at = clock_timestamp()
        WHERE q.tenant_id = p_tenant AND q.action_intent_id = p_id;
    INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, from_state, to_state,
                                node_id, actor, payload)
    VALUES (p_tenant, p_id, 'operator.redrive', 'FAILED', 'EXECUTING', p_node, p_actor,
            jsonb_build_object('reason', p_reason, 'from_step', x.step_name,
                               'last_error', x.last_error));
    PERFORM intentd.transition_row(p_tenant, p_id, 'FAILED', 'EXECUTING', p_node, p_actor,
                                   jsonb_build_object('reason', p_reason));
    PERFORM pg_notify('intentd_work', '');
    result := 'started'; state := 'EXECUTING';
    RETURN NEXT;
END $$;
