-- intentd schema, version 12: what a submission costs no longer depends on the table's size,
-- the planner's guesses or the size of the raw bodies.
--
-- PL/pgSQL keeps the plan of each statement for the life of a connection, and after a few
-- calls that is a generic plan made with the table sizes of that moment. intentd.submit found
-- each item's existing intent by joining intentd.intents_all (a UNION ALL view); planned while
-- the tables were nearly empty, that join read the whole of both primary keys on every call,
-- so a fresh database slowed down with every intent it accepted until autovacuum's ANALYZE
-- made the connections plan again (0.5 ms an intent at 20,000 rows in the benchmark). Each
-- item now looks its id up by key, in intents first and then in the archive, which is an
-- index probe whatever the sizes were when the plan was made.
--
-- Each item read its tenant as p_subs -> req ->> 'tenant'. The first step copies the whole
-- element of p_subs, and that element carries the submission's raw body (kept for
-- intentd.submissions): for a batch of 1,000 intents, about 600 KB copied 1,000 times in each
-- of two statements. The tenants are now read once per call into an array indexed by req.
--
-- The 202/200/409 decision joined the items to themselves (the first of each key) and to the
-- array of keys just inserted. Both joins are over set-returning functions the planner guesses
-- at, and with a guess of one row the second became a nested loop over every pair: 200-260 ms
-- for a batch of 1,000. The first of each key is now a window function, and "inserted by this
-- call" is the row's submission id.

CREATE OR REPLACE FUNCTION intentd.submit(p_node text, p_subs jsonb, p_items jsonb)
RETURNS TABLE (req int, idx int, status int, state text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    sids bigint[];
    tenants text[];
    led jsonb;
BEGIN
    SELECT array_agg(nextval('intentd.submissions_submission_id_seq'::regclass))
        INTO sids FROM generate_series(1, jsonb_array_length(p_subs));
    -- each item names its submission by index; reading the tenant through p_subs -> req
    -- copied that submission's whole element, raw body included, once per item
    SELECT array_agg(x.tenant ORDER BY x.ord) INTO tenants
    FROM ROWS FROM (jsonb_to_recordset(p_subs) AS (tenant text)) WITH ORDINALITY AS x(tenant, ord);
    INSERT INTO intentd.submissions (submission_id, tenant_id, body, signature)
    SELECT sids[x.ord], x.tenant, x.body, x.signature
    FROM ROWS FROM (jsonb_to_recordset(p_subs) AS (tenant text, body text, signature text))
         WITH ORDINALITY AS x(tenant, body, signature, ord);

    WITH items AS (
        SELECT x.*, tenants[x.req + 1] AS tenant
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
    SELECT jsonb_agg(jsonb_build_object(
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
        INTO led FROM ins n;

    -- An item is new (202) when it is the first of its key in this call and the row found by
    -- key carries the submission id given to that item's request here (ids come fresh from the
    -- sequence, so only this call can have stored it); when another transaction was first (ON
    -- CONFLICT) or the id is archived, the stored hash answers. Nothing here depends on the planner's
    -- estimate of a set-returning function: a join against the new keys, estimated at one row,
    -- became a nested loop over 1,000 x 1,000 pairs (200-260 ms a batch in the benchmark).
    RETURN QUERY
    WITH items AS (
        SELECT x.req, x.idx, x.id, x.hash, tenants[x.req + 1] AS tenant,
               row_number() OVER (PARTITION BY tenants[x.req + 1], x.id
                                  ORDER BY x.req, x.idx) AS nth
        FROM jsonb_to_recordset(p_items) AS x(req int, idx int, id text, hash text)
    )
    SELECT it.req, it.idx,
           CASE WHEN it.nth = 1 AND ex.submission_id = sids[it.req + 1] THEN 202
                WHEN ex.intent_hash = decode(it.hash, 'hex') THEN 200
                ELSE 409 END,
           ex.state
    FROM items it
    LEFT JOIN LATERAL (
        SELECT q.intent_hash, q.state, q.submission_id FROM intentd.intents q
        WHERE q.tenant_id = it.tenant AND q.action_intent_id = it.id
        UNION ALL
        SELECT a.intent_hash, a.state, a.submission_id FROM intentd.intents_archive a
        WHERE a.tenant_id = it.tenant AND a.action_intent_id = it.id
        LIMIT 1) ex ON true
    ORDER BY it.req, it.idx;

    IF led IS NOT NULL THEN
        PERFORM pg_notify('intentd_work', '');
        PERFORM intentd.ledger_append(p_node, led);
    END IF;
END $$;
