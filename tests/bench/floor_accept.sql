-- One pgbench transaction of bench_floor.py's "accept" kind: the floor under bench.py's phase
-- (a). One group commit of :n single-intent submissions written the way intentd.submit writes
-- them, as bare set-based SQL on copies of intentd's tables with all their indexes: :n
-- submissions rows (the request body kept byte for byte), :n intents rows and their :n
-- intent.submitted ledger rows. No PL/pgSQL, no triggers, no ledger lock, no hash chain, no JSON
-- from a client. :n (the group size, at most 1,000) comes from pgbench -D; each intent names its
-- own submission by batch and position (a sequence shared by the clients would interleave).
SELECT nextval('floor.batch') AS b \gset
BEGIN;
INSERT INTO floor.submissions (submission_id, tenant_id, body, signature)
SELECT :b * 1000 + g, s.tenant_id, s.body, s.signature
FROM floor.sproto s, generate_series(1, :n) g;
INSERT INTO floor.intents (tenant_id, action_intent_id, account_id, action_type, state, priority,
                           intent_hash, intent, submission_id, expires_at, created_at, due_at)
SELECT p.tenant_id, 'f' || :b || '_' || g, p.account_id, p.action_type, 'PENDING', 50,
       p.intent_hash, p.intent, :b * 1000 + g, p.expires_at, p.created_at, now()
FROM floor.proto p, generate_series(1, :n) g;
SELECT floor.ledger_rows(:b, :n, 1, 1, 'approval:x');
COMMIT;
