-- intentd schema, version 18: a submission checks what its rows refer to once per statement,
-- not once per row.
--
-- Every intent a submission stores passed three foreign-key checks (its tenant, its
-- submission; the submission's tenant) and the archive check (intents_not_archived). Each
-- foreign-key check is a query of its own, run for one row through SPI with its own executor
-- start-up, and each locks the referenced row FOR KEY SHARE; the archive check is a PL/pgSQL
-- call, an advisory lock and a probe, again per row. Under the single-POST benchmark (a) these
-- were about a sixth of PostgreSQL's time in intentd.submit (perf: 10 % in the foreign-key
-- triggers, 7 % in the archive trigger). All the rows of every tenant also locked the one
-- tenants row, which concurrent transactions can only share through a MultiXact.
--
-- The references are now checked per statement, over the rows the statement inserted (a
-- transition table), by one query each, and the referenced rows are made permanent instead of
-- being locked: a tenant or a submission can no longer be deleted, nor its key changed, which
-- no code path did (and a tenant's tokens already kept it from being deleted). What the
-- foreign keys refused is still refused, with the same SQLSTATE (23503), from psql too.
--
-- intentd.submit leaves out of its insert the ids that are archived, as the archive trigger
-- did, after taking the retention lock of each tenant once; the per-statement check refuses an
-- archived id inserted any other way (with 23505: the id stays taken), where the trigger
-- dropped the row silently.

ALTER TABLE intentd.intents DROP CONSTRAINT intents_tenant_id_fkey;
ALTER TABLE intentd.intents DROP CONSTRAINT intents_submission_id_fkey;
ALTER TABLE intentd.submissions DROP CONSTRAINT submissions_tenant_id_fkey;
DROP TRIGGER intents_not_archived ON intentd.intents;
DROP FUNCTION intentd.intents_not_archived();

-- Retention moves a tenant's intents to the archive holding this lock exclusively
-- (intentd.retention_sweep); a writer that holds it shared for each tenant it inserts for sees,
-- from its next statement on, every id archived so far, and none is archived under it.
CREATE FUNCTION intentd.retention_share(p_tenants text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7242003, intentd.retention_tenant_key(d.t))
    FROM (SELECT DISTINCT u.t FROM unnest(p_tenants) AS u(t)) d;
END $$;

-- One function for both tables: every row names a tenant; an intent also names its submission
-- and must not be archived. Nested loops probing by key whatever the sizes the plan was made
-- with (see 015_plans_without_statistics.sql): a transition table of a 1,000-intent batch must
-- not turn a probe of a primary key into a scan of the whole archive.
CREATE FUNCTION intentd.check_added_rows() RETURNS trigger
LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.tenant_id INTO bad FROM added n
    WHERE NOT EXISTS (SELECT 1 FROM intentd.tenants t WHERE t.tenant_id = n.tenant_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'intentd.%: tenant "%" does not exist', TG_TABLE_NAME, bad.tenant_id
            USING ERRCODE = 'foreign_key_violation', SCHEMA = 'intentd', TABLE = TG_TABLE_NAME,
                  CONSTRAINT = TG_TABLE_NAME || '_tenant_ref';
    END IF;
    IF TG_TABLE_NAME <> 'intents' THEN
        RETURN NULL;
    END IF;
    SELECT n.action_intent_id, n.submission_id INTO bad FROM added n
    WHERE NOT EXISTS (SELECT 1 FROM intentd.submissions s
                      WHERE s.submission_id = n.submission_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'intentd.intents: intent "%" names submission %, which does not exist',
            bad.action_intent_id, bad.submission_id
            USING ERRCODE = 'foreign_key_violation', SCHEMA = 'intentd', TABLE = 'intents',
                  CONSTRAINT = 'intents_submission_ref';
    END IF;
    PERFORM intentd.retention_share(ARRAY(SELECT n.tenant_id FROM added n));
    SELECT n.tenant_id, n.action_intent_id INTO bad FROM added n
    WHERE EXISTS (SELECT 1 FROM intentd.intents_archive a
                  WHERE a.tenant_id = n.tenant_id AND a.action_intent_id = n.action_intent_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'intentd.intents: intent "%" of tenant "%" is archived; its id stays taken',
            bad.action_intent_id, bad.tenant_id
            USING ERRCODE = 'unique_violation', SCHEMA = 'intentd', TABLE = 'intents',
                  CONSTRAINT = 'intents_not_archived';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER intents_check_added AFTER INSERT ON intentd.intents
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION intentd.check_added_rows();
CREATE TRIGGER submissions_check_added AFTER INSERT ON intentd.submissions
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION intentd.check_added_rows();

-- What the foreign keys kept from changing under the rows that refer to it. The triggers on
-- UPDATE OF a column fire only for statements that set that column, so the engine's updates of
-- intents (claims, outcomes) never call them.
CREATE FUNCTION intentd.refuse_reference_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'intentd.%: % refused: % rows are referred to by the intents and ledger '
                    'and are kept for good', TG_TABLE_NAME, TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'foreign_key_violation', SCHEMA = 'intentd', TABLE = TG_TABLE_NAME;
END $$;
CREATE TRIGGER tenants_kept BEFORE DELETE ON intentd.tenants
    FOR EACH ROW EXECUTE FUNCTION intentd.refuse_reference_change();
CREATE TRIGGER tenants_key_kept BEFORE UPDATE OF tenant_id ON intentd.tenants
    FOR EACH ROW WHEN (NEW.tenant_id IS DISTINCT FROM OLD.tenant_id)
    EXECUTE FUNCTION intentd.refuse_reference_change();
CREATE TRIGGER tenants_not_truncated BEFORE TRUNCATE ON intentd.tenants
    FOR EACH STATEMENT EXECUTE FUNCTION intentd.refuse_reference_change();
CREATE TRIGGER submissions_kept BEFORE DELETE ON intentd.submissions
    FOR EACH ROW EXECUTE FUNCTION intentd.refuse_reference_change();
CREATE TRIGGER submissions_key_kept BEFORE UPDATE OF submission_id, tenant_id
    ON intentd.submissions
    FOR EACH ROW WHEN (NEW.submission_id IS DISTINCT FROM OLD.submission_id
                       OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id)
    EXECUTE FUNCTION intentd.refuse_reference_change();
CREATE TRIGGER submissions_not_truncated BEFORE TRUNCATE ON intentd.submissions
    FOR EACH STATEMENT EXECUTE FUNCTION intentd.refuse_reference_change();
CREATE TRIGGER intents_references_kept BEFORE UPDATE OF tenant_id, submission_id
    ON intentd.intents
    FOR EACH ROW WHEN (NEW.tenant_id IS DISTINCT FROM OLD.tenant_id
                       OR NEW.submission_id IS DISTINCT FROM OLD.submission_id)
    EXECUTE FUNCTION intentd.refuse_reference_change();

-- As in 012_submit_by_key.sql, except that the insert leaves out archived ids (the archive
-- trigger did that per row), after taking each tenant's retention lock once.
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
    SELECT array_agg(x.tenant ORDER BY x.ord) INTO tenants
    FROM ROWS FROM (jsonb_to_recordset(p_subs) AS (tenant text)) WITH ORDINALITY AS x(tenant, ord);
    INSERT INTO intentd.submissions (submission_id, tenant_id, body, signature)
    SELECT sids[x.ord], x.tenant, x.body, x.signature
    FROM ROWS FROM (jsonb_to_recordset(p_subs) AS (tenant text, body text, signature text))
         WITH ORDINALITY AS x(tenant, body, signature, ord);
    -- before the insert's snapshot is taken: what retention archived is committed by then
    PERFORM intentd.retention_share(tenants);

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
        FROM firsts f
        -- a correlated probe by the archive's primary key, never a join planned on guesses
        WHERE (SELECT true FROM intentd.intents_archive a
               WHERE a.tenant_id = f.tenant AND a.action_intent_id = f.id) IS NULL
        ORDER BY f.req, f.idx
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
