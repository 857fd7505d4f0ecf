/* dashboard.js: keeps medic's page current by polling this node's JSON API.
 *
 * Why polling and not Server-Sent Events: the node answers one request per connection and closes
 * it (no long-lived connections on the loop); each document is fetched by one request at a time,
 * with If-None-Match, so an unchanged document costs a 304 and no rendering. A page left open
 * holds at most three requests, each aborted after REQUEST_TIMEOUT_MS, so a slow or dead node
 * never freezes it; failures show a "lost contact" banner and polling goes on.
 *
 * Everything shown comes from outside (service names, Railway's answers, peers' reports), so the
 * DOM is built with createElement and textContent only, never from HTML strings. */
'use strict';

(function () {
  const REQUEST_TIMEOUT_MS = 4000;
  const POLLS = [
    { key: 'status', path: '/v1/status', every: 1000 },
    { key: 'incidents', path: '/v1/incidents', every: 2000 },
    { key: 'history', path: '/v1/history', every: 5000 },
  ];
  const RECENT_CLOSED = 8;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const st = {
    status: null, incidents: null, history: null,
    etag: {},           /* key -> ETag of the document held */
    okAt: {},           /* key -> client ms of the last answer (200 or 304) */
    failSince: 0,       /* client ms of the first failure of the status poll in a row, 0 if fine */
    failWhy: '',
    token: '',          /* the admin token: this tab's memory only */
    verdicts: null,     /* service -> verdict last announced */
  };

  /* ---- small DOM helpers (text only) ---- */

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent, child) {
    parent.appendChild(child);
    return child;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const k of Object.keys(attrs)) e.setAttribute(k, String(attrs[k]));
    return e;
  }
  function cell(row, label, content, cls) {
    const td = add(row, el('td', cls));
    td.setAttribute('data-label', label);
    const inner = add(td, el('div', 'cell'));
    if (content instanceof Node) inner.appendChild(content);
    else if (content !== undefined && content !== null) inner.textContent = String(content);
    return inner;
  }
  function badge(text, kind) {
    const k = String(kind || text || 'unknown').toLowerCase().replace(/[^a-z]/g, '');
    return el('span', 'badge s-' + k, text);
  }
  /* replace swaps container's children for those fn builds, keeping keyboard focus on the element
   * with the same data-focus key, so a re-render never throws a keyboard user out. */
  function replace(container, fn) {
    const a = document.activeElement;
    const key = a && container.contains(a) ? a.getAttribute('data-focus') : null;
    const frag = document.createDocumentFragment();
    fn(frag);
    container.replaceChildren(frag);
    if (key) {
      for (const e of container.querySelectorAll('[data-focus]')) {
        if (e.getAttribute('data-focus') === key) {
          e.focus();
          break;
        }
      }
    }
  }

  /* ---- formatting ---- */

  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function clock(ms) {
    if (ms === null || ms === undefined) return '\u2014';
    const d = new Date(ms);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function when(ms) {
    if (ms === null || ms === undefined) return '\u2014';
    const d = new Date(ms);
    const today = new Date();
    const day = d.toDateString() === today.toDateString() ? '' :
      d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ';
    return day + clock(ms);
  }
  function dur(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '\u2014';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + ' s';
    if (ms < 3600000) return Math.floor(ms / 60000) + ' min ' + Math.round((ms % 60000) / 1000) + ' s';
    return Math.floor(ms / 3600000) + ' h ' + Math.round((ms % 3600000) / 60000) + ' min';
  }
  function lat(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '\u2014';
    return (ms < 10 ? ms.toFixed(1) : Math.round(ms)) + ' ms';
  }
  function str(v) { return v === null || v === undefined || v === '' ? '\u2014' : String(v); }

  /* ---- fetching ---- */

  async function fetchDoc(poll) {
    const ctl = new AbortController();
    const timer = setTimeout(function () { ctl.abort(); }, REQUEST_TIMEOUT_MS);
    try {
      const headers = { Accept: 'application/json' };
      if (st.etag[poll.key] && st[poll.key]) headers['If-None-Match'] = st.etag[poll.key];
      const r = await fetch(poll.path, { headers: headers, cache: 'no-store', signal: ctl.signal,
                                         credentials: 'same-origin', redirect: 'error' });
      if (r.status === 304) return false;
      if (!r.ok) throw new Error('HTTP ' + r.status + ' from ' + poll.path);
      const doc = await r.json();
      st[poll.key] = doc;
      st.etag[poll.key] = r.headers.get('ETag') || '';
      return true;
    } catch (e) {
      if (e && e.name === 'AbortError') throw new Error('no answer within ' + REQUEST_TIMEOUT_MS / 1000 + ' s');
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  function startPoll(poll) {
    async function tick() {
      let changed = false;
      try {
        changed = await fetchDoc(poll);
        st.okAt[poll.key] = Date.now();
        if (poll.key === 'status') {
          if (st.failSince) changed = true;
          st.failSince = 0;
          st.failWhy = '';
        }
      } catch (e) {
        if (poll.key === 'status' && !st.failSince) {
          st.failSince = Date.now();
          changed = true;
        }
        if (poll.key === 'status') st.failWhy = e && e.message ? e.message : 'request failed';
      }
      try {
        if (changed) render(poll.key);
        renderHead();
      } finally {
        setTimeout(tick, poll.every);
      }
    }
    tick();
  }

  /* ---- rendering ---- */

  function selfNode() {
    const c = st.status && st.status.cluster;
    if (!c || !Array.isArray(c.nodes)) return null;
    return c.nodes.find(function (n) { return n.self; }) || null;
  }

  function renderHead() {
    const s = st.status;
    const asof = document.getElementById('asof');
    if (!s) {
      asof.textContent = st.failSince ? 'No data yet from this node.' : 'Connecting to this node\u2026';
    } else {
      const checked = st.okAt.status ? ', checked ' + clock(st.okAt.status) : '';
      asof.textContent = 'Data from ' + str(s.node && s.node.id) + ' at ' + clock(s.generated_at_ms) + checked;
    }
    renderBanners();
  }

  function renderBanners() {
    const box = document.getElementById('banners');
    const want = [];
    if (st.failSince) {
      want.push(['bad', 'Lost contact with this node since ' + clock(st.failSince) + ' (' + st.failWhy +
        '). Showing the last data received' + (st.okAt.status ? ' at ' + clock(st.okAt.status) : '') + '.']);
    }
    const s = st.status;
    const me = selfNode();
    if (s && me && me.isolated) {
      want.push(['bad', 'This node is isolated: it reaches no peer and every check fails. ' +
        'What it shows may be stale; look at another node.']);
    }
    const cons = s && s.cluster && s.cluster.consensus;
    if (cons && !cons.leader) {
      want.push(['warn', 'No leader: the cluster elects one; nothing is remediated until it has one.']);
    }
    if (cons && cons.failed) want.push(['bad', 'This node stopped taking part in consensus: ' + cons.failed]);
    document.body.classList.toggle('stale', !!st.failSince);
    const text = want.map(function (w) { return w[1]; }).join('\n');
    if (box.getAttribute('data-text') === text) return; /* unchanged: do not re-announce */
    box.setAttribute('data-text', text);
    replace(box, function (f) {
      for (const w of want) add(f, el('p', 'banner ' + w[0], w[1]));
    });
  }

  function render(key) {
    if (key === 'status') {
      renderNodes();
      renderGrid();
      announce();
    } else if (key === 'incidents') {
      renderGrid();
      renderIncidents();
    } else if (key === 'history') {
      renderGrid();
    }
  }

  function renderNodes() {
    const s = st.status;
    if (!s) return;
    const c = s.cluster || {};
    const cons = c.consensus;
    document.getElementById('title').textContent = c.name ? 'cluster ' + c.name : 'single node ' + str(s.node && s.node.id);
    document.title = 'medic \u2014 ' + (c.name || (s.node && s.node.id) || '');
    document.getElementById('consensus').textContent = cons
      ? 'Term ' + cons.term + ', leader ' + str(cons.leader) + ', quorum ' + str(c.quorum) + ', commit index ' +
        cons.commit_index + ' (as ' + str(c.self) + ' sees it)'
      : 'No cluster section: this node watches alone.';
    replace(document.getElementById('nodes-wrap'), function (f) {
      const t = add(f, el('table', 'cards'));
      add(t, el('caption', null, 'The cluster\u2019s nodes as ' + str(c.self || (s.node && s.node.id)) + ' sees them'));
      const hr = add(add(t, el('thead')), el('tr'));
      for (const h of ['Node', 'Role', 'Term', 'Liveness', 'Region', 'RTT', 'Last seen']) {
        add(hr, el('th', null, h)).setAttribute('scope', 'col');
      }
      const tb = add(t, el('tbody'));
      for (const n of (Array.isArray(c.nodes) ? c.nodes : [])) {
        const tr = add(tb, el('tr'));
        const th = add(tr, el('th', null, n.id + (n.self ? ' (this node)' : '')));
        th.setAttribute('scope', 'row');
        let role = '\u2014';
        if (n.self && cons) role = cons.role;
        else if (cons && cons.leader === n.id) role = 'leader';
        else if (cons && (n.liveness === 'alive' || n.liveness === 'suspect')) role = 'follower';
        cell(tr, 'Role', role === 'leader' ? badge('leader', 'leader') : role);
        cell(tr, 'Term', cons && (n.self || cons.leader === n.id) ? cons.term : '\u2014', 'num');
        const live = cell(tr, 'Liveness', badge(n.liveness, n.liveness));
        if (n.isolated) live.appendChild(document.createTextNode(' isolated'));
        cell(tr, 'Region', str(n.region));
        cell(tr, 'RTT', n.self ? '\u2014' : lat(n.rtt_ms), 'num');
        cell(tr, 'Last seen', n.self ? 'now' : (typeof n.last_seen_ago_ms === 'number' ? dur(n.last_seen_ago_ms) + ' ago' : 'never'), 'num');
      }
    });
  }

  function historyOf(name) {
    const h = st.history;
    if (!h || !Array.isArray(h.services)) return null;
    return h.services.find(function (x) { return x.name === name; }) || null;
  }

  /* spark draws a service's recent latencies (failures as marks along the bottom). */
  function spark(name, slowMs) {
    const h = historyOf(name);
    const pts = h && Array.isArray(h.points) ? h.points : [];
    const W = 140, H = 30;
    const box = svg('svg', { class: 'spark', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img' });
    if (pts.length === 0) {
      box.setAttribute('aria-label', 'no checks yet');
      return box;
    }
    let max = 0, min = Infinity, fails = 0;
    for (const p of pts) {
      if (p[2] === 'ok') {
        max = Math.max(max, p[1]);
        min = Math.min(min, p[1]);
      } else fails++;
    }
    const top = max > 0 ? max * 1.15 : 1;
    const step = pts.length > 1 ? (W - 4) / (pts.length - 1) : 0;
    let d = '';
    pts.forEach(function (p, i) {
      const x = 2 + i * step;
      if (p[2] === 'ok') {
        const y = H - 5 - (p[1] / top) * (H - 8);
        d += (d ? ' ' : '') + x.toFixed(1) + ',' + y.toFixed(1);
      } else {
        add(box, svg('rect', { class: 'fail', x: (x - 1.5).toFixed(1), y: H - 4, width: 3, height: 4 }));
      }
    });
    if (slowMs && slowMs < top) {
      const y = (H - 5 - (slowMs / top) * (H - 8)).toFixed(1);
      add(box, svg('line', { class: 'slow', x1: 0, x2: W, y1: y, y2: y }));
    }
    if (d) add(box, svg('polyline', { class: 'line', points: d }));
    const last = pts[pts.length - 1];
    const label = 'latency over the last ' + pts.length + ' checks: ' +
      (max > 0 ? 'min ' + lat(min) + ', max ' + lat(max) + ', last ' + (last[2] === 'ok' ? lat(last[1]) : last[2]) : 'no successful check') +
      (fails ? ', ' + fails + ' failed' : '');
    box.setAttribute('aria-label', label);
    add(box, svg('title', {})).textContent = label;
    return box;
  }

  /* sparkRange: the last latency and the range drawn, as text beside the sparkline. */
  function sparkRange(name) {
    const h = historyOf(name);
    const ok = (h && Array.isArray(h.points) ? h.points : []).filter(function (p) { return p[2] === 'ok'; });
    if (ok.length === 0) return '';
    const v = ok.map(function (p) { return p[1]; });
    return 'last ' + lat(v[v.length - 1]) + ' \u00b7 ' + lat(Math.min.apply(null, v)) + '\u2013' + lat(Math.max.apply(null, v));
  }

  function ledgerService(name) {
    const i = st.incidents;
    if (!i || !Array.isArray(i.services)) return null;
    return i.services.find(function (x) { return x.name === name; }) || null;
  }
  function openIncident(name) {
    const i = st.incidents;
    if (!i || !Array.isArray(i.open)) return null;
    return i.open.find(function (x) { return x.service === name; }) || null;
  }

  /* The failover columns: shown only when a service has endpoints, whose "failover" object
   * (docs/api.md) holds the active endpoint's target and every endpoint with its breaker. */
  function hasFailover(services) {
    return services.some(function (v) { return v.failover && typeof v.failover === 'object'; });
  }
  function activeEndpoint(v) {
    const fo = v.failover;
    if (!fo || fo.active === null || fo.active === undefined) return fo ? 'none (every breaker open)' : '\u2014';
    return str(fo.active);
  }
  function breakers(v) {
    const f = document.createDocumentFragment();
    const eps = v.failover && Array.isArray(v.failover.endpoints) ? v.failover.endpoints : [];
    eps.forEach(function (e, i) {
      if (i) add(f, el('br'));
      const b = e && typeof e === 'object' ? e.breaker : null;
      add(f, el('span', 'small', str(e && e.target) + (e && e.active ? ' (active) ' : ' ')));
      add(f, badge(str(b), b === 'closed' ? 'up' : b === 'open' ? 'down' : 'warn'));
    });
    return f;
  }

  function renderGrid() {
    const s = st.status;
    if (!s) return;
    const nodes = s.cluster && Array.isArray(s.cluster.nodes) ? s.cluster.nodes : [];
    const services = Array.isArray(s.services) ? s.services : [];
    const failover = hasFailover(services);
    replace(document.getElementById('grid-wrap'), function (f) {
      if (services.length === 0) {
        add(f, el('p', 'empty', 'No services configured.'));
        return;
      }
      const t = add(f, el('table', 'cards'));
      add(t, el('caption', null, 'Services \u00d7 nodes: each node\u2019s own state of the service, and the cluster verdict'));
      const hr = add(add(t, el('thead')), el('tr'));
      const heads = ['Service', 'Verdict'].concat(nodes.map(function (n) { return n.id; }),
        ['Latency', 'Remediation'], failover ? ['Active endpoint', 'Breakers'] : [], st.token ? ['Actions'] : []);
      heads.forEach(function (h, k) {
        /* node ids keep their case: the other headings are styled upper case */
        const isNode = k >= 2 && k < 2 + nodes.length;
        add(hr, el('th', isNode ? 'id' : null, h)).setAttribute('scope', 'col');
      });
      const tb = add(t, el('tbody'));
      for (const v of services) {
        const tr = add(tb, el('tr'));
        tr.setAttribute('data-service', v.name);
        const th = add(tr, el('th'));
        th.setAttribute('scope', 'row');
        add(th, el('div', null, v.name));
        add(th, el('div', 'small', v.kind + ' ' + str(v.target)));
        const vd = v.verdict || { state: 'UNKNOWN' };
        const vc = cell(tr, 'Verdict', badge(vd.state, vd.state));
        vc.setAttribute('data-verdict', vd.state);
        add(vc, el('div', 'small', vd.up + ' up, ' + vd.down + ' down (quorum ' + vd.quorum + '); since ' + clock(vd.since_ms)));
        for (const n of nodes) {
          const o = v.observations ? v.observations[n.id] : null;
          if (!o) {
            cell(tr, n.id, el('span', 'small', 'no report'), 'id');
            continue;
          }
          const c = cell(tr, n.id, badge(o.state, o.state), 'id');
          const why = o.vote === 'up' || o.vote === 'down' ? '' : ' \u00b7 counts as ' + o.vote;
          add(c, el('div', 'small', lat(o.latency_ms) + (o.last_error ? ' \u00b7 ' + o.last_error : '') +
            ' \u00b7 ' + dur(o.age_ms) + ' old' + why));
        }
        const sp = cell(tr, 'Latency', spark(v.name, v.slow_ms));
        add(sp, el('div', 'small', sparkRange(v.name)));
        const ls = ledgerService(v.name);
        const rs = v.remediation || {};
        const inc = openIncident(v.name);
        const paused = (ls && ls.paused) || rs.paused;
        const l = ls || {};
        let what = rs.summary || (inc ? 'incident #' + inc.id + ' open' : 'idle');
        if (paused && what.indexOf('paused') < 0) what = 'paused' + (l.paused_by ? ' by ' + l.paused_by : '');
        const rem = cell(tr, 'Remediation', what);
        if (paused && l.pause_reason) add(rem, el('div', 'small', 'reason: ' + l.pause_reason));
        if (failover) {
          cell(tr, 'Active endpoint', activeEndpoint(v));
          cell(tr, 'Breakers', breakers(v));
        }
        if (st.token) cell(tr, 'Actions', actionButtons(v.name, ls));
      }
    });
  }

  function actionButtons(name, ls) {
    const box = el('div', 'actions');
    const paused = ls && ls.paused;
    const inc = openIncident(name);
    const list = [paused ? 'resume' : 'pause'];
    if (inc && !inc.acked) list.push('ack');
    for (const a of list) {
      const b = add(box, el('button', null, a));
      b.type = 'button';
      b.setAttribute('data-focus', a + ':' + name);
      b.setAttribute('aria-label', a + ' ' + name);
      b.addEventListener('click', function () { act(a, name); });
    }
    return box;
  }

  async function act(action, name) {
    const out = document.getElementById('action-result');
    out.textContent = action + ' ' + name + '\u2026';
    const ctl = new AbortController();
    const timer = setTimeout(function () { ctl.abort(); }, REQUEST_TIMEOUT_MS);
    try {
      const r = await fetch('/v1/services/' + encodeURIComponent(name) + '/' + action, {
        method: 'POST', cache: 'no-store', signal: ctl.signal, credentials: 'same-origin',
        headers: { Authorization: 'Bearer ' + st.token },
      });
      let msg = 'HTTP ' + r.status;
      try {
        const doc = await r.json();
        if (doc && doc.error && doc.error.message) msg += ': ' + doc.error.message;
        else if (doc && doc.result) msg += ': ' + doc.result;
      } catch (e) { /* a body that is not JSON: the status says enough */ }
      out.textContent = action + ' ' + name + ': ' + msg;
    } catch (e) {
      out.textContent = action + ' ' + name + ' failed: ' + (e && e.name === 'AbortError' ? 'no answer' : e.message);
    } finally {
      clearTimeout(timer);
    }
  }

  function stepsTable(steps) {
    const t = el('table', 'cards');
    const hr = add(add(t, el('thead')), el('tr'));
    for (const h of ['Step', 'Outcome', 'Proposed by', 'Started', 'Result by', 'Took', 'Detail']) {
      add(hr, el('th', null, h)).setAttribute('scope', 'col');
    }
    const tb = add(t, el('tbody'));
    for (const p of steps) {
      const tr = add(tb, el('tr'));
      const th = add(tr, el('th', null, p.step + ' #' + p.attempt));
      th.setAttribute('scope', 'row');
      const kind = p.outcome === 'ok' ? 'up' : p.outcome === 'pending' ? 'warn' :
        (p.outcome === 'skipped' || p.outcome === 'not-attempted') ? 'unknown' : 'down';
      cell(tr, 'Outcome', badge(p.outcome, kind));
      cell(tr, 'Proposed by', str(p.proposed_by));
      cell(tr, 'Started', when(p.intent_at_ms), 'num');
      cell(tr, 'Result by', str(p.result_by));
      cell(tr, 'Took', p.outcome === 'pending' ? 'running' : dur(p.duration_ms), 'num');
      cell(tr, 'Detail', str(p.detail));
    }
    return t;
  }

  function incidentCard(inc, isOpen) {
    const box = el('article', 'incident' + (isOpen ? ' open' : ''));
    const h = add(box, el('h3'));
    add(h, document.createTextNode('#' + inc.id + ' ' + inc.service + ' '));
    const kind = inc.state === 'resolved' ? 'up' : inc.state === 'open' ? 'down' : inc.state === 'blocked' ? 'warn' :
      inc.state === 'exhausted' ? 'down' : 'unknown';
    add(h, badge(inc.state, kind));
    if (inc.acked) add(h, badge('acknowledged', 'unknown'));
    let line = 'Opened ' + when(inc.opened_at_ms) + ' by ' + str(inc.opened_by) + ' on votes ' + str(inc.votes);
    if (inc.closed_at_ms) {
      line += '; closed ' + when(inc.closed_at_ms) + ' by ' + str(inc.closed_by) + ' (' + str(inc.close_reason) +
        ') after ' + dur(inc.duration_ms);
    } else if (inc.opened_at_ms) {
      line += '; open for ' + dur(Date.now() - inc.opened_at_ms);
    }
    add(box, el('p', 'small', line));
    if (inc.blocked && inc.blocked.reason) add(box, el('p', null, 'Blocked: ' + inc.blocked.reason + ' since ' + clock(inc.blocked.since_ms)));
    if (inc.exhausted_at_ms) add(box, el('p', null, 'Exhausted at ' + when(inc.exhausted_at_ms) + ': people must act.'));
    const steps = Array.isArray(inc.steps) ? inc.steps : [];
    if (steps.length) add(box, stepsTable(steps));
    else add(box, el('p', 'empty', 'No step taken yet.'));
    if (Array.isArray(inc.notes)) {
      for (const n of inc.notes) add(box, el('p', 'small', clock(n.at_ms) + ' ' + str(n.by) + ': ' + str(n.text)));
    }
    return box;
  }

  function renderIncidents() {
    const i = st.incidents;
    if (!i) return;
    replace(document.getElementById('incidents'), function (f) {
      if (i.note) add(f, el('p', 'empty', i.note));
      const open = Array.isArray(i.open) ? i.open : [];
      const closed = Array.isArray(i.closed) ? i.closed : [];
      add(f, el('p', 'sub', open.length + ' open, ' + closed.length + ' closed (ledger index ' + str(i.ledger_index) +
        ', leader ' + str(i.leader) + ')'));
      for (const inc of open) add(f, incidentCard(inc, true));
      if (open.length === 0) add(f, el('p', 'empty', 'No open incident.'));
      if (closed.length) {
        add(f, el('h3', 'sub', 'Recent'));
        for (const inc of closed.slice(0, RECENT_CLOSED)) add(f, incidentCard(inc, false));
      }
    });
  }

  /* announce tells screen readers when a verdict changed (not on every poll). */
  function announce() {
    const s = st.status;
    if (!s || !Array.isArray(s.services)) return;
    const now = {};
    const said = [];
    for (const v of s.services) {
      const state = v.verdict ? v.verdict.state : 'UNKNOWN';
      now[v.name] = state;
      if (st.verdicts && st.verdicts[v.name] !== state) said.push(v.name + ' is ' + state);
    }
    st.verdicts = now;
    if (said.length) document.getElementById('announce').textContent = said.join('. ');
  }

  function setupToken() {
    const form = document.getElementById('token-form');
    const input = document.getElementById('token');
    const forget = document.getElementById('token-forget');
    form.addEventListener('submit', function (e) {
      e.preventDefault(); /* never submitted: the token must not reach a URL */
      st.token = input.value.trim();
      input.value = '';
      forget.hidden = !st.token;
      document.getElementById('action-result').textContent = st.token
        ? 'Token held in this tab; action buttons are in the services table.' : '';
      renderGrid();
    });
    forget.addEventListener('click', function () {
      st.token = '';
      forget.hidden = true;
      document.getElementById('action-result').textContent = 'Token forgotten.';
      renderGrid();
    });
  }

  function start() {
    setupToken();
    for (const p of POLLS) startPoll(p);
    /* the header's clock moves even when no document changed; the browser's resource timing
     * buffer would otherwise fill with one entry per poll */
    setInterval(function () {
      renderHead();
      if (performance.clearResourceTimings) performance.clearResourceTimings();
    }, 1000);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
