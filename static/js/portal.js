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
