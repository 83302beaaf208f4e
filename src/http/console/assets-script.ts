// The console's only script, served as /assets/console.js (the CSP allows no inline script): live updates
// over server-sent events, slug validation as you type, the form's database options, the job progress bar
// and the delete confirmation. Every string from the server is set as text (textContent), never as HTML.
// Kept in a module so that the tsc build and the esbuild bundle carry it without copying files.
export const CONSOLE_JS = `
'use strict';
(function () {
  function byId(id) { return document.getElementById(id); }
  function setText(el, text) { if (el) el.textContent = text == null ? '' : String(text); }

  // Stores table: phases and last change arrive as server-sent events.
  var table = document.querySelector('[data-live-stores]');
  if (table && window.EventSource) {
    var source = new EventSource(table.getAttribute('data-live-stores'));
    source.addEventListener('stores', function (event) {
      var rows = JSON.parse(event.data);
      var unknown = 0;
      rows.forEach(function (row) {
        var tr = table.querySelector('tr[data-slug="' + CSS.escape(row.slug) + '"]');
        if (!tr) { if (row.listed) unknown += 1; return; }
        var phase = tr.querySelector('.phase');
        if (phase) { setText(phase, row.phase); phase.className = 'phase phase-' + row.phase; }
        setText(tr.querySelector('.updated'), row.updatedAt);
        tr.setAttribute('data-phase', row.phase);
      });
      var notice = byId('live-notice');
      if (notice) {
        notice.hidden = unknown === 0;
        setText(notice.querySelector('span'), unknown === 1 ? '1 new store matches: reload to see it.' : unknown + ' new stores match: reload to see them.');
      }
      setText(byId('live-status'), 'Live: updated ' + new Date().toLocaleTimeString());
    });
    source.addEventListener('error', function () { setText(byId('live-status'), 'Live updates paused: reconnecting...'); });
  }

  // Slug: the API's rules, checked as you type; derived from the name until edited by hand.
  var slug = document.querySelector('input[data-slug-pattern]');
  if (slug) {
    var pattern = new RegExp(slug.getAttribute('data-slug-pattern'));
    var status = byId('slug-status');
    var edited = slug.value !== '';
    var check = function () {
      var ok = pattern.test(slug.value);
      slug.setAttribute('aria-invalid', ok || slug.value === '' ? 'false' : 'true');
      setText(status, slug.value === '' ? '' : ok ? 'Valid slug: ' + slug.value : 'Must be 2-41 characters of a-z, 0-9 and "-", starting with a letter.');
      if (status) status.className = ok ? 'hint' : 'error';
    };
    slug.addEventListener('input', function () { edited = true; check(); });
    var name = byId('displayName');
    if (name) name.addEventListener('input', function () {
      if (edited) return;
      slug.value = name.value.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^[^a-z]+/, '').replace(/-+$/, '').slice(0, 41);
      check();
    });
    check();
  }

  // Database options: only the fieldsets of the chosen option are shown (and submitted).
  var dependents = Array.prototype.slice.call(document.querySelectorAll('[data-show-when]'));
  var refresh = function () {
    dependents.forEach(function (el) {
      var rule = el.getAttribute('data-show-when').split('=');
      var chosen = document.querySelector('input[name="' + rule[0] + '"]:checked');
      var show = !!chosen && rule[1].split('|').indexOf(chosen.value) >= 0;
      el.hidden = !show;
      if (el.tagName === 'FIELDSET') el.disabled = !show;
    });
  };
  if (dependents.length) { document.addEventListener('change', refresh); refresh(); }

  // A job: progress bar, each step's message, and the outcome.
  var job = document.querySelector('[data-job-events]');
  if (job && window.EventSource) {
    var bar = byId('job-progress');
    var steps = byId('job-steps');
    var lastStep = job.getAttribute('data-current-step') || null; // already listed by the server
    var started = Date.now();
    var jobSource = new EventSource(job.getAttribute('data-job-events'));
    jobSource.addEventListener('job', function (event) {
      var s = JSON.parse(event.data);
      if (bar) { bar.value = s.progress; setText(bar, s.progress + '%'); }
      setText(byId('job-percent'), s.progress + '%');
      setText(byId('job-status'), s.status);
      setText(byId('job-message'), s.message);
      if (s.step && s.step !== lastStep && steps) {
        var li = document.createElement('li');
        li.textContent = s.step + ': ' + (s.message || '') + ' (at ' + ((Date.now() - started) / 1000).toFixed(1) + ' s)';
        steps.appendChild(li);
        lastStep = s.step;
      }
      if (s.status === 'succeeded' || s.status === 'failed') {
        jobSource.close();
        var done = byId(s.status === 'succeeded' ? 'job-done' : 'job-failed');
        if (done) done.hidden = false;
        setText(byId('job-error'), s.error);
        setText(byId('job-phase'), s.phase);
        if (done) done.focus();
      }
    });
  }

  // Delete: the button is enabled once the slug is typed exactly (the server checks it too).
  var confirmInput = document.querySelector('input[data-confirm-for]');
  if (confirmInput) {
    var button = byId('delete-button');
    var update = function () { if (button) button.disabled = confirmInput.value !== confirmInput.getAttribute('data-confirm-for'); };
    confirmInput.addEventListener('input', update);
    update();
  }
})();
`;
