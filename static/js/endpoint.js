// The endpoint page's Use / YAML tabs (no inline script: CSP). <button data-copy="ID"> copies
// the text of element ID; <form data-playground> posts a prompt and shows the streamed answer
// (server-sent events from deployments.endpoint_views.endpoint_playground).
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { area.remove(); }
    return Promise.resolve();
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    copyText(source.textContent.trim()).then(() => {
      const label = button.textContent;
      button.textContent = "Copied";
      button.dataset.copied = "true";
      setTimeout(() => { button.textContent = label; delete button.dataset.copied; }, 1500);
    });
  });

  function show(el, text) {
    el.textContent = text;
    el.hidden = !text;
  }

  function statsText(done) {
    const parts = [];
    if (done.ttft_ms !== null && done.ttft_ms !== undefined) parts.push(`time to first token ${done.ttft_ms} ms`);
    if (done.tokens_per_s !== null && done.tokens_per_s !== undefined) parts.push(`${done.tokens_per_s} tokens/s over the whole request`);
    parts.push(`${done.tokens} token${done.tokens === 1 ? "" : "s"}`);
    if (done.finish_reason) parts.push(`finished: ${done.finish_reason}`);
    if (done.truncated) parts.push(done.truncated);
    return parts.join(" · ");
  }

  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        for (const line of block.split("\n")) {
          if (line.startsWith("data:")) onEvent(JSON.parse(line.slice(5)));
        }
      }
    }
  }

  function errorText(body) {
    if (body.error) return body.error;
    if (body.errors) {
      return Object.entries(body.errors).map(([f, errs]) => `${f}: ${errs.map((e) => e.message).join(" ")}`).join(" ");
    }
    return "The prompt could not be sent.";
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.matches || !form.matches("form[data-playground]")) return;
    event.preventDefault();
    const answer = document.getElementById("playground-answer");
    const stats = document.getElementById("playground-stats");
    const error = document.getElementById("playground-error");
    const button = form.querySelector("button[type=submit]");
    answer.textContent = "";
    show(error, "");
    stats.textContent = "Waiting for the first token…";
    button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { Accept: "text/event-stream" },
      });
      if (!response.ok) {
        let body = {};
        try { body = await response.json(); } catch (e) { /* not JSON */ }
        stats.textContent = "";
        show(error, errorText(body));
        return;
      }
      await readEvents(response, (ev) => {
        if (ev.type === "token") answer.textContent += ev.text;
        else if (ev.type === "done") { stats.textContent = statsText(ev); stats.dataset.done = "true"; }
        else if (ev.type === "error") { stats.textContent = ""; show(error, ev.message); }
      });
    } catch (e) {
      stats.textContent = "";
      show(error, "The connection to the portal broke off.");
    } finally {
      button.disabled = false;
    }
  });
})();
