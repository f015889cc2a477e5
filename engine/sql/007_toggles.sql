-- Kill switches (SPEC §6). A row per (scope, key) that was ever set; no row means run.
-- Keys: global "*"; tenant "<tenant>"; action_type "<tenant>/<action type>" or
-- "*/<action type>" (every tenant); connector "<tenant>/<connector>" or "*/<connector>".
CREATE TABLE intentd.toggles (
    scope text NOT NULL CHECK (scope IN ('global', 'tenant', 'action_type', 'connector')),
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    mode text NOT NULL CHECK (mode IN ('run', 'pause', 'kill')),
    reason text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_by text NOT NULL,
    PRIMARY KEY (scope, key)
);

-- True when an intent of p_tenant and p_type lies under (p_scope, p_key); p_types are the
-- action types whose workflows call the connector of a connector scope (the engine knows
-- them, the database does not).
CREATE FUNCTION intentd.toggle_covers(p_scope text, p_key text, p_types text[], p_tenant text,
                                      p_type text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_scope
        WHEN 'global' THEN true
        WHEN 'tenant' THEN p_tenant = p_key
        WHEN 'action_type' THEN split_part(p_key, '/', 1) IN ('*', p_tenant)
                                AND p_type = substr(p_key, strpos(p_key, '/') + 1)
        ELSE split_part(p_key, '/', 1) IN ('*', p_tenant) AND p_type = ANY (p_types)
    END
$$;

-- Sets a toggle. Flipping to the mode it already has changes nothing and writes no ledger row
-- (changed = false). Otherwise: one ledger row (event toggle.set, from/to the modes); kill
-- cancels the covered non-terminal intents through intentd.cancel (PENDING ones at once, the
-- others at their next step boundary, with compensation); run makes the intents held by a
-- pause of the key's tenant (all tenants for global and "*/" keys) due again, spread at random
-- over p_window_ms so the vendors do not see them all at once. Nodes learn of the change from
-- the NOTIFY (payload 'toggles') or their poll.
CREATE FUNCTION intentd.set_toggle(p_scope text, p_key text, p_mode text, p_reason text,
                                   p_actor text, p_node text, p_window_ms integer,
                                   p_types text[])
RETURNS TABLE (changed boolean, previous text, affected integer, updated_at timestamptz,
               updated_by text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    old intentd.toggles%ROWTYPE;
    n integer := 0;
    t text := CASE WHEN p_scope = 'global' THEN '*' ELSE split_part(p_key, '/', 1) END;
    r record;
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
    IF p_mode = 'kill' THEN
        FOR r IN SELECT q.tenant_id, q.action_intent_id FROM intentd.intents q
                 WHERE q.state IN ('PENDING', 'EXECUTING') AND NOT q.cancel_requested
                   AND intentd.toggle_covers(p_scope, p_key, p_types, q.tenant_id,
                                             q.action_type)
        LOOP
            PERFORM intentd.cancel(r.tenant_id, r.action_intent_id,
                                   'killed: ' || p_scope || ' ' || p_key || ': ' || p_reason,
                                   p_actor, p_node);
            n := n + 1;
        END LOOP;
    ELSIF p_mode = 'run' THEN
        UPDATE intentd.intents q
            SET due_at = now() + random() * p_window_ms * interval '1 millisecond'
            WHERE q.held_by LIKE 'paused:%' AND q.state IN ('PENDING', 'EXECUTING', 'COMPENSATING')
              AND (t = '*' OR q.tenant_id = t);
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
