// The import page (R19): "测试可用性" posts the kubeconfig to /api/v1/clusters/check and lists each check;
// the import button is enabled only after a passing test of exactly the text in the box — editing it resets.
(function () {
  "use strict";

  function item(check) {
    const li = document.createElement("li");
    li.className = "check-item " + (check.skipped ? "skipped" : check.passed ? "passed" : "failed");
    li.dataset.check = check.name;
    const mark = document.createElement("span");
    mark.className = "mark";
    mark.textContent = check.skipped ? "–" : check.passed ? "✓" : "✗";
    const body = document.createElement("div");
    const title = document.createElement("strong");
    title.textContent = check.title;
    const message = document.createElement("div");
    message.className = "msg";
    message.textContent = check.message;
    body.append(title, message);
    if (check.warning) {
      const warning = document.createElement("div");
      warning.className = "warn-text";
      warning.textContent = "⚠ " + check.warning;
      body.append(warning);
    }
    if (check.hint && !check.passed && !check.skipped) {
      const hint = document.createElement("div");
      hint.className = "hint-text";
      hint.textContent = "→ " + check.hint;
      body.append(hint);
    }
    li.append(mark, body);
    return li;
  }

  function init(form) {
    const testButton = form.querySelector("[data-check-button]");
    const importButton = form.querySelector("[data-import-button]");
    const box = form.querySelector("textarea[name=kubeconfig]");
    const state = form.querySelector("[data-check-state]");
    const results = document.querySelector("[data-check-results]");
    const csrf = (form.querySelector("input[name=csrf_token]") || {}).value || "";
    let passedText = null;

    function setState(text, cls) {
      state.textContent = text;
      state.className = "small " + cls;
      state.dataset.state = cls;
    }
    function reset() {
      passedText = null;
      importButton.disabled = true;
      setState(form.dataset.msgUntested, "muted");
    }
    box.addEventListener("input", reset);

    testButton.addEventListener("click", async function () {
      reset();
      const text = box.value;
      testButton.disabled = true;
      setState(form.dataset.msgTesting, "muted");
      try {
        const response = await fetch("/api/v1/clusters/check", {
          method: "POST", credentials: "same-origin",
          headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf},
          body: JSON.stringify({project: form.dataset.project, kubeconfig: text}),
        });
        const body = await response.json();
        results.replaceChildren();
        if (!response.ok) {
          results.append(item({name: "request", title: String(response.status), passed: false, skipped: false,
                               message: body.message || "", hint: body.hint || null, warning: null}));
          setState(form.dataset.msgFailed, "bad");
          return;
        }
        body.checks.forEach(function (check) { results.append(item(check)); });
        if (body.ok && box.value === text) {
          passedText = text;
          importButton.disabled = false;
          setState(form.dataset.msgPassed, "ok");
        } else {
          setState(form.dataset.msgFailed, "bad");
        }
      } catch (err) {
        setState(form.dataset.msgFailed + " " + err, "bad");
      } finally {
        testButton.disabled = false;
      }
    });

    form.addEventListener("submit", function (event) {
      if (passedText === null || passedText !== box.value) {
        event.preventDefault();
        reset();
      }
    });
  }

  document.querySelectorAll("[data-cluster-import]").forEach(init);
})();
