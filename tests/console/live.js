// Drives the web console's page logic (engine/console/app.js, on fake_page.js's page) against a
// real intentd, as an operator would click through it; tests/integration/test_console.py runs
// it and checks the database afterwards.
//   node tests/console/live.js compensate   (CONSOLE_TOKEN: an operator token; CONSOLE_INTENT:
//                                            a SUCCEEDED intent of the token's tenant)
//   node tests/console/live.js toggles      (CONSOLE_TOKEN: an oncall token)
// Environment: CONSOLE_BASE (http://host:port), CONSOLE_TENANT (the token's tenant).
// Prints one JSON object of what the page showed; exits non-zero when a step fails.
'use strict';

const assert = require('node:assert/strict');

const { makePage, settle, type, waitFor } = require('./fake_page.js');

const BASE = process.env.CONSOLE_BASE;
const TOKEN = process.env.CONSOLE_TOKEN;
const TENANT = process.env.CONSOLE_TENANT;

function livePage() {
  const p = makePage();
  p.answer((call) => fetch(BASE + call.url, { method: call.method, headers: call.headers,
    body: call.body === undefined ? undefined : JSON.stringify(call.body) }));
  p.load();
  return p;
}

async function useToken(p) {
  p.$('token').value = TOKEN;
  p.$('token-form').dispatch('submit');
  await settle();
}

async function confirmWith(p, reason, word) {
  await waitFor('the confirmation', () => p.$('confirm').open);
  type(p.$('confirm-reason'), reason);
  if (word) {
    assert.equal(p.$('confirm-ok').disabled, true, 'a kill must wait for the typed key');
    type(p.$('confirm-typed'), word);
  }
  p.$('confirm-ok').click();
}

async function noticeAfter(p, action) {
  p.$('notice').hidden = true;
  await action();
  await waitFor('a notice or an error', () => !p.$('notice').hidden || !p.$('error').hidden);
  assert.equal(p.$('error').hidden, true, p.$('error').textContent);
  return p.$('notice').textContent;
}

async function errorAfter(p, action) {
  p.$('error').hidden = true;
  await action();
  await waitFor('an error', () => !p.$('error').hidden);
  return p.$('error').textContent;
}

async function setToggle(p, mode, reason) {
  p.$('t-scope').value = 'tenant';
  p.$('t-scope').dispatch('change');
  p.$('t-key').value = TENANT;
  p.$('t-mode').value = mode;
  p.$('toggle-form').dispatch('submit');
  await confirmWith(p, reason, mode === 'kill' ? TENANT : null);
}

async function compensate() {
  const id = process.env.CONSOLE_INTENT;
  const p = livePage();
  await useToken(p);
  await waitFor('the intent in the list', () => p.$('executions-body').textContent.includes(id));
  const link = [...p.$('executions-body').all()].find((e) => e.tagName === 'BUTTON' &&
    e.textContent === id);
  link.click();
  await waitFor('the intent view', () => p.$('intent-detail').textContent.includes('SUCCEEDED') &&
    p.$('timeline-body').textContent.includes('intent.submitted'));
  const timeline = p.$('timeline-body').textContent;
  const notice = await noticeAfter(p, async () => {
    p.$('act-compensate').click();
    await confirmWith(p, 'console e2e <b>undo</b>');
  });
  // an operator may read the switches but not set them: the page shows the refusal
  p.$('nav-toggles').click();
  await waitFor('the switches', () => p.$('toggles-body').childNodes.length > 0);
  const refused = await errorAfter(p, () => setToggle(p, 'pause', 'not mine to set'));
  return { timeline: timeline, notice: notice, refused: refused,
    requestIds: p.calls.map((c) => c.headers['X-Request-ID']) };
}

async function toggles() {
  const p = livePage();
  await useToken(p);
  p.$('nav-toggles').click();
  await waitFor('the switches', () => p.$('toggles-body').childNodes.length > 0);
  const notices = [];
  for (const mode of ['pause', 'kill', 'run']) {
    notices.push(await noticeAfter(p, () => setToggle(p, mode, 'console e2e ' + mode)));
  }
  await waitFor('the list to show run', () => /tenant.*run/.test(p.$('toggles-body').textContent));
  return { notices: notices, table: p.$('toggles-body').textContent };
}

const scenarios = { compensate, toggles };
scenarios[process.argv[2]]().then((result) => {
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
}, (e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
