// Shoal console behaviour: dialogs, confirmations before destructive actions, flash messages.
// Every page works without this file; it only adds the niceties.
(function () {
  "use strict";

  function openDialog(id) {
    var dlg = document.getElementById(id);
    if (dlg && !dlg.open) { dlg.showModal(); }
    var first = dlg && dlg.querySelector("input:not([type=hidden]), select, textarea");
    if (first) { first.focus(); }
  }

  // A form (or the submit button pressed) with data-confirm asks first, in the shared confirmation dialog.
  var pending = null;
  function askConfirm(form, submitter, spec) {
    var dlg = document.getElementById("confirm-dialog");
    if (!dlg) { return true; }
    var info = spec.confirmTone === "info";
    dlg.querySelector("[data-confirm-title]").textContent = spec.confirmTitle || "";
    dlg.querySelector("[data-confirm-text]").textContent = spec.confirm;
    var ok = dlg.querySelector("[data-confirm-ok]");
    ok.textContent = spec.confirmOk || ok.dataset.default;
    ok.classList.toggle("danger", !info);
    ok.classList.toggle("solid", !info);
    ok.classList.toggle("primary", info);
    dlg.querySelector(".confirm-icon").classList.toggle("info", info);
    pending = { form: form, submitter: submitter };
    dlg.showModal();
    return false;
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement)) { return; }
    var submitter = ev.submitter || null;
    var spec = submitter && submitter.dataset.confirm ? submitter.dataset : form.dataset;
    if (!spec.confirm) { return; }
    if (form.dataset.confirmed === "1") { form.dataset.confirmed = ""; return; }
    ev.preventDefault();
    askConfirm(form, submitter, spec);
  }, true);

  document.addEventListener("click", function (ev) {
    var el = ev.target instanceof Element ? ev.target : null;
    if (!el) { return; }
    var opener = el.closest("[data-open-dialog]");
    if (opener) { ev.preventDefault(); openDialog(opener.getAttribute("data-open-dialog")); return; }
    var closer = el.closest("[data-close-dialog]");
    if (closer) { ev.preventDefault(); var d = closer.closest("dialog"); if (d) { d.close(); } return; }
    var back = el.closest("[data-history-back]");
    if (back && window.history.length > 1) { ev.preventDefault(); window.history.back(); return; }
    if (el.matches("[data-confirm-ok]") && pending) {
      ev.preventDefault();
      var p = pending; pending = null;
      document.getElementById("confirm-dialog").close();
      p.form.dataset.confirmed = "1";
      p.form.requestSubmit(p.submitter || undefined);
      return;
    }
    if (el.tagName === "DIALOG") { el.close(); }  // a click on the backdrop closes
  });

  document.addEventListener("focusin", function (ev) {
    var el = ev.target;
    if (el instanceof HTMLInputElement && el.hasAttribute("data-select-on-focus")) { el.select(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("dialog[data-open-on-load]").forEach(function (d) { d.showModal(); });
    document.querySelectorAll(".flash").forEach(function (f) {
      setTimeout(function () { f.classList.add("hide"); }, 5000);
      setTimeout(function () { f.remove(); }, 5600);
    });
  });
})();
