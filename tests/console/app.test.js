// The web console's page logic (engine/console/app.js) run in Node against the fake page of
// fake_page.js and a scripted server: token handling, the calls it makes, the confirmation
// steps, and that server text only ever becomes text.
//   node --test tests/console/
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { makePage, settle, type } = require('./fake_page.js');

const EVIL = '<img src=x onerror=alert(1)>';

/* ------------------------------------------------------------------ server */

const INTENT = {
  action_intent_id: 'ai_1', tenant_id: 'acme', account_id: EVIL, action_type: 'crm.create_task',
  state: 'PENDING', explanation: 'Waiting ' + EVIL, current_step: null, attempts: 0,
  crash_attempts: 0, priority: 50, cancel_requested: false, terminal_reason: null, output: null,
  last_error: null, created_at: '2026-11-21T10:00:00Z', submitted_at: '2026-11-21T10:00:01.5Z',
  updated_at: '2026-11-21T10:00:01.5Z', finished_at: null, expires_at: '2026-11-21T11:00:00Z',
  expires_at_epoch: 1795258800, waiting_until: null, steps: [], held_by: null,
  compensating_to: null,
};

function server(call) {
  const u = new URL(call.url, 'http://console.test');
  if (u.pathname === '/v1/action-types') {
    return { status: 200, body: { action_types: [{ action_type: 'crm.create_task' }] } };
  }
  if (u.pathname === '/v1/executions') {
    return { status: 200, body: { items: [INTENT], next_cursor: u.searchParams.get('cursor')
      ? null : 'c2' } };
  }
  if (u.pathname === '/v1/intents/ai_1') {
    return { status: 200, body: INTENT };
  }
  if (u.pathname === '/v1/intents/ai_1/timeline') {
    return { status: 200, body: { action_intent_id: 'ai_1', tenant_id: 'acme', events: [
      { seq: null, event: 'decision', from_state: null, to_state: null, node_id: null,
        actor: 'upstream', payload: { summary: EVIL }, created_at: '2026-11-21T10:00:00Z' },
    ] } };
  }
  if (u.pathname === '/v1/intents/ai_1/cancel') {
    return { status: 409, headers: { 'x-request-id': 'srv-rid-9' }, body: {
      type: 'https://intentd.dev/problems/conflict', title: 'Conflict', status: 409,
      detail: 'the intent is terminal ' + EVIL, request_id: 'srv-rid-9' } };
  }
  if (u.pathname === '/v1/toggles' && call.method === 'GET') {
    return { status: 200, body: { toggles: [{ scope: 'tenant', key: 'acme', mode: 'pause',
      reason: EVIL, updated_at: '2026-11-21T10:00:00Z', updated_by: 'token:oncall:acme:1' }] } };
  }
  if (u.pathname === '/v1/toggles' && call.method === 'PUT') {
    return { status: 200, body: Object.assign({}, call.body, { previous: 'pause',
      changed: true, affected: 3, updated_at: '2026-11-21T10:00:00Z', updated_by: 'x' }) };
  }
  return { status: 404, body: { title: 'Not Found', detail: 'no such resource' } };
}

/* ------------------------------------------------------------------ the walk-through */

test('the console walks through token, executions, intent, errors and kill switches', async (t) => {
  const p = makePage();
  p.answer(server);
  p.load();
  await settle();

  await t.test('without a token it calls nothing', () => {
    assert.equal(p.calls.length, 0);
    assert.equal(p.$('token-state').textContent, 'no token');
  });

  await t.test('a pasted token goes to sessionStorage and into the Authorization header', async () => {
    p.$('token').value = ' tok-1 ';
    p.$('tenant').value = 'acme';
    assert.ok(p.$('token-form').dispatch('submit').defaultPrevented);
    await settle();
    assert.equal(p.session.get('intentd.console.token'), 'tok-1');
    assert.equal(p.$('token').value, '', 'the field is cleared once stored');
    const list = p.calls.find((c) => c.url.startsWith('/v1/executions'));
    assert.equal(list.url, '/v1/executions?limit=50&tenant_id=acme');
    for (const c of p.calls) {
      assert.equal(c.headers.Authorization, 'Bearer tok-1');
      assert.equal(c.opts.credentials, 'omit');
      assert.ok(!c.url.includes('tok-1'));
      assert.match(c.headers['X-Request-ID'], /^console-[0-9a-f]{16}$/);
    }
  });

  await t.test('server text is rendered as text only', () => {
    assert.ok(p.$('executions-body').textContent.includes(EVIL));
    assert.ok(!p.created.includes('img'));
    assert.equal(p.$('action-types').childNodes[0].getAttribute('value'), 'crm.create_task');
  });

  await t.test('next page sends the cursor; bad times are refused before any call', async () => {
    assert.equal(p.$('next-page').disabled, false);
    p.$('next-page').click();
    await settle();
    assert.equal(p.calls.at(-1).url, '/v1/executions?limit=50&cursor=c2&tenant_id=acme');
    assert.equal(p.$('next-page').disabled, true);
    const before = p.calls.length;
    p.$('f-status').value = 'FAILED';
    p.$('f-since').value = 'yesterday';
    p.$('filters').dispatch('submit');
    await settle();
    assert.equal(p.calls.length, before);
    assert.equal(p.$('error').hidden, false);
    assert.match(p.$('error').textContent, /RFC 3339/);
    p.$('f-since').value = '2026-11-21T10:00:00Z';
    p.$('filters').dispatch('submit');
    await settle();
    assert.equal(p.calls.at(-1).url,
      '/v1/executions?status=FAILED&since=2026-11-21T10%3A00%3A00Z&limit=50&tenant_id=acme');
  });

  await t.test('an intent opens with its details and timeline', async () => {
    const link = [...p.$('executions-body').all()].find((e) => e.tagName === 'BUTTON');
    link.click();
    await settle();
    assert.equal(p.ctx.location.hash, '#/intents/ai_1');
    assert.equal(p.$('view-intent').hidden, false);
    assert.equal(p.$('view-executions').hidden, true);
    assert.ok(p.calls.some((c) => c.url === '/v1/intents/ai_1?tenant_id=acme'));
    assert.ok(p.calls.some((c) => c.url === '/v1/intents/ai_1/timeline?tenant_id=acme'));
    assert.ok(p.$('intent-detail').textContent.includes('Waiting ' + EVIL));
    assert.ok(p.$('timeline-body').textContent.includes(JSON.stringify({ summary: EVIL })));
    assert.equal(p.$('act-cancel').disabled, false);
    assert.equal(p.$('act-compensate').disabled, true);
    assert.equal(p.$('act-redrive').disabled, true);
    assert.ok(!p.created.includes('img'));
  });

  await t.test('cancel needs a confirmation with a reason; a refusal shows the problem', async () => {
    p.$('act-cancel').click();
    assert.equal(p.$('confirm').open, true);
    assert.equal(p.$('confirm-ok').disabled, true, 'no reason yet');
    assert.equal(p.$('confirm-word-row').hidden, true);
    type(p.$('confirm-reason'), '   ');
    assert.equal(p.$('confirm-ok').disabled, true);
    type(p.$('confirm-reason'), ' customer asked ');
    assert.equal(p.$('confirm-ok').disabled, false);
    p.$('confirm-ok').click();
    await settle();
    assert.equal(p.$('confirm').open, false);
    const post = p.calls.at(-1);
    assert.equal(post.method, 'POST');
    assert.equal(post.url, '/v1/intents/ai_1/cancel?tenant_id=acme');
    assert.deepEqual(post.body, { reason: 'customer asked' });
    assert.equal(post.headers['Content-Type'], 'application/json');
    const err = p.$('error').textContent;
    assert.equal(p.$('error').hidden, false);
    assert.ok(err.includes('Conflict'));
    assert.ok(err.includes('the intent is terminal ' + EVIL));
    assert.ok(err.includes('srv-rid-9'));
    assert.ok(err.includes('POST /v1/intents/ai_1/cancel?tenant_id=acme → 409'));
  });

  await t.test('backing out of a confirmation sends nothing', async () => {
    const before = p.calls.length;
    p.$('act-cancel').click();
    p.$('act-cancel').click(); // a double click: still the one dialog
    await settle();
    assert.equal(p.$('confirm').open, true);
    type(p.$('confirm-reason'), 'changed my mind');
    p.$('confirm-cancel').click();
    await settle();
    assert.equal(p.$('confirm').open, false);
    assert.equal(p.calls.length, before);
  });

  await t.test('a kill needs the key typed; pause and run a plain confirmation', async () => {
    p.$('nav-toggles').click();
    await settle();
    assert.equal(p.calls.at(-1).url, '/v1/toggles?tenant_id=acme');
    assert.ok(p.$('toggles-body').textContent.includes(EVIL));
    p.$('t-scope').value = 'tenant';
    p.$('t-scope').dispatch('change');
    p.$('t-key').value = 'acme';
    p.$('t-mode').value = 'kill';
    p.$('toggle-form').dispatch('submit');
    assert.equal(p.$('confirm').open, true);
    const lines = p.$('confirm-lines').textContent;
    assert.ok(lines.includes('Key: acme') && lines.includes('Mode: pause → kill'), lines);
    assert.equal(p.$('confirm-word-row').hidden, false);
    assert.equal(p.$('confirm-word').textContent, 'acme');
    type(p.$('confirm-reason'), 'incident 42');
    assert.equal(p.$('confirm-ok').disabled, true, 'the key is not typed yet');
    type(p.$('confirm-typed'), 'acm');
    assert.equal(p.$('confirm-ok').disabled, true);
    type(p.$('confirm-typed'), 'acme');
    assert.equal(p.$('confirm-ok').disabled, false);
    p.$('confirm-ok').click();
    await settle();
    const put = p.calls.find((c) => c.method === 'PUT');
    assert.equal(put.url, '/v1/toggles');
    assert.deepEqual(put.body, { scope: 'tenant', key: 'acme', mode: 'kill',
      reason: 'incident 42' });
    assert.match(p.$('notice').textContent, /pause → kill \(3 intents affected\)/);

    // the row's "run…" button: a reason, no typed word
    const run = [...p.$('toggles-body').all()].find((e) => e.textContent === 'run…');
    run.click();
    assert.equal(p.$('confirm-word-row').hidden, true);
    type(p.$('confirm-reason'), 'over');
    p.$('confirm-ok').click();
    await settle();
    assert.deepEqual(p.calls.filter((c) => c.method === 'PUT').at(-1).body,
      { scope: 'tenant', key: 'acme', mode: 'run', reason: 'over' });
  });

  await t.test('the global switch is confirmed by typing "global"', async () => {
    p.$('t-scope').value = 'global';
    p.$('t-scope').dispatch('change');
    assert.equal(p.$('t-key').value, '*');
    p.$('t-mode').value = 'kill';
    p.$('toggle-form').dispatch('submit');
    assert.equal(p.$('confirm-word').textContent, 'global');
    p.$('confirm-cancel').click();
  });

  await t.test('auto-refresh reloads the view every 5 s, not under a confirmation', async () => {
    assert.equal(p.timers.size, 0);
    p.$('auto-refresh').checked = true;
    p.$('auto-refresh').dispatch('change');
    assert.deepEqual([...p.timers.values()].map((x) => x.ms), [5000]);
    const tick = [...p.timers.values()][0].fn;
    let before = p.calls.length;
    tick();
    await settle();
    assert.equal(p.calls.length, before + 1);
    assert.equal(p.calls.at(-1).url, '/v1/toggles?tenant_id=acme');
    p.$('t-mode').value = 'pause';
    p.$('toggle-form').dispatch('submit');
    assert.equal(p.$('confirm').open, true);
    before = p.calls.length;
    tick();
    await settle();
    assert.equal(p.calls.length, before, 'nothing moves under an open confirmation');
    p.$('confirm-cancel').click();
    p.$('auto-refresh').checked = false;
    p.$('auto-refresh').dispatch('change');
    assert.equal(p.timers.size, 0);
  });

  await t.test('forget token removes it and the data shown', () => {
    p.$('forget').click();
    assert.equal(p.session.size, 0);
    assert.equal(p.$('token-state').textContent, 'no token');
    assert.equal(p.$('toggles-body').childNodes.length, 0);
    assert.equal(p.$('intent-detail').childNodes.length, 0);
  });
});
