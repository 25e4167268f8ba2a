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

// Request and change forms. <select data-model-defaults>: picking a model offers only its
// precisions (data-quantizations; the current one stays if allowed, else its default
// data-quantization) and keeps the context length if the new model supports it, else lowers it
// to the model's maximum (data-context) and says so next to the field; a new request (empty
// context) gets the model's maximum.
// <input data-enables="X">: fields with data-enabled-by="X" are disabled while it is unchecked.
// [data-focus-on-load]: an error summary takes the focus when it appears (after a submit).
document.addEventListener("change", (event) => {
  const el = event.target;
  if (!el.matches || !el.form) return;
  if (el.matches("select[data-model-defaults]")) modelChanged(el);
  if (el.matches("input[data-enables]")) syncEnabled(el);
});
function modelChanged(select) {
  const option = select.selectedOptions[0];
  if (!option || !option.dataset.context) return;
  const quantization = select.form.elements.namedItem("quantization");
  if (quantization && quantization.options) {
    const allowed = (option.dataset.quantizations || "").split(",").filter(Boolean);
    Array.from(quantization.options).forEach((o) => {
      const ok = !allowed.length || allowed.includes(o.value);
      o.disabled = !ok;
      o.hidden = !ok;
    });
    const current = quantization.selectedOptions[0];
    if (!current || current.disabled) quantization.value = option.dataset.quantization;
  }
  const context = select.form.elements.namedItem("max_context_length");
  if (!context) {  // the batch form: no context field
    if (quantization) quantization.dispatchEvent(new Event("change", { bubbles: true }));
    return;
  }
  const max = Number(option.dataset.context);
  const had = Number(context.value);
  let note = "";
  if (!context.value) context.value = max;
  else if (had > max) {
    context.value = max;
    note = `Lowered from ${had.toLocaleString("en-US")} to ${max.toLocaleString("en-US")}: the most ${option.dataset.name || "this model"} supports.`;
  }
  const field = context.closest(".field") || context.parentElement;
  let out = field.querySelector("[data-context-note]");
  if (!out) {
    out = document.createElement("p");
    out.className = "field-note small";
    out.dataset.contextNote = "";
    out.setAttribute("aria-live", "polite");
    field.appendChild(out);
  }
  out.textContent = note;
  // The live estimate (htmx, listening on the form) saw the model's change event before these
  // fields were updated: tell it again, with the values it must price.
  context.dispatchEvent(new Event("change", { bubbles: true }));
}
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

// <a data-open-details="ID" href="#...">: opens the <details id=ID> it points into, then scrolls.
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a[data-open-details]");
  if (!link) return;
  const details = document.getElementById(link.dataset.openDetails);
  if (details) details.open = true;
});
