// recordings.js: recent calls and their recordings, on the agent desk (the agent's own
// finished calls) and the supervisor console (the team's): GET /api/calls is scoped by
// role on the server, so both lists come from the same request. The player is an
// <audio> element on /api/recordings/{call}: the browser streams the WAV with range
// requests and seeks by itself. The recording is stereo (caller left, agent right); a
// WebAudio ChannelSplitter plays both, the caller only or the agent only, on both ears.
// Every play and download is checked and audited by the server; a refusal is explained.
(function (global) {
  'use strict';

  const MAX = 30; // rows shown

  class RecentCalls {
    // root: the element with .rc-list (a tbody), .rc-player, .rc-note and a refresh button.
    constructor(root) {
      this.root = root;
      this.calls = [];
      this.playing = null; // call id in the player
      this.url = ''; // what the player plays
      this.ctx = null; // AudioContext, made on first play
      this.src = null;
      this.splitter = null;
      this.analyser = null; // what the ears get (tests read it)
      this.channel = 'both';
      this.loading = false;
      this.again = false;
      this.timer = 0;
      this.seen = ''; // the call ids of the last live snapshot
      this.audio = root.querySelector('audio');
      this.sel = root.querySelector('.rc-channel');
      this.sel.addEventListener('change', () => this.route(this.sel.value));
      root.querySelector('.rc-refresh').addEventListener('click', () => this.refresh());
      this.audio.addEventListener('play', () => this.graph());
      this.audio.addEventListener('error', () => this.failed());
      I18N.onChange(() => { this.paintChannels(); this.render(); });
      this.paintChannels();
      this.refresh();
    }

    paintChannels() {
      const v = this.sel.value || this.channel;
      this.sel.replaceChildren(...['both', 'caller', 'agent'].map((c) => App.el('option', { value: c, text: t('rec.ch.' + c) })));
      this.sel.value = v;
    }

    note(s) { this.root.querySelector('.rc-note').textContent = s || ''; }

    // liveCalls is told the calls in progress (from the wallboard socket): when one
    // leaves, the list is fetched again (twice: the recording is closed just after).
    liveCalls(ids) {
      const key = ids.slice().sort().join(',');
      if (key === this.seen) return;
      const ended = this.seen && this.seen.split(',').some((id) => id && ids.indexOf(id) < 0);
      this.seen = key;
      if (!ended) return;
      this.refresh();
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.refresh(), 2000);
    }

    async refresh() {
      if (this.loading) { this.again = true; return; }
      this.loading = true;
      try {
        const r = await App.api('GET', '/api/calls?state=ended');
        const list = (r.calls || []).filter((c) => c.answered_at || c.recording);
        list.sort((a, b) => new Date(b.received_at) - new Date(a.received_at));
        this.calls = list.slice(0, MAX);
        this.render();
      } catch (e) {
        this.note(t('rec.listError', { msg: e.message }));
      } finally {
        this.loading = false;
        if (this.again) { this.again = false; this.refresh(); }
      }
    }

    render() {
      const tb = this.root.querySelector('.rc-list');
      tb.replaceChildren();
      if (!this.calls.length) {
        tb.append(App.el('tr', {}, App.el('td', { colspan: 6, class: 'muted', text: t('rec.none') })));
        return;
      }
      for (const c of this.calls) {
        const talked = c.answered_at && c.ended_at ? new Date(c.ended_at) - new Date(c.answered_at) : 0;
        const play = c.recording ? App.el('button', { type: 'button', class: this.playing === c.id ? 'on' : '', dataset: { play: c.id },
          text: t('rec.play'), onclick: () => this.open(c.id) }) : App.el('span', { class: 'muted', text: t('rec.noRecording') });
        tb.append(App.el('tr', { dataset: { call: c.id } },
          App.el('td', { class: 'mono', text: App.dateTime(c.received_at) }),
          App.el('td', { class: 'mono', text: c.caller || '—' }),
          App.el('td', { text: c.agent || '' }),
          App.el('td', { class: 'mono', text: c.case || '' }),
          App.el('td', { class: 'n', text: App.duration(talked) }),
          App.el('td', {}, play)));
      }
    }

    // open puts a call's recording in the player. The browser asks for the bytes it
    // needs (Range), so a long recording starts at once and seeks anywhere.
    open(callID) {
      this.openURL('/api/recordings/' + encodeURIComponent(callID), callID, t('rec.title', { call: callID }));
    }

    // openCase plays the recording of the call that opened a work order (also once the
    // call has left the recent calls).
    openCase(ref, number) {
      this.openURL('/api/cases/' + encodeURIComponent(ref) + '/recording', '', t('rec.caseTitle', { n: number || ref }));
    }

    openURL(url, callID, title) {
      this.note('');
      this.playing = callID;
      this.url = url;
      const p = this.root.querySelector('.rc-player');
      p.hidden = false;
      p.dataset.call = callID;
      p.dataset.error = '';
      this.root.querySelector('.rc-title').textContent = title;
      const dl = this.root.querySelector('.rc-download');
      dl.href = url + '?download=1';
      dl.hidden = false;
      this.audio.src = url;
      this.render();
      const pr = this.audio.play();
      if (pr && pr.catch) pr.catch(() => { /* paused by the user or refused: 'error' explains */ });
    }

    // failed: the element cannot say why; ask the server (HEAD) and say it plainly.
    async failed() {
      const url = this.url;
      if (!url || !this.audio.getAttribute('src')) return;
      let status = 0;
      try { status = (await fetch(url, { method: 'HEAD', credentials: 'same-origin' })).status; } catch (e) { /* network */ }
      const msg = status === 403 ? t('rec.forbidden') : status === 404 ? t('rec.missing') : status === 401 ? t('login.expired')
        : status ? t('rec.error', { msg: status }) : t('err.network');
      this.note(msg);
      this.root.querySelector('.rc-player').dataset.error = String(status);
      this.root.querySelector('.rc-download').hidden = status === 403 || status === 404;
    }

    // graph: element → splitter → (both | left | right) → analyser → speakers. Made
    // once: an element feeds one graph for its life.
    graph() {
      if (!this.ctx) {
        const AC = global.AudioContext || global.webkitAudioContext;
        if (!AC) return;
        this.ctx = new AC();
        this.src = this.ctx.createMediaElementSource(this.audio);
        this.splitter = this.ctx.createChannelSplitter(2);
        this.analyser = this.ctx.createAnalyser();
        this.analyser.fftSize = 2048;
        this.analyser.smoothingTimeConstant = 0;
        this.src.connect(this.splitter);
        this.analyser.connect(this.ctx.destination);
        this.route(this.sel.value || this.channel);
      }
      if (this.ctx.state === 'suspended') this.ctx.resume();
    }

    // route chooses what is heard: both channels as recorded, or one of them on both ears
    // (a mono node is spread to the two speakers).
    route(ch) {
      this.channel = ch;
      this.sel.value = ch;
      this.root.querySelector('.rc-player').dataset.channel = ch;
      if (!this.ctx) return;
      this.src.disconnect();
      this.splitter.disconnect();
      if (ch === 'caller') { this.src.connect(this.splitter); this.splitter.connect(this.analyser, 0); }
      else if (ch === 'agent') { this.src.connect(this.splitter); this.splitter.connect(this.analyser, 1); }
      else this.src.connect(this.analyser);
    }

    // level is the strongest of the player's output around freq, in dB (tests, meters).
    level(freq) {
      if (!this.analyser) return -200;
      const bins = new Float32Array(this.analyser.frequencyBinCount);
      this.analyser.getFloatFrequencyData(bins);
      const hz = this.ctx.sampleRate / this.analyser.fftSize;
      let best = -200;
      for (let i = Math.max(1, Math.floor((freq - 30) / hz)); i <= Math.ceil((freq + 30) / hz) && i < bins.length; i++) best = Math.max(best, bins[i]);
      return best;
    }
  }

  global.RecentCalls = RecentCalls;
})(window);
