/* qa-chat: the embeddable news Q&A widget. Plain JS, no build step.
 *   <script src="https://qa.example.com/widget.js" data-endpoint="https://qa.example.com"></script>
 * mounts a floating <qa-chat> from the script tag's data-* attributes; or use the element directly:
 *   <qa-chat endpoint="https://qa.example.com" heading="Ask us" mode="inline"></qa-chat>
 * Attributes: endpoint, heading (data-title), placeholder, greeting, accent (data-color), theme
 * (light|dark|auto), open, mode (floating|inline), k. Server text is only ever set as text. */
(() => {
  'use strict';
  if (customElements.get('qa-chat')) return;
  const script = document.currentScript;
  let scriptOrigin = location.origin;
  try { if (script && script.src) scriptOrigin = new URL(script.src, location.href).origin; } catch (_) { /* keep */ }

  const STYLE = `
.w{all:initial;display:block;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);
--a:var(--qa-accent,#1f5bd8);--at:var(--qa-accent-text,#fff);--bg:#fff;--fg:#1c2026;--mut:#5a6370;--bd:#d3d8df;--sub:#f2f4f7;
--lnk:var(--a);--mk:#ffe27a;--mkf:#1c2026;--wbg:#fff5db;--wbd:#d9a514;--ebg:#fdeeee;--ebd:#cf3b3b;--sh:0 8px 32px rgba(0,0,0,.18)}
.w.dark{--bg:#17191d;--fg:#e7e9ec;--mut:#a1a9b4;--bd:#3a414b;--sub:#242830;--lnk:color-mix(in srgb,var(--a) 45%,#fff);
--mk:#8d6e00;--mkf:#fff;--wbg:#3a3016;--wbd:#c9a227;--ebg:#3d1e1f;--ebd:#e06c6c;--sh:0 8px 32px rgba(0,0,0,.6)}
@media (prefers-color-scheme:dark){.w.auto{--bg:#17191d;--fg:#e7e9ec;--mut:#a1a9b4;--bd:#3a414b;--sub:#242830;
--lnk:color-mix(in srgb,var(--a) 45%,#fff);--mk:#8d6e00;--mkf:#fff;--wbg:#3a3016;--wbd:#c9a227;--ebg:#3d1e1f;--ebd:#e06c6c;--sh:0 8px 32px rgba(0,0,0,.6)}}
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none!important}
button,textarea{font:inherit;color:inherit;letter-spacing:normal;text-transform:none;margin:0}
button{cursor:pointer}
:focus-visible{outline:3px solid var(--lnk);outline-offset:2px}
a{color:var(--lnk);text-decoration:underline;text-underline-offset:2px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.launch{position:fixed;right:16px;bottom:16px;z-index:2147483000;display:flex;align-items:center;gap:8px;max-width:calc(100vw - 32px);
padding:12px 18px;border:0;border-radius:999px;background:var(--a);color:var(--at);font-weight:600;box-shadow:var(--sh)}
.launch span{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.launch svg{flex:none;width:20px;height:20px;fill:currentColor}
.panel{display:flex;flex-direction:column;background:var(--bg);color:var(--fg);border:1px solid var(--bd);overflow:hidden}
.float .panel{position:fixed;right:16px;bottom:16px;z-index:2147483000;width:min(400px,calc(100vw - 32px));
height:min(640px,calc(100vh - 32px));border-radius:14px;box-shadow:var(--sh)}
.inline .panel{height:var(--qa-height,560px);border-radius:12px}
.inline .x{display:none}
@media (max-width:480px){.float .panel{inset:0;width:100%;height:100%;border-radius:0;border:0}}
header{display:flex;align-items:center;gap:8px;padding:10px 10px 10px 16px;background:var(--a);color:var(--at)}
h2{flex:1;margin:0;font-size:16px;font-weight:650;line-height:1.3;overflow-wrap:anywhere}
.x,.cx{flex:none;width:36px;height:36px;border:0;border-radius:8px;background:transparent;font-size:22px;line-height:1}
.x:hover{background:rgba(255,255,255,.18)}
.x:focus-visible{outline-color:var(--at);outline-offset:-3px}
.log{flex:1;overflow-y:auto;overflow-x:hidden;padding:14px;display:flex;flex-direction:column;gap:12px;overscroll-behavior:contain}
.hello{margin:0;color:var(--mut)}
.msg{max-width:100%;overflow-wrap:anywhere}
.user{align-self:flex-end;max-width:85%;padding:8px 12px;border-radius:14px 14px 4px 14px;background:var(--a);color:var(--at);white-space:pre-wrap}
.bot{align-self:stretch;padding:10px 12px;border-radius:14px 14px 14px 4px;background:var(--sub)}
.ans,.draft{white-space:pre-line}
.status{display:flex;align-items:center;gap:8px;color:var(--mut)}
.dots{display:inline-flex;gap:4px}
.dots i{width:7px;height:7px;border-radius:50%;background:currentColor;animation:b 1.2s infinite ease-in-out}
.dots i:nth-child(2){animation-delay:.15s}.dots i:nth-child(3){animation-delay:.3s}
@keyframes b{0%,80%,100%{opacity:.25;transform:translateY(0)}40%{opacity:1;transform:translateY(-3px)}}
@media (prefers-reduced-motion:reduce){.dots i{animation:none}}
sup{line-height:0;vertical-align:super;font-size:75%}
.cite{min-width:1.7em;padding:1px 5px;margin:0 1px;border:1px solid var(--lnk);border-radius:5px;background:var(--bg);color:var(--lnk);
font-size:12px;font-weight:700;line-height:1.3}
.cite:hover,.cite[aria-expanded=true]{background:var(--a);border-color:var(--a);color:var(--at)}
.card{margin-top:10px;padding:10px 12px;border:1px solid var(--bd);border-left:4px solid var(--a);border-radius:8px;background:var(--bg)}
.ch{display:flex;align-items:flex-start;gap:8px}
.ch strong{flex:1;font-size:14px;line-height:1.35;padding-top:2px}
.cx{width:30px;height:30px;margin:-4px -6px 0 0;font-size:20px;color:var(--mut)}
.meta{margin:4px 0 8px;color:var(--mut);font-size:13px}
blockquote{margin:0;font-size:14px;white-space:pre-line}
mark{background:var(--mk);color:var(--mkf);border-radius:2px;padding:0 1px}
.srcs{margin-top:10px;padding-top:8px;border-top:1px solid var(--bd);font-size:13px}
.srcs h3{margin:0 0 4px;font-size:13px;font-weight:650;color:var(--mut)}
ol{margin:0;padding:0;list-style:none}
li{display:flex;gap:6px;margin:3px 0}
.n{flex:none;min-width:1.6em;font-weight:700;color:var(--mut)}
.d{color:var(--mut)}
.note{margin:8px 0 0;color:var(--mut);font-size:13px;font-style:italic}
.refuse,.err{padding:10px 12px;border-radius:8px;border:1px solid var(--wbd);background:var(--wbg)}
.err{border-color:var(--ebd);background:var(--ebg)}
.refuse p,.err p{margin:0}
.refuse strong,.err strong{display:block;margin-bottom:2px}
.retry{margin-top:8px;padding:6px 14px;border:1px solid var(--fg);border-radius:8px;background:var(--bg);font-weight:600}
form{display:flex;align-items:flex-end;gap:8px;padding:10px;border-top:1px solid var(--bd);background:var(--bg)}
textarea{flex:1;min-width:0;min-height:42px;max-height:140px;resize:none;padding:9px 12px;border:1px solid var(--bd);border-radius:10px;
background:var(--bg);line-height:1.4;field-sizing:content}
textarea::placeholder{color:var(--mut);opacity:1}
.send,.stop{flex:none;height:42px;padding:0 16px;border:0;border-radius:10px;background:var(--a);color:var(--at);font-weight:600}
.stop{background:var(--fg);color:var(--bg)}
.send:disabled{opacity:.55;cursor:default}
`;

  const h = (tag, props, ...kids) => {
    const e = document.createElement(tag);
    for (const k in props) {
      const v = props[k];
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of kids.flat()) if (c != null && c !== false) e.append(c); // strings become text nodes
    return e;
  };
  const svg = (d) => {
    const ns = 'http://www.w3.org/2000/svg', s = document.createElementNS(ns, 'svg'), p = document.createElementNS(ns, 'path');
    s.setAttribute('viewBox', '0 0 24 24'); s.setAttribute('aria-hidden', 'true'); p.setAttribute('d', d); s.append(p);
    return s;
  };
  const safeUrl = (u) => {
    try { const url = new URL(u); return /^https?:$/.test(url.protocol) ? url.href : null; } catch (_) { return null; }
  };
  const fmtDate = (s) => {
    const m = /^(\d{4})-(\d\d)-(\d\d)/.exec(s || '');
    if (!m) return s || '';
    const d = new Date(Date.UTC(+m[1], m[2] - 1, +m[3]));
    return isNaN(d) ? s : d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' });
  };
  const MARKER = /\[(\d+(?:\s*,\s*\d+)*)\]/g;
  const stripMarkers = (t) => t.replace(/\s*\[\d+(?:\s*,\s*\d+)*\]/g, '').trim();
  const escRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  // Where the quote sits in the passage text: by character offsets, exactly, or ignoring whitespace.
  const locate = (text, p, c) => {
    const q = c.quote || '';
    if (!q.trim()) return null;
    const s = c.start - p.start;
    if (s >= 0 && c.end <= p.end && text.slice(s, s + q.length) === q) return [s, s + q.length];
    const i = text.indexOf(q);
    if (i >= 0) return [i, i + q.length];
    const m = new RegExp(q.trim().split(/\s+/).map(escRe).join('\\s+')).exec(text);
    return m ? [m.index, m.index + m[0].length] : null;
  };

  // Server-sent events from a fetch() body: yields [event, parsed data].
  async function* sse(body) {
    const reader = body.getReader(), dec = new TextDecoder();
    let buf = '';
    const parse = (block) => {
      let ev = 'message'; const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (!line || line[0] === ':') continue;
        const i = line.indexOf(':'), f = i < 0 ? line : line.slice(0, i);
        let v = i < 0 ? '' : line.slice(i + 1);
        if (v[0] === ' ') v = v.slice(1);
        if (f === 'event') ev = v; else if (f === 'data') data.push(v);
      }
      if (!data.length) return null;
      try { return [ev, JSON.parse(data.join('\n'))]; } catch (_) { return [ev, {}]; }
    };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        buf += done ? dec.decode() : dec.decode(value, { stream: true });
        let m;
        while ((m = /\r?\n\r?\n/.exec(buf))) {
          const ev = parse(buf.slice(0, m.index));
          buf = buf.slice(m.index + m[0].length);
          if (ev) yield ev;
        }
        if (done) { const ev = buf.trim() && parse(buf); if (ev) yield ev; return; }
      }
    } finally { reader.cancel().catch(() => {}); }
  }

  class Fail extends Error {
    constructor(kind, status, detail, wait) { super(kind); Object.assign(this, { kind, status, detail, wait }); }
  }
  const errorText = (e) => {
    const s = e.status;
    if (e.kind === 'net') return ['Couldn’t reach the answering service.', 'Check your connection and try again.', true];
    if (s === 429) {
      const n = e.wait;
      return ['Too many questions — try again in ' + (n ? n + (n === 1 ? ' second.' : ' seconds.') : 'a moment.'),
        'The service limits how often questions can be asked.', true];
    }
    if (s >= 500 || s === 408) return ['The answering service is unavailable right now.', 'Please try again in a moment.', true];
    if (s === 401 || s === 403) return ['This site isn’t allowed to use the answering service.', '', false];
    if (s === 404) return ['The answering service wasn’t found at this address.', '', false];
    return ['That question couldn’t be answered.', typeof e.detail === 'string' ? e.detail : '', false];
  };
  const retryAfter = (res, detail) => {
    const v = res.headers.get('Retry-After');
    let n = v && /^\d+$/.test(v.trim()) ? +v : v ? Math.ceil((Date.parse(v) - Date.now()) / 1000) : NaN;
    if (!(n > 0)) { const m = /(\d+)\s*(?:s\b|sec)/i.exec(detail || ''); n = m ? +m[1] : 0; }
    return n > 0 ? n : 0;
  };

  let seq = 0;
  class QaChat extends HTMLElement {
    static get observedAttributes() { return ['heading', 'placeholder', 'theme', 'accent', 'open']; }

    constructor() {
      super();
      this.root = this.attachShadow({ mode: 'open' });
      this.history = [];
      this.busy = false;
      this.ctrl = null;
      this.active = null; // {card, btn} of the open citation card
    }

    get endpoint() {
      const e = (this.getAttribute('endpoint') || '').trim();
      return (e ? new URL(e, location.href).href : scriptOrigin).replace(/\/+$/, '');
    }

    connectedCallback() {
      if (this.w) return;
      if (this.hasAttribute('title') && !this.hasAttribute('heading')) { // a title attribute would tooltip the whole widget
        this.setAttribute('heading', this.getAttribute('title')); this.removeAttribute('title');
      }
      const inline = this.getAttribute('mode') === 'inline';
      if (this.root.adoptedStyleSheets && window.CSSStyleSheet && 'replaceSync' in CSSStyleSheet.prototype) {
        const sheet = new CSSStyleSheet(); sheet.replaceSync(STYLE); this.root.adoptedStyleSheets = [sheet];
      } else this.root.append(h('style', { text: STYLE }));
      this.titleEl = h('h2', { id: 'h' });
      this.log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-labelledby': 'h', tabindex: '-1' },
        h('p', { class: 'hello', text: this.getAttribute('greeting') ||
          'Ask a question about the news on this site. Every sentence of the answer links to the article it comes from.' }));
      this.input = h('textarea', { id: 'q', rows: '1', enterkeyhint: 'send', autocomplete: 'off', onkeydown: (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.submit(); }
      }, oninput: () => this.grow() });
      this.sendBtn = h('button', { class: 'send', type: 'submit' }, 'Send');
      this.stopBtn = h('button', { class: 'stop', type: 'button', hidden: true, onclick: () => this.stop() }, 'Stop');
      this.panel = h('section', { class: 'panel', id: 'p', 'aria-labelledby': 'h', hidden: !inline },
        h('header', {}, this.titleEl, h('button', { class: 'x', type: 'button', 'aria-label': 'Close chat', onclick: () => this.hide(true) }, '×')),
        this.log,
        h('form', { onsubmit: (e) => { e.preventDefault(); this.submit(); } },
          h('label', { for: 'q', class: 'sr' }, 'Your question'), this.input, this.sendBtn, this.stopBtn));
      this.launcher = inline ? null : h('button', { class: 'launch', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'p',
        onclick: () => this.show(true) }, svg('M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z'), h('span'));
      this.w = h('div', { class: 'w ' + (inline ? 'inline' : 'float'), part: 'widget', onkeydown: (e) => this.onKey(e) },
        this.launcher, this.panel);
      this.root.append(this.w);
      for (const a of QaChat.observedAttributes) this.attributeChangedCallback(a);
      // Clicking elsewhere closes an open citation card.
      this.root.addEventListener('click', (e) => {
        const a = this.active;
        if (a && !a.card.contains(e.target) && !e.target.closest('.cite')) this.closeCard(false);
      });
    }

    attributeChangedCallback(name) {
      if (!this.w) return;
      const v = this.getAttribute(name);
      if (name === 'heading') {
        const t = v || 'Ask the news';
        this.titleEl.textContent = t;
        if (this.launcher) this.launcher.lastChild.textContent = t;
      } else if (name === 'placeholder') {
        this.input.placeholder = v || 'Ask about the news…';
      } else if (name === 'theme') {
        this.w.classList.remove('dark', 'auto');
        if (v === 'dark') this.w.classList.add('dark'); else if (v !== 'light') this.w.classList.add('auto');
      } else if (name === 'accent') {
        if (v && CSS.supports('color', v)) {
          this.w.style.setProperty('--a', v);
          const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(v.trim());
          if (m) {
            const hx = m[1].length === 3 ? m[1].replace(/./g, '$&$&') : m[1];
            const [r, g, b] = [0, 2, 4].map((i) => parseInt(hx.slice(i, i + 2), 16));
            this.w.style.setProperty('--at', 0.299 * r + 0.587 * g + 0.114 * b > 160 ? '#111' : '#fff');
          }
        } else { this.w.style.removeProperty('--a'); this.w.style.removeProperty('--at'); }
      } else if (name === 'open') {
        if (v !== null && v !== 'false') this.show(false); else if (this.launcher) this.hide(false);
      }
    }

    show(focus) {
      if (!this.launcher) return;
      this.panel.hidden = false; this.launcher.hidden = true;
      this.launcher.setAttribute('aria-expanded', 'true');
      if (focus) this.input.focus();
    }

    hide(focus) {
      if (!this.launcher) return;
      this.panel.hidden = true; this.launcher.hidden = false;
      this.launcher.setAttribute('aria-expanded', 'false');
      if (focus) this.launcher.focus();
    }

    grow() {
      if (CSS.supports('field-sizing', 'content')) return;
      this.input.style.height = 'auto';
      this.input.style.height = Math.min(this.input.scrollHeight + 2, 140) + 'px';
    }

    onKey(e) {
      if (e.key !== 'Escape') return;
      if (this.active) {
        const f = this.root.activeElement;
        e.stopPropagation();
        this.closeCard(f === this.active.btn || this.active.card.contains(f));
      } else if (this.launcher && !this.panel.hidden) this.hide(true);
    }

    submit() {
      const q = this.input.value.trim();
      if (!q || this.busy) return;
      this.input.value = '';
      this.grow();
      this.ask(q);
    }

    /** Ask a question (public API). */
    ask(question) {
      if (this.busy) return;
      this.show(false);
      const hello = this.log.querySelector('.hello');
      if (hello) hello.remove();
      const bot = h('div', { class: 'msg bot' });
      this.log.append(h('div', { class: 'msg user' }, h('span', { class: 'sr' }, 'You asked: '), question), bot);
      this.run({ q: question, hist: this.history.slice(-12), id: ++seq }, bot);
    }

    stop() { if (this.ctrl) this.ctrl.abort(); }

    setBusy(on) {
      const focused = this.root.activeElement;
      this.busy = on;
      this.sendBtn.hidden = on; this.stopBtn.hidden = !on;
      if (on && focused === this.sendBtn) this.stopBtn.focus();
      if (!on && focused === this.stopBtn) this.input.focus({ preventScroll: true });
    }

    scroll(force) {
      const l = this.log;
      if (force || l.scrollHeight - l.scrollTop - l.clientHeight < 120) l.scrollTop = l.scrollHeight;
    }

    async run(turn, el) {
      const ctrl = (this.ctrl = new AbortController());
      const label = h('span', {}, 'Searching the articles…');
      el.replaceChildren(h('div', { class: 'status' }, h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), label));
      this.setBusy(true);
      this.scroll(true);
      let passages = [], text = '', draft = null, final = null;
      try {
        const body = { question: turn.q, history: turn.hist };
        const k = parseInt(this.getAttribute('k'), 10);
        if (k > 0) body.k = k;
        let res;
        try {
          res = await fetch(this.endpoint + '/v1/ask/stream', { method: 'POST', signal: ctrl.signal,
            headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' }, body: JSON.stringify(body) });
        } catch (err) { throw ctrl.signal.aborted ? err : new Fail('net'); }
        if (!res.ok) {
          let detail = '';
          try { const j = await res.json(); detail = j.detail || j.message || ''; } catch (_) { /* not JSON */ }
          throw new Fail('http', res.status, detail, res.status === 429 ? retryAfter(res, detail) : 0);
        }
        if (!res.body || /json/.test(res.headers.get('Content-Type') || '')) {
          final = await res.json();
        } else {
          try {
            for await (const [ev, d] of sse(res.body)) {
              if (ev === 'passages') {
                passages = d.passages || [];
                label.textContent = 'Writing the answer…';
              } else if (ev === 'delta') {
                text += d.text || '';
                if (!draft) { draft = h('div', { class: 'draft', 'aria-hidden': 'true' }); el.replaceChildren(draft); }
                draft.textContent = text;
                this.scroll();
              } else if (ev === 'citations') {
                final = d;
              } else if (ev === 'error') {
                throw new Fail('http', +d.status || 503, d.message);
              } else if (ev === 'done') break;
            }
          } catch (err) { throw err instanceof Fail || ctrl.signal.aborted ? err : new Fail('net'); }
        }
        if (!final) throw new Fail('net');
        this.render(el, final, turn, passages);
      } catch (err) {
        if (ctrl.signal.aborted && !(err instanceof Fail && err.kind === 'http')) {
          el.replaceChildren();
          if (text) this.answer(el, text, passages, [], turn);
          el.append(h('p', { class: 'note' }, text ? 'Stopped. This partial answer hasn’t been checked against its sources.' : 'Stopped.'));
        } else this.fail(el, err instanceof Fail ? err : new Fail('net'), turn);
      } finally {
        if (this.ctrl === ctrl) this.ctrl = null;
        this.setBusy(false);
        this.scroll();
      }
    }

    render(el, d, turn, streamed) {
      el.replaceChildren();
      const answer = typeof d.answer === 'string' ? d.answer : '';
      this.history.push({ role: 'user', content: turn.q }, { role: 'assistant', content: stripMarkers(answer) });
      if (d.refused) {
        el.append(h('div', { class: 'refuse' }, h('strong', {}, 'The articles I have don’t cover that.'),
          h('p', {}, 'Try asking about something reported on this site, or rephrase your question.')));
        return;
      }
      this.answer(el, answer, d.passages && d.passages.length ? d.passages : streamed, d.citations || [], turn);
    }

    // The answer text with [n] markers as buttons, its citation card, and the sources list.
    answer(el, text, passages, citations, turn) {
      const pm = new Map(passages.map((p) => [p.number, p])), cm = new Map();
      for (const c of citations) { if (!cm.has(c.marker)) cm.set(c.marker, []); cm.get(c.marker).push(c); }
      const card = h('div', { class: 'card', id: 'c' + turn.id, hidden: true });
      const ans = h('div', { class: 'ans' });
      const used = [];
      let last = 0;
      for (const m of text.matchAll(MARKER)) {
        const nums = m[1].split(',').map((s) => +s.trim());
        if (!nums.every((n) => pm.has(n) || cm.has(n))) continue;
        ans.append(text.slice(last, m.index).replace(/[ \t]+$/, ''));
        last = m.index + m[0].length;
        for (const n of nums) {
          if (!used.includes(n)) used.push(n);
          ans.append(h('sup', {}, h('button', { class: 'cite', type: 'button', 'aria-label': 'Source ' + n, 'aria-expanded': 'false',
            'aria-controls': card.id, onclick: (e) => this.openCard(card, e.currentTarget, n, pm, cm),
            onfocus: (e) => this.openCard(card, e.currentTarget, n, pm, cm) }, String(n))));
        }
      }
      ans.append(text.slice(last));
      el.append(ans, card);
      const srcs = used.filter((n) => cm.has(n));
      if (srcs.length) {
        el.append(h('div', { class: 'srcs' }, h('h3', {}, 'Sources'), h('ol', {}, srcs.map((n) => {
          const c = cm.get(n)[0], p = pm.get(n) || {};
          const url = safeUrl(c.url || p.url), when = fmtDate(c.published || p.published), src = c.source || p.source;
          const title = c.title || p.title || 'Untitled article';
          return h('li', { value: String(n) }, h('span', { class: 'n', 'aria-hidden': 'true' }, n + '.'),
            h('span', {}, url ? h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, title) : title,
              when || src ? h('span', { class: 'd' }, ' — ' + [when, src].filter(Boolean).join(' · ')) : null));
        }))));
      }
    }

    openCard(card, btn, n, pm, cm) {
      if (this.active && this.active.btn === btn && !card.hidden) return;
      const cs = cm.get(n) || [], p = pm.get(n) || {}, c = cs[0] || {};
      const url = safeUrl(c.url || p.url), when = fmtDate(c.published || p.published), src = c.source || p.source;
      const quote = h('blockquote', {});
      const ptext = p.text || '';
      const ranges = cs.map((x) => locate(ptext, p, x)).filter(Boolean).sort((a, b) => a[0] - b[0]);
      if (ranges.length) {
        let at = 0;
        for (const [s, e] of ranges) {
          if (s < at) continue;
          quote.append(ptext.slice(at, s), h('mark', {}, ptext.slice(s, e)));
          at = e;
        }
        quote.append(ptext.slice(at));
      } else if (cs.some((x) => x.quote)) {
        cs.forEach((x, i) => x.quote && quote.append(i ? ' … ' : '', h('mark', {}, x.quote)));
      } else quote.append(ptext);
      const meta = [when, src].filter(Boolean).join(' · ');
      card.replaceChildren(
        h('div', { class: 'ch' }, h('strong', {}, '[' + n + '] ' + (c.title || p.title || 'Untitled article')),
          h('button', { class: 'cx', type: 'button', 'aria-label': 'Close source ' + n, onclick: () => this.closeCard(true) }, '×')),
        meta || url ? h('p', { class: 'meta' }, meta, meta && url ? ' · ' : '',
          url ? h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, 'Read the article', h('span', { class: 'sr' }, ' (opens in a new tab)'), ' ↗') : null) : null,
        quote);
      card.setAttribute('aria-label', 'Source ' + n);
      if (this.active) this.active.btn.setAttribute('aria-expanded', 'false');
      btn.setAttribute('aria-expanded', 'true');
      card.hidden = false;
      this.active = { card, btn };
      // Keep the card in view inside the transcript without scrolling the host page.
      const l = this.log, lr = l.getBoundingClientRect(), cr = card.getBoundingClientRect();
      if (cr.bottom > lr.bottom) l.scrollTop += Math.min(cr.bottom - lr.bottom + 8, btn.getBoundingClientRect().top - lr.top - 8);
    }

    closeCard(refocus) {
      const a = this.active;
      if (!a) return;
      this.active = null;
      a.card.hidden = true;
      a.btn.setAttribute('aria-expanded', 'false');
      if (refocus) {
        // Focusing the marker would reopen the card: suppress that one focus event.
        const stopOpen = (e) => e.stopImmediatePropagation();
        a.btn.addEventListener('focus', stopOpen, { capture: true, once: true });
        a.btn.focus();
        a.btn.removeEventListener('focus', stopOpen, { capture: true });
      }
    }

    fail(el, err, turn) {
      const [title, more, retry] = errorText(err);
      el.replaceChildren(h('div', { class: 'err' }, h('strong', {}, title), more ? h('p', {}, more) : null,
        retry ? h('button', { class: 'retry', type: 'button', onclick: () => {
          if (this.busy) return;
          this.run(turn, el);
          this.stopBtn.focus();
        } }, 'Retry') : null));
    }
  }
  customElements.define('qa-chat', QaChat);

  // Auto-mount one widget from the <script> tag's data-* attributes.
  if (!script || script.dataset.mount === 'false') return;
  const mount = () => {
    const ds = script.dataset, el = document.createElement('qa-chat');
    const map = { endpoint: 'endpoint', title: 'heading', placeholder: 'placeholder', greeting: 'greeting', accent: 'accent',
      color: 'accent', colour: 'accent', theme: 'theme', open: 'open', mode: 'mode', k: 'k' };
    for (const key in map) if (ds[key] != null && !(key === 'open' && ds[key] === 'false')) el.setAttribute(map[key], ds[key]);
    const target = ds.target && document.querySelector(ds.target);
    if (target) { el.setAttribute('mode', ds.mode || 'inline'); target.append(el); } else document.body.append(el);
  };
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
})();
