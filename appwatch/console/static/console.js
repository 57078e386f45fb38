// appwatch console: a few behaviours, no framework, nothing fetched from elsewhere.
//   data-refresh="SECONDS" data-src="URL"  reload this element's HTML fragment
//   form[data-preview="URL"]               POST the form as JSON on input; the answer's
//                                          HTML goes into data-target
//   [data-poll="URL"]                      follow a backtest: fill its progress bar
//   every fetch sends the session's CSRF token (X-CSRF-Token)
"use strict";
const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

async function call(url, opts = {}) {
  const headers = { "X-CSRF-Token": csrf(), ...(opts.headers || {}) };
  const resp = await fetch(url, { credentials: "same-origin", ...opts, headers });
  if (resp.status === 401) window.location = "/login?next=" + encodeURIComponent(location.pathname + location.search);
  return resp;
}

function refresh(el) {
  const every = 1000 * Number(el.dataset.refresh || 10);
  const tick = async () => {
    if (!document.hidden) {
      try {
        const resp = await call(el.dataset.src || location.pathname + location.search, { headers: { "X-Fragment": "1" } });
        if (resp.ok) { el.innerHTML = await resp.text(); el.dataset.refreshed = String(Date.now()); }
      } catch (e) { /* the next tick tries again */ }
    }
    setTimeout(tick, every);
  };
  setTimeout(tick, every);
}

function formJson(form) {
  const out = {};
  for (const [k, v] of new FormData(form)) {
    if (k === "csrf_token") continue;
    if (k in out) out[k] = [].concat(out[k], v); else out[k] = v;
  }
  return out;
}

function preview(form) {
  const target = document.querySelector(form.dataset.target);
  let timer = null;
  const run = async () => {
    const resp = await call(form.dataset.preview, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(formJson(form)),
    });
    target.innerHTML = await resp.text();
    target.dataset.previewed = String(Date.now());
  };
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(run, 250); });
  run();
}

function poll(el) {
  const bar = el.querySelector("progress"), label = el.querySelector("[data-label]");
  const tick = async () => {
    const resp = await call(el.dataset.poll);
    if (!resp.ok) { if (label) label.textContent = "failed: " + resp.status; return; }
    const job = await resp.json();
    if (bar && job.total) { bar.max = job.total; bar.value = job.done; }
    if (label) label.textContent = `${job.state}: ${job.done} of ${job.total || "?"} lines`;
    if (job.state === "done" || job.state === "failed") {
      el.dataset.state = job.state;
      if (el.dataset.then && job.state === "done") window.location = el.dataset.then;
      return;
    }
    setTimeout(tick, 300);
  };
  tick();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-refresh]").forEach(refresh);
  document.querySelectorAll("form[data-preview]").forEach(preview);
  document.querySelectorAll("[data-poll]").forEach(poll);
});
