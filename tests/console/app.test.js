// The web console's page logic (engine/console/app.js) run in Node against a small fake DOM
// built from index.html's ids and a recorded fetch: token handling, the calls it makes, the
// confirmation steps, and that server text only ever becomes text.
//   node --test tests/console/
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { webcrypto } = require('node:crypto');

const DIR = path.join(__dirname, '..', '..', 'engine', 'console');
const INDEX = fs.readFileSync(path.join(DIR, 'index.html'), 'utf8');
const EVIL = '<img src=x onerror=alert(1)>';

/* ------------------------------------------------------------------ fake page */

function makePage() {
  const created = [];
  const byId = new Map();

  class FakeNode {
    constructor(nodeType) {
      this.nodeType = nodeType;
      this.childNodes = [];
      this.parentNode = null;
    }
    get firstChild() {
      return this.childNodes[0] || null;
    }
    appendChild(c) {
      if (c.parentNode) {
        c.parentNode.removeChild(c);
      }
      c.parentNode = this;
      this.childNodes.push(c);
      return c;
    }
    removeChild(c) {
      this.childNodes.splice(this.childNodes.indexOf(c), 1);
      c.parentNode = null;
      return c;
    }
    append(...cs) {
      for (const c of cs) {
        this.appendChild(typeof c === 'string' ? doc.createTextNode(c) : c);
      }
    }
    get textContent() {
      return this.nodeType === 3 ? this.data : this.childNodes.map((c) => c.textContent).join('');
    }
  }

  function refused() {
    throw new Error('markup parsing used');
  }

  class FakeElement extends FakeNode {
    constructor(tag) {
      super(1);
      this.tagName = tag.toUpperCase();
      this.attributes = {};
      this.listeners = {};
      this.value = '';
      this.checked = false;
      this.disabled = false;
      this.hidden = false;
      this.open = false;
      this.maxLength = -1;
    }
    setAttribute(name, value) {
      this.attributes[name] = String(value);
      if (name === 'value') {
        this.value = String(value);
      }
    }
    getAttribute(name) {
      return name in this.attributes ? this.attributes[name] : null;
    }
    addEventListener(ev, fn) {
      (this.listeners[ev] = this.listeners[ev] || []).push(fn);
    }
    removeEventListener(ev, fn) {
      const l = this.listeners[ev] || [];
      if (l.includes(fn)) {
        l.splice(l.indexOf(fn), 1);
      }
    }
    dispatch(type) {
      const ev = { type: type, target: this, defaultPrevented: false,
        preventDefault() { this.defaultPrevented = true; } };
      for (const fn of [...(this.listeners[type] || [])]) {
        fn(ev);
      }
      return ev;
    }
    click() {
      assert.ok(!this.disabled, this.id + ' is disabled');
      return this.dispatch('click');
    }
    showModal() {
      this.open = true;
    }
    close() {
      this.open = false;
    }
    focus() {}
    set innerHTML(v) {
      refused();
    }
    set outerHTML(v) {
      refused();
    }
    insertAdjacentHTML() {
      refused();
    }
    /* every element below this one (depth first) */
    *all() {
      for (const c of this.childNodes) {
        if (c.nodeType === 1) {
          yield c;
          yield* c.all();
        }
      }
    }
  }

  const doc = {
    createElement(tag) {
      created.push(tag.toLowerCase());
      return new FakeElement(tag);
    },
    createTextNode(data) {
      const t = new FakeNode(3);
      t.data = data;
      return t;
    },
    getElementById(id) {
      return byId.get(id) || null;
    },
    write: refused,
  };

  // the page's elements with an id, with the attributes index.html gives them
  const tagRe = /<([a-z0-9]+)\b([^>]*)>/g;
  for (const m of INDEX.matchAll(tagRe)) {
    const attrs = {};
    for (const a of m[2].matchAll(/([a-z-]+)(?:="([^"]*)")?/g)) {
      attrs[a[1]] = a[2] === undefined ? '' : a[2];
    }
    if (!attrs.id) {
      continue;
    }
    const e = new FakeElement(m[1]);
    e.id = attrs.id;
    e.value = attrs.value || '';
    e.hidden = 'hidden' in attrs;
    e.disabled = 'disabled' in attrs;
    e.checked = 'checked' in attrs;
    byId.set(attrs.id, e);
  }

  // sessionStorage only; localStorage deliberately absent, so using it throws
  const session = new Map();
  const sessionStorage = {
    getItem: (k) => (session.has(k) ? session.get(k) : null),
    setItem: (k, v) => session.set(k, String(v)),
    removeItem: (k) => session.delete(k),
  };

  const calls = [];
  let answer = () => ({ status: 404, body: { title: 'Not Found' } });
  async function fetch(url, opts) {
    const call = { url: url, method: opts.method, headers: opts.headers,
      body: opts.body === undefined ? undefined : JSON.parse(opts.body), opts: opts };
    calls.push(call);
    const r = answer(call);
    const headers = Object.assign({ 'x-request-id': opts.headers['X-Request-ID'] },
      r.headers || {});
    return {
      ok: r.status >= 200 && r.status < 300,
      status: r.status,
      headers: { get: (n) => headers[n.toLowerCase()] || null },
      text: async () => (r.body === undefined ? '' : JSON.stringify(r.body)),
    };
  }

  const windowListeners = {};
  let hash = '';
  const location = {
    get hash() {
      return hash;
    },
    set hash(v) {
      hash = v;
      setImmediate(() => (windowListeners.hashchange || []).forEach((fn) => fn()));
    },
  };

  // the refresh timer is driven by the test, not by the clock
  const timers = new Map();
  let timerId = 0;
  const ctx = vm.createContext({
    document: doc, sessionStorage, fetch, location, crypto: webcrypto, setImmediate, console,
    setInterval: (fn, ms) => {
      timers.set(++timerId, { fn: fn, ms: ms });
      return timerId;
    },
    clearInterval: (id) => timers.delete(id),
    addEventListener: (ev, fn) => (windowListeners[ev] = windowListeners[ev] || []).push(fn),
  });
  ctx.window = ctx;
  return {
    ctx, doc, created, calls, session, timers,
    $: (id) => byId.get(id),
    answer: (fn) => {
      answer = fn;
    },
    load() {
      for (const name of ['lib.js', 'app.js']) {
        vm.runInContext(fs.readFileSync(path.join(DIR, name), 'utf8'), ctx, { filename: name });
      }
    },
  };
}

async function settle() {
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setImmediate(r));
  }
}

function type(input, text) {
  input.value = text;
  input.dispatch('input');
}

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
