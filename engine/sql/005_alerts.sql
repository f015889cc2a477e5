-- Human notification (SPEC §6): FAILED, EXPIRED, compensation failures and quarantine halts are
-- queued here by a trigger on the ledger, in the same transaction as the transition, one per
-- intent and kind (the primary key de-duplicates). intentd posts each to the configured
-- Slack-shaped webhook and marks it sent; a failed post is tried again later.
CREATE TABLE intentd.alerts (
    tenant_id text NOT NULL,
    action_intent_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('failed', 'expired', 'compensation_failed',
                                       'quarantined')),
    text text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    next_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts int NOT NULL DEFAULT 0,
    sent_at timestamptz,
    last_error text,
    PRIMARY KEY (tenant_id, action_intent_id, kind)
);
CREATE INDEX alerts_due ON intentd.alerts (next_at) WHERE sent_at IS NULL;

CREATE FUNCTION intentd.alert_on_transition() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    reason text;
    atype text;
    k text;
BEGIN
    SELECT q.terminal_reason, q.action_type INTO reason, atype FROM intentd.intents q
        WHERE q.tenant_id = NEW.tenant_id AND q.action_intent_id = NEW.action_intent_id;
    reason := coalesce(reason, '');
    k := CASE WHEN reason = 'quarantined' THEN 'quarantined'
              WHEN reason LIKE 'compensation_failed%' THEN 'compensation_failed'
              WHEN NEW.to_state = 'FAILED' THEN 'failed'
              ELSE 'expired' END;
    INSERT INTO intentd.alerts (tenant_id, action_intent_id, kind, text)
    VALUES (NEW.tenant_id, NEW.action_intent_id, k,
            format('intentd: %s intent %s (tenant %s, %s) is %s: %s',
                   replace(k, '_', ' '), NEW.action_intent_id, NEW.tenant_id, atype,
                   NEW.to_state, left(reason, 500)))
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER ledger_alerts AFTER INSERT ON intentd.ledger
    FOR EACH ROW WHEN (NEW.event = 'intent.transition' AND NEW.to_state IN ('FAILED', 'EXPIRED'))
    EXECUTE FUNCTION intentd.alert_on_transition();

-- Takes up to p_limit due alerts for sending: each is leased for p_lease_s seconds (so one node
-- sends it), and counted as an attempt.
CREATE FUNCTION intentd.take_alerts(p_limit int, p_lease_s int)
RETURNS TABLE (tenant_id text, action_intent_id text, kind text, text text, attempts int)
LANGUAGE sql AS $$
    UPDATE intentd.alerts a SET next_at = now() + make_interval(secs => p_lease_s),
        attempts = a.attempts + 1
    FROM (SELECT x.tenant_id, x.action_intent_id, x.kind FROM intentd.alerts x
          WHERE x.sent_at IS NULL AND x.next_at <= now()
          ORDER BY x.next_at LIMIT p_limit FOR UPDATE SKIP LOCKED) d
    WHERE a.tenant_id = d.tenant_id AND a.action_intent_id = d.action_intent_id
      AND a.kind = d.kind
    RETURNING a.tenant_id, a.action_intent_id, a.kind, a.text, a.attempts
$$;

-- Records a post's outcome: sent, or due again after p_retry_s with the error.
CREATE FUNCTION intentd.alert_done(p_tenant text, p_id text, p_kind text, p_ok boolean,
                                   p_error text, p_retry_s int)
RETURNS void LANGUAGE sql AS $$
    UPDATE intentd.alerts SET
        sent_at = CASE WHEN p_ok THEN clock_timestamp() END,
        last_error = CASE WHEN p_ok THEN NULL ELSE left(p_error, 500) END,
        next_at = CASE WHEN p_ok THEN next_at ELSE now() + make_interval(secs => p_retry_s) END
    WHERE tenant_id = p_tenant AND action_intent_id = p_id AND kind = p_kind
$$;
