-- intentd schema, version 9: the ledger partitioned by month, archiving of old ledger
-- partitions (intentd.ledger_archives keeps the anchor verification resumes from), and
-- retention of terminal intents (moved from intentd.intents to intentd.intents_archive).
-- Applies to a database that already holds data: every ledger row keeps its seq, hashes and
-- created_at, so the chain verifies exactly as before.

-- --- the ledger, range-partitioned on created_at (UTC months) ---

-- Column default of ledger.created_at: the ledger lock is taken before the timestamp is read,
-- so created_at never runs backwards along seq (each partition holds one contiguous run of
-- seq, which is what lets an old partition be archived as a whole) and the row is routed to
-- its partition by the very value its hash covers.
CREATE FUNCTION intentd.ledger_stamp() RETURNS timestamptz LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM intentd.ledger_lock();
    RETURN clock_timestamp();
END $$;

LOCK TABLE intentd.ledger IN ACCESS EXCLUSIVE MODE;
ALTER TABLE intentd.ledger RENAME TO ledger_unpartitioned;
-- ledger_canon takes the ledger's row type; it is re-created for the new table below
DROP FUNCTION intentd.ledger_canon(intentd.ledger_unpartitioned);

-- A partitioned table's primary key must contain the partition key, so it is (seq,
-- created_at); seq alone stays unique because only the chain (under the ledger lock) assigns
-- it. Every partition's key index leads with seq, so the lookups by seq (the chain's tail,
-- export and verify pages) are index scans merged across partitions.
CREATE TABLE intentd.ledger (
    seq bigint NOT NULL,
    tenant_id text,
    action_intent_id text,
    event text NOT NULL,
    from_state text,
    to_state text,
    node_id text NOT NULL,
    actor text NOT NULL,
    payload jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT intentd.ledger_stamp(),
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (seq, created_at)
) PARTITION BY RANGE (created_at);

-- A TRUNCATE of one partition does not fire the parent's statement triggers, so every
-- partition carries its own refusal (row triggers are cloned from the parent by PostgreSQL).
CREATE FUNCTION intentd.ledger_partition_guard(p_rel regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION intentd.ledger_refuse()', p_rel);
END $$;

-- The partition of the UTC month starting at p_month, named intentd.ledger_YYYY_MM. Answers
-- its name, or NULL when it exists already or when rows of that month sit in the DEFAULT
-- partition (PostgreSQL cannot create it then; those rows simply stay where they are).
CREATE FUNCTION intentd.ledger_create_partition(p_month date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := make_timestamptz(extract(year FROM p_month)::int,
                                       extract(month FROM p_month)::int, 1, 0, 0, 0, 'UTC');
    hi timestamptz := lo + interval '1 month';
    name text := format('ledger_%s', to_char(p_month, 'YYYY_MM'));
BEGIN
    IF to_regclass('intentd.' || name) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    IF to_regclass('intentd.ledger_default') IS NOT NULL AND EXISTS (
           SELECT 1 FROM intentd.ledger_default WHERE created_at >= lo AND created_at < hi) THEN
        RAISE WARNING 'ledger rows of % are in intentd.ledger_default; its partition is not created',
            to_char(p_month, 'YYYY-MM');
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE intentd.%I PARTITION OF intentd.ledger FOR VALUES FROM (%L) '
                   'TO (%L)', name, lo, hi);
    PERFORM intentd.ledger_partition_guard(('intentd.' || name)::regclass);
    RETURN name;
END $$;

-- Makes sure the partitions of this UTC month and the p_ahead months after it exist (the
-- engine calls it at start-up and hourly, with p_ahead 1). Creating a partition needs a
-- short exclusive lock on the ledger; with the lock_timeout below it gives up rather than
-- queue appends behind it, and the next call tries again (a month ahead, there is time).
-- Answers the partitions it created.
CREATE FUNCTION intentd.ledger_ensure_partitions(p_ahead int) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    m date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    made text[] := '{}';
    n text;
BEGIN
    IF p_ahead IS NULL OR p_ahead < 0 OR p_ahead > 24 THEN
        RAISE EXCEPTION 'ledger_ensure_partitions: p_ahead must be 0..24' USING ERRCODE = '22023';
    END IF;
    PERFORM set_config('lock_timeout', '500ms', true);
    FOR i IN 0..p_ahead LOOP
        n := intentd.ledger_create_partition((m + make_interval(months => i))::date);
        IF n IS NOT NULL THEN
            made := made || n;
        END IF;
    END LOOP;
    RETURN made;
END $$;

-- The safety net: a row whose month has no partition yet lands here, so an append never
-- fails. It should stay empty (the engine creates each month's partition a month ahead).
CREATE TABLE intentd.ledger_default PARTITION OF intentd.ledger DEFAULT;
SELECT intentd.ledger_partition_guard('intentd.ledger_default'::regclass);

-- one partition per month the existing rows span, up to next month
DO $$
DECLARE
    first date;
    m date;
BEGIN
    SELECT date_trunc('month', min(created_at) AT TIME ZONE 'UTC')::date INTO first
        FROM intentd.ledger_unpartitioned;
    m := coalesce(first, date_trunc('month', now() AT TIME ZONE 'UTC')::date);
    WHILE m <= (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')::date LOOP
        PERFORM intentd.ledger_create_partition(m);
        m := (m + interval '1 month')::date;
    END LOOP;
END $$;

-- The rows move before any trigger exists on the new table: they are chained already, and
-- the alert trigger must not fire again for old transitions.
INSERT INTO intentd.ledger (seq, tenant_id, action_intent_id, event, from_state, to_state,
                            node_id, actor, payload, created_at, prev_hash, hash)
SELECT seq, tenant_id, action_intent_id, event, from_state, to_state, node_id, actor, payload,
       created_at, prev_hash, hash
FROM intentd.ledger_unpartitioned ORDER BY seq;
DROP TABLE intentd.ledger_unpartitioned;

CREATE INDEX ledger_by_intent ON intentd.ledger (tenant_id, action_intent_id, seq);
CREATE INDEX ledger_signals ON intentd.ledger (tenant_id, seq)
    WHERE event = 'intent.transition' AND to_state IN ('SUCCEEDED', 'FAILED', 'EXPIRED',
                                                       'CANCELLED');

-- Unchanged from 001_core.sql, for the new row type.
CREATE FUNCTION intentd.ledger_canon(l intentd.ledger) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_array(l.seq, l.tenant_id, l.action_intent_id, l.event, l.from_state,
                             l.to_state, l.node_id, l.actor, l.payload,
                             (extract(epoch FROM l.created_at) * 1000000)::bigint)::text
$$;

-- As in 001_core.sql, except for created_at: the row has been routed to its partition by
-- created_at before this trigger runs (and a BEFORE trigger may not move it to another), so
-- it keeps the value intentd.ledger_stamp gave it under the ledger lock rather than taking a
-- new one. A value that would break the order along seq is refused.
CREATE OR REPLACE FUNCTION intentd.ledger_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_seq bigint;
    last_hash bytea;
    last_at timestamptz;
BEGIN
    IF NEW.hash IS NOT NULL THEN
        RETURN NEW;
    END IF;
    PERFORM intentd.ledger_lock();
    SELECT seq, hash, created_at INTO last_seq, last_hash, last_at
        FROM intentd.ledger ORDER BY seq DESC LIMIT 1;
    IF last_seq IS NULL THEN
        last_seq := 0;
        last_hash := decode(repeat('00', 32), 'hex');
    END IF;
    IF NEW.created_at > clock_timestamp() OR NEW.created_at < last_at THEN
        RAISE EXCEPTION 'ledger created_at % is out of order (last row %, now %)',
            NEW.created_at, last_at, clock_timestamp() USING ERRCODE = 'check_violation';
    END IF;
    NEW.seq := last_seq + 1;
    NEW.prev_hash := last_hash;
    NEW.hash := sha256(NEW.prev_hash || convert_to(intentd.ledger_canon(NEW), 'UTF8'));
    RETURN NEW;
END $$;

CREATE TRIGGER ledger_chain BEFORE INSERT ON intentd.ledger
    FOR EACH ROW EXECUTE FUNCTION intentd.ledger_chain();
CREATE TRIGGER ledger_no_update BEFORE UPDATE OR DELETE ON intentd.ledger
    FOR EACH ROW EXECUTE FUNCTION intentd.ledger_refuse();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON intentd.ledger
    FOR EACH STATEMENT EXECUTE FUNCTION intentd.ledger_refuse();
CREATE TRIGGER ledger_alerts AFTER INSERT ON intentd.ledger
    FOR EACH ROW WHEN (NEW.event = 'intent.transition' AND NEW.to_state IN ('FAILED', 'EXPIRED'))
    EXECUTE FUNCTION intentd.alert_on_transition();

-- --- archived ledger partitions ---

-- One row per partition an operator archived (intentd.ledger_archive_partition): the seq range
-- it held and the hash of its last row. Verification starts after the newest archived range,
-- trusting that hash as the chain's anchor; the dumped partition itself can be verified
-- offline from the previous archive's last_hash (or the genesis hash) to this one.
CREATE TABLE intentd.ledger_archives (
    partition_name text PRIMARY KEY,
    from_seq bigint NOT NULL,
    to_seq bigint NOT NULL UNIQUE CHECK (to_seq >= from_seq),
    rows bigint NOT NULL,
    first_prev_hash bytea NOT NULL,
    last_hash bytea NOT NULL,
    from_created_at timestamptz NOT NULL,
    to_created_at timestamptz NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    archived_by text NOT NULL DEFAULT current_user
);
CREATE TRIGGER ledger_archives_no_update BEFORE UPDATE OR DELETE ON intentd.ledger_archives
    FOR EACH ROW EXECUTE FUNCTION intentd.ledger_refuse();
CREATE TRIGGER ledger_archives_no_truncate BEFORE TRUNCATE ON intentd.ledger_archives
    FOR EACH STATEMENT EXECUTE FUNCTION intentd.ledger_refuse();

-- Records the oldest attached monthly partition as archived and detaches it (in one
-- transaction), after checking that it continues the chain from the previous archive. The
-- detached table is then the operator's to dump (pg_dump -t) and drop. Refuses the DEFAULT
-- partition, a partition of the current month or later, a partition that is not the oldest
-- one holding rows, and one whose rows do not chain (seq gaps or broken prev_hash links).
CREATE FUNCTION intentd.ledger_archive_partition(p_partition text)
RETURNS SETOF intentd.ledger_archives LANGUAGE plpgsql AS $$
DECLARE
    rel regclass := to_regclass('intentd.' || p_partition);
    r intentd.ledger_archives%ROWTYPE;
    anchor_seq bigint;
    anchor_hash bytea;
    breaks bigint;
BEGIN
    IF rel IS NULL OR p_partition !~ '^ledger_[0-9]{4}_[0-9]{2}$' OR NOT EXISTS (
           SELECT 1 FROM pg_inherits WHERE inhrelid = rel
              AND inhparent = 'intentd.ledger'::regclass) THEN
        RAISE EXCEPTION 'ledger_archive_partition: % is not a monthly partition of intentd.ledger',
            p_partition USING ERRCODE = '22023';
    END IF;
    IF to_date(substr(p_partition, 8), 'YYYY_MM') >= date_trunc('month', now() AT TIME ZONE 'UTC')
    THEN
        RAISE EXCEPTION 'ledger_archive_partition: % is not in the past', p_partition
            USING ERRCODE = '22023';
    END IF;
    -- A past month's partition no longer changes (created_at is stamped under the ledger lock,
    -- so appends land in the current month), so it is read without locks; only the detach at
    -- the end takes the ledger's exclusive lock, briefly.
    EXECUTE format('SELECT min(seq), max(seq), count(*), min(created_at), max(created_at) '
                   'FROM %s', rel)
        INTO r.from_seq, r.to_seq, r.rows, r.from_created_at, r.to_created_at;
    IF r.rows = 0 THEN
        RAISE EXCEPTION 'ledger_archive_partition: % is empty; drop it instead', p_partition
            USING ERRCODE = '22023';
    END IF;
    SELECT a.to_seq, a.last_hash INTO anchor_seq, anchor_hash FROM intentd.ledger_archives a
        ORDER BY a.to_seq DESC LIMIT 1;
    anchor_seq := coalesce(anchor_seq, 0);
    anchor_hash := coalesce(anchor_hash, decode(repeat('00', 32), 'hex'));
    IF r.from_seq <> anchor_seq + 1 OR r.to_seq - r.from_seq + 1 <> r.rows
       OR EXISTS (SELECT 1 FROM intentd.ledger WHERE seq < r.from_seq) THEN
        RAISE EXCEPTION 'ledger_archive_partition: % (seq % to %) is not the oldest run of the '
            'chain after seq %', p_partition, r.from_seq, r.to_seq, anchor_seq
            USING ERRCODE = '22023';
    END IF;
    EXECUTE format('SELECT prev_hash FROM %s WHERE seq = $1', rel) INTO r.first_prev_hash
        USING r.from_seq;
    EXECUTE format('SELECT hash FROM %s WHERE seq = $1', rel) INTO r.last_hash USING r.to_seq;
    EXECUTE format('SELECT count(*) FROM %s a JOIN %s b ON b.seq = a.seq + 1 '
                   'WHERE b.prev_hash <> a.hash', rel, rel) INTO breaks;
    IF r.first_prev_hash <> anchor_hash OR breaks > 0 THEN
        RAISE EXCEPTION 'ledger_archive_partition: the chain in % is broken; run GET '
            '/v1/ledger/verify', p_partition USING ERRCODE = 'data_corrupted';
    END IF;
    INSERT INTO intentd.ledger_archives (partition_name, from_seq, to_seq, rows,
        first_prev_hash, last_hash, from_created_at, to_created_at)
    VALUES (p_partition, r.from_seq, r.to_seq, r.rows, r.first_prev_hash, r.last_hash,
            r.from_created_at, r.to_created_at)
    RETURNING * INTO r;
    -- the relation lock first: appenders take it before the ledger lock, never after
    LOCK TABLE intentd.ledger IN ACCESS EXCLUSIVE MODE;
    EXECUTE format('ALTER TABLE intentd.ledger DETACH PARTITION %s', rel);
    RETURN NEXT r;
END $$;

-- --- retention of terminal intents ---

-- Terminal intents past the retention age, exactly as they were: the same columns in the same
-- order as intentd.intents (a later migration that adds a column to intents adds it here too,
-- and re-creates intents_all), so rows move and read back with "*".
CREATE TABLE intentd.intents_archive (LIKE intentd.intents);
ALTER TABLE intentd.intents_archive ADD PRIMARY KEY (tenant_id, action_intent_id);

-- the sweep finds what is old enough without scanning the hot table
CREATE INDEX intents_retention ON intentd.intents (finished_at)
    WHERE state IN ('SUCCEEDED', 'FAILED', 'EXPIRED', 'CANCELLED');

-- Every intent, retained or archived: what GET /v1/intents/{id} and the idempotency check of
-- a submission read.
CREATE VIEW intentd.intents_all AS
    SELECT * FROM intentd.intents
    UNION ALL
    SELECT * FROM intentd.intents_archive;

-- Submissions and the sweep meet on a lock per tenant: a submission holds it shared until it
-- commits, the sweep exclusively while it moves that tenant's intents. So a submission never
-- looks for its id in the archive while the sweep is half-way through moving it there (it
-- would find it in neither table and insert it again, and it would run twice).
CREATE FUNCTION intentd.retention_tenant_key(p_tenant text) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT hashtext('intentd.retention:' || p_tenant)
$$;

-- An id that was archived stays taken: the row is not inserted, and intentd.submit answers
-- from the archive (200 for the same body, 409 for another), so nothing executes twice.
CREATE FUNCTION intentd.intents_not_archived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7242003, intentd.retention_tenant_key(NEW.tenant_id));
    PERFORM 1 FROM intentd.intents_archive a
        WHERE a.tenant_id = NEW.tenant_id AND a.action_intent_id = NEW.action_intent_id;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER intents_not_archived BEFORE INSERT ON intentd.intents
    FOR EACH ROW EXECUTE FUNCTION intentd.intents_not_archived();

-- As in 002_functions.sql, except that an item's status is decided against intents_all, so a
-- re-submitted archived intent is a duplicate (200) or a conflict (409), never new.
CREATE OR REPLACE FUNCTION intentd.submit(p_node text, p_subs jsonb, p_items jsonb)
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
    LEFT JOIN intentd.intents_all ex ON ex.tenant_id = it.tenant AND ex.action_intent_id = it.id
    ORDER BY it.req, it.idx;

    IF led IS NOT NULL THEN
        PERFORM pg_notify('intentd_work', '');
        PERFORM intentd.ledger_append(p_node, led);
    END IF;
END $$;

-- One batch of the retention sweep: moves up to p_batch intents of one tenant that ended more
-- than p_age_s seconds ago (terminal, not leased) from intents to intents_archive, oldest
-- first, and answers how many moved. One node sweeps at a time (a transaction-scoped try-lock:
-- a node that does not get it answers 0 and tries again later); rows another transaction has
-- locked are skipped, not waited for. Ledger rows are not touched.
CREATE FUNCTION intentd.retention_sweep(p_age_s bigint, p_batch int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    cutoff timestamptz;
    t text;
    n int;
BEGIN
    IF p_age_s IS NULL OR p_age_s < 1 OR p_batch IS NULL OR p_batch < 1 OR p_batch > 10000 THEN
        RAISE EXCEPTION 'retention_sweep: age or batch out of range' USING ERRCODE = '22023';
    END IF;
    IF NOT pg_try_advisory_xact_lock(7242002) THEN
        RETURN 0;
    END IF;
    cutoff := now() - make_interval(secs => p_age_s);
    SELECT q.tenant_id INTO t FROM intentd.intents q
        WHERE q.state IN ('SUCCEEDED', 'FAILED', 'EXPIRED', 'CANCELLED')
          AND q.finished_at < cutoff
        ORDER BY q.finished_at LIMIT 1;
    IF t IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(7242003, intentd.retention_tenant_key(t));
    WITH pick AS (
        SELECT q.tenant_id, q.action_intent_id FROM intentd.intents q
        WHERE q.tenant_id = t AND q.state IN ('SUCCEEDED', 'FAILED', 'EXPIRED', 'CANCELLED')
          AND q.finished_at < cutoff
          AND (q.lease_owner IS NULL OR q.lease_expires_at < now())
        ORDER BY q.finished_at LIMIT p_batch
        FOR UPDATE SKIP LOCKED
    ), moved AS (
        DELETE FROM intentd.intents q USING pick
        WHERE q.tenant_id = pick.tenant_id AND q.action_intent_id = pick.action_intent_id
        RETURNING q.*
    ), ins AS (
        INSERT INTO intentd.intents_archive SELECT m.* FROM moved m
        RETURNING 1
    )
    SELECT count(*) INTO n FROM ins;
    RETURN n;
END $$;
