// A library card's settings (name, folder, kind, watching, scan interval) and its deletion,
// through the libraries API with the session's CSRF token. Without this script the cards still
// show everything; only these controls need it.
(function () {
  "use strict";

  const send = window.mediaserverApi;

  function reason(data, status) {
    if (!data) return `HTTP ${status}`;
    if (data.detail) return data.detail;
    return Object.entries(data).map(([field, errors]) => `${field}: ${[].concat(errors).join(" ")}`).join("; ");
  }

  function interval(hours) {
    // The API's duration: "H:MM:SS"; empty or 0 hours: no scheduled scans.
    const seconds = Math.round(parseFloat(hours) * 3600);
    if (!hours || !(seconds > 0)) return null;
    const pad = (n) => String(n).padStart(2, "0");
    return `${Math.floor(seconds / 3600)}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`;
  }

  document.querySelectorAll("form[data-library-settings]").forEach((form) => {
    const id = form.dataset.librarySettings;
    const error = form.querySelector('[data-error="form"]');
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      const body = {
        name: form.elements.name.value, path: form.elements.path.value, kind: form.elements.kind.value,
        watch: form.elements.watch.checked, scan_interval: interval(form.elements.interval.value),
      };
      try {
        const answer = await send("PATCH", `/api/libraries/${id}/`, body);
        if (answer.ok) window.location.reload();
        else error.textContent = reason(answer.data, answer.status);
      } catch (e) {
        error.textContent = "The server cannot be reached";
      }
    });

    const remove = form.querySelector("[data-delete-library]");
    if (!remove) return;
    remove.addEventListener("click", async () => {
      const files = Number(remove.dataset.files).toLocaleString("en-US");
      const question = `Delete the library "${remove.dataset.name}"?\n\nIts catalogue (${files} files) is removed ` +
        "from this server; the files on disk are not touched. A scan running now is stopped and writes nothing more.";
      if (!window.confirm(question)) return;
      try {
        const answer = await send("DELETE", `/api/libraries/${id}/`);
        if (answer.ok) window.location.reload();
        else error.textContent = reason(answer.data, answer.status);
      } catch (e) {
        error.textContent = "The server cannot be reached";
      }
    });
  });
})();
