// Behaviour the templates used to write inline (the Content-Security-Policy allows no inline
// script): <select data-autosubmit> submits its form on change; <form data-confirm="..."> asks first
// (a "no" also stops the event before htmx sees it, so an hx-post form sends nothing either).
document.addEventListener("change", (event) => {
  const el = event.target;
  if (el.matches && el.matches("select[data-autosubmit]") && el.form) el.form.requestSubmit();
});
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.dataset && form.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
    event.stopPropagation();
  }
}, true);

// Request and change forms. <select data-model-defaults>: picking a model copies its default
// precision and context (data-quantization, data-context on the option) into the form.
// <input data-enables="X">: fields with data-enabled-by="X" are disabled while it is unchecked.
// [data-focus-on-load]: an error summary takes the focus when it appears (after a submit).
document.addEventListener("change", (event) => {
  const el = event.target;
  if (!el.matches || !el.form) return;
  if (el.matches("select[data-model-defaults]")) {
    const option = el.selectedOptions[0];
    const quantization = el.form.elements.namedItem("quantization");
    const context = el.form.elements.namedItem("max_context_length");
    if (option && option.dataset.quantization && quantization) quantization.value = option.dataset.quantization;
    if (option && option.dataset.context && context) context.value = option.dataset.context;
  }
  if (el.matches("input[data-enables]")) syncEnabled(el);
});
function syncEnabled(box) {
  box.form.querySelectorAll(`[data-enabled-by="${box.dataset.enables}"]`).forEach((field) => {
    field.disabled = !box.checked;
  });
}
function settle(root) {
  root.querySelectorAll("input[data-enables]").forEach((box) => { if (box.form) syncEnabled(box); });
  const summary = root.querySelector("[data-focus-on-load]");
  if (summary) summary.focus();
}
document.addEventListener("DOMContentLoaded", () => settle(document));
document.addEventListener("htmx:load", (event) => settle(event.target));
