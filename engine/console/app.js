/* The web console's page logic: token handling, calls to the JSON API, and the three views
 * (executions, one intent, kill switches). Pure logic lives in lib.js (window.ConsoleLib);
 * every element is built with its el(), so server values only ever become text. */
(function () {
  'use strict';

  const L = window.ConsoleLib;
  const el = L.createEl(document);
  const TOKEN_KEY = 'intentd.console.token';
  const TENANT_KEY = 'intentd.console.tenant';
  const REFRESH_MS = 5000;

  const state = {
    view: 'executions',
    filters: null, // the applied filters (lib.executionsUrl's argument, without cursor)
    cursor: null, // the page being shown (null: the first)
    nextCursor: null,
    intentId: null,
    intent: null,
    toggles: [],
    inflight: 0, // view loads running (see refresh)
    timer: null,
  };

  function $(id) {
    return document.getElementById(id);
  }

  function show(node, on) {
    node.hidden = !on;
  }

  /* ------------------------------------------------------------ token */

  // sessionStorage only: the token dies with the tab, is never written to disk by us, and never
  // goes into a URL.
  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  }

  function tenant() {
    return sessionStorage.getItem(TENANT_KEY) || '';
  }

  function showTokenState() {
    const t = tenant();
    L.replaceContent(document, $('token-state'), token()
      ? 'token set for this tab' + (t ? ', tenant ' + t : '') : 'no token');
  }

  function saveToken(ev) {
    ev.preventDefault();
    const tok = $('token').value.trim();
    const ten = $('tenant').value.trim();
    if (ten && !L.validTenantId(ten)) {
      showError({ title: 'Invalid tenant id', detail: '1-64 of A-Z a-z 0-9 . _ -', errors: [] });
      return;
    }
    if (tok) {
      sessionStorage.setItem(TOKEN_KEY, tok);
    }
    $('token').value = '';
    if (ten) {
      sessionStorage.setItem(TENANT_KEY, ten);
    } else {
      sessionStorage.removeItem(TENANT_KEY);
    }
    showTokenState();
    clearError();
    loadActionTypes();
    refresh();
  }

  function forgetToken() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(TENANT_KEY);
    $('token').value = '';
    $('tenant').value = '';
    showTokenState();
    clearTables();
    notice('Token forgotten.');
  }

  /* ------------------------------------------------------------ messages */

  function showError(p) {
    const box = $('error');
    L.replaceContent(document, box,
      el('strong', null, p.title),
      p.detail ? ': ' + p.detail : '',
      p.errors.length ? el('ul', null, p.errors.map((e) => el('li', null, e))) : null,
      p.call || p.requestId ? el('div', { class: 'muted' }, p.call || '',
        p.requestId ? ' (X-Request-ID ' + p.requestId + ')' : '') : null,
      ' ',
      el('button', { type: 'button', on: { click: clearError } }, 'Dismiss'));
    show(box, true);
  }

  function clearError() {
    show($('error'), false);
  }

  function notice(text) {
    L.replaceContent(document, $('notice'), text);
    show($('notice'), true);
  }

  /* ------------------------------------------------------------ API */

  class ApiError extends Error {
    constructor(problem) {
      super(problem.title);
      this.problem = problem;
    }
  }

  function newRequestId() {
    const b = crypto.getRandomValues(new Uint8Array(8));
    return 'console-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  /* One call to the JSON API: resolves to the parsed body, or rejects with an ApiError that
   * carries the problem's title, detail, errors and the request id. */
  async function api(method, path, body) {
    const tok = token();
    if (!tok) {
      throw new ApiError({ title: 'No token', detail: 'paste a bearer token first', errors: [] });
    }
    const rid = newRequestId();
    const headers = { Authorization: 'Bearer ' + tok, Accept: 'application/json',
      'X-Request-ID': rid };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
    }
    let res;
    try {
      res = await fetch(path, { method: method, headers: headers, credentials: 'omit',
        cache: 'no-store', redirect: 'error',
        body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError(L.describeProblem(0, { title: 'Network error', detail: String(e) },
        rid, method, path));
    }
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (e) {
      json = null;
    }
    if (!res.ok) {
      throw new ApiError(L.describeProblem(res.status, json,
        res.headers.get('X-Request-ID') || rid, method, path));
    }
    return json;
  }

  /* Runs fn, showing its failure; true when it succeeded. */
  async function attempt(fn) {
    try {
      await fn();
      return true;
    } catch (e) {
      showError(e instanceof ApiError ? e.problem
        : { title: 'Error', detail: String(e.message || e), errors: [] });
      return false;
    }
  }

  /* ------------------------------------------------------------ views */

  function setView(view) {
    state.view = view;
    for (const v of ['executions', 'intent', 'toggles']) {
      show($('view-' + v), v === view);
      $('nav-' + v).setAttribute('aria-current', v === view ? 'page' : 'false');
    }
  }

  function go(route) {
    const hash = L.routeHash(route);
    if (location.hash === hash) {
      onRoute();
    } else {
      location.hash = hash;
    }
  }

  function onRoute() {
    const route = L.parseRoute(location.hash);
    setView(route.view);
    if (route.view === 'intent' && route.id) {
      state.intentId = route.id;
      $('intent-id').value = route.id;
    }
    refresh();
  }

  /* Loads the current view. auto: from the refresh timer, which skips a beat while a load is
   * still running rather than pile requests up; the operator's own navigation always loads. */
  function refresh(auto) {
    if (!token() || (auto && state.inflight > 0)) {
      return;
    }
    state.inflight++;
    const run = state.view === 'intent' ? loadIntent
      : state.view === 'toggles' ? loadToggles : loadExecutions;
    // attempt() never rejects; then() rather than finally() keeps to ES2017
    attempt(run).then(() => {
      state.inflight--;
    });
  }

  function clearTables() {
    for (const id of ['executions-body', 'steps-body', 'timeline-body', 'toggles-body',
      'intent-detail', 'page-info']) {
      L.replaceContent(document, $(id));
    }
    state.intent = null;
    updateActionButtons();
  }

  /* ---- executions */

  function readFilters() {
    const f = {
      status: $('f-status').value,
      action_type: $('f-action-type').value.trim(),
      account: $('f-account').value.trim(),
      since: $('f-since').value.trim(),
      until: $('f-until').value.trim(),
      limit: $('f-limit').value.trim(),
    };
    for (const k of ['since', 'until']) {
      if (!L.validTime(f[k])) {
        throw new Error(k + ' must be an RFC 3339 time such as 2026-11-21T10:00:00Z');
      }
    }
    return f;
  }

  function applyFilters(ev) {
    ev.preventDefault();
    attempt(async () => {
      state.filters = readFilters();
      state.cursor = null;
      clearError();
      if (L.parseRoute(location.hash).view !== 'executions') {
        go({ view: 'executions' });
        return;
      }
      await loadExecutions();
    });
  }

  async function loadExecutions() {
    if (!state.filters) {
      state.filters = readFilters();
    }
    const f = Object.assign({}, state.filters, { cursor: state.cursor, tenant_id: tenant() });
    const page = await api('GET', L.executionsUrl(f));
    renderExecutions(page);
  }

  function intentButton(id) {
    return el('button', { type: 'button', class: 'link',
      on: { click: () => go({ view: 'intent', id: id }) } }, id);
  }

  function executionRow(it) {
    return el('tr', null,
      el('td', null, intentButton(it.action_intent_id)),
      el('td', null, it.tenant_id),
      el('td', null, it.account_id),
      el('td', null, it.action_type),
      el('td', { class: L.stateClass(it.state) }, it.state, it.cancel_requested
        ? ' (cancel requested)' : ''),
      el('td', null, it.current_step || '—'),
      el('td', null, String(it.attempts)),
      el('td', null, it.held_by || ''),
      el('td', null, L.formatTime(it.submitted_at)),
      el('td', null, L.formatTime(it.expires_at)));
  }

  function renderExecutions(page) {
    const items = (page && page.items) || [];
    L.replaceContent(document, $('executions-body'), items.length ? items.map(executionRow)
      : el('tr', null, el('td', { colspan: 10, class: 'muted' }, 'No executions match.')));
    state.nextCursor = page ? page.next_cursor : null;
    $('next-page').disabled = !state.nextCursor;
    L.replaceContent(document, $('page-info'), items.length + ' shown' +
      (state.cursor ? ' (a later page)' : '') + (state.nextCursor ? ', more follow' : '') +
      '; updated ' + new Date().toISOString().slice(11, 19) + 'Z');
  }

  function nextPage() {
    if (!state.nextCursor) {
      return;
    }
    state.cursor = state.nextCursor;
    attempt(loadExecutions);
  }

  function firstPage() {
    state.cursor = null;
    attempt(loadExecutions);
  }

  async function loadActionTypes() {
    if (!token()) {
      return;
    }
    try {
      const r = await api('GET', '/v1/action-types');
      L.replaceContent(document, $('action-types'),
        (r.action_types || []).map((a) => el('option', { value: a.action_type })));
    } catch (e) {
      // the list only helps typing; the filter works without it
    }
  }

  /* ---- one intent */

  function openIntent(ev) {
    ev.preventDefault();
    const id = $('intent-id').value.trim();
    if (id) {
      clearError();
      go({ view: 'intent', id: id });
    }
  }

  async function loadIntent() {
    if (!state.intentId) {
      return;
    }
    const id = state.intentId;
    const [intent, timeline] = await Promise.all([
      api('GET', L.intentUrl(id, '', tenant())),
      api('GET', L.intentUrl(id, 'timeline', tenant())),
    ]);
    if (id !== state.intentId) {
      return; // the operator opened another one meanwhile
    }
    state.intent = intent;
    renderIntent(intent);
    renderTimeline(timeline);
  }

  function detailRows(it) {
    const now = Date.now();
    const rel = (t) => (t ? ' (' + L.relativeTime(t, now) + ')' : '');
    return [
      ['Intent', it.action_intent_id],
      ['Tenant', it.tenant_id],
      ['State', el('span', { class: L.stateClass(it.state) }, it.state)],
      ['Explanation', it.explanation],
      ['Action type', it.action_type],
      ['Account', it.account_id],
      ['Current step', it.current_step || '—'],
      ['Attempts', it.attempts + ' (crash restarts ' + it.crash_attempts + ')'],
      ['Held by', it.held_by || '—'],
      ['Cancel requested', it.cancel_requested ? 'yes' : 'no'],
      ['Compensating to', it.compensating_to || '—'],
      ['Terminal reason', it.terminal_reason || '—'],
      ['Last error', it.last_error ? it.last_error.error + ': ' + (it.last_error.cause || '') : '—'],
      ['Expires', L.formatTime(it.expires_at) + rel(it.expires_at)],
      ['Waiting until', L.formatTime(it.waiting_until)],
      ['Submitted', L.formatTime(it.submitted_at)],
      ['Updated', L.formatTime(it.updated_at)],
      ['Finished', L.formatTime(it.finished_at)],
      ['Output', it.output ? el('code', null, L.formatJson(it.output)) : '—'],
    ];
  }

  function renderIntent(it) {
    L.replaceContent(document, $('intent-detail'), el('dl', { class: 'detail' },
      detailRows(it).map(([k, v]) => [el('dt', null, k), el('dd', null, v)])));
    L.replaceContent(document, $('steps-body'), (it.steps || []).map((s) => el('tr', null,
      el('td', null, s.step),
      el('td', null, s.operation),
      el('td', null, s.external_id || '—'),
      el('td', null, s.reversible ? 'yes' : 'no'),
      el('td', null, s.compensation ? s.compensation.state : '—'))));
    updateActionButtons();
  }

  function renderTimeline(tl) {
    L.replaceContent(document, $('timeline-body'), ((tl && tl.events) || []).map((e) =>
      el('tr', null,
        el('td', null, e.seq === null || e.seq === undefined ? '' : String(e.seq)),
        el('td', null, L.formatTime(e.created_at)),
        el('td', null, e.event),
        el('td', { class: L.stateClass(e.from_state) }, e.from_state || ''),
        el('td', { class: L.stateClass(e.to_state) }, e.to_state || ''),
        el('td', null, e.actor || ''),
        el('td', null, e.node_id || ''),
        el('td', null, el('code', null, L.formatJson(e.payload))))));
  }

  function updateActionButtons() {
    for (const a of ['cancel', 'compensate', 'redrive']) {
      $('act-' + a).disabled = !L.actionAllowed(state.intent, a);
    }
  }

  async function intentAction(action) {
    const it = state.intent;
    if (!it) {
      return;
    }
    const answer = await confirmDialog({
      title: action[0].toUpperCase() + action.slice(1) + ' ' + it.action_intent_id + '?',
      lines: ['Tenant: ' + it.tenant_id, 'State: ' + it.state, L.actionEffect(action)],
      reasonMax: L.REASON_MAX.intent,
      partial: action === 'compensate',
    });
    if (!answer) {
      return;
    }
    const body = { reason: answer.reason };
    if (action === 'compensate' && answer.partial) {
      body.partial = true;
    }
    await attempt(async () => {
      const r = await api('POST', L.intentUrl(it.action_intent_id, action, it.tenant_id), body);
      clearError();
      notice(action + ': ' + r.action_intent_id + ' is now ' + r.state);
      await loadIntent();
    });
  }

  /* ---- kill switches */

  async function loadToggles() {
    const r = await api('GET', L.togglesUrl(tenant()));
    state.toggles = (r && r.toggles) || [];
    L.replaceContent(document, $('toggles-body'), state.toggles.length
      ? state.toggles.map(toggleRow)
      : el('tr', null, el('td', { colspan: 7, class: 'muted' }, 'Every switch is in run.')));
  }

  function toggleRow(t) {
    return el('tr', null,
      el('td', null, t.scope),
      el('td', null, t.key),
      el('td', { class: L.modeClass(t.mode) }, t.mode),
      el('td', null, t.reason || ''),
      el('td', null, L.formatTime(t.updated_at)),
      el('td', null, t.updated_by || ''),
      el('td', null, L.MODES.filter((m) => m !== t.mode).map((m) => el('button', {
        type: 'button', class: m === 'kill' ? 'danger' : null,
        on: { click: () => changeToggle({ scope: t.scope, key: t.key, mode: m }) },
      }, m + '…'))));
  }

  function reviewToggle(ev) {
    ev.preventDefault();
    const scope = $('t-scope').value;
    const key = scope === 'global' ? '*' : $('t-key').value.trim();
    if (!key) {
      showError({ title: 'A key is required', detail: 'see the key formats below', errors: [] });
      return;
    }
    changeToggle({ scope: scope, key: key, mode: $('t-mode').value });
  }

  async function changeToggle(change) {
    const from = L.currentMode(state.toggles, change.scope, change.key);
    const answer = await confirmDialog({
      title: 'Set ' + change.scope + ' ' + change.key + ' to ' + change.mode + '?',
      lines: L.describeToggleChange(change, from),
      reasonMax: L.REASON_MAX.toggle,
      word: L.needsTypedConfirmation(change) ? L.confirmWord(change) : null,
    });
    if (!answer) {
      return;
    }
    await attempt(async () => {
      const r = await api('PUT', '/v1/toggles', { scope: change.scope, key: change.key,
        mode: change.mode, reason: answer.reason });
      clearError();
      notice(r.changed ? r.scope + ' ' + r.key + ': ' + r.previous + ' → ' + r.mode +
        (r.affected ? ' (' + r.affected + ' intents affected)' : '')
        : r.scope + ' ' + r.key + ' was already ' + r.mode + ': nothing changed');
      await loadToggles();
    });
  }

  function syncKeyInput() {
    const global = $('t-scope').value === 'global';
    $('t-key').disabled = global;
    if (global) {
      $('t-key').value = '*';
    } else if ($('t-key').value === '*') {
      $('t-key').value = '';
    }
  }

  /* ------------------------------------------------------------ confirmation */

  /* Shows the confirmation dialog: what will change, a required reason and, for a kill, the
   * word to type. Resolves to {reason, partial} or null when the operator backs out. */
  function confirmDialog(opts) {
    const d = $('confirm');
    if (d.open) {
      return Promise.resolve(null); // one decision at a time (a double click opens nothing more)
    }
    L.replaceContent(document, $('confirm-title'), opts.title);
    L.replaceContent(document, $('confirm-lines'),
      opts.lines.filter(Boolean).map((l) => el('li', null, l)));
    $('confirm-reason').value = '';
    $('confirm-reason').maxLength = opts.reasonMax;
    $('confirm-partial').checked = false;
    show($('confirm-partial-row'), !!opts.partial);
    $('confirm-typed').value = '';
    show($('confirm-word-row'), !!opts.word);
    L.replaceContent(document, $('confirm-word'), opts.word || '');
    const check = () => {
      const problem = L.reasonProblem($('confirm-reason').value, opts.reasonMax);
      L.replaceContent(document, $('confirm-reason-problem'), problem || '');
      const typed = !opts.word || $('confirm-typed').value.trim() === opts.word;
      $('confirm-ok').disabled = !!problem || !typed;
    };
    check();
    return new Promise((resolve) => {
      const done = (result) => {
        $('confirm-reason').removeEventListener('input', check);
        $('confirm-typed').removeEventListener('input', check);
        $('confirm-ok').removeEventListener('click', ok);
        $('confirm-cancel').removeEventListener('click', back);
        d.removeEventListener('cancel', back);
        if (d.open) {
          d.close();
        }
        resolve(result);
      };
      const ok = () => done({ reason: $('confirm-reason').value.trim(),
        partial: $('confirm-partial').checked });
      const back = () => done(null);
      $('confirm-reason').addEventListener('input', check);
      $('confirm-typed').addEventListener('input', check);
      $('confirm-ok').addEventListener('click', ok);
      $('confirm-cancel').addEventListener('click', back);
      d.addEventListener('cancel', back);
      d.showModal();
      $('confirm-reason').focus();
    });
  }

  /* ------------------------------------------------------------ auto-refresh */

  function setAutoRefresh() {
    clearInterval(state.timer);
    state.timer = null;
    if ($('auto-refresh').checked) {
      state.timer = setInterval(() => {
        // not while the operator is confirming something: the view under the dialog must not
        // move
        if (!$('confirm').open) {
          refresh(true);
        }
      }, REFRESH_MS);
    }
  }

  /* ------------------------------------------------------------ start */

  function fillSelect(select, values) {
    L.replaceContent(document, select, values.map((v) => el('option', { value: v }, v)));
  }

  function start() {
    $('f-status').append(...L.STATES.map((s) => el('option', { value: s }, s)));
    fillSelect($('t-scope'), L.SCOPES);
    fillSelect($('t-mode'), L.MODES);
    $('token-form').addEventListener('submit', saveToken);
    $('forget').addEventListener('click', forgetToken);
    $('filters').addEventListener('submit', applyFilters);
    $('next-page').addEventListener('click', nextPage);
    $('first-page').addEventListener('click', firstPage);
    $('intent-form').addEventListener('submit', openIntent);
    $('toggle-form').addEventListener('submit', reviewToggle);
    $('t-scope').addEventListener('change', syncKeyInput);
    $('auto-refresh').addEventListener('change', setAutoRefresh);
    for (const a of ['cancel', 'compensate', 'redrive']) {
      $('act-' + a).addEventListener('click', () => intentAction(a));
    }
    for (const v of ['executions', 'intent', 'toggles']) {
      $('nav-' + v).addEventListener('click', () =>
        go(v === 'intent' && state.intentId ? { view: v, id: state.intentId } : { view: v }));
    }
    window.addEventListener('hashchange', onRoute);
    $('tenant').value = tenant();
    syncKeyInput();
    showTokenState();
    loadActionTypes();
    onRoute();
  }

  start();
})();
