-- Token listing and revocation, approval-key rotation (issue 4, SPEC §6: admin manages tokens
-- and keys).

-- A token's public id: "tok_" and the first 16 hex digits of the stored SHA-256 of the secret.
-- The secret is 32 random bytes, so a hash prefix tells nothing about it; the ledger's actor
-- strings ("token:<role>:<tenant>:<12 hex>") are a prefix of the same digits, so an audit can
-- tie a row to the token that wrote it. Generated, so existing tokens have one too.
ALTER TABLE intentd.tokens
    ADD COLUMN token_id text GENERATED ALWAYS AS ('tok_' || left(encode(token_hash, 'hex'), 16))
        STORED;
CREATE UNIQUE INDEX tokens_by_id ON intentd.tokens (tenant_id, token_id);

-- Key versions: the current key is version key_version; while previous_expires_at is in the
-- future the previous one (version key_version - 1, sealed the same way under the tenant id)
-- verifies too. Only two are ever kept: rotating during an overlap drops the older one at once.
ALTER TABLE intentd.tenants
    ADD COLUMN key_version integer NOT NULL DEFAULT 1 CHECK (key_version >= 1),
    ADD COLUMN key_created_at timestamptz,
    ADD COLUMN previous_key_enc text,
    ADD COLUMN previous_key_created_at timestamptz,
    ADD COLUMN previous_expires_at timestamptz;
UPDATE intentd.tenants SET key_created_at = created_at;
ALTER TABLE intentd.tenants
    ALTER COLUMN key_created_at SET NOT NULL,
    ALTER COLUMN key_created_at SET DEFAULT now(),
    ADD CONSTRAINT tenants_previous_key CHECK ((previous_key_enc IS NULL) =
                                               (previous_expires_at IS NULL));

-- Revokes a token of p_tenant by its public id. Answers 'notfound' (no such tenant, or no such
-- token of that tenant), 'already' (revoked before: nothing changes, no ledger row) or
-- 'revoked' (one token.revoked row).
CREATE FUNCTION intentd.revoke_token(p_tenant text, p_token_id text, p_actor text, p_node text)
RETURNS TABLE (result text, role text, created_at timestamptz, revoked_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    t intentd.tokens%ROWTYPE;
BEGIN
    SELECT * INTO t FROM intentd.tokens k
        WHERE k.tenant_id = p_tenant AND k.token_id = p_token_id FOR UPDATE;
    IF NOT FOUND THEN
        result := 'notfound';
        RETURN NEXT;
        RETURN;
    END IF;
    IF t.revoked_at IS NOT NULL THEN
        result := 'already';
    ELSE
        UPDATE intentd.tokens k SET revoked_at = clock_timestamp()
            WHERE k.token_hash = t.token_hash RETURNING k.revoked_at INTO t.revoked_at;
        INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, node_id, actor, payload)
        VALUES (p_tenant, NULL, 'token.revoked', p_node, p_actor,
                jsonb_build_object('token_id', p_token_id, 'role', t.role));
        result := 'revoked';
    END IF;
    role := t.role;
    created_at := t.created_at;
    revoked_at := t.revoked_at;
    RETURN NEXT;
END $$;

-- Replaces p_tenant's approval key with p_key_enc (sealed by the engine). With p_overlap_s > 0
-- the key it replaces stays valid until now() + p_overlap_s; with 0 it is dropped at once. A
-- previous key still inside its overlap is dropped either way (dropped_version says which).
-- No row: no such tenant. One key.rotated ledger row.
CREATE FUNCTION intentd.rotate_key(p_tenant text, p_key_enc text, p_overlap_s integer,
                                   p_actor text, p_node text)
RETURNS TABLE (key_version integer, previous_version integer, previous_expires_at timestamptz,
               dropped_version integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    t intentd.tenants%ROWTYPE;
    dropped integer;
BEGIN
    SELECT * INTO t FROM intentd.tenants n WHERE n.tenant_id = p_tenant FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF t.previous_expires_at > now() THEN
        dropped := t.key_version - 1;
    END IF;
    UPDATE intentd.tenants n SET
        approval_key_enc = p_key_enc,
        key_version = t.key_version + 1,
        key_created_at = clock_timestamp(),
        previous_key_enc = CASE WHEN p_overlap_s > 0 THEN t.approval_key_enc END,
        previous_key_created_at = CASE WHEN p_overlap_s > 0 THEN t.key_created_at END,
        previous_expires_at = CASE WHEN p_overlap_s > 0
                                   THEN now() + make_interval(secs => p_overlap_s) END
        WHERE n.tenant_id = p_tenant;
    INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, node_id, actor, payload)
    VALUES (p_tenant, NULL, 'key.rotated', p_node, p_actor,
            jsonb_build_object('key_id', 'v' || (t.key_version + 1),
                               'previous_key_id', 'v' || t.key_version,
                               'overlap_seconds', p_overlap_s,
                               'dropped_key_id', 'v' || dropped));
    -- other nodes forget their cached copy now instead of at the end of its TTL
    PERFORM pg_notify('intentd_work', 'keys:' || p_tenant);
    key_version := t.key_version + 1;
    previous_version := t.key_version;
    previous_expires_at := CASE WHEN p_overlap_s > 0
                                THEN now() + make_interval(secs => p_overlap_s) END;
    dropped_version := dropped;
    RETURN NEXT;
END $$;

-- Raises 28000 (invalid_authorization_specification) when a submission of p_subs ([{tenant,
-- key_version, ...}]) was verified with a key that is no longer valid: neither the current one
-- nor the previous one inside its overlap. Nodes cache keys for up to 30 s; this check runs in
-- the submission's own transaction, so a rotation with no overlap refuses the old key on every
-- node at once. Returns p_subs for intentd.submit.
CREATE FUNCTION intentd.check_key_versions(p_subs jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM jsonb_array_elements(p_subs) AS s
        JOIN intentd.tenants t ON t.tenant_id = s ->> 'tenant'
        WHERE (s ->> 'key_version')::int IS DISTINCT FROM t.key_version
          AND NOT coalesce((s ->> 'key_version')::int = t.key_version - 1
                           AND t.previous_expires_at > now(), false)) THEN
        RAISE EXCEPTION 'the approval key that signed a submission is no longer valid'
            USING ERRCODE = 'invalid_authorization_specification';
    END IF;
    RETURN p_subs;
END $$;
