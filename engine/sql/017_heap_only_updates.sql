-- intentd schema, version 17: claims and the write-ahead before a connector call rewrite an
-- intent without adding index entries.
--
-- PostgreSQL updates a row by writing a new version of it. When no column any index covers
-- changes (the columns of an index's WHERE clause count too) and the new version fits on the
-- same page, the update is heap-only (HOT): the indexes keep pointing at the old version, which
-- leads to the new one, and nothing is added to them. Otherwise every index of the table gets
-- an entry for the new version. An intent is rewritten two or three times on its way to the
-- end (the claim; for a connector Task the write-ahead committed before the call; the outcome),
-- and none of those updates was heap-only:
--   * intents_due was partial on state (PENDING, EXECUTING, COMPENSATING) and intents_retention
--     on state (the terminal ones), so the claim, which turns PENDING into EXECUTING, changed a
--     column of two index predicates;
--   * the table was filled to the last byte of each page (fillfactor 100), so the write-ahead,
--     which changes no indexed column, found no room for its new version on the row's page.
-- Each of those updates added an entry to intents_pkey, intents_by_time, intents_by_account
-- and intents_due. Before this schema, pg_stat_user_tables.n_tup_hot_upd counted about 100
-- heap-only updates of 60,000 in bench_connectors.py, and none in bench.py (c).
--
-- Now both partial indexes are partial on finished_at, which is NULL exactly while the intent
-- is not in a terminal state (a constraint says so from here on), and pages are filled to 60 %
-- on insert, which leaves an intent's page room for the versions of its claim and write-ahead.
-- The outcome that ends an intent sets finished_at and state, so it still updates the indexes:
-- the row leaves intents_due and enters intents_retention then. Only new pages are filled to
-- 60 %; pages written before keep their rows.
ALTER TABLE intentd.intents SET (fillfactor = 60);

-- Every writer already kept finished_at with the state (set on entering a terminal state,
-- cleared by redrive and by an operator's compensate); rows written otherwise (by hand, or by a
-- release that did not) are made to agree before the constraint is checked.
UPDATE intentd.intents SET finished_at = NULL
    WHERE state IN ('PENDING', 'EXECUTING', 'COMPENSATING') AND finished_at IS NOT NULL;
UPDATE intentd.intents SET finished_at = updated_at
    WHERE state NOT IN ('PENDING', 'EXECUTING', 'COMPENSATING') AND finished_at IS NULL;
ALTER TABLE intentd.intents ADD CONSTRAINT intents_finished_iff_terminal
    CHECK ((finished_at IS NULL) = (state IN ('PENDING', 'EXECUTING', 'COMPENSATING')))
    NOT VALID;
ALTER TABLE intentd.intents VALIDATE CONSTRAINT intents_finished_iff_terminal;

DROP INDEX intentd.intents_due;
CREATE INDEX intents_due ON intentd.intents (tenant_id, priority DESC, due_at)
    WHERE finished_at IS NULL;
-- the retention sweep's "finished_at < cutoff" implies this predicate, so it needs no change
DROP INDEX intentd.intents_retention;
CREATE INDEX intents_retention ON intentd.intents (finished_at) WHERE finished_at IS NOT NULL;

-- The functions that find unfinished intents through intents_due say finished_at IS NULL as
-- well, so that the planner can still use it. Otherwise unchanged: intentd.claim from
-- 015_plans_without_statistics.sql, intentd.release from 002_functions.sql, intentd.set_toggle
-- from 010_toggle_lock_order.sql.
CREATE OR REPLACE FUNCTION intentd.claim(p_node text, p_limit int, p_lease_s int, p_quarantine int)
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
                  AND q.finished_at IS NULL
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

CREATE OR REPLACE FUNCTION intentd.release(p_node text) RETURNS bigint
LANGUAGE sql AS $$
    WITH u AS (
        UPDATE intentd.intents q SET lease_owner = NULL, lease_expires_at = NULL,
            in_hand = false, fence = q.fence + 1, due_at = least(q.due_at, now()),
            updated_at = clock_timestamp()
        WHERE q.finished_at IS NULL AND q.lease_owner = p_node
        RETURNING 1),
    n AS (SELECT count(*) AS c FROM u)
    SELECT n.c FROM n, LATERAL (SELECT pg_notify('intentd_work', '') WHERE n.c > 0) z
$$;

CREATE OR REPLACE FUNCTION intentd.set_toggle(p_scope text, p_key text, p_mode text,
                                              p_reason text, p_actor text, p_node text,
                                              p_window_ms integer, p_types text[])
RETURNS TABLE (changed boolean, previous text, affected integer, updated_at timestamptz,
               updated_by text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    old intentd.toggles%ROWTYPE;
    n integer := 0;
    t text := CASE WHEN p_scope = 'global' THEN '*' ELSE split_part(p_key, '/', 1) END;
    tids text[];
    ids text[];
BEGIN
    -- serialises flips of one key (the row may not exist yet)
    PERFORM pg_advisory_xact_lock(hashtext('intentd.toggle:' || p_scope || ':' || p_key));
    SELECT * INTO old FROM intentd.toggles g WHERE g.scope = p_scope AND g.key = p_key;
    IF coalesce(old.mode, 'run') = p_mode THEN
        changed := false; previous := p_mode; affected := 0;
        updated_at := old.updated_at; updated_by := old.updated_by;
        RETURN NEXT; RETURN;
    END IF;
    INSERT INTO intentd.toggles AS g (scope, key, mode, reason, updated_by)
        VALUES (p_scope, p_key, p_mode, p_reason, p_actor)
        ON CONFLICT (scope, key) DO UPDATE SET mode = EXCLUDED.mode, reason = EXCLUDED.reason,
            updated_at = clock_timestamp(), updated_by = EXCLUDED.updated_by;
    -- Lock order (as everywhere): every intent row this flip changes, in key order, before
    -- the first ledger row takes the ledger lock. Cancelling them one by one instead held the
    -- ledger lock while waiting for the next row, which a concurrent apply or claim holding
    -- that row and waiting for the ledger lock turned into a deadlock.
    IF p_mode = 'kill' THEN
        SELECT coalesce(array_agg(k.tenant_id), '{}'), coalesce(array_agg(k.action_intent_id), '{}')
            INTO tids, ids
            FROM (SELECT q.tenant_id, q.action_intent_id FROM intentd.intents q
                  WHERE q.finished_at IS NULL AND q.state IN ('PENDING', 'EXECUTING')
                    AND NOT q.cancel_requested
                    AND intentd.toggle_covers(p_scope, p_key, p_types, q.tenant_id,
                                              q.action_type)
                  ORDER BY q.tenant_id, q.action_intent_id FOR UPDATE) k;
        FOR i IN 1 .. cardinality(ids) LOOP
            PERFORM intentd.cancel(tids[i], ids[i],
                                   'killed: ' || p_scope || ' ' || p_key || ': ' || p_reason,
                                   p_actor, p_node);
            n := n + 1;
        END LOOP;
    ELSIF p_mode = 'run' THEN
        SELECT coalesce(array_agg(k.tenant_id), '{}'), coalesce(array_agg(k.action_intent_id), '{}')
            INTO tids, ids
            FROM (SELECT q.tenant_id, q.action_intent_id FROM intentd.intents q
                  WHERE q.held_by LIKE 'paused:%'
                    AND q.finished_at IS NULL
                    AND (t = '*' OR q.tenant_id = t)
                  ORDER BY q.tenant_id, q.action_intent_id FOR UPDATE) k;
        UPDATE intentd.intents q
            SET due_at = now() + random() * p_window_ms * interval '1 millisecond'
            FROM unnest(tids, ids) AS k(tenant_id, action_intent_id)
            WHERE q.tenant_id = k.tenant_id AND q.action_intent_id = k.action_intent_id;
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, from_state, to_state,
                                node_id, actor, payload)
    VALUES (CASE WHEN t = '*' THEN NULL ELSE t END, NULL, 'toggle.set',
            coalesce(old.mode, 'run'), p_mode, p_node, p_actor,
            jsonb_build_object('scope', p_scope, 'key', p_key, 'reason', p_reason,
                               'affected', n));
    PERFORM pg_notify('intentd_work', 'toggles');
    changed := true; previous := coalesce(old.mode, 'run'); affected := n;
    SELECT g.updated_at, g.updated_by INTO updated_at, updated_by FROM intentd.toggles g
        WHERE g.scope = p_scope AND g.key = p_key;
    RETURN NEXT;
END $$;
