// softphone.js: the agent's browser softphone. Plain browser APIs, no framework, no
// build step, no external resource. Protocol: see agentdesk/softphone.go.
//
// One RTCPeerConnection per shift: start() opens it when the agent goes ready, and
// every call of the shift reuses it, so accepting a call is one WebSocket message.
// The microphone is sent as silence (track disabled) except during an accepted call,
// so nothing said at the agent's desk between calls leaves the browser.
//
//   const sp = new Softphone({
//     url: '/softphone',                 // the WebSocket endpoint (same origin)
//     audio: document.querySelector('audio'),
//     onState(state, detail) {},          // offline, connecting, ready, ringing, incall, held,
//                                         // reconnecting, replaced, error
//     onRing(call) {},                    // {id, caller, line, dialled, waitMs, timeoutMs, pop}
//     onCallEnded(call, reason) {},       // agent-hangup, server-hangup, timeout, cancelled, …
//     onError(reason, message) {},
//     onAgentState(state, reason, wrapUpMs) {}, // the ACD state: ready, on-call, wrap-up (with
//                                         // its length; sp.wrapUpLeftMs() counts down), break
//     onResult(request, error) {},        // transfer, conference, agent: error '' when done
//   });
//   await sp.start(); sp.accept(); sp.mute(); sp.hold(); sp.dtmf('1'); sp.hangup(); sp.stop();
//   sp.transfer({queue: 'general'}) or sp.transfer({destination: 'housing'});
//   sp.conference('housing'); sp.ready(); sp.break('lunch'); sp.wrapUpDone();
(function (global) {
  'use strict';

  class Softphone {
    constructor(opts) {
      this.opts = Object.assign({ iceServers: [], ringSound: true, trickle: true, gatherTimeoutMs: 2000 }, opts || {});
      this.state = 'offline';
      this.ws = null;
      this.pc = null;
      this.session = '';
      this.codec = '';
      this.mic = null; // MediaStream from getUserMedia
      this.remoteStream = null;
      this.call = null; // {id, …, accepted, muted, held}
      this.stopped = true;
      this.retry = 0;
      this.retryTimer = 0;
      this.audioCtx = null;
      this.ringTimer = 0;
      this.acceptedAt = 0; // performance.now() of the last accept, for latency figures
      this.timings = {}; // performance.now() of start, mic, offer, answer, ready
      this.agentState = ''; // the ACD's word: ready, reserved, on-call, wrap-up, break, logged-out
      this.agentReason = '';
      this.wrapUpEnds = 0;
    }

    // start asks for the microphone and opens the shift's connection. It resolves when
    // the media is connected (state "ready").
    async start() {
      if (!this.stopped) return this.readyPromise;
      this.stopped = false;
      this.timings = { start: performance.now() };
      if (!this.mic) {
        this.mic = await navigator.mediaDevices.getUserMedia({
          audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
          video: false,
        });
      }
      this.timings.mic = performance.now();
      this._micOn(false);
      if (!this.audioCtx && global.AudioContext) {
        this.audioCtx = new AudioContext(); // created in the click that went ready: allowed to sound
      }
      this.readyPromise = new Promise((resolve, reject) => {
        this._resolveReady = resolve;
        this._rejectReady = reject;
      });
      this._connect();
      return this.readyPromise;
    }

    // stop ends the shift: the server forgets the connection at once.
    stop() {
      this.stopped = true;
      clearTimeout(this.retryTimer);
      this._stopRing();
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this._send({ type: 'bye' });
      if (this.ws) this.ws.close(1000, 'bye');
      this.ws = null;
      this._closePeer();
      if (this.call) this._ended('bye');
      if (this.mic) this.mic.getTracks().forEach((t) => t.stop());
      this.mic = null;
      this._setState('offline');
    }

    accept() {
      const c = this.call;
      if (!c || c.accepted) return false;
      this._stopRing();
      c.accepted = true;
      this.acceptedAt = performance.now();
      this._micOn(true);
      this._send({ type: 'accept', call: c.id });
      this._setState('incall', c);
      return true;
    }

    reject() {
      const c = this.call;
      if (!c || c.accepted) return false;
      this._send({ type: 'reject', call: c.id });
      this._ended('rejected');
      return true;
    }

    hangup() {
      const c = this.call;
      if (!c) return false;
      this._send({ type: 'hangup', call: c.id });
      this._ended(c.accepted ? 'agent-hangup' : 'rejected');
      return true;
    }

    mute() { return this._toggle('muted', true, 'mute'); }
    unmute() { return this._toggle('muted', false, 'unmute'); }
    hold() { return this._toggle('held', true, 'hold'); }
    unhold() { return this._toggle('held', false, 'unhold'); }

    // dtmf sends keys as RFC 4733 events in the media (RTCDTMFSender), or by signalling
    // where the browser cannot.
    dtmf(keys) {
      const c = this.call;
      if (!c || !c.accepted || !/^[0-9*#A-D]+$/.test(keys)) return false;
      const sender = this.pc && this.pc.getSenders().find((s) => s.track && s.track.kind === 'audio');
      if (sender && sender.dtmf && sender.dtmf.canInsertDTMF) {
        sender.dtmf.insertDTMF(keys, 100, 70);
      } else {
        this._send({ type: 'dtmf', call: c.id, digits: keys });
      }
      return true;
    }

    // transfer hands the caller to another queue ({queue}) or a department ({destination}).
    transfer(to) {
      const c = this.call;
      if (!c || !c.accepted || !to || (!to.queue === !to.destination)) return false;
      this._send({ type: 'transfer', call: c.id, queue: to.queue || undefined, destination: to.destination || undefined });
      return true;
    }

    // conference adds a department (a configured destination) to the call: 三方通话.
    conference(destination) {
      const c = this.call;
      if (!c || !c.accepted || !destination) return false;
      this._send({ type: 'conference', call: c.id, destination: destination });
      return true;
    }

    ready() { this._send({ type: 'agent', state: 'ready' }); return true; }
    break(reason) {
      if (!reason) return false;
      this._send({ type: 'agent', state: 'break', reason: reason });
      return true;
    }
    wrapUpDone() { this._send({ type: 'agent', state: 'wrapup-done' }); return true; }

    // wrapUpLeftMs is what remains of the wrap-up (0 outside it), for the page's timer.
    wrapUpLeftMs() {
      if (this.agentState !== 'wrap-up' || !this.wrapUpEnds) return 0;
      return Math.max(0, this.wrapUpEnds - performance.now());
    }

    // --- internals

    _toggle(field, on, type) {
      const c = this.call;
      if (!c || !c.accepted || c[field] === on) return false;
      c[field] = on;
      this._micOn(!c.muted && !c.held);
      if (this.opts.audio) this.opts.audio.muted = !!c.held;
      this._send({ type: type, call: c.id });
      this._setState(c.held ? 'held' : 'incall', c);
      return true;
    }

    _micOn(on) {
      if (this.mic) this.mic.getAudioTracks().forEach((t) => { t.enabled = on; });
    }

    _setState(s, detail) {
      this.state = s;
      if (this.opts.onState) this.opts.onState(s, detail);
    }

    _send(m) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
    }

    _wsURL() {
      const u = new URL(this.opts.url || '/softphone', global.location.href);
      u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
      return u.toString();
    }

    _connect() {
      if (this.stopped) return;
      this._setState(this.session ? 'reconnecting' : 'connecting');
      const ws = new WebSocket(this._wsURL());
      this.ws = ws;
      ws.onopen = () => {
        if (ws !== this.ws) return;
        this.retry = 0;
        if (this.pc && this.pc.connectionState === 'connected' && this.session) {
          this._send({ type: 'resume', session: this.session });
        } else {
          this._offer();
        }
      };
      ws.onmessage = (ev) => {
        if (ws !== this.ws) return; // a replaced socket's last words
        let m;
        try { m = JSON.parse(ev.data); } catch (e) { return; }
        this._onMessage(m);
      };
      ws.onclose = () => {
        if (ws !== this.ws || this.stopped) return;
        this.ws = null;
        // Back off 250 ms, 500 ms, … up to 5 s; the server keeps the media for a few
        // seconds, so a quick return resumes the same connection mid-call.
        const delay = Math.min(250 * Math.pow(2, this.retry++), 5000);
        this._setState('reconnecting');
        this.retryTimer = setTimeout(() => this._connect(), delay);
      };
    }

    async _offer() {
      this._closePeer();
      const pc = new RTCPeerConnection({ iceServers: this.opts.iceServers });
      this.pc = pc;
      this.session = '';
      this.mic.getAudioTracks().forEach((t) => pc.addTrack(t, this.mic));
      pc.ontrack = (ev) => {
        this.remoteStream = ev.streams[0] || new MediaStream([ev.track]);
        // Chrome reports remote audio only once it plays in an element.
        if (this.opts.audio) {
          this.opts.audio.srcObject = this.remoteStream;
          const p = this.opts.audio.play();
          if (p && p.catch) p.catch(() => {});
        }
        if (this.opts.onRemoteStream) this.opts.onRemoteStream(this.remoteStream);
      };
      pc.onconnectionstatechange = () => {
        if (pc !== this.pc) return;
        if (pc.connectionState === 'failed') {
          this._setState('reconnecting');
          if (this.ws && this.ws.readyState === WebSocket.OPEN) this._offer();
        }
      };
      // Trickle: the offer goes at once and candidates follow. Chrome may take seconds
      // to finish gathering (it waits on interfaces that never answer); the server's
      // answer carries all its candidates, so checks start as soon as it arrives.
      if (this.opts.trickle) {
        pc.onicecandidate = (ev) => {
          if (pc === this.pc && ev.candidate && ev.candidate.candidate) {
            this._send({ type: 'candidate', candidate: ev.candidate.toJSON() });
          }
        };
      }
      try {
        const offer = await pc.createOffer();
        await pc.setLocalDescription(offer);
        if (!this.opts.trickle) await this._gathered(pc);
        if (pc !== this.pc) return;
        this.timings.offer = performance.now();
        this._send({ type: 'offer', sdp: pc.localDescription.sdp });
      } catch (e) {
        this._fail('offer-failed', String(e));
      }
    }

    // Non-trickle ICE (opts.trickle false): wait for every candidate, at most gatherTimeoutMs.
    _gathered(pc) {
      if (pc.iceGatheringState === 'complete') return Promise.resolve();
      return new Promise((resolve) => {
        const t = setTimeout(resolve, this.opts.gatherTimeoutMs);
        pc.addEventListener('icegatheringstatechange', () => {
          if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
        });
      });
    }

    _closePeer() {
      if (this.pc) {
        this.pc.ontrack = null;
        this.pc.onicecandidate = null;
        this.pc.onconnectionstatechange = null;
        this.pc.close();
      }
      this.pc = null;
    }

    _onMessage(m) {
      switch (m.type) {
        case 'answer':
          this.session = m.session;
          this.codec = m.codec;
          this.timings.answer = performance.now();
          this.pc.setRemoteDescription({ type: 'answer', sdp: m.sdp }).catch((e) => this._fail('answer-failed', String(e)));
          break;
        case 'ready':
          this.timings.ready = performance.now();
          this._setState('ready');
          if (this._resolveReady) { this._resolveReady(); this._resolveReady = null; }
          break;
        case 'resumed': // the same connection, mid-call if there was one
          if (this.call && this.call.id !== m.call) this._ended('dropped');
          if (this.call) this._setState(this.call.accepted ? (this.call.held ? 'held' : 'incall') : 'ringing', this.call);
          else this._setState('ready');
          break;
        case 'ring':
          this.call = {
            id: m.call, caller: m.caller || '', line: m.line || '', dialled: m.dialled || '',
            waitMs: m.wait_ms || 0, timeoutMs: m.timeout_ms || 0, pop: m.pop || null,
            accepted: false, muted: false, held: false,
          };
          this._startRing();
          this._setState('ringing', this.call);
          if (this.opts.onRing) this.opts.onRing(this.call);
          break;
        case 'hangup':
          if (this.call && this.call.id === m.call) this._ended(m.reason || 'server-hangup');
          break;
        case 'agent':
          this.agentState = m.state || '';
          this.agentReason = m.reason || '';
          this.wrapUpEnds = m.wrapup_ms ? performance.now() + m.wrapup_ms : 0;
          if (this.opts.onAgentState) this.opts.onAgentState(this.agentState, this.agentReason, m.wrapup_ms || 0);
          break;
        case 'done':
          if (this.opts.onResult) this.opts.onResult(m.request, '');
          break;
        case 'error':
          if (m.request) {
            if (this.opts.onResult) this.opts.onResult(m.request, m.message || m.reason);
            break;
          }
          this._onError(m);
          break;
      }
    }

    _onError(m) {
      if (this.opts.onError) this.opts.onError(m.reason, m.message);
      switch (m.reason) {
        case 'replaced': // another tab took over: do not fight it
          this.stopped = true;
          this._closePeer();
          if (this.call) this._ended('replaced');
          this._setState('replaced');
          break;
        case 'no-session':
        case 'connect-timeout':
        case 'ice-failed':
        case 'dropped':
          if (this.call) this._ended(m.reason);
          this._offer();
          break;
        case 'no-g711':
          this._fail(m.reason, m.message);
          break;
      }
    }

    _fail(reason, message) {
      this._setState('error', { reason: reason, message: message });
      if (this._rejectReady) { this._rejectReady(new Error(reason + ': ' + message)); this._rejectReady = null; }
    }

    _ended(reason) {
      const c = this.call;
      this.call = null;
      this._stopRing();
      this._micOn(false);
      if (this.opts.audio) this.opts.audio.muted = false;
      if (c && this.opts.onCallEnded) this.opts.onCallEnded(c, reason);
      if (!this.stopped && this.state !== 'replaced') this._setState(this.pc ? 'ready' : 'connecting');
    }

    // The ring: two short 880/660 Hz beeps every 2 s from WebAudio, no sound file.
    _startRing() {
      if (!this.opts.ringSound || !this.audioCtx) return;
      this._stopRing();
      const ctx = this.audioCtx;
      if (ctx.state === 'suspended') ctx.resume().catch(() => {});
      const beep = (at, hz) => {
        const o = ctx.createOscillator();
        const g = ctx.createGain();
        o.frequency.value = hz;
        g.gain.setValueAtTime(0, at);
        g.gain.linearRampToValueAtTime(0.2, at + 0.02);
        g.gain.setValueAtTime(0.2, at + 0.3);
        g.gain.linearRampToValueAtTime(0, at + 0.35);
        o.connect(g).connect(ctx.destination);
        o.start(at);
        o.stop(at + 0.4);
      };
      const burst = () => {
        const t = ctx.currentTime + 0.01;
        beep(t, 880);
        beep(t + 0.45, 660);
      };
      burst();
      this.ringTimer = setInterval(burst, 2000);
    }

    _stopRing() {
      clearInterval(this.ringTimer);
      this.ringTimer = 0;
    }
  }

  global.Softphone = Softphone;
})(typeof window !== 'undefined' ? window : this);
