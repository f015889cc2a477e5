// The web console's pure module (engine/console/lib.js) under Node's built-in test runner:
//   node --test tests/console/
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const L = require(path.join(__dirname, '..', '..', 'engine', 'console', 'lib.js'));

/* A document just big enough for el(): it records what was created, and an element refuses
 * every markup-parsing property, so a rendering path that used one fails here. */
function fakeDocument() {
  const created = [];
  function markupRefused() {
    throw new Error('markup parsing used');
  }
  class FakeNode {
    constructor(nodeType) {
      this.nodeType = nodeType;
      this.childNodes = [];
    }
    get firstChild() {
      return this.childNodes[0] || null;
    }
    appendChild(c) {
      this.childNodes.push(c);
      return c;
    }
    removeChild(c) {
      this.childNodes.splice(this.childNodes.indexOf(c), 1);
      return c;
    }
    get textContent() {
      return this.nodeType === 3 ? this.data : this.childNodes.map((c) => c.textContent).join('');
    }
  }
  class FakeElement extends FakeNode {
    constructor(tag) {
      super(1);
      this.tagName = tag;
      this.attributes = {};
      this.listeners = {};
    }
    setAttribute(name, value) {
      this.attributes[name] = value;
    }
    addEventListener(ev, fn) {
      this.listeners[ev] = fn;
    }
    set innerHTML(v) {
      markupRefused();
    }
    set outerHTML(v) {
      markupRefused();
    }
    insertAdjacentHTML() {
      markupRefused();
    }
  }
  return {
    created,
    createElement(tag) {
      const e = new FakeElement(tag);
      created.push(tag);
      return e;
    },
    createTextNode(data) {
      const t = new FakeNode(3);
      t.data = data;
      return t;
    },
  };
}

test('buildQuery encodes keys and values and leaves empty filters out', () => {
  assert.equal(L.buildQuery({}), '');
  assert.equal(L.buildQuery({ status: '', action_type: null, since: undefined }), '');
  assert.equal(L.buildQuery({ status: 'FAILED', limit: 50 }), '?status=FAILED&limit=50');
  assert.equal(L.buildQuery({ action_type: 'crm.upsert_contact' }),
    '?action_type=crm.upsert_contact');
  // "+" would read as a space and "&", "=", "#" would cut the value short: all encoded
  assert.equal(L.buildQuery({ since: '2026-11-21T10:00:00+01:00' }),
    '?since=2026-11-21T10%3A00%3A00%2B01%3A00');
  assert.equal(L.buildQuery({ a: 'x&b=1#f', 'k y': 'é' }), '?a=x%26b%3D1%23f&k%20y=%C3%A9');
});

test('executionsUrl picks the account route and keeps filters, cursor and tenant', () => {
  assert.equal(L.executionsUrl({}), '/v1/executions');
  assert.equal(L.executionsUrl({ status: 'PENDING', cursor: 'abc=', tenant_id: 'acme' }),
    '/v1/executions?status=PENDING&cursor=abc%3D&tenant_id=acme');
  assert.equal(L.executionsUrl({ account: 'acct/1 ?', until: '2026-11-21T10:00:00Z' }),
    '/v1/accounts/acct%2F1%20%3F/executions?until=2026-11-21T10%3A00%3A00Z');
});

test('path parameters cannot climb out of their segment', () => {
  assert.equal(L.intentUrl('ai_1', 'timeline', ''), '/v1/intents/ai_1/timeline');
  assert.equal(L.intentUrl('ai_1', 'cancel', 'acme'), '/v1/intents/ai_1/cancel?tenant_id=acme');
  assert.equal(L.intentUrl('a/b', '', null), '/v1/intents/a%2Fb');
  for (const bad of ['', ' ', '.', '..', null, undefined, 7]) {
    assert.throws(() => L.intentUrl(bad, '', ''), /not a valid identifier/);
  }
  assert.throws(() => L.executionsUrl({ account: '..' }), /not a valid identifier/);
  assert.equal(L.togglesUrl(''), '/v1/toggles');
  assert.equal(L.togglesUrl('t 1'), '/v1/toggles?tenant_id=t%201');
});

test('routes round-trip through the location hash', () => {
  for (const r of [{ view: 'executions' }, { view: 'toggles' }, { view: 'intent', id: 'ai_1' },
    { view: 'intent', id: 'a/b#c' }, { view: 'intent', id: null }]) {
    assert.deepEqual(L.parseRoute(L.routeHash(r)), r);
  }
  assert.deepEqual(L.parseRoute(''), { view: 'executions' });
  assert.deepEqual(L.parseRoute('#/nonsense'), { view: 'executions' });
  assert.deepEqual(L.parseRoute('#/intents/%E0%A4%A'), { view: 'executions' });
});

test('formatTime shows UTC seconds and passes odd values through', () => {
  assert.equal(L.formatTime('2026-11-21T10:00:00.123456Z'), '2026-11-21 10:00:00Z');
  assert.equal(L.formatTime('2026-11-21T10:00:00Z'), '2026-11-21 10:00:00Z');
  assert.equal(L.formatTime(null), '—');
  assert.equal(L.formatTime(undefined), '—');
  assert.equal(L.formatTime('soon'), 'soon');
});

test('formatDuration and relativeTime read as a person would say them', () => {
  assert.equal(L.formatDuration(0), '0 ms');
  assert.equal(L.formatDuration(850), '850 ms');
  assert.equal(L.formatDuration(42000), '42 s');
  assert.equal(L.formatDuration(184000), '3 min 4 s');
  assert.equal(L.formatDuration(120000), '2 min');
  assert.equal(L.formatDuration(7500000), '2 h 5 min');
  assert.equal(L.formatDuration(3 * 86400000 + 4 * 3600000 + 59000), '3 d 4 h');
  assert.equal(L.formatDuration(-90000), '-1 min 30 s');
  assert.equal(L.formatDuration(NaN), '—');
  const now = Date.parse('2026-11-21T10:00:00Z');
  assert.equal(L.relativeTime('2026-11-21T10:05:00Z', now), 'in 5 min');
  assert.equal(L.relativeTime('2026-11-21T09:59:30.5Z', now), '29 s ago');
  assert.equal(L.relativeTime(null, now), '');
  assert.equal(L.relativeTime('never', now), '');
});

test('times, tenant ids and reasons are checked as the API checks them', () => {
  assert.ok(L.validTime(''));
  assert.ok(L.validTime('2026-11-21T10:00:00Z'));
  assert.ok(L.validTime('2026-11-21T10:00:00.123456+02:00'));
  assert.ok(!L.validTime('2026-11-21 10:00'));
  assert.ok(!L.validTime('yesterday'));
  assert.ok(L.validTenantId('acme-1.eu_west'));
  assert.ok(!L.validTenantId(''));
  assert.ok(!L.validTenantId('a/b'));
  assert.ok(!L.validTenantId('x'.repeat(65)));
  assert.equal(L.reasonProblem('  ', 500), 'a reason is required');
  assert.equal(L.reasonProblem('ok', 500), null);
  assert.equal(L.reasonProblem('x'.repeat(501), 500), 'at most 500 characters');
  assert.equal(L.reasonProblem('é'.repeat(500), 500), null);
  assert.match(L.reasonProblem('a\nb', 500), /control/);
});

test('state and mode classes come from a fixed set', () => {
  assert.equal(L.stateClass('FAILED'), 'state-failed');
  assert.equal(L.stateClass('COMPENSATING'), 'state-compensating');
  assert.equal(L.stateClass('x" onload="y'), 'state-unknown');
  assert.equal(L.stateClass(null), 'state-unknown');
  assert.equal(L.modeClass('kill'), 'mode-kill');
  assert.equal(L.modeClass('KILL'), 'mode-unknown');
});

test('operator actions are offered only where they can apply', () => {
  const at = (state, extra) => Object.assign({ state: state, cancel_requested: false }, extra);
  assert.ok(L.actionAllowed(at('PENDING'), 'cancel'));
  assert.ok(L.actionAllowed(at('EXECUTING'), 'cancel'));
  assert.ok(!L.actionAllowed(at('EXECUTING', { cancel_requested: true }), 'cancel'));
  assert.ok(!L.actionAllowed(at('SUCCEEDED'), 'cancel'));
  assert.ok(L.actionAllowed(at('SUCCEEDED'), 'compensate'));
  assert.ok(!L.actionAllowed(at('FAILED'), 'compensate'));
  assert.ok(L.actionAllowed(at('FAILED'), 'redrive'));
  assert.ok(!L.actionAllowed(at('EXPIRED'), 'redrive'));
  assert.ok(!L.actionAllowed(null, 'cancel'));
  assert.ok(!L.actionAllowed(at('PENDING'), 'delete'));
});

test('a kill switch change says what it changes and what must be typed', () => {
  assert.equal(L.toggleKey('global', 'acme', 'crm'), '*');
  assert.equal(L.toggleKey('tenant', 'acme', ''), 'acme');
  assert.equal(L.toggleKey('connector', '*', 'crm'), '*/crm');
  const kill = { scope: 'action_type', key: 'acme/crm.upsert_contact', mode: 'kill' };
  assert.ok(L.needsTypedConfirmation(kill));
  assert.ok(!L.needsTypedConfirmation({ scope: 'tenant', key: 'acme', mode: 'pause' }));
  assert.equal(L.confirmWord(kill), 'acme/crm.upsert_contact');
  assert.equal(L.confirmWord({ scope: 'global', key: '*', mode: 'kill' }), 'global');
  const toggles = [{ scope: 'tenant', key: 'acme', mode: 'pause' }];
  assert.equal(L.currentMode(toggles, 'tenant', 'acme'), 'pause');
  assert.equal(L.currentMode(toggles, 'action_type', 'acme'), 'run');
  assert.equal(L.currentMode(undefined, 'global', '*'), 'run');
  const lines = L.describeToggleChange(kill, 'run');
  assert.deepEqual(lines.slice(0, 3),
    ['Scope: action_type', 'Key: acme/crm.upsert_contact', 'Mode: run → kill']);
  assert.match(lines[3], /cancelled/);
  assert.match(L.describeToggleChange(kill, 'kill')[3], /nothing will change/);
});

test('describeProblem shows title, detail, pointers and the request id', () => {
  const p = L.describeProblem(400, {
    type: 'https://intentd.dev/problems/invalid-request', title: 'Bad Request', status: 400,
    detail: 'reason is required', request_id: 'srv-1',
    errors: [{ pointer: '/reason', message: 'required' }, { pointer: '', message: 'x' }],
  }, 'hdr-1', 'PUT', '/v1/toggles');
  assert.equal(p.title, 'Bad Request');
  assert.equal(p.detail, 'reason is required');
  assert.deepEqual(p.errors, ['/reason: required', '(body): x']);
  assert.equal(p.requestId, 'hdr-1');
  assert.equal(p.call, 'PUT /v1/toggles → 400');
  const bare = L.describeProblem(502, null, '', 'GET', '/v1/executions');
  assert.equal(bare.title, 'HTTP 502');
  assert.equal(bare.detail, '');
  assert.deepEqual(bare.errors, []);
  assert.equal(L.describeProblem(500, { request_id: 'srv-2' }, '', 'GET', '/').requestId,
    'srv-2');
});

test('el() renders server text as text, never as markup', () => {
  const doc = fakeDocument();
  const el = L.createEl(doc);
  const evil = '<img src=x onerror=alert(1)>';
  const td = el('td', { class: 'c' }, evil, 7, null, false, ['a', ['b']]);
  assert.deepEqual(doc.created, ['td']); // no <img> was ever made
  assert.equal(td.childNodes[0].nodeType, 3);
  assert.equal(td.childNodes[0].data, evil);
  assert.equal(td.textContent, evil + '7ab');
  assert.deepEqual(td.attributes, { class: 'c' });
  // an attribute value is a value too
  const b = el('button', { title: '"><script>x()</script>', disabled: true, hidden: false });
  assert.deepEqual(b.attributes, { title: '"><script>x()</script>', disabled: '' });
  // a plain object from the server is text, not a node
  assert.equal(el('td', null, { nodeType: 'x' }).childNodes[0].nodeType, 3);
  L.replaceContent(doc, td, evil);
  assert.equal(td.childNodes.length, 1);
  assert.equal(td.textContent, evil);
});

test('el() refuses handlers, styles, URLs and active tags', () => {
  const el = L.createEl(fakeDocument());
  for (const attr of ['onclick', 'onerror', 'style', 'href', 'src', 'srcdoc', 'formaction',
    'ONCLICK', 'x y']) {
    assert.throws(() => el('div', { [attr]: 'alert(1)' }), /attribute not allowed/, attr);
  }
  for (const tag of ['script', 'SCRIPT', 'iframe', 'style', 'object', 'svg', 'base']) {
    assert.throws(() => el(tag, null), /tag not allowed/, tag);
  }
  let clicked = 0;
  const b = el('button', { on: { click: () => clicked++ } }, 'go');
  b.listeners.click();
  assert.equal(clicked, 1);
});

test('every console script parses as a classic script', () => {
  const fs = require('node:fs');
  const vm = require('node:vm');
  for (const name of ['lib.js', 'app.js']) {
    const file = path.join(__dirname, '..', '..', 'engine', 'console', name);
    assert.doesNotThrow(() => new vm.Script(fs.readFileSync(file, 'utf8'), { filename: file }),
      name);
  }
});
