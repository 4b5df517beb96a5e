// common.js: what every page shares: the API client (session cookie + CSRF header),
// the configured time zone, durations, the language toggle and the signed-in header.
(function (global) {
  'use strict';

  const App = {
    me: null, // GET /api/auth/me
    csrf: '',
    config: { time_zone: 'Asia/Shanghai', break_reasons: ['rest', 'lunch', 'meeting', 'training'] },
    clockOffset: 0, // server time − local time, from the wallboard's messages
  };

  class APIError extends Error {
    constructor(status, msg, body) { super(msg); this.status = status; this.body = body; }
  }

  // api calls the JSON API; it throws APIError with the server's message.
  App.api = async function (method, path, body) {
    const opts = { method, headers: {}, credentials: 'same-origin' };
    if (method !== 'GET' && method !== 'HEAD') {
      if (App.csrf) opts.headers['X-CSRF-Token'] = App.csrf;
      if (body !== undefined) {
        opts.headers['Content-Type'] = 'application/json';
        opts.body = JSON.stringify(body);
      }
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      throw new APIError(0, t('err.network'));
    }
    let data = null;
    const text = await res.text();
    if (text) { try { data = JSON.parse(text); } catch (e) { data = { error: text }; } }
    if (!res.ok) {
      if (res.status === 401 && path !== '/api/auth/login') App.toLogin('expired');
      throw new APIError(res.status, (data && data.error) || res.statusText, data);
    }
    return data;
  };
  App.APIError = APIError;

  App.toLogin = function (why) {
    const back = global.location.pathname + global.location.hash;
    global.location.replace('/login?' + new URLSearchParams({ why: why || '', next: back }));
  };

  App.loadConfig = async function () {
    try {
      const c = await fetch('/api/ui/config', { credentials: 'same-origin' });
      if (c.ok) Object.assign(App.config, await c.json());
    } catch (e) { /* defaults */ }
  };

  // signIn makes sure someone is signed in (else off to the sign-in page).
  App.signIn = async function () {
    await App.loadConfig();
    App.me = await App.api('GET', '/api/auth/me');
    App.csrf = App.me.csrf || '';
    if (App.me.must_change_password) App.toLogin('must-change');
    return App.me;
  };

  App.can = (perm) => !!(App.me && App.me.permissions && App.me.permissions.indexOf(perm) >= 0);

  // Times: always in the configured zone, whatever the browser's.
  const fmts = {};
  function fmt(kind) {
    const key = kind + '|' + I18N.lang + '|' + App.config.time_zone;
    if (!fmts[key]) {
      const o = { timeZone: App.config.time_zone, hour12: false };
      if (kind === 'time') Object.assign(o, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
      else Object.assign(o, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
      fmts[key] = new Intl.DateTimeFormat(I18N.lang === 'zh' ? 'zh-CN' : 'en-GB', o);
    }
    return fmts[key];
  }
  App.time = (d) => (d ? fmt('time').format(new Date(d)) : '');
  App.dateTime = (d) => (d ? fmt('datetime').format(new Date(d)) : '');
  App.now = () => Date.now() + App.clockOffset;

  // duration: 75000 → "1:15", 3725000 → "1:02:05".
  App.duration = function (ms) {
    if (!(ms > 0)) ms = 0;
    const s = Math.floor(ms / 1000);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, '0');
    return h ? h + ':' + String(m).padStart(2, '0') + ':' + ss : m + ':' + ss;
  };
  App.since = (iso) => App.duration(App.now() - new Date(iso).getTime());

  // stateLabel translates an ACD or softphone state word.
  App.stateLabel = (s) => (I18N.has('state.' + s) ? t('state.' + s) : s);
  App.reasonLabel = (r) => (r && I18N.has('reason.' + r) ? t('reason.' + r) : r || '');

  App.el = function (tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) {
      if (k === 'class') e.className = attrs[k];
      else if (k === 'text') e.textContent = attrs[k];
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), attrs[k]);
      else if (k === 'dataset') Object.assign(e.dataset, attrs[k]);
      else if (attrs[k] !== undefined && attrs[k] !== null && attrs[k] !== false) e.setAttribute(k, attrs[k]);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  };

  // header: the signed-in user, the views the role has, the language and sign-out.
  App.header = function (view) {
    const h = document.getElementById('topbar');
    if (!h) return;
    const me = App.me || {};
    const nav = document.getElementById('nav');
    nav.replaceChildren();
    const views = [];
    if (me.role === 'agent' || me.role === 'admin') views.push(['desk', 'nav.desk']);
    if (me.role === 'supervisor' || me.role === 'reviewer' || me.role === 'admin') views.push(['console', 'nav.console']);
    for (const [v, key] of views) {
      nav.append(App.el('a', { href: '#' + v, class: v === view ? 'active' : '', dataset: { i18n: key }, text: t(key) }));
    }
    const who = document.getElementById('who');
    const paint = () => {
      who.textContent = t('nav.signedInAs', { name: me.name || me.user || '', role: t('role.' + me.role) });
    };
    paint();
    I18N.onChange(paint);
  };

  App.wireChrome = function () {
    const lb = document.getElementById('lang');
    if (lb) lb.addEventListener('click', () => I18N.toggle());
    const so = document.getElementById('signout');
    if (so) so.addEventListener('click', async () => {
      try { await App.api('POST', '/api/auth/logout'); } catch (e) { /* gone anyway */ }
      App.toLogin('');
    });
    const clock = document.getElementById('clock');
    if (clock) {
      const tick = () => { clock.textContent = App.time(App.now()); };
      tick();
      setInterval(tick, 1000);
    }
  };

  // Socket keeps a WebSocket open: it reconnects by itself with backoff (0.5 s doubling
  // to 10 s, with jitter) and calls onOpen each time, so the page resyncs.
  class Socket {
    constructor(path, { onMessage, onOpen, onDown }) {
      this.path = path;
      this.onMessage = onMessage;
      this.onOpen = onOpen;
      this.onDown = onDown;
      this.retry = 0;
      this.stopped = false;
      this.ws = null;
      this.opens = 0;
      this._connect();
    }
    _connect() {
      if (this.stopped) return;
      const u = new URL(this.path, global.location.href);
      u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
      const ws = new WebSocket(u);
      this.ws = ws;
      ws.onopen = () => { this.retry = 0; this.opens++; if (this.onOpen) this.onOpen(); };
      ws.onmessage = (ev) => {
        let m;
        try { m = JSON.parse(ev.data); } catch (e) { return; }
        this.onMessage(m);
      };
      ws.onclose = (ev) => {
        if (ws !== this.ws || this.stopped) return;
        if (this.onDown) this.onDown(ev);
        const delay = Math.min(500 * Math.pow(2, this.retry++), 10000) * (0.75 + Math.random() * 0.5);
        setTimeout(() => this._connect(), delay);
      };
    }
    send(m) { if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m)); }
    close() { this.stopped = true; if (this.ws) this.ws.close(); }
    // drop closes the socket as a network failure would (tests, a stuck connection).
    drop() { if (this.ws) this.ws.close(4000, 'dropped'); }
  }
  App.Socket = Socket;

  global.App = App;
})(window);
