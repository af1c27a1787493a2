// Replays an asciinema v2 recording of a console session in xterm.js (admins only; no keystrokes are kept).
(function () {
  "use strict";
  const root = document.getElementById("console-replay");
  if (!root || typeof Terminal === "undefined") return;
  fetch(root.dataset.src, {credentials: "same-origin"}).then(function (r) { return r.text(); }).then(function (text) {
    const lines = text.split("\n").filter(Boolean);
    const header = JSON.parse(lines[0]);
    const term = new Terminal({cols: header.width || 80, rows: header.height || 24, fontSize: 13,
                               theme: {background: "#0f172a", foreground: "#e2e8f0"}});
    term.open(root);
    const events = lines.slice(1).map(function (line) { return JSON.parse(line); });
    const started = performance.now();
    let index = 0;
    function step() {
      const now = (performance.now() - started) / 1000;
      while (index < events.length && events[index][0] <= now) {
        const [, kind, data] = events[index++];
        if (kind === "o") term.write(data);
        else if (kind === "r") { const [cols, rows] = data.split("x").map(Number); term.resize(cols, rows); }
      }
      if (index < events.length) setTimeout(step, Math.min(250, Math.max(5, (events[index][0] - now) * 1000)));
      else root.dataset.done = "true";
    }
    step();
  });
})();
