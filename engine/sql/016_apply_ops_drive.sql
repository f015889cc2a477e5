-- intentd schema, version 16: intentd.apply's update probes intents once per op, whenever its
-- plan was made.
--
-- intentd.apply_ops was a set-returning SQL function the planner inlined, so its rows were
-- estimated as jsonb_array_elements' default of 100. The update of intentd.apply also filters
-- intents on the lease (lease_owner = the node, lease_expires_at > now()), which without
-- statistics is estimated at one row of a table planned as small. So the cheapest plan for a
-- connection that planned apply while the tables were young was a nested loop over a full scan
-- of intents_pkey, filtered on the lease, with the ops inside: auto_explain under the latency
-- benchmark on a fresh database showed it reading every intent on every call (9,700 rows
-- read, 12 ms a call at 10,000 intents, growing with the table), while the ledger lock of the
-- same group transaction was held, so submissions queued behind it (d_low p50 26-32 ms).
--
-- apply_ops is now PL/pgSQL, which the planner cannot inline, and says it returns one row, so
-- every plan of the lock, the update and the result drives from the ops and probes intents by
-- key for each: a probe costs the same on any table size, and one row of ops against a full
-- scan is never the cheaper guess. (A SQL function kept from inlining would be planned again
-- on every call; PL/pgSQL keeps its plan.) Its own fallback lookups, for ops from nodes older
-- than schema 15, keep to index probes too. The result type is unchanged, so OR REPLACE.
CREATE OR REPLACE FUNCTION intentd.apply_ops(p_ops jsonb)
RETURNS TABLE (i int, op jsonb, t text, id text, acct text, sub timestamptz, rel boolean)
LANGUAGE plpgsql STABLE ROWS 1
SET enable_seqscan = off
AS $$
BEGIN
    RETURN QUERY
    SELECT (e.ord - 1)::int, e.op, e.op ->> 'tenant_id', e.op ->> 'action_intent_id',
           coalesce(e.op ->> 'account_id',
                    (SELECT k.account_id FROM intentd.intents k
                     WHERE k.tenant_id = e.op ->> 'tenant_id'
                       AND k.action_intent_id = e.op ->> 'action_intent_id')),
           coalesce(timestamptz 'epoch' + (e.op ->> 'submitted_us')::bigint
                                          * interval '1 microsecond',
                    (SELECT k.submitted_at FROM intentd.intents k
                     WHERE k.tenant_id = e.op ->> 'tenant_id'
                       AND k.action_intent_id = e.op ->> 'action_intent_id')),
           coalesce((e.op ->> 'release')::boolean, false)
    FROM jsonb_array_elements(p_ops) WITH ORDINALITY AS e(op, ord);
END $$;
