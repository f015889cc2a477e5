-- intentd schema, version 1: tenants and tokens, intents and their lifecycle guard, the
-- append-only hash-chained ledger, internal-record tables, and the functions the engine calls.
-- Every function that writes ledger rows takes the ledger lock first, so that transactions that
-- append to the chain are serialised and can never deadlock on intent rows.

CREATE SCHEMA IF NOT EXISTS intentd;

CREATE TABLE intentd.tenants (
    tenant_id text PRIMARY KEY CHECK (tenant_id ~ '^[A-Za-z0-9._-]{1,64}$'),
    approval_key_enc text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE intentd.tokens (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    tenant_id text NOT NULL REFERENCES intentd.tenants,
    role text NOT NULL CHECK (role IN ('operator', 'oncall', 'admin')),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- Seeded from statemachines/lifecycle.json at every start-up.
CREATE TABLE intentd.lifecycle_transitions (
    from_state text NOT NULL,
    to_state text NOT NULL,
    PRIMARY KEY (from_state, to_state)
);

-- Every accepted request body, byte for byte, so its signature can be re-verified later.
CREATE TABLE intentd.submissions (
    submission_id bigserial PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES intentd.tenants,
    body text NOT NULL,
    signature text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE intentd.intents (
    tenant_id text NOT NULL REFERENCES intentd.tenants,
    action_intent_id text NOT NULL CHECK (action_intent_id ~ '^[A-Za-z0-9._:-]{1,128}$'),
    account_id text NOT NULL,
    action_type text NOT NULL,
    state text NOT NULL DEFAULT 'PENDING',
    priority smallint NOT NULL DEFAULT 50 CHECK (priority BETWEEN 0 AND 100),
    intent_hash bytea NOT NULL,
    intent jsonb NOT NULL,
    submission_id bigint NOT NULL REFERENCES intentd.submissions,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    submitted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at timestamptz, -- first claim: the workflow's TimeoutSeconds runs from here
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    due_at timestamptz NOT NULL DEFAULT now(),
    -- where the workflow stands: the ASL state to run next and its raw input
    step_name text,
    step_input jsonb,
    step_attempts int NOT NULL DEFAULT 0,
    wait_until timestamptz,
    -- write-ahead of an external call: {step, attempt, phase, key} set (and committed) before
    -- the call starts and cleared with its outcome, so after a crash the next holder knows the
    -- call may have happened and reconciles before repeating it
    call_inflight jsonb,
    step_prior jsonb, -- what the current step's prepare read (the value an update overwrites)
    -- Tasks that succeeded, in order: {step, operation, compensate, external_id, result,
    -- prior, params, comp}; comp is the compensation's outcome once it ran
    completed jsonb NOT NULL DEFAULT '[]',
    compensate_to text, -- while COMPENSATING: the terminal state it ends in
    held_by text,       -- why the next call is held back (breaker, rate limit, toggle)
    attempts int NOT NULL DEFAULT 0,
    crash_attempts int NOT NULL DEFAULT 0,
    -- lease and fencing: a node owns the row while lease_expires_at is in the future; every
    -- write it makes names the fence it was given, and every claim bumps the fence
    in_hand boolean NOT NULL DEFAULT false,
    lease_owner text,
    lease_expires_at timestamptz,
    fence bigint NOT NULL DEFAULT 0,
    version bigint NOT NULL DEFAULT 0,
    cancel_requested boolean NOT NULL DEFAULT false,
    cancel_reason text,
    terminal_reason text,
    output jsonb,
    last_error jsonb,
    finished_at timestamptz,
    PRIMARY KEY (tenant_id, action_intent_id)
);
CREATE INDEX intents_due ON intentd.intents (tenant_id, priority DESC, due_at)
    WHERE state IN ('PENDING', 'EXECUTING', 'COMPENSATING');
CREATE INDEX intents_by_time ON intentd.intents (tenant_id, submitted_at DESC, action_intent_id DESC);
CREATE INDEX intents_by_account
    ON intentd.intents (tenant_id, account_id, submitted_at DESC, action_intent_id DESC);
-- Deliberately no index on lease_owner or due_at alone: every claim and every step outcome
-- rewrites the row outside HOT (state and lease change), so each index costs an insertion per
-- write. Renewal names the rows it holds by key; release at shutdown filters the due index.

CREATE FUNCTION intentd.intents_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'PENDING' THEN
            RAISE EXCEPTION 'intent % must start PENDING, not %', NEW.action_intent_id, NEW.state
                USING ERRCODE = 'check_violation';
        END IF;
    ELSIF NEW.state IS DISTINCT FROM OLD.state THEN
        PERFORM 1 FROM intentd.lifecycle_transitions
            WHERE from_state = OLD.state AND to_state = NEW.state;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'illegal lifecycle transition % -> % for intent %',
                OLD.state, NEW.state, OLD.action_intent_id
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER intents_guard BEFORE INSERT OR UPDATE OF state ON intentd.intents
    FOR EACH ROW EXECUTE FUNCTION intentd.intents_guard();

-- The ledger. seq, prev_hash, hash and created_at are assigned by the chain trigger; hash =
-- SHA-256(prev_hash || canonical text of the row), genesis prev_hash = 32 zero bytes.
CREATE TABLE intentd.ledger (
    seq bigint PRIMARY KEY,
    tenant_id text,
    action_intent_id text,
    event text NOT NULL,
    from_state text,
    to_state text,
    node_id text NOT NULL,
    actor text NOT NULL,
    payload jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL
);
CREATE INDEX ledger_by_intent ON intentd.ledger (tenant_id, action_intent_id, seq);
-- Outcome signals (GET /v1/signals) read the terminal transitions of a tenant in seq order.
CREATE INDEX ledger_signals ON intentd.ledger (tenant_id, seq)
    WHERE event = 'intent.transition' AND to_state IN ('SUCCEEDED', 'FAILED', 'EXPIRED',
                                                       'CANCELLED');

-- The canonical text a ledger row is hashed over. jsonb renders deterministically, and the
-- timestamp is taken as integer microseconds so no time zone setting can change it.
CREATE FUNCTION intentd.ledger_canon(l intentd.ledger) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_array(l.seq, l.tenant_id, l.action_intent_id, l.event, l.from_state,
                             l.to_state, l.node_id, l.actor, l.payload,
                             (extract(epoch FROM l.created_at) * 1000000)::bigint)::text
$$;

CREATE FUNCTION intentd.ledger_lock() RETURNS void LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(7242001)
$$;

-- Rows inserted one at a time (tenant and token events, operator actions) are chained here.
-- The engine's hot paths use intentd.ledger_append, which chains a whole batch in one pass and
-- hands the rows over with their hashes already set.
CREATE FUNCTION intentd.ledger_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_seq bigint;
    last_hash bytea;
BEGIN
    IF NEW.hash IS NOT NULL THEN
        RETURN NEW;
    END IF;
    PERFORM intentd.ledger_lock();
    SELECT seq, hash INTO last_seq, last_hash FROM intentd.ledger ORDER BY seq DESC LIMIT 1;
    IF last_seq IS NULL THEN
        last_seq := 0;
        last_hash := decode(repeat('00', 32), 'hex');
    END IF;
    NEW.seq := last_seq + 1;
    NEW.prev_hash := last_hash;
    NEW.created_at := clock_timestamp();
    NEW.hash := sha256(NEW.prev_hash || convert_to(intentd.ledger_canon(NEW), 'UTF8'));
    RETURN NEW;
END $$;

-- Appends rows ([{tenant_id, action_intent_id, event, from_state, to_state, actor, payload}],
-- in order) to the chain. It takes the ledger lock, so callers do it as the last thing before
-- COMMIT: the lock is then held only for this insert and the commit itself.
CREATE FUNCTION intentd.ledger_append(p_node text, p_rows jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    last_seq bigint;
    last_hash bytea;
    ts timestamptz;
    micros bigint;
    r record;
    n int := 0;
    seqs bigint[];
    prevs bytea[];
    hashes bytea[];
BEGIN
    IF p_rows IS NULL OR jsonb_array_length(p_rows) = 0 THEN
        RETURN;
    END IF;
    PERFORM intentd.ledger_lock();
    -- stamped once the lock is held, so created_at never runs backwards along seq
    ts := clock_timestamp();
    SELECT seq, hash INTO last_seq, last_hash FROM intentd.ledger ORDER BY seq DESC LIMIT 1;
    IF last_seq IS NULL THEN
        last_seq := 0;
        last_hash := decode(repeat('00', 32), 'hex');
    END IF;
    micros := (extract(epoch FROM ts) * 1000000)::bigint;
    FOR r IN SELECT x.* FROM jsonb_to_recordset(p_rows) AS x(tenant_id text,
                 action_intent_id text, event text, from_state text, to_state text, actor text,
                 payload jsonb)
    LOOP
        n := n + 1;
        last_seq := last_seq + 1;
        seqs[n] := last_seq;
        prevs[n] := last_hash;
        -- the same text intentd.ledger_canon renders for the stored row
        last_hash := sha256(last_hash || convert_to(jsonb_build_array(last_seq, r.tenant_id,
            r.action_intent_id, r.event, r.from_state, r.to_state, p_node,
            coalesce(r.actor, 'engine'), coalesce(r.payload, '{}'::jsonb), micros)::text, 'UTF8'));
        hashes[n] := last_hash;
    END LOOP;
    INSERT INTO intentd.ledger (seq, tenant_id, action_intent_id, event, from_state, to_state,
                                node_id, actor, payload, created_at, prev_hash, hash)
    SELECT seqs[x.ord], x.tenant_id, x.action_intent_id, x.event, x.from_state, x.to_state,
           p_node, coalesce(x.actor, 'engine'), coalesce(x.payload, '{}'::jsonb), ts,
           prevs[x.ord], hashes[x.ord]
    FROM ROWS FROM (jsonb_to_recordset(p_rows) AS (tenant_id text, action_intent_id text,
         event text, from_state text, to_state text, actor text, payload jsonb))
         WITH ORDINALITY AS x(tenant_id, action_intent_id, event, from_state, to_state, actor,
                              payload, ord);
END $$;

CREATE TRIGGER ledger_chain BEFORE INSERT ON intentd.ledger
    FOR EACH ROW EXECUTE FUNCTION intentd.ledger_chain();

CREATE FUNCTION intentd.ledger_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'intentd.ledger is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER ledger_no_update BEFORE UPDATE OR DELETE ON intentd.ledger
    FOR EACH ROW EXECUTE FUNCTION intentd.ledger_refuse();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON intentd.ledger
    FOR EACH STATEMENT EXECUTE FUNCTION intentd.ledger_refuse();

-- Internal-record effects. The unique key makes a repeated step a no-op; the engine writes them
-- in the same transaction as the step's outcome, so each lands exactly once.
CREATE TABLE intentd.internal_tasks (
    record_id text PRIMARY KEY,
    tenant_id text NOT NULL,
    action_intent_id text NOT NULL,
    step text NOT NULL,
    account_id text NOT NULL,
    title text NOT NULL,
    due_at timestamptz,
    assignee text,
    notes text,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    voided_at timestamptz,
    UNIQUE (tenant_id, action_intent_id, step)
);
CREATE TABLE intentd.internal_notes (
    record_id text PRIMARY KEY,
    tenant_id text NOT NULL,
    action_intent_id text NOT NULL,
    step text NOT NULL,
    account_id text NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    voided_at timestamptz,
    UNIQUE (tenant_id, action_intent_id, step)
);
CREATE TABLE intentd.internal_briefs (
    record_id text PRIMARY KEY,
    tenant_id text NOT NULL,
    action_intent_id text NOT NULL,
    step text NOT NULL,
    account_id text NOT NULL,
    title text NOT NULL,
    url text,
    content text,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    voided_at timestamptz,
    UNIQUE (tenant_id, action_intent_id, step)
);
