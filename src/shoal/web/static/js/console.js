// The web console (WebConsole): xterm.js terminals in tabs, each a console session over a websocket.
// Framing (console.framing on the server): we send "0"+base64(stdin) and "4"+base64({"rows","cols"});
// the server sends base64 output. Close codes: 1000 exit, 4001 idle, 4002 limit, 4003 revoked, 4004 ended.
(function () {
  "use strict";
  const app = document.getElementById("console-app");
  if (!app || typeof Terminal === "undefined") return;
  const texts = JSON.parse(app.dataset.texts);
  const tabsEl = app.querySelector(".console-tabs");
  const panesEl = app.querySelector(".console-panes");
  const encoder = new TextEncoder();
  const tabs = [];
  let active = null;
  let counter = 0;

  function b64(bytes) {
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(text);
  }
  function unb64(text) {
    const raw = atob(text);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function activate(tab) {
    active = tab;
    for (const t of tabs) {
      const on = t === tab;
      t.button.classList.toggle("active", on);
      t.button.setAttribute("aria-selected", on ? "true" : "false");
      t.pane.hidden = !on;
    }
    if (tab) { tab.fit(); tab.term.focus(); }
  }

  function closeTab(tab) {
    if (tab.socket && tab.socket.readyState <= 1) tab.socket.close(1000);
    tab.term.dispose();
    tab.button.remove();
    tab.pane.remove();
    tabs.splice(tabs.indexOf(tab), 1);
    if (active === tab) activate(tabs[tabs.length - 1] || null);
  }

  function setState(tab, state, message) {
    tab.pane.dataset.state = state;
    tab.button.dataset.state = state;
    tab.status.textContent = message;
  }

  async function connect(tab) {
    setState(tab, "connecting", texts["ui.console.connecting"]);
    tab.closed.hidden = true;
    let session;
    try {
      const r = await fetch("/api/v1/clusters/" + encodeURIComponent(tab.clusterId) + "/console/sessions", {
        method: "POST", credentials: "same-origin",
        headers: {"X-CSRF-Token": app.dataset.csrf, "Content-Type": "application/json", "Accept": "application/json"},
        body: "{}"});
      const body = await r.json();
      if (!r.ok) throw new Error(body.message + (body.hint ? " " + body.hint : ""));
      session = body;
    } catch (e) {
      setState(tab, "closed", texts["ui.console.failed"].replace("{message}", e.message));
      showClosed(tab, texts["ui.console.failed"].replace("{message}", e.message));
      return;
    }
    tab.sessionId = session.id;
    tab.pane.dataset.session = session.id;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + session.websocket_path);
    tab.socket = socket;
    socket.onopen = function () {
      setState(tab, "open", texts["ui.console.connected"]);
      tab.fit();
      sendResize(tab);
    };
    socket.onmessage = function (event) { tab.term.write(unb64(event.data)); };
    socket.onclose = function (event) {
      if (tab.socket !== socket) return;
      const key = "console.closed." + (event.reason || (event.code === 1000 ? "exit" : "error"));
      const why = texts[key] || texts["console.closed.error"];
      setState(tab, "closed", texts["ui.console.closed"]);
      showClosed(tab, why, event.reason || String(event.code));
    };
  }

  function showClosed(tab, message, reason) {
    tab.closed.hidden = false;
    tab.closedText.textContent = message;
    tab.closed.dataset.reason = reason || "";
  }

  function sendResize(tab) {
    if (tab.socket && tab.socket.readyState === 1) {
      tab.socket.send("4" + b64(encoder.encode(JSON.stringify({rows: tab.term.rows, cols: tab.term.cols}))));
    }
  }

  function copySelection(term) {
    const text = term.getSelection();
    if (text && navigator.clipboard) navigator.clipboard.writeText(text).catch(function () {});
  }

  function openTab(clusterId, clusterName) {
    counter += 1;
    const button = document.createElement("div");
    button.className = "console-tab";
    button.setAttribute("role", "tab");
    button.dataset.testid = "console-tab";
    button.setAttribute("data-testid", "console-tab");
    const label = document.createElement("button");
    label.type = "button";
    label.className = "console-tab-label";
    label.textContent = clusterName + " #" + counter;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "console-tab-close";
    close.title = texts["ui.console.close_tab"];
    close.setAttribute("aria-label", texts["ui.console.close_tab"]);
    close.textContent = "×";
    button.append(label, close);
    tabsEl.append(button);

    const pane = document.createElement("section");
    pane.className = "console-pane";
    pane.setAttribute("role", "tabpanel");
    pane.setAttribute("data-testid", "console-pane");
    pane.dataset.cluster = clusterId;
    const status = document.createElement("div");
    status.className = "console-status";
    status.setAttribute("data-testid", "console-status");
    const screen = document.createElement("div");
    screen.className = "console-screen";
    const closed = document.createElement("div");
    closed.className = "console-closed alert warning";
    closed.setAttribute("data-testid", "console-closed");
    closed.hidden = true;
    const closedText = document.createElement("span");
    const again = document.createElement("button");
    again.type = "button";
    again.className = "btn sm";
    again.textContent = texts["ui.console.reconnect"];
    closed.append(closedText, again);
    pane.append(status, closed, screen);
    panesEl.append(pane);

    const term = new Terminal({
      cursorBlink: true, fontSize: 13, scrollback: 5000, convertEol: false,
      fontFamily: "'DejaVu Sans Mono', 'Noto Sans Mono CJK SC', Menlo, Consolas, monospace",
      theme: {background: "#0f172a", foreground: "#e2e8f0", cursor: "#38bdf8", selectionBackground: "#334155"},
    });
    const fitter = new FitAddon.FitAddon();
    term.loadAddon(fitter);
    term.open(screen);
    const tab = {clusterId, term, pane, button, status, closed, closedText, socket: null, sessionId: null,
                 fit: function () { if (!pane.hidden) { try { fitter.fit(); } catch (e) { /* not laid out yet */ } } }};
    tabs.push(tab);

    term.onData(function (data) {
      if (tab.socket && tab.socket.readyState === 1) tab.socket.send("0" + b64(encoder.encode(data)));
    });
    term.onResize(function () { sendResize(tab); });
    // Copy and paste: Ctrl-Shift-C / Ctrl-Shift-V (Ctrl-C stays the interrupt key); selecting copies too.
    term.attachCustomKeyEventHandler(function (event) {
      if (event.type !== "keydown" || !event.ctrlKey || !event.shiftKey) return true;
      if (event.code === "KeyC") { copySelection(term); event.preventDefault(); return false; }
      if (event.code === "KeyV") {
        if (navigator.clipboard && navigator.clipboard.readText) {
          navigator.clipboard.readText().then(function (text) { term.paste(text); }).catch(function () {});
        }
        event.preventDefault();
        return false;
      }
      return true;
    });
    term.onSelectionChange(function () { if (term.hasSelection()) copySelection(term); });
    label.addEventListener("click", function () { activate(tab); });
    close.addEventListener("click", function () { closeTab(tab); });
    again.addEventListener("click", function () { term.reset(); connect(tab); });
    activate(tab);
    connect(tab);
    return tab;
  }

  window.addEventListener("resize", function () { if (active) active.fit(); });
  document.getElementById("console-add").addEventListener("click", function () {
    const select = document.getElementById("console-cluster");
    const option = select.options[select.selectedIndex];
    openTab(option.value, option.dataset.name || option.value);
  });
  openTab(app.dataset.cluster, app.dataset.clusterName);
})();
