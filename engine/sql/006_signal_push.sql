-- Outcome signal push (issue 3): per tenant, an URL intentd POSTs the tenant's outcome signals
-- to (the same events as GET /v1/signals), signed with the tenant's approval key, in ledger
-- order, each batch retried until the receiver acknowledges it. last_seq is the ledger seq of
-- the last signal acknowledged; it starts at the ledger's end when push is first configured,
-- so only outcomes from then on are pushed (older ones stay readable with GET /v1/signals).
-- Re-configuring keeps last_seq: changing the URL neither skips nor replays a signal.
CREATE TABLE intentd.signal_push (
    tenant_id text PRIMARY KEY REFERENCES intentd.tenants,
    url text NOT NULL CHECK (url ~* '^https?://' AND length(url) <= 2048),
    last_seq bigint NOT NULL,
    lease_owner text,
    lease_until timestamptz,
    attempts int NOT NULL DEFAULT 0,
    next_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_error text,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_by text NOT NULL
);

-- Creates or changes a tenant's push URL with a 'signal_push.configured' ledger row. A new
-- configuration is due at once; a changed one too (its backoff was for the old URL). Answers
-- the stored row, or no row when the tenant does not exist.
CREATE FUNCTION intentd.put_signal_push(p_tenant text, p_url text, p_actor text, p_node text)
RETURNS SETOF intentd.signal_push LANGUAGE plpgsql AS $$
DECLARE
    r intentd.signal_push%ROWTYPE;
    start_seq bigint;
BEGIN
    PERFORM 1 FROM intentd.tenants WHERE tenant_id = p_tenant;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT coalesce(max(seq), 0) INTO start_seq FROM intentd.ledger;
    INSERT INTO intentd.signal_push AS s (tenant_id, url, last_seq, updated_by)
    VALUES (p_tenant, p_url, start_seq, p_actor)
    ON CONFLICT (tenant_id) DO UPDATE SET
        url = EXCLUDED.url, attempts = 0, next_at = clock_timestamp(), last_error = NULL,
        updated_at = clock_timestamp(), updated_by = EXCLUDED.updated_by
    RETURNING s.* INTO r;
    -- the URL may carry a secret path, so the ledger names only its scheme and host
    INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, node_id, actor, payload)
    VALUES (p_tenant, NULL, 'signal_push.configured', p_node, p_actor,
            jsonb_build_object('origin', substring(p_url FROM '^[^:]+://[^/?#]+'),
                               'last_seq', r.last_seq));
    RETURN NEXT r;
END $$;

-- Removes a tenant's push with a 'signal_push.deleted' ledger row. False when there was none.
CREATE FUNCTION intentd.delete_signal_push(p_tenant text, p_actor text, p_node text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
BEGIN
    DELETE FROM intentd.signal_push WHERE tenant_id = p_tenant RETURNING last_seq INTO v;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, node_id, actor, payload)
    VALUES (p_tenant, NULL, 'signal_push.deleted', p_node, p_actor,
            jsonb_build_object('last_seq', v));
    RETURN true;
END $$;

-- Takes up to p_limit tenants that are due and have a signal after last_seq, each leased to
-- p_owner for p_lease_s seconds so one node pushes it (batches of one tenant never overlap,
-- which keeps them in order).
CREATE FUNCTION intentd.take_signal_push(p_limit int, p_lease_s int, p_owner text)
RETURNS TABLE (tenant_id text, url text, last_seq bigint, attempts int)
LANGUAGE sql AS $$
    UPDATE intentd.signal_push s SET lease_owner = p_owner,
        lease_until = now() + make_interval(secs => p_lease_s)
    FROM (SELECT x.tenant_id FROM intentd.signal_push x
          WHERE x.next_at <= now() AND (x.lease_until IS NULL OR x.lease_until <= now())
            AND EXISTS (SELECT 1 FROM intentd.ledger l
                        WHERE l.tenant_id = x.tenant_id AND l.seq > x.last_seq
                          AND l.event = 'intent.transition'
                          AND l.to_state IN ('SUCCEEDED', 'FAILED', 'EXPIRED', 'CANCELLED'))
          ORDER BY x.next_at LIMIT p_limit FOR UPDATE SKIP LOCKED) d
    WHERE s.tenant_id = d.tenant_id
    RETURNING s.tenant_id, s.url, s.last_seq, s.attempts
$$;

-- Records an acknowledged batch: last_seq moves from p_from (what the pusher read) to p_to and
-- the lease ends. Compare-and-set on last_seq, url and owner: when the configuration changed
-- or another node took over meanwhile, nothing moves (the batch is pushed again, at least
-- once). True when it moved.
CREATE FUNCTION intentd.signal_push_acked(p_tenant text, p_url text, p_from bigint, p_to bigint,
                                          p_owner text)
RETURNS boolean LANGUAGE sql AS $$
    WITH u AS (
        UPDATE intentd.signal_push SET last_seq = p_to, attempts = 0, last_error = NULL,
            next_at = now(), lease_owner = NULL, lease_until = NULL
        WHERE tenant_id = p_tenant AND url = p_url AND last_seq = p_from
          AND lease_owner = p_owner AND p_to >= p_from
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM u)
$$;

-- Records a failed batch: one more attempt, due again after p_retry_s, lease ended (same
-- compare-and-set as signal_push_acked).
CREATE FUNCTION intentd.signal_push_failed(p_tenant text, p_url text, p_from bigint,
                                           p_error text, p_retry_s int, p_owner text)
RETURNS boolean LANGUAGE sql AS $$
    WITH u AS (
        UPDATE intentd.signal_push SET attempts = attempts + 1, last_error = left(p_error, 500),
            next_at = now() + make_interval(secs => p_retry_s), lease_owner = NULL,
            lease_until = NULL
        WHERE tenant_id = p_tenant AND url = p_url AND last_seq = p_from
          AND lease_owner = p_owner
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM u)
$$;
