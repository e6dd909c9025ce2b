/* qa-chat, the embeddable news Q&A widget (plain JS, no build). <script src=".../widget.js" data-endpoint="...">
 * mounts one from its data-* attributes, or use <qa-chat endpoint="..." mode="inline">. Attributes: endpoint,
 * heading (data-title), placeholder, greeting, accent (data-color), theme (light|dark|auto), open, mode, k. */
(() => {
'use strict';
const script = document.currentScript;
let scriptOrigin = location.origin;
try { scriptOrigin = new URL(script.src, location.href).origin; } catch (_) { /* no script */ }

const STYLE = `
.w{all:initial;display:block;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
--a:var(--qa-accent,#1f5bd8);--at:var(--qa-accent-text,#fff);--bg:#fff;--fg:#1c2026;--mut:#5a6370;--bd:#d3d8df;--sub:#f2f4f7;
--lnk:var(--a);--mk:#ffe27a;--mkf:#1c2026;--wbg:#fff5db;--wbd:#d9a514;--ebg:#fdeeee;--ebd:#cf3b3b;--sh:0 8px 32px rgba(0,0,0,.18)}
.w.dark{--bg:#17191d;--fg:#e7e9ec;--mut:#a1a9b4;--bd:#3a414b;--sub:#242830;--lnk:color-mix(in srgb,var(--a) 45%,#fff);
--mk:#8d6e00;--mkf:#fff;--wbg:#3a3016;--wbd:#c9a227;--ebg:#3d1e1f;--ebd:#e06c6c;--sh:0 8px 32px rgba(0,0,0,.6)}
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none!important}
button,textarea{font:inherit;color:inherit;letter-spacing:normal;text-transform:none;margin:0}
button{cursor:pointer}
:focus-visible{outline:3px solid var(--lnk);outline-offset:2px}
a{color:var(--lnk);text-underline-offset:2px}
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
.x,.cx{flex:none;width:36px;height:36px;border:0;border-radius:8px;background:none;font-size:22px;line-height:1}
.x:hover{background:rgba(255,255,255,.18)}
.x:focus-visible{outline-color:var(--at);outline-offset:-3px}
.log{flex:1;overflow:hidden auto;padding:14px;display:flex;flex-direction:column;gap:12px;overscroll-behavior:contain}
.hello{margin:0;color:var(--mut)}
.msg{overflow-wrap:anywhere}
.user{align-self:flex-end;max-width:85%;padding:8px 12px;border-radius:14px 14px 4px 14px;background:var(--a);color:var(--at);white-space:pre-wrap}
.bot{padding:10px 12px;border-radius:14px 14px 14px 4px;background:var(--sub)}
.bot.plain{padding:0;background:none}
.ans,.draft{white-space:pre-line}
.draft::after{content:'';display:inline-block;width:.5em;height:1em;margin-left:2px;vertical-align:-.15em;background:currentColor;animation:k 1s steps(2) infinite}
@keyframes k{50%{opacity:0}}
.status{display:flex;align-items:center;gap:8px;color:var(--mut)}
.dots{display:inline-flex;gap:4px}
.dots i{width:7px;height:7px;border-radius:50%;background:currentColor;opacity:.25;animation:b 1.2s infinite}
.dots i:nth-child(2){animation-delay:.15s}.dots i:nth-child(3){animation-delay:.3s}
@keyframes b{40%{opacity:1;transform:translateY(-3px)}}
@media (prefers-reduced-motion:reduce){.dots i,.draft::after{animation:none}}
sup{line-height:0;position:relative;top:-.4em;font-size:75%}
.cite{min-width:1.7em;padding:1px 5px;margin:0 1px;border:1px solid var(--lnk);border-radius:5px;background:var(--bg);color:var(--lnk);
font-size:12px;font-weight:700;line-height:1.3}
.cite:hover,.cite[aria-expanded=true]{background:var(--a);border-color:var(--a);color:var(--at)}
.card{margin-top:10px;padding:10px 12px;border:1px solid var(--bd);border-left:4px solid var(--a);border-radius:8px;background:var(--bg)}
.ch{display:flex;align-items:flex-start;gap:8px}
.ch strong{flex:1;font-size:14px;line-height:1.35;padding-top:2px}
.cx{width:30px;height:30px;margin:-4px -6px 0 0;font-size:20px;color:var(--mut)}
.meta{margin:4px 0 0;color:var(--mut);font-size:13px}
blockquote{margin:8px 0 0;font-size:14px;white-space:pre-line}
mark{background:var(--mk);color:var(--mkf);border-radius:2px;padding:0 1px}
.srcs{margin-top:10px;padding-top:8px;border-top:1px solid var(--bd);font-size:13px}
h3{margin:0 0 4px;font-size:13px;font-weight:650;color:var(--mut)}
ol{margin:0;padding:0;list-style:none}
li{display:flex;gap:6px;margin:3px 0}
.n,.d{color:var(--mut)}
.n{flex:none;min-width:1.6em;font-weight:700}
.note{margin:8px 0 0;color:var(--mut);font-size:13px;font-style:italic}
.refuse,.err{padding:10px 12px;border-radius:10px;border:1px solid var(--wbd);border-left-width:4px;background:var(--wbg)}
.err{border-color:var(--ebd);background:var(--ebg)}
.refuse p,.err p{margin:2px 0 0}
.retry{margin-top:8px;padding:6px 14px;border:1px solid var(--fg);border-radius:8px;background:var(--bg);font-weight:600}
form{display:flex;align-items:flex-end;gap:8px;padding:10px;border-top:1px solid var(--bd)}
textarea{flex:1;min-width:0;min-height:42px;max-height:140px;resize:none;padding:9px 12px;border:1px solid var(--bd);border-radius:10px;
background:var(--bg);font-size:16px;line-height:1.4;field-sizing:content}
textarea::placeholder{color:var(--mut);opacity:1}
.send,.stop{flex:none;height:42px;padding:0 16px;border:0;border-radius:10px;background:var(--a);color:var(--at);font-weight:600}
.stop{background:var(--fg);color:var(--bg)}
`;

// h('tag', {attr, class, text, onevent}, ...children): strings become text nodes, never HTML.
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
  for (const c of kids.flat()) if (c != null && c !== false) e.append(c);
  return e;
};
const safeUrl = (u) => { try { const url = new URL(u); return /^https?:$/.test(url.protocol) ? url.href : null; } catch (_) { return null; } };
const fmtDate = (s) => {
  const m = /^(\d{4})-(\d\d)-(\d\d)/.exec(s || '');
  const d = m && new Date(Date.UTC(+m[1], m[2] - 1, +m[3]));
  return d && !isNaN(d) ? d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' }) : s || '';
};
const MARKER = /\[(\d+(?:\s*,\s*\d+)*)\]/g;
const stripMarkers = (t) => t.replace(/\s*\[\d+(?:\s*,\s*\d+)*\]/g, '').trim();
// Title, date · source, link of citation c / passage p.
const about = (c, p) => ({
  title: c.title || p.title || 'Untitled article', url: safeUrl(c.url || p.url),
  meta: [fmtDate(c.published || p.published), c.source || p.source].filter(Boolean).join(' · '),
});
const link = (url, ...kids) => h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, ...kids,
  h('span', { class: 'sr' }, ' (opens in a new tab)'));

// Where citation c's quote sits in passage p's text: by offsets, exactly, or ignoring whitespace.
const locate = (p, c) => {
  const text = p.text || '', q = c.quote || '', s = c.start - p.start;
  if (!q.trim()) return null;
  if (s >= 0 && text.slice(s, s + q.length) === q) return [s, s + q.length];
  const i = text.indexOf(q);
  if (i >= 0) return [i, i + q.length];
  const m = new RegExp(q.trim().split(/\s+/).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('\\s+')).exec(text);
  return m && [m.index, m.index + m[0].length];
};

// [event, data] pairs of server-sent events from a fetch() body (EventSource can't POST).
async function* sse(body) {
  const reader = body.getReader(), dec = new TextDecoder();
  const parse = (block) => {
    let ev = 'message'; const data = [];
    for (const line of block.split(/\r?\n/)) {
      const i = line.indexOf(':'), f = i < 0 ? line : line.slice(0, i), v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (f === 'event') ev = v; else if (f === 'data') data.push(v);
    }
    if (!data.length) return null;
    try { return [ev, JSON.parse(data.join('\n'))]; } catch (_) { return [ev, {}]; }
  };
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buf += dec.decode(value, { stream: !done });
      let m, ev;
      while ((m = /\r?\n\r?\n/.exec(buf))) {
        ev = parse(buf.slice(0, m.index));
        buf = buf.slice(m.index + m[0].length);
        if (ev) yield ev;
      }
      if (done) { if ((ev = parse(buf))) yield ev; return; }
    }
  } finally { reader.cancel().catch(() => {}); }
}

class Fail extends Error {
  constructor(status, detail, wait) { super('qa ' + status); Object.assign(this, { status, detail, wait }); }
}
// [headline, explanation, retryable?] of a failure; status 0: the network.
const explain = ({ status: s, detail, wait: n }) =>
  !s ? ['Couldn’t reach the answering service.', 'Check your connection and try again.', true]
  : s === 429 ? ['Too many questions — try again in ' + (n ? n + (n === 1 ? ' second.' : ' seconds.') : 'a moment.'),
    'The service limits how often questions can be asked.', true]
  : s >= 500 || s === 408 ? ['The answering service is unavailable right now.', 'Please try again in a moment.', true]
  : s === 401 || s === 403 ? ['This site isn’t allowed to use the answering service.', '', false]
  : ['That question couldn’t be answered.', String(detail || ''), false];
const retryAfter = (res, detail) => {
  const v = (res.headers.get('Retry-After') || '').trim();
  let n = +v || Math.ceil((Date.parse(v) - Date.now()) / 1000); // seconds or an HTTP date
  if (!(n > 0)) n = +(/(\d+)\s*(?:s\b|sec)/i.exec(detail) || [])[1] || 0;
  return n;
};
const darkQuery = matchMedia('(prefers-color-scheme: dark)');

let seq = 0;
class QaChat extends HTMLElement {
  static observedAttributes = ['heading', 'placeholder', 'theme', 'accent', 'open'];

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    this.history = [];
    this.active = null; // {card, btn}: the open citation card and the marker that opened it
    this.onScheme = () => this.attributeChangedCallback('theme');
  }

  get endpoint() { // default: widget.js's origin
    const e = this.getAttribute('endpoint')?.trim();
    return (e ? new URL(e, location.href).href : scriptOrigin).replace(/\/+$/, '');
  }

  connectedCallback() {
    darkQuery.addEventListener('change', this.onScheme);
    if (this.w) return;
    if (this.title && !this.hasAttribute('heading')) { this.setAttribute('heading', this.title); this.title = ''; } // no tooltip
    const inline = this.getAttribute('mode') === 'inline', root = this.root;
    try { const sheet = new CSSStyleSheet(); sheet.replaceSync(STYLE); root.adoptedStyleSheets = [sheet]; } // CSP-proof
    catch (_) { root.append(h('style', { text: STYLE })); }
    this.titleEl = h('h2', { id: 'h' });
    this.log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', tabindex: '-1' },
      h('p', { class: 'hello', text: this.getAttribute('greeting') ||
        'Ask about the news on this site. Every sentence of the answer links to its source.' }));
    this.input = h('textarea', { id: 'q', rows: '1', enterkeyhint: 'send', onkeydown: (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.submit(); }
    }, oninput: () => this.grow() });
    this.sendBtn = h('button', { class: 'send', type: 'submit' }, 'Send');
    this.stopBtn = h('button', { class: 'stop', type: 'button', hidden: true, onclick: () => this.ctrl && this.ctrl.abort() }, 'Stop');
    this.panel = h('section', { class: 'panel', id: 'p', 'aria-labelledby': 'h', hidden: !inline },
      h('header', {}, this.titleEl, h('button', { class: 'x', type: 'button', 'aria-label': 'Close chat', onclick: () => this.toggle(false, true) }, '×')),
      this.log,
      h('form', { onsubmit: (e) => { e.preventDefault(); this.submit(); } },
        h('label', { for: 'q', class: 'sr' }, 'Your question'), this.input, this.sendBtn, this.stopBtn));
    if (!inline) {
      const ns = 'http://www.w3.org/2000/svg', icon = document.createElementNS(ns, 'svg'), path = document.createElementNS(ns, 'path');
      icon.setAttribute('viewBox', '0 0 24 24'); icon.setAttribute('aria-hidden', 'true'); icon.append(path);
      path.setAttribute('d', 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z');
      this.launcher = h('button', { class: 'launch', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'p',
        onclick: () => this.toggle(true, true) }, icon, h('span'));
    }
    this.w = h('div', { class: 'w ' + (inline ? 'inline' : 'float'), part: 'widget', onkeydown: (e) => this.onKey(e) },
      this.launcher, this.panel);
    root.append(this.w);
    for (const a of QaChat.observedAttributes) this.attributeChangedCallback(a);
    root.addEventListener('click', (e) => { // a click elsewhere closes the citation card
      if (this.active && !this.active.card.contains(e.target) && !e.target.closest('.cite')) this.closeCard(false);
    });
  }

  disconnectedCallback() { darkQuery.removeEventListener('change', this.onScheme); }

  attributeChangedCallback(name) {
    if (!this.w) return;
    const v = this.getAttribute(name), w = this.w;
    if (name === 'heading') {
      this.titleEl.textContent = v || 'Ask the news';
      if (this.launcher) this.launcher.lastChild.textContent = v || 'Ask the news';
    } else if (name === 'placeholder') {
      this.input.placeholder = v || 'Ask about the news…';
    } else if (name === 'theme') {
      w.classList.toggle('dark', v === 'dark' || (v !== 'light' && darkQuery.matches));
    } else if (name === 'accent') {
      w.style.removeProperty('--a'); w.style.removeProperty('--at');
      if (!v || !CSS.supports('color', v)) return;
      w.style.setProperty('--a', v);
      const m = /^#(\w\w?)(\w\w?)(\w\w?)$/.exec(v.trim()); // pick dark or light text for a #rgb / #rrggbb accent
      if (m) {
        const [r, g, b] = m.slice(1).map((x) => parseInt(x.length === 1 ? x + x : x, 16));
        w.style.setProperty('--at', 0.299 * r + 0.587 * g + 0.114 * b > 160 ? '#111' : '#fff');
      }
    } else if (name === 'open') {
      this.toggle(v !== null && v !== 'false');
    }
  }

  /** Open or close the floating panel (public), moving focus into it or back to the launcher. */
  toggle(open, focus) {
    const l = this.launcher;
    if (!l) return;
    this.panel.hidden = !open; l.hidden = open;
    l.setAttribute('aria-expanded', open);
    if (focus) (open ? this.input : l).focus();
  }

  grow() { // for browsers without `field-sizing`
    if (CSS.supports('field-sizing', 'content')) return;
    const s = this.input.style;
    s.height = 'auto'; s.height = Math.min(this.input.scrollHeight + 2, 140) + 'px';
  }

  onKey(e) {
    if (e.key !== 'Escape') return;
    const a = this.active, f = this.root.activeElement;
    if (a) { e.stopPropagation(); this.closeCard(f === a.btn || a.card.contains(f)); }
    else if (!this.panel.hidden) this.toggle(false, true);
  }

  submit() {
    const q = this.input.value.trim();
    if (!q || this.busy) return;
    this.input.value = '';
    this.grow();
    this.ask(q);
  }

  /** Ask a question, as if typed (public). */
  ask(question) {
    if (this.busy) return;
    this.toggle(true);
    const bot = h('div');
    this.log.querySelector('.hello')?.remove();
    this.log.append(h('div', { class: 'msg user' }, h('span', { class: 'sr' }, 'You asked: '), question), bot);
    this.run({ q: question, hist: this.history.slice(-12), id: ++seq }, bot);
  }

  setBusy(on) {
    const f = this.root.activeElement;
    this.busy = on;
    this.sendBtn.hidden = on; this.stopBtn.hidden = !on;
    if (on && f === this.sendBtn) this.stopBtn.focus();
    if (!on && f === this.stopBtn) this.input.focus({ preventScroll: true });
  }

  scroll(force) {
    const l = this.log;
    if (force || l.scrollHeight - l.scrollTop - l.clientHeight < 120) l.scrollTop = l.scrollHeight;
  }

  async run(turn, el) {
    const ctrl = (this.ctrl = new AbortController()), label = h('span', {}, 'Searching the articles…');
    el.className = 'msg bot';
    el.replaceChildren(h('div', { class: 'status' }, h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), label));
    this.setBusy(true);
    this.scroll(true);
    let passages = [], text = '', draft = null, final = null;
    try {
      const body = { question: turn.q, history: turn.hist }, k = parseInt(this.getAttribute('k'), 10);
      if (k > 0) body.k = k;
      let res;
      try {
        res = await fetch(this.endpoint + '/v1/ask/stream', { method: 'POST', signal: ctrl.signal, body: JSON.stringify(body),
          headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' } });
      } catch (err) { throw ctrl.signal.aborted ? err : new Fail(0); }
      if (!res.ok) {
        let detail = '';
        try { const j = await res.json(); detail = j.detail || j.message || ''; } catch (_) { /* not JSON */ }
        throw new Fail(res.status, detail, res.status === 429 && retryAfter(res, detail));
      }
      try {
        for await (const [ev, d] of sse(res.body)) {
          if (ev === 'passages') {
            passages = d.passages || [];
            label.textContent = 'Writing the answer…';
          } else if (ev === 'delta') { // shown as it streams, hidden from screen readers until final
            text += d.text || '';
            if (!draft) el.replaceChildren((draft = h('div', { class: 'draft', 'aria-hidden': 'true' })));
            draft.textContent = text;
            this.scroll();
          } else if (ev === 'citations') final = d;
          else if (ev === 'error') throw new Fail(+d.status || 503, d.message);
          else if (ev === 'done') break;
        }
      } catch (err) { throw err instanceof Fail || ctrl.signal.aborted ? err : new Fail(0); }
      if (!final) throw new Fail(0); // the stream ended early
      this.render(el, final, turn, passages);
    } catch (err) {
      if (ctrl.signal.aborted && !(err instanceof Fail)) { // Stop: keep what arrived
        el.replaceChildren();
        if (text) this.answer(el, text, passages, [], turn);
        el.append(h('p', { class: 'note' }, text ? 'Stopped. This partial answer wasn’t checked against its sources.' : 'Stopped.'));
      } else this.fail(el, err instanceof Fail ? err : new Fail(0), turn);
    } finally {
      if (this.ctrl === ctrl) this.ctrl = null;
      this.setBusy(false);
      this.scroll();
    }
  }

  render(el, d, turn, streamed) {
    const answer = String(d.answer || '');
    el.replaceChildren();
    this.history.push({ role: 'user', content: turn.q }, { role: 'assistant', content: stripMarkers(answer) });
    if (!d.refused) return this.answer(el, answer, d.passages && d.passages.length ? d.passages : streamed, d.citations || [], turn);
    el.classList.add('plain');
    el.append(h('div', { class: 'refuse' }, h('strong', {}, 'The articles I have don’t cover that.'),
      h('p', {}, 'Try asking about something reported on this site, or rephrase your question.')));
  }

  // The answer with its [n] markers as buttons, the citation card, and the sources list.
  answer(el, text, passages, citations, turn) {
    const pm = new Map(passages.map((p) => [p.number, p])), cm = new Map(), used = [];
    for (const c of citations) cm.set(c.marker, [...(cm.get(c.marker) || []), c]);
    const card = h('div', { class: 'card', id: 'c' + turn.id, hidden: true }), ans = h('div', { class: 'ans' });
    let last = 0;
    for (const m of text.matchAll(MARKER)) {
      const nums = m[1].split(',').map(Number);
      if (!nums.every((n) => pm.has(n) || cm.has(n))) continue;
      ans.append(text.slice(last, m.index).trimEnd());
      last = m.index + m[0].length;
      for (const n of nums) {
        if (!used.includes(n)) used.push(n);
        const open = (e) => this.openCard(card, e.currentTarget, n, pm, cm);
        ans.append(h('sup', {}, h('button', { class: 'cite', type: 'button', 'aria-label': 'Source ' + n, 'aria-expanded': 'false',
          'aria-controls': card.id, onclick: open,
          // Keyboard focus opens it; a mouse waits for the click (opening moves text under the pointer).
          onfocus: (e) => !this.refocus && e.currentTarget.matches(':focus-visible') && open(e) }, String(n))));
      }
    }
    ans.append(text.slice(last));
    el.append(ans, card);
    const cited = used.filter((n) => cm.has(n));
    if (cited.length) {
      el.append(h('div', { class: 'srcs' }, h('h3', {}, 'Sources'), h('ol', {}, cited.map((n) => {
        const { title, url, meta } = about(cm.get(n)[0], pm.get(n) || {});
        return h('li', { value: String(n) }, h('span', { class: 'n', 'aria-hidden': 'true' }, n + '.'),
          h('span', {}, url ? link(url, title) : title, meta && h('span', { class: 'd' }, ' — ' + meta)));
      }))));
    }
  }

  openCard(card, btn, n, pm, cm) {
    if (this.active && this.active.btn === btn) return;
    const cs = cm.get(n) || [], p = pm.get(n) || {}, { title, url, meta } = about(cs[0] || {}, p);
    const text = p.text || '', quote = h('blockquote');
    const ranges = cs.map((c) => locate(p, c)).filter(Boolean).sort((a, b) => a[0] - b[0]);
    if (ranges.length) { // the passage, with every quote cited as [n] highlighted
      let at = 0;
      for (const [s, e] of ranges) if (s >= at) { quote.append(text.slice(at, s), h('mark', {}, text.slice(s, e))); at = e; }
      quote.append(text.slice(at));
    } else if (cs.some((c) => c.quote)) { // quote not found in the passage: show the quote itself
      cs.forEach((c, i) => c.quote && quote.append(i ? ' … ' : '', h('mark', {}, c.quote)));
    } else quote.append(text);
    card.replaceChildren(...[
      h('div', { class: 'ch' }, h('strong', {}, `[${n}] ${title}`),
        h('button', { class: 'cx', type: 'button', 'aria-label': 'Close source ' + n, onclick: () => this.closeCard(true) }, '×')),
      (meta || url) && h('p', { class: 'meta' }, meta, meta && url && ' · ', url && link(url, 'Read the article ↗')),
      quote].filter(Boolean));
    card.setAttribute('aria-label', 'Source ' + n);
    this.closeCard(false);
    btn.setAttribute('aria-expanded', 'true');
    card.hidden = false;
    this.active = { card, btn };
    // Scroll the card into view inside the transcript only, keeping the marker visible.
    const l = this.log, lr = l.getBoundingClientRect(), cr = card.getBoundingClientRect();
    if (cr.bottom > lr.bottom) l.scrollTop += Math.min(cr.bottom - lr.bottom + 8, btn.getBoundingClientRect().top - lr.top - 8);
  }

  closeCard(refocus) {
    const a = this.active;
    if (!a) return;
    this.active = null;
    a.card.hidden = true;
    a.btn.setAttribute('aria-expanded', 'false');
    if (refocus) { this.refocus = true; a.btn.focus(); this.refocus = false; } // without reopening it
  }

  fail(el, err, turn) {
    const [title, more, retry] = explain(err);
    el.classList.add('plain');
    el.replaceChildren(h('div', { class: 'err' }, h('strong', {}, title), more && h('p', {}, more),
      retry && h('button', { class: 'retry', type: 'button', onclick: () => {
        if (!this.busy) { this.run(turn, el); this.stopBtn.focus(); }
      } }, 'Retry')));
  }
}
if (!customElements.get('qa-chat')) customElements.define('qa-chat', QaChat);

// Auto-mount one widget from the <script> tag's data-* attributes (data-mount="false" to skip).
if (!script || script.dataset.mount === 'false') return;
const mount = () => {
  const ds = script.dataset, el = document.createElement('qa-chat');
  el.setAttribute('endpoint', ds.endpoint || scriptOrigin);
  const map = { title: 'heading', placeholder: 'placeholder', greeting: 'greeting', accent: 'accent',
    color: 'accent', colour: 'accent', theme: 'theme', open: 'open', mode: 'mode', k: 'k' };
  for (const key in map) if (ds[key] != null && !(key === 'open' && ds[key] === 'false')) el.setAttribute(map[key], ds[key]);
  const target = ds.target && document.querySelector(ds.target);
  if (target) { if (!ds.mode) el.setAttribute('mode', 'inline'); target.append(el); } else document.body.append(el);
};
if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
})();
