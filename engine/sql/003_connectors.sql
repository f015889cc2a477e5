-- intentd schema, version 3: per-tenant connector configuration (PUT /v1/connectors/{connector}).
-- The engine seals every secret (and every base URL: notify's is a Slack webhook URL, itself a
-- secret) with AES-256-GCM under the master key before it reaches this schema, bound to
-- (tenant, connector, field); nothing here ever holds a credential in clear, and the ledger rows
-- name which secrets were set, never their values.

CREATE TABLE intentd.connectors (
    tenant_id text NOT NULL REFERENCES intentd.tenants,
    connector text NOT NULL
        CHECK (connector IN ('crm', 'calendar', 'email', 'notify', 'webhook')),
    base_url_enc text NOT NULL,
    auth_kind text NOT NULL CHECK (auth_kind IN ('none', 'bearer', 'oauth2')),
    token_enc text,         -- bearer
    client_secret_enc text, -- oauth2
    refresh_token_enc text, -- oauth2
    token_url text,         -- oauth2, not secret
    client_id text,         -- oauth2, not secret
    settings jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
    limits jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(limits) = 'object'),
    access_token_enc text,  -- oauth2: the current access token, refreshed by the engine
    access_expires_at timestamptz,
    -- bumped by every change, so a refresh that raced a PUT (or another node's refresh) cannot
    -- overwrite what is newer
    version bigint NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_by text NOT NULL,
    PRIMARY KEY (tenant_id, connector),
    CHECK (auth_kind <> 'bearer' OR token_enc IS NOT NULL),
    CHECK (auth_kind <> 'oauth2' OR (client_secret_enc IS NOT NULL AND
                                     refresh_token_enc IS NOT NULL AND token_url IS NOT NULL AND
                                     client_id IS NOT NULL))
);

-- Creates or replaces a tenant's configuration of one connector (a PUT replaces everything, and
-- drops any access token obtained with the previous credentials) and writes one
-- 'connector.configured' ledger row. Answers the stored row, or no row when the tenant does not
-- exist.
CREATE FUNCTION intentd.put_connector(p_tenant text, p_connector text, p_base_url_enc text,
                                      p_auth_kind text, p_token_enc text,
                                      p_client_secret_enc text, p_refresh_token_enc text,
                                      p_token_url text, p_client_id text, p_settings jsonb,
                                      p_limits jsonb, p_actor text, p_node text)
RETURNS SETOF intentd.connectors LANGUAGE plpgsql AS $$
DECLARE
    r intentd.connectors%ROWTYPE;
    created boolean;
BEGIN
    PERFORM 1 FROM intentd.tenants WHERE tenant_id = p_tenant;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO intentd.connectors AS c (tenant_id, connector, base_url_enc, auth_kind,
        token_enc, client_secret_enc, refresh_token_enc, token_url, client_id, settings, limits,
        updated_by)
    VALUES (p_tenant, p_connector, p_base_url_enc, p_auth_kind, p_token_enc,
            p_client_secret_enc, p_refresh_token_enc, p_token_url, p_client_id, p_settings,
            p_limits, p_actor)
    ON CONFLICT (tenant_id, connector) DO UPDATE SET
        base_url_enc = EXCLUDED.base_url_enc, auth_kind = EXCLUDED.auth_kind,
        token_enc = EXCLUDED.token_enc, client_secret_enc = EXCLUDED.client_secret_enc,
        refresh_token_enc = EXCLUDED.refresh_token_enc, token_url = EXCLUDED.token_url,
        client_id = EXCLUDED.client_id, settings = EXCLUDED.settings,
        limits = EXCLUDED.limits, access_token_enc = NULL, access_expires_at = NULL,
        version = c.version + 1, updated_at = clock_timestamp(),
        updated_by = EXCLUDED.updated_by
    RETURNING c.* INTO r;
    created := r.version = 1;
    INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, node_id, actor, payload)
    VALUES (p_tenant, NULL, 'connector.configured', p_node, p_actor,
            jsonb_build_object(
                'connector', p_connector, 'auth', p_auth_kind, 'version', r.version,
                'created', created,
                'secrets_set', to_jsonb(array_remove(ARRAY[
                    CASE WHEN p_connector = 'notify' THEN 'base_url' END,
                    CASE WHEN p_token_enc IS NOT NULL THEN 'token' END,
                    CASE WHEN p_client_secret_enc IS NOT NULL THEN 'client_secret' END,
                    CASE WHEN p_refresh_token_enc IS NOT NULL THEN 'refresh_token' END],
                    NULL))));
    RETURN NEXT r;
END $$;

-- Removes a configuration with a 'connector.deleted' ledger row. Returns false when there was
-- none.
CREATE FUNCTION intentd.delete_connector(p_tenant text, p_connector text, p_actor text,
                                         p_node text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
BEGIN
    DELETE FROM intentd.connectors
        WHERE tenant_id = p_tenant AND connector = p_connector RETURNING version INTO v;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, node_id, actor, payload)
    VALUES (p_tenant, NULL, 'connector.deleted', p_node, p_actor,
            jsonb_build_object('connector', p_connector, 'version', v));
    RETURN true;
END $$;

-- Stores a refreshed OAuth2 access token (sealed) only when the configuration is still the one
-- the refresh started from, and bumps the version (updated_at and updated_by keep naming the
-- last person who changed the configuration). Returns the new version, or NULL when the
-- configuration changed or is gone (the caller then reloads it). p_expires_epoch 0 = unknown.
CREATE FUNCTION intentd.save_access_token(p_tenant text, p_connector text, p_token_enc text,
                                          p_expires_epoch double precision,
                                          p_expected_version bigint)
RETURNS bigint LANGUAGE sql AS $$
    UPDATE intentd.connectors SET access_token_enc = p_token_enc,
        access_expires_at = CASE WHEN p_expires_epoch > 0 THEN to_timestamp(p_expires_epoch) END,
        version = version + 1
    WHERE tenant_id = p_tenant AND connector = p_connector AND version = p_expected_version
      AND auth_kind = 'oauth2'
    RETURNING version
$$;
