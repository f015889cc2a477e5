// A fake browser page for the web console (engine/console): the elements of index.html with
// an id, a document whose elements refuse every markup-parsing property, sessionStorage (and no
// localStorage, so using it throws), a recorded fetch and a test-driven refresh timer. Used by
// app.test.js (a scripted server) and live.js (the real intentd).
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { webcrypto } = require('node:crypto');

const DIR = path.join(__dirname, '..', '..', 'engine', 'console');
const INDEX = fs.readFileSync(path.join(DIR, 'index.html'), 'utf8');

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
      if (this.open) {
        throw new Error('InvalidStateError: the dialog is already open'); // as browsers do
      }
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
    const r = await answer(call);
    if (typeof r.text === 'function') {
      return r; // a real fetch Response (live.js)
    }
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

/* Waits until cond() is true, polling; fails after timeoutMs (generous: never a timing claim). */
async function waitFor(what, cond, timeoutMs) {
  const deadline = Date.now() + (timeoutMs || 30000);
  while (!cond()) {
    if (Date.now() > deadline) {
      throw new Error('timed out waiting for ' + what);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

module.exports = { makePage, settle, type, waitFor };
