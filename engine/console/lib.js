/* The web console's pure logic: URLs and query strings, formatting, what an operator may do in
 * a state, problem messages, and el(), the only way the console builds DOM. Nothing here
 * touches the page, the network or storage, so Node's test runner checks it (tests/console).
 * In the browser it is a classic script that app.js finds as window.ConsoleLib. */
(function (root, factory) {
  'use strict';
  const lib = factory();
  if (typeof module === 'object' && module.exports) {
    module.exports = lib;
  } else {
    root.ConsoleLib = lib;
  }
})(this, function () {
  'use strict';

  const STATES = ['PENDING', 'EXECUTING', 'COMPENSATING', 'SUCCEEDED', 'FAILED', 'EXPIRED',
    'CANCELLED'];
  const TERMINAL = ['SUCCEEDED', 'FAILED', 'EXPIRED', 'CANCELLED'];
  const SCOPES = ['global', 'tenant', 'action_type', 'connector'];
  const MODES = ['run', 'pause', 'kill'];
  const REASON_MAX = { intent: 1000, toggle: 500 };

  /* ---------------------------------------------------------------- URLs */

  /* "?a=1&b=x%20y" from an object, keys in the order given; undefined, null and "" are left
   * out (an empty filter means "any"). encodeURIComponent, so "+", "&", "=" and "#" in a value
   * cannot change the query's meaning. */
  function buildQuery(params) {
    const parts = [];
    for (const key of Object.keys(params || {})) {
      const v = params[key];
      if (v === undefined || v === null || v === '') {
        continue;
      }
      parts.push(encodeURIComponent(key) + '=' + encodeURIComponent(String(v)));
    }
    return parts.length ? '?' + parts.join('&') : '';
  }

  /* One path parameter, encoded. "." and ".." are refused: the URL parser would fold them into
   * the path and the request would reach another resource. */
  function pathSegment(s) {
    const v = typeof s === 'string' ? s.trim() : '';
    if (v === '' || v === '.' || v === '..') {
      throw new Error('not a valid identifier: ' + JSON.stringify(s));
    }
    return encodeURIComponent(v);
  }

  /* f: {status, action_type, account, since, until, limit, cursor, tenant_id} (strings). */
  function executionsUrl(f) {
    const base = f.account ? '/v1/accounts/' + pathSegment(f.account) + '/executions'
      : '/v1/executions';
    return base + buildQuery({
      status: f.status,
      action_type: f.action_type,
      since: f.since,
      until: f.until,
      limit: f.limit,
      cursor: f.cursor,
      tenant_id: f.tenant_id,
    });
  }

  /* /v1/intents/{id}[/suffix][?tenant_id=]; suffix: "", "timeline", "cancel", "compensate",
   * "redrive". */
  function intentUrl(id, suffix, tenantId) {
    return '/v1/intents/' + pathSegment(id) + (suffix ? '/' + suffix : '') +
      buildQuery({ tenant_id: tenantId });
  }

  function togglesUrl(tenantId) {
    return '/v1/toggles' + buildQuery({ tenant_id: tenantId });
  }

  /* The view a location hash names: "#/executions", "#/intents" (none chosen yet),
   * "#/intents/<id>", "#/toggles"; anything else is the executions. */
  function parseRoute(hash) {
    const h = String(hash || '').replace(/^#\/?/, '');
    const m = /^intents\/(.+)$/.exec(h);
    if (m) {
      try {
        return { view: 'intent', id: decodeURIComponent(m[1]) };
      } catch (e) {
        return { view: 'executions' };
      }
    }
    if (h === 'intents') {
      return { view: 'intent', id: null };
    }
    return { view: h === 'toggles' ? 'toggles' : 'executions' };
  }

  function routeHash(route) {
    if (route.view === 'intent') {
      return '#/intents' + (route.id ? '/' + encodeURIComponent(route.id) : '');
    }
    return '#/' + route.view;
  }

  /* ------------------------------------------------------------ checks */

  const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
  const TENANT_ID = /^[A-Za-z0-9._-]{1,64}$/;

  /* "" (no bound) or an RFC 3339 time as the API takes it. */
  function validTime(s) {
    return s === '' || RFC3339.test(s);
  }

  function validTenantId(s) {
    return TENANT_ID.test(s);
  }

  /* Why a reason is refused (null when it is acceptable): the API wants 1..max characters
   * without control characters. */
  function reasonProblem(s, max) {
    const v = String(s || '').trim();
    if (v === '') {
      return 'a reason is required';
    }
    if ([...v].length > max) {
      return 'at most ' + max + ' characters';
    }
    if (/[\u0000-\u001f\u007f]/.test(v)) {
      return 'no control characters (line breaks included)';
    }
    return null;
  }

  /* ------------------------------------------------------------ formatting */

  /* "2026-11-21T10:00:00.123456Z" → "2026-11-21 10:00:00Z" (UTC, as the server writes it);
   * null → "—"; anything unexpected is shown as it came. */
  function formatTime(iso) {
    if (iso === null || iso === undefined || iso === '') {
      return '—';
    }
    const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z$/.exec(String(iso));
    return m ? m[1] + ' ' + m[2] + 'Z' : String(iso);
  }

  /* A duration in milliseconds as a person reads it: "850 ms", "42 s", "3 min 4 s",
   * "2 h 5 min", "3 d 4 h". */
  function formatDuration(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) {
      return '—';
    }
    const sign = ms < 0 ? '-' : '';
    let v = Math.abs(ms);
    if (v < 1000) {
      return sign + Math.round(v) + ' ms';
    }
    v = Math.floor(v / 1000);
    const units = [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]];
    for (let i = 0; i < units.length; i++) {
      const [name, size] = units[i];
      if (v >= size || size === 1) {
        const major = Math.floor(v / size);
        const rest = v - major * size;
        const next = units[i + 1];
        const minor = next ? Math.floor(rest / next[1]) : 0;
        return sign + major + ' ' + name + (minor ? ' ' + minor + ' ' + next[0] : '');
      }
    }
    return sign + v + ' s';
  }

  /* "in 5 min" / "5 min ago" for a time relative to nowMs; "" when iso is not a time. */
  function relativeTime(iso, nowMs) {
    const t = Date.parse(iso);
    if (!iso || isNaN(t)) {
      return '';
    }
    const d = t - nowMs;
    return d >= 0 ? 'in ' + formatDuration(d) : formatDuration(-d) + ' ago';
  }

  /* Compact JSON of a ledger payload or an output, for a table cell. */
  function formatJson(v) {
    if (v === null || v === undefined) {
      return '';
    }
    return typeof v === 'string' ? v : JSON.stringify(v);
  }

  /* CSS class of a lifecycle state or a toggle mode; unknown values share one class, so a
   * server value never becomes a class name of its own. */
  function stateClass(state) {
    return STATES.includes(state) ? 'state-' + state.toLowerCase() : 'state-unknown';
  }

  function modeClass(mode) {
    return MODES.includes(mode) ? 'mode-' + mode : 'mode-unknown';
  }

  /* ------------------------------------------------------------ operator actions */

  /* Whether an operator action applies to an intent now (the server decides; this only keeps
   * buttons that would certainly be refused from being offered). */
  function actionAllowed(intent, action) {
    if (!intent) {
      return false;
    }
    switch (action) {
      case 'cancel':
        return !TERMINAL.includes(intent.state) && intent.state !== 'COMPENSATING' &&
          !intent.cancel_requested;
      case 'compensate':
        return intent.state === 'SUCCEEDED';
      case 'redrive':
        return intent.state === 'FAILED';
      default:
        return false;
    }
  }

  const ACTION_EFFECT = {
    cancel: 'Cancels it: a PENDING intent at once, an EXECUTING one at its next step boundary, ' +
      'undoing the steps that succeeded.',
    compensate: 'Undoes its reversible steps in reverse order; it ends CANCELLED.',
    redrive: 'Runs it again from the state that failed, with fresh attempts.',
  };

  function actionEffect(action) {
    return ACTION_EFFECT[action] || '';
  }

  /* ------------------------------------------------------------ kill switches */

  /* The key a scope's switch has: global "*", tenant "<tenant>", the others
   * "<tenant>/<name>" (tenant "*": every tenant). */
  function toggleKey(scope, tenant, name) {
    if (scope === 'global') {
      return '*';
    }
    if (scope === 'tenant') {
      return tenant;
    }
    return tenant + '/' + name;
  }

  /* What the operator must type to confirm a kill of this key. */
  function confirmWord(change) {
    return change.scope === 'global' ? 'global' : change.key;
  }

  function needsTypedConfirmation(change) {
    return change.mode === 'kill';
  }

  /* The mode a key is in now, from GET /v1/toggles' list (no row: run). */
  function currentMode(toggles, scope, key) {
    const t = (toggles || []).find((x) => x.scope === scope && x.key === key);
    return t ? t.mode : 'run';
  }

  const MODE_EFFECT = {
    run: 'Covered intents run again; held ones become due, spread over the resume window.',
    pause: 'No new external call starts for the intents it covers (compensation included); ' +
      'they wait, and their deadlines still run.',
    kill: 'Every PENDING and EXECUTING intent it covers is cancelled (EXECUTING ones at the ' +
      'next step boundary, with compensation); later ones are cancelled at their first ' +
      'external call.',
  };

  /* The lines the confirmation shows: exactly what changes. */
  function describeToggleChange(change, fromMode) {
    const lines = [
      'Scope: ' + change.scope,
      'Key: ' + change.key,
      'Mode: ' + fromMode + ' → ' + change.mode,
    ];
    if (fromMode === change.mode) {
      lines.push('It is already in this mode: nothing will change.');
    } else {
      lines.push(MODE_EFFECT[change.mode] || '');
    }
    return lines;
  }

  /* ------------------------------------------------------------ errors */

  /* What a failed call shows: the problem's title and detail, each {pointer, message} of
   * errors, and the request id to look for in the server's log. */
  function describeProblem(status, body, requestId, method, path) {
    const p = body && typeof body === 'object' ? body : {};
    const errors = Array.isArray(p.errors) ? p.errors.map((e) =>
      (e && e.pointer !== undefined ? (e.pointer || '(body)') + ': ' : '') +
      String(e && e.message !== undefined ? e.message : formatJson(e))) : [];
    return {
      title: typeof p.title === 'string' ? p.title : status ? 'HTTP ' + status : 'Request failed',
      detail: typeof p.detail === 'string' ? p.detail : '',
      errors: errors,
      requestId: requestId || (typeof p.request_id === 'string' ? p.request_id : ''),
      call: (method || 'GET') + ' ' + (path || '') + (status ? ' → ' + status : ''),
    };
  }

  /* ------------------------------------------------------------ DOM */

  const FORBIDDEN_TAGS = ['script', 'style', 'iframe', 'object', 'embed', 'link', 'meta',
    'base', 'form', 'frame', 'template', 'svg', 'math'];
  const URL_ATTRS = ['href', 'src', 'srcset', 'action', 'formaction', 'srcdoc', 'xlink:href',
    'ping', 'poster', 'data'];
  const ATTR_NAME = /^[a-z][a-z0-9-]*$/;

  function isNode(v) {
    return v !== null && typeof v === 'object' && typeof v.nodeType === 'number';
  }

  /* Appends children to node: nodes as they are, anything else as a text node (never markup),
   * arrays flattened, null/undefined/false skipped. */
  function appendChildren(doc, node, children) {
    for (const c of children) {
      if (Array.isArray(c)) {
        appendChildren(doc, node, c);
      } else if (c === null || c === undefined || c === false) {
        continue;
      } else if (isNode(c)) {
        node.appendChild(c);
      } else {
        node.appendChild(doc.createTextNode(String(c)));
      }
    }
    return node;
  }

  /* el(tag, attrs, ...children) for a document. attrs are set with setAttribute; `on` is an
   * object of event listeners. Event-handler attributes, style and URL-bearing attributes are
   * refused, as are tags that load or run anything: together with appendChildren this is the
   * whole of the console's rendering, and server text can only ever become text. */
  function createEl(doc) {
    return function el(tag, attrs, ...children) {
      const t = String(tag).toLowerCase();
      if (FORBIDDEN_TAGS.includes(t)) {
        throw new Error('el: tag not allowed: ' + t);
      }
      const node = doc.createElement(t);
      for (const name of Object.keys(attrs || {})) {
        const value = attrs[name];
        if (name === 'on') {
          for (const ev of Object.keys(value)) {
            node.addEventListener(ev, value[ev]);
          }
          continue;
        }
        if (!ATTR_NAME.test(name) || /^on/.test(name) || name === 'style' ||
            URL_ATTRS.includes(name)) {
          throw new Error('el: attribute not allowed: ' + name);
        }
        if (value === undefined || value === null || value === false) {
          continue;
        }
        node.setAttribute(name, value === true ? '' : String(value));
      }
      return appendChildren(doc, node, children);
    };
  }

  /* Replaces node's content with children (same rules as el()). */
  function replaceContent(doc, node, ...children) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
    return appendChildren(doc, node, children);
  }

  return {
    STATES, TERMINAL, SCOPES, MODES, REASON_MAX,
    buildQuery, pathSegment, executionsUrl, intentUrl, togglesUrl, parseRoute, routeHash,
    validTime, validTenantId, reasonProblem,
    formatTime, formatDuration, relativeTime, formatJson, stateClass, modeClass,
    actionAllowed, actionEffect,
    toggleKey, confirmWord, needsTypedConfirmation, currentMode, describeToggleChange,
    describeProblem,
    createEl, replaceContent,
  };
});
