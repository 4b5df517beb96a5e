// wallboard.js: the supervisor console. One WebSocket (/api/wallboard/ws) brings a full
// snapshot at connect and at every change; the page never polls. Running clocks (longest
// wait, time in state, call duration) count on locally from the instants the server
// sent. A dropped socket reconnects with backoff and the first message re-syncs it all.
(function (global) {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const WB = {
    snap: null,
    socket: null,
    started: false,
    monitor: {}, // call id → mode this supervisor is in
    messages: 0,
  };

  const pct = (x) => (x < 0 || x === undefined || x === null ? '—' : (Math.round(x * 1000) / 10).toFixed(1) + '%');

  function setConn(up) {
    $('wb-conn').dataset.conn = up ? 'up' : 'down';
    $('wb-conn-text').textContent = up ? t('wb.live') + (WB.snap ? ' · ' + t('wb.updated', { time: App.time(WB.snap.time) }) : '') : t('wb.reconnecting');
  }

  function render() {
    const s = WB.snap;
    if (!s) return;
    const sl = s.service_levels || [15, 20];
    $('k-sl0-l').textContent = t('wb.sl', { s: sl[0] });
    $('k-sl1-l').textContent = t('wb.sl', { s: sl[1] });
    $('wb-sl0-h').textContent = t('wb.sl', { s: sl[0] });
    $('wb-sl1-h').textContent = t('wb.sl', { s: sl[1] });
    const waiting = s.queues.reduce((n, q) => n + q.waiting, 0);
    $('k-waiting').textContent = waiting;
    $('k-waiting').parentElement.classList.toggle('warnk', waiting > 0);
    $('k-sl0').textContent = pct(s.total.service_level[0]);
    $('k-sl1').textContent = pct(s.total.service_level[1]);
    $('k-abandon').textContent = pct(s.total.abandon_rate);
    $('k-answered').textContent = s.total.answered;
    // The national target: 15-second answer.
    $('k-sl0').parentElement.classList.toggle('alert', s.total.service_level[0] >= 0 && s.total.service_level[0] < 0.8);

    const qb = $('wb-queues').tBodies[0];
    qb.replaceChildren();
    for (const q of s.queues) {
      qb.append(App.el('tr', { dataset: { queue: q.name } },
        App.el('td', { text: q.name }),
        App.el('td', { class: 'n' + (q.waiting ? ' hot' : ''), dataset: { k: 'waiting' }, text: q.waiting }),
        App.el('td', { class: 'n', dataset: { since: q.oldest_since || '' }, text: q.oldest_since ? App.since(q.oldest_since) : '—' }),
        App.el('td', { class: 'n', text: q.ringing }),
        App.el('td', { class: 'n', text: q.agents_ready }),
        App.el('td', { class: 'n', text: q.agents_serving }),
        App.el('td', { class: 'n', text: pct(q.today.service_level[0]) }),
        App.el('td', { class: 'n', text: pct(q.today.service_level[1]) }),
        App.el('td', { class: 'n', text: pct(q.today.abandon_rate) }),
        App.el('td', { class: 'n', text: q.ewt_s === undefined ? '—' : App.duration(q.ewt_s * 1000) })));
    }

    const ag = $('wb-agents');
    ag.replaceChildren();
    if (!s.agents.length) ag.append(App.el('div', { class: 'muted', text: t('wb.noAgents') }));
    const canForce = App.can('force_agent_state');
    const canMonitor = App.can('monitor_team');
    for (const a of s.agents) {
      const ops = canForce && a.state !== 'logged-out' ? App.el('div', { class: 'ops' },
        a.state !== 'break' && !a.pending_break ? App.el('button', { type: 'button', dataset: { force: 'break' }, text: t('wb.forceBreak'), onclick: () => force(a.id, 'break') }) : null,
        App.el('button', { type: 'button', dataset: { force: 'logout' }, text: t('wb.forceLogout'), onclick: () => force(a.id, 'logout') })) : null;
      ag.append(App.el('div', { class: 'agent st-' + a.state, dataset: { agent: a.id, state: a.state } },
        App.el('div', { class: 'id', text: a.id }),
        App.el('div', { class: 'st', text: App.stateLabel(a.state) + (a.reason && a.state === 'break' ? ' · ' + App.reasonLabel(a.reason) : '') +
          (a.pending_break ? ' → ' + App.stateLabel('break') : '') + (a.pending_logout ? ' → ' + App.stateLabel('logged-out') : '') }),
        App.el('div', { class: 't', dataset: { since: a.since }, text: App.since(a.since) }),
        ops));
    }

    const cb = $('wb-calls').tBodies[0];
    cb.replaceChildren();
    if (!s.calls.length) cb.append(App.el('tr', {}, App.el('td', { colspan: 6, class: 'muted', text: t('wb.noCalls') })));
    for (const c of s.calls) {
      const mode = WB.monitor[c.id];
      const mon = canMonitor && c.agent && c.state === 'answered' ? App.el('td', { class: 'mon' },
        mode ? App.el('span', { class: 'mode', text: t('wb.monitoring', { mode: t('wb.' + mode) }) }) : null,
        ...['listen', 'whisper', 'barge'].map((m) => App.el('button', { type: 'button', class: mode === m ? 'on' : '', dataset: { mode: m },
          text: t('wb.' + m), onclick: () => monitor(c.id, m) })),
        mode ? App.el('button', { type: 'button', dataset: { leave: '1' }, text: t('wb.leave'), onclick: () => leave(c.id) }) : null) : App.el('td');
      const from = c.answered_at || c.received_at;
      cb.append(App.el('tr', { dataset: { call: c.id } },
        App.el('td', { class: 'mono', text: c.caller }),
        App.el('td', { text: c.line || c.dialled }),
        App.el('td', { text: c.agent || '' }),
        App.el('td', { text: I18N.has('call.' + c.state) ? t('call.' + c.state) : c.state }),
        App.el('td', { class: 'n', dataset: { since: from }, text: App.since(from) }),
        mon));
    }
    setConn(true);
  }

  // The running clocks, between messages.
  function tick() {
    document.querySelectorAll('#console [data-since]').forEach((e) => {
      if (e.dataset.since) e.textContent = App.since(e.dataset.since);
    });
    let longest = 0;
    if (WB.snap) for (const q of WB.snap.queues) if (q.oldest_since) longest = Math.max(longest, App.now() - new Date(q.oldest_since).getTime());
    $('k-longest').textContent = App.duration(longest);
  }

  function monNote(s) { $('wb-monitor-note').textContent = s || ''; }

  async function monitor(callID, mode) {
    monNote('');
    try {
      const r = await App.api('POST', '/api/calls/' + encodeURIComponent(callID) + '/monitor', { mode });
      WB.monitor[callID] = (r && r.mode) || mode;
      render();
    } catch (e) { monNote(e.message); }
  }

  async function leave(callID) {
    try {
      await App.api('DELETE', '/api/calls/' + encodeURIComponent(callID) + '/monitor');
    } catch (e) { monNote(e.message); }
    delete WB.monitor[callID];
    render();
  }

  async function force(agent, action) {
    if (action === 'logout' && !global.confirm(t('wb.confirmLogout', { id: agent }))) return;
    try {
      await App.api('POST', '/api/agents/' + encodeURIComponent(agent) + '/' + action, action === 'break' ? { reason: 'supervisor' } : undefined);
    } catch (e) { monNote(e.message); }
  }

  // Browser audio: the supervisor's own softphone connection. A monitor session rings
  // it with the line "monitor", answered here at once; without it the supervisor's
  // phone is rung.
  function audioState(s) {
    const on = !!WB.sp && !WB.sp.stopped;
    $('wb-audio').textContent = on ? t('wb.audioOff') : t('wb.audioOn');
    $('wb-audio').classList.toggle('on', on);
    let txt = '';
    if (on && (s === 'incall' || s === 'held') && WB.sp.call) txt = t('wb.audioLive', { call: WB.sp.call.id.replace(/-monitor$/, '') });
    else if (on && s === 'ready') txt = t('wb.audioReady');
    else if (on) txt = App.stateLabel(s);
    $('wb-audio-state').textContent = txt;
    $('wb-audio').dataset.state = on ? s : 'offline';
  }

  async function toggleAudio() {
    if (WB.sp && !WB.sp.stopped) { WB.sp.stop(); audioState('offline'); return; }
    if (typeof global.Softphone !== 'function') return;
    if (!WB.sp) {
      WB.sp = new global.Softphone({
        url: App.config.softphone_url || '/softphone',
        audio: $('wb-audio-el'),
        ringSound: false,
        onState: (s) => audioState(s),
        onRing: (c) => { if (c.line === 'monitor') WB.sp.accept(); },
        onError: (reason, msg) => monNote(reason + (msg ? ': ' + msg : '')),
      });
    }
    try { await WB.sp.start(); } catch (e) { monNote(e.message); }
  }

  WB.start = function () {
    if (WB.started) return;
    WB.started = true;
    setConn(false);
    // The team's finished calls and their recordings.
    WB.recent = new global.RecentCalls($('wb-recent'));
    WB.socket = new App.Socket(App.config.wallboard_url || '/api/wallboard/ws', {
      onMessage: (m) => {
        if (m.type !== 'snapshot') return;
        WB.messages++;
        if (m.time) App.clockOffset = new Date(m.time).getTime() - Date.now();
        WB.snap = m;
        WB.recent.liveCalls((m.calls || []).map((c) => c.id));
        // Monitor modes of calls that ended are forgotten.
        for (const id of Object.keys(WB.monitor)) if (!m.calls.some((c) => c.id === id)) delete WB.monitor[id];
        render();
      },
      onDown: () => setConn(false),
    });
    I18N.onChange(render);
    $('wb-audio').addEventListener('click', toggleAudio);
    audioState('offline');
    I18N.onChange(() => audioState(WB.sp ? WB.sp.state : 'offline'));
    setInterval(tick, 500);
  };

  global.Wallboard = WB;
})(window);
