-- Rate limits shared by all nodes (SPEC §5): one token bucket per tenant and connector. Nodes take
-- tokens in small batches (engine/guards.c) so a call rarely waits for the database; this row is
-- the single source of truth, so the nodes together never exceed the configured rate.

CREATE TABLE intentd.rate_buckets (
    tenant_id text NOT NULL CHECK (length(tenant_id) BETWEEN 1 AND 71),
    connector text NOT NULL CHECK (length(connector) BETWEEN 1 AND 31),
    tokens double precision NOT NULL CHECK (tokens >= 0),
    refreshed_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, connector)
);

-- Refills the bucket by the time elapsed since it was last touched (capped at p_burst), then
-- grants min(p_want, whole tokens available) and answers how many were granted (0 when empty).
-- A new bucket starts full. The rate and burst come from the caller each time, so a changed
-- configuration applies from the next call on. The row lock serialises concurrent callers from
-- every node; clock_timestamp() is read after the lock is held, so a caller that waited for the
-- lock never refills for time the previous holder already counted.
CREATE FUNCTION intentd.take_tokens(p_tenant text, p_connector text, p_want int, p_rate float8,
                                    p_burst int)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    have float8;
    at timestamptz;
    t timestamptz;
    granted int;
BEGIN
    IF p_want IS NULL OR p_want < 1 OR p_want > 1000000
       OR p_rate IS NULL OR NOT (p_rate > 0 AND p_rate <= 100000)
       OR p_burst IS NULL OR p_burst < 1 OR p_burst > 1000000 THEN
        RAISE EXCEPTION 'take_tokens: want, rate or burst out of range'
            USING ERRCODE = '22023';
    END IF;
    SELECT b.tokens, b.refreshed_at INTO have, at FROM intentd.rate_buckets b
    WHERE b.tenant_id = p_tenant AND b.connector = p_connector FOR UPDATE;
    IF NOT FOUND THEN
        -- Two first callers may race here: DO NOTHING lets the loser fall through to the locked
        -- read of the winner's row.
        INSERT INTO intentd.rate_buckets (tenant_id, connector, tokens, refreshed_at)
        VALUES (p_tenant, p_connector, p_burst, clock_timestamp())
        ON CONFLICT (tenant_id, connector) DO NOTHING;
        SELECT b.tokens, b.refreshed_at INTO have, at FROM intentd.rate_buckets b
        WHERE b.tenant_id = p_tenant AND b.connector = p_connector FOR UPDATE;
    END IF;
    t := clock_timestamp();
    -- greatest(0, ...): a clock step backwards must not drain the bucket.
    have := least(p_burst::float8,
                  have + p_rate * greatest(0, extract(epoch FROM t - at)::float8));
    granted := least(p_want, floor(have)::int);
    UPDATE intentd.rate_buckets b SET tokens = have - granted, refreshed_at = greatest(t, at)
    WHERE b.tenant_id = p_tenant AND b.connector = p_connector;
    RETURN granted;
END
$$;
