-- The engine's write paths, one function each. Each takes the ledger lock first (see
-- 001_core.sql), applies its changes only where the caller still holds the right to make them
-- (fence and version checks), and writes the matching ledger rows in the same transaction.

-- Accepts the validated items of one submission request. p_items is an array of
-- {idx, id, account_id, action_type, priority, expires_epoch, created_at, hash (hex), intent}.
-- Answers one row per item: 202 new, 200 identical to what is stored, 409 same id, other body.
CREATE FUNCTION intentd.submit(p_tenant text, p_body text, p_signature text, p_node text,
                               p_items jsonb)
RETURNS TABLE (idx int, status int, state text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    sub_id bigint;
BEGIN
    PERFORM intentd.ledger_lock();
    INSERT INTO intentd.submissions (tenant_id, body, signature)
        VALUES (p_tenant, p_body, p_signature) RETURNING submission_id INTO sub_id;
    RETURN QUERY
    WITH items AS (
        SELECT x.* FROM jsonb_to_recordset(p_items) AS x(idx int, id text, account_id text,
            action_type text, priority int, expires_epoch bigint, created_at timestamptz,
            hash text, intent jsonb)
    ), firsts AS (
        SELECT DISTINCT ON (i.id) i.* FROM items i ORDER BY i.id, i.idx
    ), ins AS (
        INSERT INTO intentd.intents AS t (tenant_id, action_intent_id, account_id, action_type,
            priority, intent_hash, intent, submission_id, expires_at, created_at)
        SELECT p_tenant, f.id, f.account_id, f.action_type, f.priority, decode(f.hash, 'hex'),
               f.intent, sub_id, to_timestamp(f.expires_epoch), f.created_at
        FROM firsts f ORDER BY f.idx
        ON CONFLICT (tenant_id, action_intent_id) DO NOTHING
        RETURNING t.action_intent_id, t.intent
    ), led AS (
        INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, from_state, to_state,
                                    node_id, actor, payload)
        SELECT p_tenant, n.action_intent_id, 'intent.submitted', NULL, 'PENDING', p_node,
               'approval:' || coalesce(n.intent -> 'approval' ->> 'approved_by', 'unknown'),
               jsonb_build_object('submission_id', sub_id,
                                  'action_type', n.intent ->> 'action_type',
                                  'account_id', n.intent ->> 'account_id',
                                  'decision', n.intent -> 'decision',
                                  'approval', n.intent -> 'approval',
                                  'expires_at_epoch', n.intent -> 'expires_at_epoch')
        FROM ins n ORDER BY n.action_intent_id
        RETURNING 1
    )
    SELECT it.idx,
           CASE WHEN n.action_intent_id IS NOT NULL AND f.idx = it.idx THEN 202
                WHEN ex.intent_hash IS NOT NULL THEN
                    CASE WHEN ex.intent_hash = decode(it.hash, 'hex') THEN 200 ELSE 409 END
                WHEN f.hash = it.hash THEN 200
                ELSE 409 END,
           coalesce(ex.state, 'PENDING')
    FROM items it
    JOIN firsts f ON f.id = it.id
    LEFT JOIN ins n ON n.action_intent_id = it.id
    LEFT JOIN intentd.intents ex ON ex.tenant_id = p_tenant AND ex.action_intent_id = it.id
    ORDER BY it.idx;
    PERFORM pg_notify('intentd_work', '');
END $$;

CREATE FUNCTION intentd.transition_row(p_tenant text, p_id text, p_from text, p_to text,
                                       p_node text, p_actor text, p_payload jsonb)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, from_state, to_state, node_id,
                                actor, payload)
    VALUES (p_tenant, p_id, 'intent.transition', p_from, p_to, p_node, p_actor, p_payload)
$$;

-- Claims up to p_limit due intents for p_node: highest priority first, then oldest, taking
-- turns across tenants so one tenant's backlog cannot starve another. Intents found past their
-- TTL or with a cancel request end here; an intent whose previous holder's lease lapsed while it
-- was in hand counts one crash attempt, and p_quarantine of them fail it as quarantined.
CREATE FUNCTION intentd.claim(p_node text, p_limit int, p_lease_s int, p_quarantine int)
RETURNS TABLE (tenant_id text, action_intent_id text, action_type text, account_id text,
               state text, step_name text, step_input jsonb, step_attempts int,
               wait_until_epoch double precision, fence bigint, version bigint,
               expires_epoch bigint, parameters jsonb, attempts int,
               started_epoch double precision)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    r record;
    x intentd.intents%ROWTYPE;
    prev_state text;
    fin text;
BEGIN
    PERFORM intentd.ledger_lock();
    FOR r IN
        SELECT c.tenant_id AS t, c.action_intent_id AS id FROM (
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
    LOOP
        SELECT * INTO x FROM intentd.intents q
            WHERE q.tenant_id = r.t AND q.action_intent_id = r.id;
        prev_state := x.state;
        IF x.in_hand THEN
            x.crash_attempts := x.crash_attempts + 1;
            INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, from_state, to_state,
                                        node_id, actor, payload)
            VALUES (r.t, r.id, 'attempt.interrupted', x.state, x.state, p_node, 'engine',
                    jsonb_build_object('previous_owner', x.lease_owner,
                                       'crash_attempts', x.crash_attempts,
                                       'step', x.step_name));
        END IF;
        fin := NULL;
        IF x.crash_attempts >= p_quarantine THEN
            fin := 'FAILED';
            UPDATE intentd.intents q SET state = 'FAILED', terminal_reason = 'quarantined',
                last_error = jsonb_build_object('error', 'Intentd.Quarantined', 'cause',
                    format('%s attempts were cut short by node crashes', x.crash_attempts))
                WHERE q.tenant_id = r.t AND q.action_intent_id = r.id;
        ELSIF x.cancel_requested THEN
            fin := 'CANCELLED';
            UPDATE intentd.intents q SET state = 'CANCELLED',
                terminal_reason = 'cancelled: ' || coalesce(x.cancel_reason, '')
                WHERE q.tenant_id = r.t AND q.action_intent_id = r.id;
        ELSIF now() >= x.expires_at THEN
            fin := 'EXPIRED';
            UPDATE intentd.intents q SET state = 'EXPIRED',
                terminal_reason = CASE WHEN x.state = 'PENDING'
                    THEN 'expired before it started'
                    ELSE format('expired before step %s', x.step_name) END
                WHERE q.tenant_id = r.t AND q.action_intent_id = r.id;
        END IF;
        IF fin IS NOT NULL THEN
            UPDATE intentd.intents q SET crash_attempts = x.crash_attempts, in_hand = false,
                lease_owner = NULL, lease_expires_at = NULL, fence = q.fence + 1,
                version = q.version + 1, finished_at = clock_timestamp(),
                updated_at = clock_timestamp()
                WHERE q.tenant_id = r.t AND q.action_intent_id = r.id;
            PERFORM intentd.transition_row(r.t, r.id, prev_state, fin, p_node, 'engine',
                jsonb_build_object('reason', (SELECT q.terminal_reason FROM intentd.intents q
                    WHERE q.tenant_id = r.t AND q.action_intent_id = r.id)));
            CONTINUE;
        END IF;
        UPDATE intentd.intents q SET state = 'EXECUTING', in_hand = true, lease_owner = p_node,
            lease_expires_at = now() + make_interval(secs => p_lease_s), fence = q.fence + 1,
            version = q.version + 1, crash_attempts = x.crash_attempts,
            started_at = coalesce(q.started_at, now()), updated_at = clock_timestamp()
            WHERE q.tenant_id = r.t AND q.action_intent_id = r.id
            RETURNING q.* INTO x;
        IF prev_state = 'PENDING' THEN
            PERFORM intentd.transition_row(r.t, r.id, 'PENDING', 'EXECUTING', p_node, 'engine',
                                           jsonb_build_object('reason', 'claimed'));
        END IF;
        tenant_id := x.tenant_id;
        action_intent_id := x.action_intent_id;
        action_type := x.action_type;
        account_id := x.account_id;
        state := x.state;
        step_name := x.step_name;
        step_input := x.step_input;
        step_attempts := x.step_attempts;
        wait_until_epoch := extract(epoch FROM x.wait_until);
        fence := x.fence;
        version := x.version;
        expires_epoch := extract(epoch FROM x.expires_at)::bigint;
        parameters := x.intent -> 'parameters';
        attempts := x.attempts;
        started_epoch := extract(epoch FROM x.started_at);
        RETURN NEXT;
    END LOOP;
END $$;

-- Applies a batch of step outcomes for intents p_node holds. Each op:
-- {tenant_id, action_intent_id, fence, version, state?, step_name?, step_input?, step_attempts?,
--  attempts_inc?, wait_until?, due_epoch?, output?, last_error?, terminal_reason?, release?,
--  effect?, ledger: [{event, from_state?, to_state?, actor?, payload?}]}
-- An op applies only while p_node's lease is live with the same fence and the row is at the
-- version the engine last saw. Result per op: 'ok' (applied; version is the new one), 'dup' (a
-- retry of an op that had already committed) or 'fenced' (the lease is gone: drop the work).
CREATE FUNCTION intentd.apply(p_node text, p_ops jsonb)
RETURNS TABLE (idx int, result text, version bigint, cancel_requested boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    op jsonb;
    i int := -1;
    eff jsonb;
    t text;
    id text;
    v bigint;
    c boolean;
    cur record;
BEGIN
    PERFORM intentd.ledger_lock();
    FOR op IN SELECT e FROM jsonb_array_elements(p_ops) AS e LOOP
        i := i + 1;
        t := op ->> 'tenant_id';
        id := op ->> 'action_intent_id';
        UPDATE intentd.intents q SET
            state = coalesce(op ->> 'state', q.state),
            step_name = CASE WHEN op ? 'step_name' THEN op ->> 'step_name' ELSE q.step_name END,
            step_input = CASE WHEN op ? 'step_input' THEN op -> 'step_input'
                              ELSE q.step_input END,
            step_attempts = coalesce((op ->> 'step_attempts')::int, q.step_attempts),
            attempts = q.attempts + coalesce((op ->> 'attempts_inc')::int, 0),
            wait_until = CASE WHEN op ? 'wait_until'
                              THEN to_timestamp((op ->> 'wait_until')::float8)
                              ELSE q.wait_until END,
            due_at = CASE WHEN op ? 'due_epoch' THEN to_timestamp((op ->> 'due_epoch')::float8)
                          ELSE q.due_at END,
            output = CASE WHEN op ? 'output' THEN op -> 'output' ELSE q.output END,
            last_error = CASE WHEN op ? 'last_error' THEN op -> 'last_error'
                              ELSE q.last_error END,
            terminal_reason = coalesce(op ->> 'terminal_reason', q.terminal_reason),
            finished_at = CASE WHEN (op ->> 'state') IN ('SUCCEEDED', 'FAILED', 'EXPIRED',
                                                         'CANCELLED')
                               THEN clock_timestamp() ELSE q.finished_at END,
            in_hand = CASE WHEN coalesce((op ->> 'release')::boolean, false) THEN false
                           ELSE q.in_hand END,
            lease_owner = CASE WHEN coalesce((op ->> 'release')::boolean, false) THEN NULL
                               ELSE q.lease_owner END,
            lease_expires_at = CASE WHEN coalesce((op ->> 'release')::boolean, false) THEN NULL
                                    ELSE q.lease_expires_at END,
            version = q.version + 1,
            updated_at = clock_timestamp()
        WHERE q.tenant_id = t AND q.action_intent_id = id
          AND q.fence = (op ->> 'fence')::bigint
          AND q.version = (op ->> 'version')::bigint
          AND q.lease_owner = p_node AND q.lease_expires_at > now()
        RETURNING q.version, q.cancel_requested INTO v, c;
        IF NOT FOUND THEN
            SELECT q.version, q.fence, q.lease_owner, q.cancel_requested INTO cur
                FROM intentd.intents q WHERE q.tenant_id = t AND q.action_intent_id = id;
            idx := i;
            IF FOUND AND cur.fence = (op ->> 'fence')::bigint
                    AND cur.version = (op ->> 'version')::bigint + 1
                    AND (cur.lease_owner = p_node OR (op ->> 'release')::boolean) THEN
                result := 'dup';
                version := cur.version;
                cancel_requested := cur.cancel_requested;
            ELSE
                result := 'fenced';
                version := NULL;
                cancel_requested := NULL;
            END IF;
            RETURN NEXT;
            CONTINUE;
        END IF;
        eff := op -> 'effect';
        IF eff IS NOT NULL AND jsonb_typeof(eff) = 'object' THEN
            CASE eff ->> 'kind'
            WHEN 'task' THEN
                INSERT INTO intentd.internal_tasks (record_id, tenant_id, action_intent_id, step,
                    account_id, title, due_at, assignee, notes)
                VALUES (eff ->> 'record_id', t, id, eff ->> 'step', eff ->> 'account_id',
                        eff ->> 'title', (eff ->> 'due_at')::timestamptz, eff ->> 'assignee',
                        eff ->> 'notes')
                ON CONFLICT DO NOTHING;
            WHEN 'note' THEN
                INSERT INTO intentd.internal_notes (record_id, tenant_id, action_intent_id, step,
                    account_id, body)
                VALUES (eff ->> 'record_id', t, id, eff ->> 'step', eff ->> 'account_id',
                        eff ->> 'body')
                ON CONFLICT DO NOTHING;
            WHEN 'brief' THEN
                INSERT INTO intentd.internal_briefs (record_id, tenant_id, action_intent_id, step,
                    account_id, title, url, content)
                VALUES (eff ->> 'record_id', t, id, eff ->> 'step', eff ->> 'account_id',
                        eff ->> 'title', eff ->> 'url', eff ->> 'content')
                ON CONFLICT DO NOTHING;
            WHEN 'void' THEN
                CASE eff ->> 'table'
                WHEN 'task' THEN UPDATE intentd.internal_tasks SET voided_at = clock_timestamp()
                    WHERE record_id = eff ->> 'record_id' AND voided_at IS NULL;
                WHEN 'note' THEN UPDATE intentd.internal_notes SET voided_at = clock_timestamp()
                    WHERE record_id = eff ->> 'record_id' AND voided_at IS NULL;
                WHEN 'brief' THEN UPDATE intentd.internal_briefs SET voided_at = clock_timestamp()
                    WHERE record_id = eff ->> 'record_id' AND voided_at IS NULL;
                ELSE RAISE EXCEPTION 'unknown internal table %', eff ->> 'table';
                END CASE;
            ELSE
                RAISE EXCEPTION 'unknown internal effect kind %', eff ->> 'kind';
            END CASE;
        END IF;
        INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, from_state, to_state,
                                    node_id, actor, payload)
        SELECT t, id, l ->> 'event', l ->> 'from_state', l ->> 'to_state', p_node,
               coalesce(l ->> 'actor', 'engine'), coalesce(l -> 'payload', '{}'::jsonb)
        FROM jsonb_array_elements(coalesce(op -> 'ledger', '[]'::jsonb)) AS l;
        idx := i;
        result := 'ok';
        version := v;
        cancel_requested := c;
        RETURN NEXT;
    END LOOP;
END $$;

-- Keeps p_node's leases alive; returns how many it still holds.
CREATE FUNCTION intentd.renew(p_node text, p_lease_s int) RETURNS bigint
LANGUAGE sql AS $$
    WITH u AS (
        UPDATE intentd.intents q SET lease_expires_at = now() + make_interval(secs => p_lease_s)
        WHERE q.lease_owner = p_node AND q.lease_expires_at > now()
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
        WHERE q.lease_owner = p_node
        RETURNING 1),
    n AS (SELECT count(*) AS c FROM u)
    SELECT n.c FROM n, LATERAL (SELECT pg_notify('intentd_work', '') WHERE n.c > 0) z
$$;

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
    PERFORM intentd.ledger_lock();
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
    PERFORM intentd.ledger_lock();
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
    PERFORM intentd.ledger_lock();
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
