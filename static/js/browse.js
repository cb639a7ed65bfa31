// "Scan this folder" on the folder view: a targeted scan of that folder through the API, with
// the session's CSRF token. The page is complete without this script.
(function () {
  "use strict";
  const block = document.querySelector("[data-browse]");
  if (!block) return;
  const message = block.querySelector('[data-field="browse-message"]');

  const api = window.mediaserverApi;

  async function scan(button) {
    const folder = button.dataset.scanFolder;
    const body = folder ? { paths: [folder] } : {};
    button.disabled = true;
    try {
      const { status, data } = await api("POST", `/api/scanner/start/${block.dataset.libraryId}`, body);
      if (status === 201) {
        message.textContent = `Scan #${data.id} queued for ${folder || "the whole library"}`;
      } else if (status < 300) {
        message.textContent = `Scan #${data.id}, already open, covers ${folder || "the whole library"}`;
      } else {
        const reason = (data && (data.detail || (data.paths && data.paths.join(" ")))) || `HTTP ${status}`;
        message.textContent = `Not started: ${reason}`;
      }
    } catch (e) {
      message.textContent = "Not started: the server cannot be reached";
    } finally {
      button.disabled = false;
    }
  }

  document.querySelectorAll("[data-scan-folder]").forEach((button) => {
    button.addEventListener("click", () => scan(button));
  });
})();
