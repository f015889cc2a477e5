-- set_toggle takes its locks in the order every other writer does: the intent rows a flip
-- changes, in key order, before the first ledger row takes the ledger lock. 007 cancelled the
-- intents of a kill one at a time, holding the ledger lock while it waited for the next row;
-- an executor's apply or claim holding that row and waiting for the ledger lock made it a
-- deadlock (a global kill during a run answered 500). A new migration, not an edit of 007, so
-- databases that already applied 007 get the fix too.
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
                  WHERE q.state IN ('PENDING', 'EXECUTING') AND NOT q.cancel_requested
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
                    AND q.state IN ('PENDING', 'EXECUTING', 'COMPENSATING')
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
