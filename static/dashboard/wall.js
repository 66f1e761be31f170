// The wall dashboard: polls one batch's status from the Gatehouse JSON API and shows it large.
//
// Served by the portal itself (same origin as /api/, so no CORS), with a personal API token the
// viewer pastes once (kept in localStorage). Each poll sends the last ETag: while nothing changed
// the API answers 304 and nothing is redrawn. A 429 waits for Retry-After; a 401 asks for a token.
(function () {
  "use strict";

  const STORAGE_KEY = "gatehouse-api-token";
  const params = new URLSearchParams(window.location.hash.slice(1));
  const plan = params.get("plan");
  const batch = params.get("batch");
  const every = Math.max(5, Number(params.get("every")) || 15);
  const $ = (id) => document.getElementById(id);
  let etag = null;
  let timer = null;

  function token() {
    return window.localStorage.getItem(STORAGE_KEY);
  }

  function askForToken(message) {
    $("board").hidden = true;
    $("token-form").hidden = false;
    $("token-error").hidden = !message;
    $("token-error").textContent = message || "";
  }

  function item(text, className) {
    const li = document.createElement("li");
    li.textContent = text;
    if (className) li.className = className;
    return li;
  }

  function render(status) {
    $("plan").textContent = status.plan;
    $("title").textContent = `Batch ${status.number} – ${status.title} (${status.state_label})`;
    $("verdict").textContent = status.verdict.headline;
    $("verdict").className = `wall__verdict wall__verdict--${status.verdict.tone}`;
    $("detail").textContent = status.verdict.detail;
    const tally = ["passing", "waived", "failing", "stale", "pending"]
      .filter((name) => status.tally[name])
      .map((name) => item(`${status.tally[name]} ${name}`, `badge badge--${name}`));
    $("tally").replaceChildren(...tally);
    const blockers = status.blockers.length ? status.blockers : ["Nothing."];
    $("blockers").replaceChildren(...blockers.map((text) => item(text)));
    $("gates").replaceChildren(
      ...status.gates.map((gate) => item(`${gate.label}: ${gate.status}`, `badge badge--${gate.status}`)),
    );
    $("board").hidden = false;
    $("token-form").hidden = true;
  }

  async function poll() {
    let wait = every;
    const headers = { Authorization: `Bearer ${token()}` };
    if (etag) headers["If-None-Match"] = etag;
    try {
      const url = `/api/plans/${encodeURIComponent(plan)}/batches/${encodeURIComponent(batch)}/status`;
      const response = await fetch(url, { headers, cache: "no-store" });
      if (response.status === 200) {
        etag = response.headers.get("ETag");
        render(await response.json());
      } else if (response.status === 401 || response.status === 403) {
        const body = await response.json();
        window.localStorage.removeItem(STORAGE_KEY);
        askForToken(body.detail);
        return;
      } else if (response.status === 429) {
        wait = Number(response.headers.get("Retry-After")) || every;
      } else if (response.status !== 304) {
        $("updated").textContent = `The portal answered ${response.status}; trying again.`;
      }
      if (response.status === 200 || response.status === 304) {
        $("updated").textContent = `Checked ${new Date().toLocaleTimeString()}.`;
      }
    } catch (error) {
      $("updated").textContent = "The portal cannot be reached; trying again.";
    }
    timer = window.setTimeout(poll, wait * 1000);
  }

  function start() {
    window.clearTimeout(timer);
    etag = null;
    poll();
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!plan || !batch) {
      $("usage").hidden = false;
      return;
    }
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      window.localStorage.setItem(STORAGE_KEY, $("token").value.trim());
      start();
    });
    if (token()) start();
    else askForToken("");
  });
})();
