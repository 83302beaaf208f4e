// The console's stylesheet, served as /assets/console.css (the CSP allows no inline style). Kept in a
// module so that the tsc build and the esbuild bundle carry it without copying files.
export const CONSOLE_CSS = `
:root { color-scheme: light; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg: #ffffff; --panel: #f6f8fa;
  --accent: #0a58ca; --ok: #116329; --warn: #7d4e00; --bad: #a40e26; --focus: #bf5700; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 1rem; top: 1rem; background: var(--bg); padding: .5rem; z-index: 10; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.5rem; padding: .75rem 1rem; border-bottom: 1px solid var(--line); background: var(--panel); }
header.top .brand { font-weight: 700; font-size: 1.1rem; text-decoration: none; color: var(--fg); }
nav ul { display: flex; flex-wrap: wrap; gap: .25rem 1rem; list-style: none; margin: 0; padding: 0; }
nav a[aria-current="page"] { font-weight: 700; }
header.top form { margin-left: auto; }
main { padding: 1rem; max-width: 72rem; margin: 0 auto; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
.table-wrap { overflow-x: auto; /* narrow windows scroll a wide table sideways (focusable, for keyboards) */ border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: break-word; }
th { background: var(--panel); font-weight: 600; }
tr:last-child td { border-bottom: 0; }
.phase { font-weight: 600; white-space: nowrap; }
.phase-Ready { color: var(--ok); } .phase-Failed { color: var(--bad); } .phase-Suspended, .phase-Provisioning { color: var(--warn); }
.filters { display: flex; flex-wrap: wrap; gap: .75rem; align-items: flex-end; margin-bottom: 1rem; }
.field { display: flex; flex-direction: column; gap: .2rem; margin-bottom: .75rem; }
label, legend { font-weight: 600; }
input, select, button { font: inherit; padding: .4rem .55rem; border: 1px solid #8c959f; border-radius: 4px; background: var(--bg); color: var(--fg); }
input[aria-invalid="true"] { border-color: var(--bad); }
button { cursor: pointer; background: var(--accent); color: #fff; border-color: var(--accent); }
button.secondary { background: var(--bg); color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
button:disabled { background: #8c959f; border-color: #8c959f; cursor: not-allowed; }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 0 0 1rem; padding: .75rem 1rem; }
.choices { display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; }
.choices label { font-weight: 400; display: flex; gap: .4rem; align-items: center; }
.hint { color: var(--muted); font-size: .9rem; margin: 0; }
.error { color: var(--bad); font-size: .9rem; margin: 0; }
.notice { border: 1px solid var(--line); border-left: 4px solid var(--accent); padding: .5rem .75rem; background: var(--panel); margin: 0 0 1rem; }
.notice.bad { border-left-color: var(--bad); }
.notice.ok { border-left-color: var(--ok); }
dl.facts { display: grid; grid-template-columns: minmax(8rem, max-content) 1fr; gap: .25rem 1rem; margin: 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: break-word; }
.grid { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(20rem, 1fr)); }
.panel { border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; }
.actions { display: flex; flex-wrap: wrap; gap: 1rem; }
.actions form { border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; flex: 1 1 18rem; }
progress { width: 100%; height: 1.25rem; }
ol.steps { padding-left: 1.25rem; }
.signin { max-width: 26rem; margin: 3rem auto; }
[hidden] { display: none !important; }
@media (max-width: 40rem) { main { padding: .75rem; } dl.facts { grid-template-columns: 1fr; } header.top form { margin-left: 0; } }
`;
