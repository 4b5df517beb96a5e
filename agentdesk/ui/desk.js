// desk.js: the agent desk: state (ready, break with reason, wrap-up with its timer,
// logout), the softphone panel (softphone.js), the screen pop and the case form, which
// is saved as the agent types: at once into localStorage (a closed tab loses nothing,
// the draft is sent again on reopen), and, debounced, to the case API.
(function (global) {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const DRAFT = 'hotline.case.draft';
  const SAVE_DELAY = 600; // ms after the last key press

  const Desk = {
    sp: null, // the Softphone
    state: 'logged-out', // the ACD's word for this agent
    reason: '',
    since: null,
    phoneState: 'offline',
    call: null,
    draft: null, // {callId, ref, version, caller, dialled, fields, dirty}
    saveTimer: 0,
    saving: false,
    socket: null,
    started: false,
  };

  // --- agent state

  function agentID() { return App.me && App.me.user; }

  async function acdHTTP(action, body) {
    return App.api('POST', '/api/agents/' + encodeURIComponent(agentID()) + '/' + action, body);
  }

  async function goReady() {
    note('');
    try {
      if (Desk.sp) {
        await Desk.sp.start(); // the microphone and the shift's connection
        Desk.sp.ready();
      } else {
        try { await acdHTTP('login'); } catch (e) { /* already logged in */ }
        await acdHTTP('ready');
      }
    } catch (e) {
      note(e.name === 'NotAllowedError' ? t('phone.mic') : e.message);
    }
  }

  async function goBreak() {
    const reason = $('break-reason').value || 'rest';
    try {
      if (Desk.sp && Desk.sp.state !== 'offline' && Desk.sp.ws) Desk.sp.break(reason);
      else {
        try { await acdHTTP('login'); } catch (e) { /* already logged in */ }
        await acdHTTP('break', { reason });
      }
    } catch (e) { note(e.message); }
  }

  async function wrapUpDone() {
    try {
      if (Desk.sp && Desk.sp.ws) Desk.sp.wrapUpDone();
      else await acdHTTP('wrapup-done');
    } catch (e) { note(e.message); }
  }

  async function logout() {
    try { await acdHTTP('logout'); } catch (e) { note(e.message); }
    if (Desk.sp) Desk.sp.stop();
  }

  function setAgentState(state, reason, since) {
    Desk.state = state;
    Desk.reason = reason || '';
    Desk.since = since || null;
    const b = $('agent-state');
    b.className = 'badge st-' + state;
    b.dataset.state = state;
    b.textContent = App.stateLabel(state);
    $('agent-reason').textContent = state === 'break' ? App.reasonLabel(reason) : '';
    $('btn-wrapup').hidden = state !== 'wrap-up';
    $('btn-ready').disabled = state === 'ready' || state === 'on-call' || state === 'reserved';
    tickState();
  }

  function tickState() {
    $('agent-since').textContent = Desk.since ? t('desk.inState', { d: App.since(Desk.since) }) : '';
    const w = $('wrapup');
    const left = Desk.sp && Desk.state === 'wrap-up' ? Desk.sp.wrapUpLeftMs() : 0;
    w.hidden = !(Desk.state === 'wrap-up' && left > 0);
    if (!w.hidden) w.textContent = t('desk.wrapupLeft', { s: Math.ceil(left / 1000) });
  }

  // --- softphone

  function note(s) { $('phone-note').textContent = s || ''; }

  function setPhone(state, call) {
    Desk.phoneState = state;
    $('phone').dataset.phone = state;
    const ringing = state === 'ringing';
    const inCall = state === 'incall' || state === 'held';
    $('phone-status').textContent = ringing ? t('phone.ringing') : (state === 'ready' ? t('phone.idle') : App.stateLabel(state));
    $('ring-banner').hidden = !(ringing || inCall);
    $('btn-accept').disabled = !ringing;
    $('btn-reject').disabled = !ringing;
    $('btn-hangup').disabled = !(ringing || inCall);
    $('btn-hold').disabled = !inCall;
    $('btn-mute').disabled = !inCall;
    $('btn-transfer').disabled = !inCall;
    $('btn-conference').disabled = !inCall;
    document.querySelectorAll('#keypad button').forEach((k) => { k.disabled = !inCall; });
    const c = call || Desk.call;
    $('btn-hold').textContent = c && c.held ? t('phone.unhold') : t('phone.hold');
    $('btn-hold').classList.toggle('on', !!(c && c.held));
    $('btn-mute').textContent = c && c.muted ? t('phone.unmute') : t('phone.mute');
    $('btn-mute').classList.toggle('on', !!(c && c.muted));
  }

  function onRing(call) {
    Desk.call = call;
    $('ring-caller').textContent = call.caller || '—';
    $('ring-line').textContent = call.line || call.dialled || '';
    showPop(call);
    startCaseFor(call);
  }

  function ivrText(p) {
    if (!p) return '';
    if (Array.isArray(p)) return p.map(ivrText).filter(Boolean).join(' → ');
    if (typeof p === 'object') return p.name || p.node || p.step || p.label || JSON.stringify(p);
    return String(p);
  }

  function categoryName(code) {
    const c = (Desk.categories || []).find((x) => x.code === code);
    if (!c) return code || '';
    return I18N.lang === 'en' && c.name_en ? c.name_en : c.name;
  }

  async function showPop(call) {
    const masked = /\*/.test(call.caller || '');
    $('pop-caller').textContent = (call.caller || '—') + (masked ? '  ' + t('pop.confidential') : '');
    $('pop-line').textContent = [call.line, call.dialled].filter(Boolean).join(' · ') || '—';
    $('pop-ivr').textContent = ivrText(call.pop && call.pop.ivr_path) || '—';
    $('pop-wait').textContent = App.duration(call.waitMs);
    $('pop-open').replaceChildren();
    $('pop-history').replaceChildren();
    if (masked || !call.caller) return; // a confidential caller's history is not searched by number
    const q = encodeURIComponent(call.caller);
    const fill = (ul, list) => {
      ul.replaceChildren();
      if (!list || !list.length) { ul.append(App.el('li', { class: 'muted', text: t('pop.none') })); return; }
      for (const c of list) {
        const play = c.channel === 'phone' && Desk.recent ? App.el('button', { type: 'button', class: 'mini', dataset: { caseRec: c.id },
          text: t('rec.play'), title: t('rec.caseTitle', { n: c.number }), onclick: () => Desk.recent.openCase(c.id, c.number) }) : null;
        ul.append(App.el('li', {}, App.el('span', { class: 'num', text: c.number }),
          App.el('span', { text: [App.dateTime(c.created_at), categoryName(c.category), I18N.has('cstate.' + c.state) ? t('cstate.' + c.state) : c.state,
            (c.description || '').slice(0, 60)].filter(Boolean).join(' · ') }), play));
      }
    };
    try {
      const [open, all] = await Promise.all([
        App.api('GET', '/api/cases/open?caller=' + q),
        App.api('GET', '/api/cases?caller=' + q + '&limit=20'),
      ]);
      const openNums = new Set((open.cases || []).map((c) => c.number));
      fill($('pop-open'), open.cases || []);
      fill($('pop-history'), (all.cases || []).filter((c) => !openNums.has(c.number)));
    } catch (e) {
      $('pop-history').replaceChildren(App.el('li', { class: 'muted', text: e.message }));
    }
  }

  function makeSoftphone() {
    if (typeof global.Softphone !== 'function') return null;
    const cfg = App.config;
    return new global.Softphone({
      url: cfg.softphone_url || '/softphone',
      audio: $('remote-audio'),
      onState: (s, d) => setPhone(s, d),
      onRing: onRing,
      onCallEnded: (c, reason) => {
        Desk.call = null;
        note(t('phone.ended', { reason }));
        setPhone(Desk.sp.state);
        if (Desk.recent) setTimeout(() => Desk.recent.refresh(), 1500); // its recording, once closed
      },
      onError: (reason, msg) => note(reason + (msg ? ': ' + msg : '')),
      onAgentState: (state, reason) => setAgentState(state, reason, new Date(App.now()).toISOString()),
      onResult: (req, err) => note(err ? t('phone.refused', { req, msg: err }) : t('phone.done', { req })),
    });
  }

  // --- the case form

  function fields() {
    const r = document.querySelector('input[name=resolution]:checked');
    return {
      category: $('case-category').value,
      location: $('case-location').value,
      description: $('case-description').value,
      resolution: r ? r.value : '',
    };
  }

  function showFields(f) {
    $('case-category').value = f.category || '';
    $('case-location').value = f.location || '';
    $('case-description').value = f.description || '';
    document.querySelectorAll('input[name=resolution]').forEach((r) => { r.checked = r.value === f.resolution; });
  }

  function keepDraft() {
    try { localStorage.setItem(DRAFT, JSON.stringify(Desk.draft)); } catch (e) { /* full or off */ }
  }

  function loadDraft() {
    try { return JSON.parse(localStorage.getItem(DRAFT) || 'null'); } catch (e) { return null; }
  }

  function status(s) { $('case-status').textContent = s; }

  function showNumber() {
    $('case-number').textContent = Desk.draft && Desk.draft.number ? Desk.draft.number : t('case.new');
  }

  // startCaseFor ties the form to a new call; an unsent draft of another call is sent first.
  function startCaseFor(call) {
    const prev = Desk.draft;
    if (prev && prev.callId === call.id) return;
    if (prev && prev.dirty) sync(); // the old one goes out with its own ref
    const ref = call.pop && call.pop.case ? String(call.pop.case) : '';
    Desk.draft = { callId: call.id, ref, number: ref, version: 0, caller: call.caller, dialled: call.dialled,
      fields: { category: '', location: '', description: '', resolution: '' }, dirty: false };
    keepDraft();
    showFields(Desk.draft.fields);
    showNumber();
    status('');
    if (ref) loadCase(ref);
  }

  async function loadCase(ref) {
    try {
      const c = await App.api('GET', '/api/cases/' + encodeURIComponent(ref));
      if (!Desk.draft || Desk.draft.ref !== ref) return;
      Desk.draft.version = c.version;
      Desk.draft.number = c.number;
      Desk.draft.ref = c.id || ref;
      // What the agent already typed wins over what is stored.
      const f = Desk.draft.fields;
      if (!f.category && c.category) f.category = c.category;
      if (!f.location && c.location) f.location = c.location;
      if (!f.description && c.description) f.description = c.description;
      showFields(f);
      showNumber();
      keepDraft();
    } catch (e) { status(t('case.error', { msg: e.message })); }
  }

  function onInput() {
    if (!Desk.draft) {
      Desk.draft = { callId: '', ref: '', number: '', version: 0, caller: '', dialled: '', fields: {}, dirty: true };
    }
    Desk.draft.fields = fields();
    Desk.draft.dirty = true;
    Desk.draft.updated = Date.now();
    keepDraft(); // at once: a tab closed now loses nothing
    status(t('case.draft'));
    clearTimeout(Desk.saveTimer);
    Desk.saveTimer = setTimeout(sync, SAVE_DELAY);
  }

  // sync sends the draft: POST the first time (no case yet), PATCH with the version
  // after; a conflict reloads the version and sends the agent's fields again.
  async function sync(retried) {
    const d = Desk.draft;
    if (!d || !d.dirty) return;
    if (Desk.saving) { Desk.saveTimer = setTimeout(sync, SAVE_DELAY); return; }
    Desk.saving = true;
    const sent = JSON.stringify(d.fields);
    status(t('case.saving'));
    try {
      let c;
      const f = d.fields;
      if (!d.ref) {
        const body = { channel: 'phone', caller_number: d.caller || '', dialled_number: d.dialled || '',
          location: f.location || '', description: f.description || '' };
        if (f.category) body.category = f.category;
        c = await App.api('POST', '/api/cases', body);
      } else {
        const body = { version: d.version, location: f.location || '', description: f.description || '' };
        if (f.category) body.category = f.category;
        c = await App.api('PATCH', '/api/cases/' + encodeURIComponent(d.ref), body);
      }
      d.ref = c.id;
      d.number = c.number;
      d.version = c.version;
      if (JSON.stringify(d.fields) === sent) d.dirty = false; // else typed meanwhile: another round
      keepDraft();
      showNumber();
      status(t('case.saved', { time: App.time(App.now()) }));
      if (d.dirty) { clearTimeout(Desk.saveTimer); Desk.saveTimer = setTimeout(sync, SAVE_DELAY); }
    } catch (e) {
      if (e.status === 409 && !retried && d.ref) {
        Desk.saving = false;
        try {
          const c = await App.api('GET', '/api/cases/' + encodeURIComponent(d.ref));
          d.version = c.version;
          status(t('case.conflict'));
          return sync(true);
        } catch (e2) { /* fall through */ }
      }
      status(t('case.error', { msg: e.message }));
    } finally {
      Desk.saving = false;
    }
  }

  async function submit() {
    clearTimeout(Desk.saveTimer);
    await sync();
    const d = Desk.draft;
    if (!d || !d.ref || d.dirty) return;
    try {
      if (d.fields.resolution === 'answered') {
        // The answer given is what the description records.
        await App.api('POST', '/api/cases/' + encodeURIComponent(d.ref) + '/transitions', { action: 'answer', version: d.version, reason: (d.fields.description || '').slice(0, 500) || 'answered' });
      }
      status(t('case.submitted') + ' ' + (d.number || ''));
      Desk.draft = null;
      localStorage.removeItem(DRAFT);
      showFields({});
      showNumber();
    } catch (e) { status(t('case.error', { msg: e.message })); }
  }

  async function loadTaxonomy() {
    const sel = $('case-category');
    const paint = (cats) => {
      const keep = sel.value || (Desk.draft && Desk.draft.fields.category) || '';
      sel.replaceChildren(App.el('option', { value: '', text: t('case.pickCategory') }));
      let group = null;
      for (const c of cats) {
        const name = I18N.lang === 'en' && c.name_en ? c.name_en : c.name;
        if (c.code.length === 2) {
          group = App.el('optgroup', { label: c.code + ' ' + name });
          sel.append(group);
        } else {
          (group || sel).append(App.el('option', { value: c.code, text: c.code + ' ' + name }));
        }
      }
      sel.value = keep;
    };
    try {
      const tx = await App.api('GET', '/api/cases/taxonomy');
      Desk.categories = tx.categories || [];
      paint(Desk.categories);
      I18N.onChange(() => paint(Desk.categories));
    } catch (e) { status(t('case.error', { msg: e.message })); }
  }

  function fillSelects() {
    const br = $('break-reason');
    const paintReasons = () => {
      const v = br.value;
      br.replaceChildren(...(App.config.break_reasons || ['rest']).map((r) => App.el('option', { value: r, text: App.reasonLabel(r) })));
      if (v) br.value = v;
    };
    paintReasons();
    I18N.onChange(paintReasons);
    const tr = $('transfer-to');
    tr.replaceChildren();
    for (const q of App.config.queues || []) tr.append(App.el('option', { value: 'q:' + q, text: t('wb.queue') + ' ' + q }));
    for (const d of App.config.destinations || []) tr.append(App.el('option', { value: 'd:' + d, text: d }));
  }

  // --- keyboard: Alt+letter, so typing in the form never triggers anything

  function onKey(ev) {
    if (!ev.altKey || ev.ctrlKey || ev.metaKey || document.getElementById('desk').hidden) return;
    const sp = Desk.sp;
    const k = ev.key.toLowerCase();
    const acts = {
      r: goReady, b: goBreak, w: wrapUpDone,
      a: () => sp && sp.accept(),
      h: () => sp && sp.hangup(),
      m: () => sp && Desk.call && (Desk.call.muted ? sp.unmute() : sp.mute()),
      o: () => sp && Desk.call && (Desk.call.held ? sp.unhold() : sp.hold()),
      l: () => $('case-location').focus(),
    };
    if (acts[k]) { ev.preventDefault(); acts[k](); }
  }

  // --- start

  Desk.start = async function () {
    if (Desk.started) return;
    Desk.started = true;
    fillSelects();
    loadTaxonomy();
    Desk.sp = makeSoftphone();
    setPhone('offline');
    setAgentState('logged-out', '');

    $('btn-ready').addEventListener('click', goReady);
    $('btn-break').addEventListener('click', goBreak);
    $('btn-wrapup').addEventListener('click', wrapUpDone);
    $('btn-logout').addEventListener('click', logout);
    $('btn-accept').addEventListener('click', () => Desk.sp && Desk.sp.accept());
    $('btn-reject').addEventListener('click', () => Desk.sp && Desk.sp.reject());
    $('btn-hangup').addEventListener('click', () => Desk.sp && Desk.sp.hangup());
    $('btn-hold').addEventListener('click', () => Desk.sp && Desk.call && (Desk.call.held ? Desk.sp.unhold() : Desk.sp.hold()));
    $('btn-mute').addEventListener('click', () => Desk.sp && Desk.call && (Desk.call.muted ? Desk.sp.unmute() : Desk.sp.mute()));
    document.querySelectorAll('#keypad button').forEach((b) => b.addEventListener('click', () => Desk.sp && Desk.sp.dtmf(b.textContent)));
    const target = () => {
      const v = $('transfer-to').value || '';
      return v.startsWith('q:') ? { queue: v.slice(2) } : { destination: v.slice(2) };
    };
    $('btn-transfer').addEventListener('click', () => Desk.sp && Desk.sp.transfer(target()));
    $('btn-conference').addEventListener('click', () => { const x = target(); if (x.destination && Desk.sp) Desk.sp.conference(x.destination); });
    document.addEventListener('keydown', onKey);

    const form = $('case-form');
    form.addEventListener('input', onInput);
    form.addEventListener('change', onInput);
    form.addEventListener('submit', (e) => e.preventDefault());
    $('btn-submit').addEventListener('click', submit);
    // Leaving the page: the draft is in localStorage already; try to send it too.
    global.addEventListener('pagehide', () => { if (Desk.draft && Desk.draft.dirty) sync(); });

    // A draft left by a closed tab comes back and is sent again.
    const d = loadDraft();
    if (d) {
      Desk.draft = d;
      showFields(d.fields || {});
      showNumber();
      if (d.dirty) { status(t('case.draft')); sync(); } else status('');
    } else showNumber();

    // The agent's finished calls and their recordings.
    Desk.recent = new global.RecentCalls($('desk-recent'));

    // The agent's own row from the wallboard socket: state and time in state, live.
    Desk.socket = new App.Socket(App.config.wallboard_url || '/api/wallboard/ws', {
      onMessage: (m) => {
        if (m.type !== 'snapshot') return;
        if (m.time) App.clockOffset = new Date(m.time).getTime() - Date.now();
        Desk.recent.liveCalls((m.calls || []).map((c) => c.id));
        const me = (m.agents || []).find((a) => a.id === agentID());
        if (me) setAgentState(me.state, me.reason, me.since);
        else setAgentState('logged-out', '', null);
      },
    });
    setInterval(tickState, 500);
  };

  global.Desk = Desk;
})(window);
