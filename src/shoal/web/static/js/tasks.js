// Task viewer: follows /api/v1/tasks/{id}/stream (Server-Sent Events) and updates status, steps and log in place.
// Works for viewers on the page at load and for those htmx swaps in later (cluster and node pages).
(function () {
  "use strict";
  var TONES = { SUCCESS: "ok", FAILURE: "bad", TIMEOUT: "bad", CANCELLED: "warn", RUNNING: "info",
                INITIALIZING: "info", SKIP: "warn", NOTSTARTED: "" };
  var FINAL = { SUCCESS: 1, FAILURE: 1, TIMEOUT: 1, CANCELLED: 1 };

  function badge(status, labels) {
    var span = document.createElement("span");
    span.className = "badge " + (TONES[status] || "");
    span.dataset.status = status;
    span.textContent = labels[status] || status;
    return span;
  }

  function secs(value) {
    if (value === null || value === undefined) { return "—"; }
    if (value < 60) { return value.toFixed(1) + "s"; }
    var m = Math.floor(value / 60), s = Math.floor(value % 60);
    return m + "m" + (s < 10 ? "0" : "") + s + "s";
  }

  function setText(el, prefix, value) {
    if (el) { el.textContent = el.textContent.split(":")[0] + ": " + value; }
  }

  function show(el, visible) { if (el) { el.hidden = !visible; } }

  function applyTask(root, task, labels) {
    var status = root.querySelector("[data-tv-status]");
    if (status) { status.replaceChildren(badge(task.status, labels)); }
    var progress = root.querySelector("[data-tv-progress]");
    if (progress) { progress.textContent = task.steps_done + "/" + task.steps_total; }
    var message = root.querySelector("[data-tv-message]");
    if (message) {
      message.textContent = task.message;
      message.classList.toggle("bad", task.status !== "SUCCESS");
      show(message, !!task.message);
    }
    task.steps.forEach(function (step) {
      var li = root.querySelector('[data-step="' + step.name + '"]');
      if (!li) { return; }
      li.dataset.status = step.status;
      li.querySelector("[data-tv-step-status]").replaceChildren(badge(step.status, labels));
      setText(li.querySelector("[data-tv-attempts]"), "", step.attempts);
      setText(li.querySelector("[data-tv-duration]"), "", secs(step.duration_seconds));
      var msg = li.querySelector("[data-tv-step-message]");
      msg.textContent = step.message;
      show(msg, !!step.message);
    });
    var manage = root.dataset.canManage === "1";
    var reopen = manage && (task.status === "FAILURE" || task.status === "TIMEOUT");
    var failed = task.steps.filter(function (s) { return s.status === "FAILURE"; })[0];
    show(root.querySelector('[data-tv-action="retry"]'), reopen);
    show(root.querySelector('[data-tv-action="skip"]'), reopen && !!failed && failed.allow_skip);
    show(root.querySelector('[data-tv-action="cancel"]'),
         manage && (task.status === "INITIALIZING" || task.status === "RUNNING") && !task.cancel_requested);
  }

  function appendLine(log, line) {
    if (log.querySelector('[data-id="' + line.id + '"]')) { return; }
    var atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    var span = document.createElement("span");
    span.className = "tv-line lvl-" + line.level;
    span.dataset.id = line.id;
    var time = document.createElement("time");
    time.textContent = line.time.substring(11, 19);
    span.appendChild(time);
    span.appendChild(document.createTextNode(" "));
    if (line.step_name) {
      var b = document.createElement("b");
      b.textContent = "[" + line.step_name + "]";
      span.appendChild(b);
      span.appendChild(document.createTextNode(" "));
    }
    span.appendChild(document.createTextNode(line.message + "\n"));
    log.appendChild(span);
    if (atBottom) { log.scrollTop = log.scrollHeight; }
  }

  function follow(root) {
    if (root.dataset.tvFollowing || root.dataset.final === "1" || !window.EventSource) { return; }
    root.dataset.tvFollowing = "1";
    var labels = JSON.parse(root.dataset.labels || "{}");
    var log = root.querySelector("[data-tv-log]");
    var live = root.querySelector("[data-tv-live]");
    log.scrollTop = log.scrollHeight;
    var url = "/api/v1/tasks/" + encodeURIComponent(root.dataset.taskId) + "/stream?after=" + (root.dataset.cursor || "0");
    var source = new EventSource(url);
    show(live, true);
    source.addEventListener("task", function (ev) { applyTask(root, JSON.parse(ev.data), labels); });
    source.addEventListener("log", function (ev) { appendLine(log, JSON.parse(ev.data)); });
    source.addEventListener("end", function (ev) {
      source.close();
      show(live, false);
      root.dataset.final = FINAL[JSON.parse(ev.data).status] ? "1" : "";
      root.dataset.tvFollowing = "";
    });
    // Detached viewers (htmx swapped them out) stop following.
    var watch = setInterval(function () {
      if (!document.body.contains(root)) { source.close(); clearInterval(watch); }
    }, 5000);
  }

  function scan(scope) {
    (scope || document).querySelectorAll("[data-task-viewer]").forEach(follow);
  }

  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:load", function (ev) { scan(ev.target); });
})();
