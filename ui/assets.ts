/**
 * The dashboard's only assets, served from `/ui/static/` (no external ones, no build
 * step). The script is a file of its own because Hono JSX escapes text inside `<script>`.
 *
 * @module
 */

export const STYLE = `
:root { color-scheme: light dark; --accent: #2563eb; --bad: #b91c1c; --ok: #15803d; --muted: #6b7280; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid #8884; }
header strong { font-size: 1.1rem; margin-right: .5rem; }
nav { display: flex; flex-wrap: wrap; gap: .25rem .9rem; flex: 1; }
nav a[aria-current="page"] { font-weight: 700; text-decoration: underline; }
a { color: var(--accent); }
main { padding: 1rem; max-width: 80rem; margin: 0 auto; }
h1 { font-size: 1.3rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #8883; vertical-align: top; }
th { font-weight: 600; white-space: nowrap; }
code, .mono { font-family: ui-monospace, monospace; font-size: .9em; }
.counts { display: flex; flex-wrap: wrap; gap: .6rem; padding: 0; list-style: none; }
.counts li { border: 1px solid #8885; border-radius: .4rem; padding: .4rem .8rem; }
.counts b { display: block; font-size: 1.3rem; }
.state-Running, .ready { color: var(--ok); }
.state-Failed, .down { color: var(--bad); }
.muted { color: var(--muted); }
meter { width: 7rem; }
form.inline { display: inline-flex; gap: .35rem; align-items: center; margin: 0 .3rem .2rem 0; }
input, select, button { font: inherit; padding: .25rem .5rem; }
input[type="number"] { width: 5rem; }
button { cursor: pointer; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.error { color: var(--bad); }
pre.logs { background: #8881; padding: .6rem; max-height: 24rem; overflow: auto; white-space: pre-wrap; }
.signin { max-width: 28rem; margin: 3rem auto; display: grid; gap: .6rem; }
@media (max-width: 40rem) { main { padding: .6rem; } th, td { padding: .3rem .4rem; } }
`;

/**
 * Live updates: the page listens to the event stream and, on a change, fetches its own
 * content again and swaps it in (no reload, no polling). Not while the user is typing in
 * a field of it: then after they leave it. A task's page also follows its logs.
 */
export const LIVE_SCRIPT = `
(() => {
  const main = document.querySelector("main");
  if (!main || !window.EventSource) return;
  let timer = null;
  let waiting = false;
  const busy = () => main.contains(document.activeElement) &&
    ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  const refresh = () => {
    if (busy()) { waiting = true; return; }
    clearTimeout(timer);
    timer = setTimeout(async () => {
      let response;
      try {
        response = await fetch(location.href, { headers: { "x-cube-fragment": "1" } });
      } catch {
        // A dropped connection (the network changed, the manager restarted): again soon.
        setTimeout(refresh, 1000);
        return;
      }
      if (!response.ok) return;
      const logs = main.querySelector("pre.logs");
      main.innerHTML = await response.text();
      const fresh = main.querySelector("pre.logs");
      if (logs && fresh) fresh.replaceWith(logs);
      document.body.dataset.updated = String(Date.now());
    }, 150);
  };
  main.addEventListener("focusout", () => { if (waiting) { waiting = false; refresh(); } });
  const source = new EventSource("/ui/stream" + (main.dataset.filter || ""));
  for (const type of ["task", "service", "node"]) source.addEventListener(type, refresh);
  // The page was drawn before the stream opened, and a stream cut (the browser drops
  // connections when the host's network changes) opens again: what changed meanwhile
  // came in no event, so each opening draws the page afresh.
  source.addEventListener("open", refresh);
  const logs = main.querySelector("pre.logs[data-follow]");
  if (logs) {
    (async () => {
      const response = await fetch(logs.dataset.follow);
      if (!response.ok || !response.body) return;
      logs.textContent = "";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const current = main.querySelector("pre.logs") || logs;
        current.textContent += value;
        current.scrollTop = current.scrollHeight;
      }
    })();
  }
})();
`;
