-- One pgbench transaction of bench_floor.py: :n intents written the way intentd writes them,
-- as bare set-based SQL on copies of intentd's tables with all their indexes. No PL/pgSQL, no
-- triggers, no foreign keys, no hash chain (each ledger row gets a constant-cost sha256 of its
-- own), no JSON from a client: what PostgreSQL alone needs to store the same rows. The ledger
-- rows are the prototype intent's, written by floor.ledger_rows (bench_floor.py's SETUP) in the
-- transaction the engine writes them in:
--   internal.create_task (-D connector=0): submit (1 row), claim (1), outcome with the task
--     row (4);
--   crm.create_task (-D connector=1): submit (1), claim (1), the write-ahead of the call that
--     commits before it is sent (2), outcome (2).
\set n 512
SELECT nextval('floor.batch') AS b \gset
BEGIN;
INSERT INTO floor.intents (tenant_id, action_intent_id, account_id, action_type, state, priority,
                           intent_hash, intent, submission_id, expires_at, created_at, due_at)
SELECT p.tenant_id, 'f' || :b || '_' || g, p.account_id, p.action_type, 'PENDING', 50,
       p.intent_hash, p.intent, p.submission_id, p.expires_at, p.created_at, now()
FROM floor.proto p, generate_series(1, :n) g;
SELECT floor.ledger_rows(:b, :n, 1, 1, 'approval:x');
COMMIT;
BEGIN;
WITH c AS (
    SELECT i.tenant_id, i.action_intent_id FROM floor.intents i, floor.proto p
    WHERE i.tenant_id = p.tenant_id
      AND i.action_intent_id IN (SELECT 'f' || :b || '_' || g FROM generate_series(1, :n) g)
      AND i.state = 'PENDING'
    FOR UPDATE OF i SKIP LOCKED)
UPDATE floor.intents i
SET state = 'EXECUTING', in_hand = true, lease_owner = 'node',
    lease_expires_at = now() + interval '30 s', fence = i.fence + 1, started_at = now(),
    attempts = i.attempts + 1, step_name = 'CreateTask', step_input = p.intent -> 'parameters',
    due_at = now() + interval '30 s', updated_at = now()
FROM c, floor.proto p
WHERE i.tenant_id = c.tenant_id AND i.action_intent_id = c.action_intent_id;
SELECT floor.ledger_rows(:b, :n, 2, 2, 'engine');
COMMIT;
\if :connector
BEGIN;
UPDATE floor.intents i
SET call_inflight = p.completed -> 0, step_attempts = 0, version = i.version + 1,
    updated_at = now()
FROM floor.proto p
WHERE i.tenant_id = p.tenant_id
  AND i.action_intent_id IN (SELECT 'f' || :b || '_' || g FROM generate_series(1, :n) g)
  AND i.state = 'EXECUTING';
SELECT floor.ledger_rows(:b, :n, 3, 3, 'engine');
COMMIT;
\endif
BEGIN;
UPDATE floor.intents i
SET state = 'SUCCEEDED', in_hand = false, lease_owner = NULL, lease_expires_at = NULL,
    call_inflight = NULL, completed = p.completed, output = p.output, finished_at = now(),
    step_name = NULL, step_input = NULL, updated_at = now(), version = i.version + 1
FROM floor.proto p
WHERE i.tenant_id = p.tenant_id
  AND i.action_intent_id IN (SELECT 'f' || :b || '_' || g FROM generate_series(1, :n) g)
  AND i.state = 'EXECUTING';
\if :connector
SELECT floor.ledger_rows(:b, :n, 4, 4, 'engine');
\else
INSERT INTO floor.tasks (record_id, tenant_id, action_intent_id, step, account_id, title,
                         assignee, notes)
SELECT 'r' || :b || '_' || g, p.tenant_id, 'f' || :b || '_' || g, t.step, t.account_id, t.title,
       t.assignee, t.notes
FROM floor.proto p, floor.tproto t, generate_series(1, :n) g;
SELECT floor.ledger_rows(:b, :n, 3, 4, 'engine');
\endif
COMMIT;
