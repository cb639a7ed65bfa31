// Live scan progress and scan controls. The page is complete without this script; it only
// refreshes each [data-scan] block from /api/scanner/status/<library id> and wires the buttons
// (and the add-library form) to the API with the session's CSRF token.
(function () {
  "use strict";
  const POLL_MS = 1000;
  const WATCH_EVERY = 5; // polls between refreshes of the "Watched by ..." lines
  const banner = document.getElementById("connection");
  const OPEN = ["pending", "running", "paused"];
  // The job's trigger as the page names it (ScanJob.Trigger's labels).
  const TRIGGERS = { manual: "Manual", command: "Command", schedule: "Schedule", watch: "Watch", notify: "Notify",
                     catch_up: "Catch-up", admin: "Admin" };

  const api = window.mediaserverApi;

  // Counts and durations as the server-rendered page shows them (libraries/templatetags/words.py).
  const thousands = (n) => n.toLocaleString("en-US", { maximumFractionDigits: 0 });
  const counted = (n, noun) => `${thousands(n)} ${noun}${n === 1 ? "" : "s"}`;
  function hms(seconds) {
    const total = Math.round(seconds);
    const pad = (n) => String(n).padStart(2, "0");
    return `${Math.floor(total / 3600)}:${pad(Math.floor(total / 60) % 60)}:${pad(total % 60)}`;
  }

  function ago(seconds) {
    if (seconds < 45) return "just now";
    if (seconds < 3600) return `${Math.max(1, Math.round(seconds / 60))} min ago`;
    if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
    return `${counted(Math.round(seconds / 86400), "day")} ago`;
  }
  // "watch: Artist/Album, 4 files, 2 min ago", as the page says it (the last_scan filter).
  function lastScan(job) {
    const n = job.scope_count;
    const what = n === 0 ? "the whole library" : n === 1 ? job.scope[0]
      : `${thousands(n)} paths (${job.scope.slice(0, 3).join(", ")}${n > 3 ? ", ..." : ""})`;
    const [moment, how] = job.completed_at ? [job.completed_at, ""] : job.started_at ? [job.started_at, "started "]
      : [job.created_at, "queued "];
    const when = how + ago((Date.now() - Date.parse(moment)) / 1000);
    return `${(TRIGGERS[job.trigger] || job.trigger).toLowerCase()}: ${what}, ${counted(job.files_processed, "file")}, ${when}`;
  }

  function set(block, field, text) {
    const el = block.querySelector(`[data-field="${field}"]`);
    if (el) el.textContent = text;
  }

  function render(block, job) {
    const status = job ? job.status : "none";
    const progress = job ? job.progress : 0;
    block.dataset.status = status;
    block.querySelector('[data-field="bar"]').style.width = `${progress}%`;
    block.querySelector(".bar").setAttribute("aria-valuenow", progress.toFixed(1));
    set(block, "percent", `${progress.toFixed(1)}%`);
    set(block, "files", job ? `${thousands(job.files_processed)} / ${thousands(job.files_found)}` : "–");
    set(block, "rate", job && job.status === "running" ? `${thousands(job.files_per_second)} files/s` : "–");
    set(block, "eta", job && job.eta_seconds !== null ? hms(job.eta_seconds) : "–");
    // The phase a paused or queued job stopped in is not what it is doing now.
    set(block, "phase", !job ? "–" : job.status === "paused" ? "paused" : job.status === "pending" ? "queued" : job.phase);
    set(block, "scope", job && job.scope.length ? `Only ${job.scope.slice(0, 3).join(", ")}` +
      (job.scope_count > 3 ? ` and ${job.scope_count - 3} more` : "") : "");
    set(block, "status", job ? job.status : "never scanned");
    set(block, "trigger", job ? TRIGGERS[job.trigger] || job.trigger : "–");
    set(block, "message", job ? job.status_message || job.error_message : "");
    set(block, "last", job ? lastScan(job) : "never");
    const link = block.querySelector('[data-field="joblink"]');
    if (link && job) { link.href = `/jobs/${job.id}/`; link.textContent = `Scan #${job.id}`; }
    enableButtons(block, status);
  }

  function enableButtons(block, status) {
    const open = OPEN.includes(status);
    const can = { start: !open, full: !open, pause: status === "running" || status === "pending", resume: status === "paused", cancel: open };
    block.querySelectorAll("[data-action]").forEach((button) => { button.disabled = !can[button.dataset.action]; });
  }

  async function refresh(block) {
    const result = await api("GET", `/api/scanner/status/${block.dataset.libraryId}`);
    if (!result.ok) throw new Error(`status ${result.status}`);
    const job = result.data.job;
    const stamp = job ? `${job.id} ${job.status} ${job.files_processed}` : "none";
    render(block, job);
    // The catalogue grows while a scan commits: count it again whenever the job moved.
    if (stamp !== block.dataset.counted) {
      await refreshCount(block.dataset.libraryId);
      block.dataset.counted = stamp;
    }
  }

  async function refreshCount(libraryId) {
    const places = document.querySelectorAll(`[data-files-count="${libraryId}"]`);
    if (!places.length) return;
    const result = await api("GET", `/api/libraries/${libraryId}/files/?missing=false&page_size=1`);
    if (!result.ok) throw new Error(`files ${result.status}`);
    const n = result.data.count;
    places.forEach((el) => { el.textContent = `${counted(n, "file")} catalogued`; });
  }

  // The watch line as the server renders it (templates/watch_state.html): who watches, what waits.
  async function refreshWatch(line) {
    const response = await fetch(`/libraries/${line.dataset.watchState}/watch-state/`,
                                 { credentials: "same-origin", redirect: "error" });
    if (!response.ok) throw new Error(`watch state ${response.status}`);
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").querySelector("[data-watch-state]");
    if (fresh && fresh.innerHTML !== line.innerHTML) line.replaceWith(document.importNode(fresh, true));
  }

  let polls = 0;
  async function poll() {
    const blocks = Array.from(document.querySelectorAll("[data-scan]"));
    polls += 1;
    const watches = polls % WATCH_EVERY === 0 ? Array.from(document.querySelectorAll("[data-watch-state]")) : [];
    try {
      await Promise.all([...blocks.map(refresh), ...watches.map(refreshWatch)]);
      banner.hidden = true;
    } catch (e) {
      banner.hidden = false; // keep what the page shows; try again next time
    }
    setTimeout(poll, POLL_MS);
  }

  function wireButtons(block) {
    block.querySelectorAll("[data-action]").forEach((button) => {
      button.addEventListener("click", async () => {
        const error = block.querySelector('[data-field="error"]');
        error.textContent = "";
        button.disabled = true;
        try {
          // "Full scan" is a start that reads every file again.
          const full = button.dataset.action === "full";
          const action = full ? "start" : button.dataset.action;
          const result = await api("POST", `/api/scanner/${action}/${block.dataset.libraryId}`,
                                   full ? { mode: "full" } : undefined);
          if (result.ok) render(block, result.data);
          else error.textContent = (result.data && result.data.detail) || `Request failed (${result.status})`;
        } catch (e) {
          error.textContent = "Connection lost, retrying…";
        }
      });
    });
  }

  function wireAddForm(form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      form.querySelectorAll("[data-error]").forEach((el) => { el.textContent = ""; });
      const body = Object.fromEntries(new FormData(form).entries());
      const result = await api("POST", "/api/libraries/", body);
      if (result.ok) { window.location.reload(); return; }
      const errors = result.data || { detail: `Request failed (${result.status})` };
      Object.entries(errors).forEach(([field, messages]) => {
        const el = form.querySelector(`[data-error="${field}"]`) || form.querySelector('[data-error="detail"]');
        el.textContent = `${field === "detail" ? "" : field + ": "}${[].concat(messages).join(" ")}`;
      });
    });
  }

  document.querySelectorAll("[data-scan]").forEach((block) => {
    const progress = block.querySelector(".bar").getAttribute("aria-valuenow");
    block.querySelector('[data-field="bar"]').style.width = `${progress}%`;
    wireButtons(block);
    enableButtons(block, block.dataset.status);
  });
  // "Scan all libraries": a quick scan of each library on the page (a paused one resumes), then
  // one line saying what came of it; each card shows its own scan as usual.
  function wireScanAll(button) {
    const said = document.getElementById("scan-all-result");
    button.addEventListener("click", async () => {
      button.disabled = true;
      said.textContent = "";
      const blocks = Array.from(document.querySelectorAll("[data-scan]"));
      const outcomes = { started: 0, resumed: 0, busy: 0, failed: 0 };
      for (const block of blocks) {
        try {
          const result = await api("POST", `/api/scanner/start/${block.dataset.libraryId}`);
          if (result.status === 201) outcomes.started += 1;
          else if (result.ok) outcomes.resumed += 1;
          else if (result.status === 409) outcomes.busy += 1;
          else outcomes.failed += 1;
          if (result.ok) render(block, result.data);
        } catch (e) {
          outcomes.failed += 1;
        }
      }
      const parts = [`Started ${counted(outcomes.started, "scan")}`];
      if (outcomes.resumed) parts.push(`resumed ${thousands(outcomes.resumed)}`);
      if (outcomes.busy) parts.push(`${thousands(outcomes.busy)} already running`);
      if (outcomes.failed) parts.push(`${thousands(outcomes.failed)} refused`);
      said.textContent = parts.join(", ");
      button.disabled = false;
    });
  }

  const scanAll = document.getElementById("scan-all");
  if (scanAll) wireScanAll(scanAll);
  const form = document.getElementById("add-library");
  if (form) wireAddForm(form);
  if (document.querySelector("[data-scan]")) poll();
})();
