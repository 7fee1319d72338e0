/* napekit: code shared by every page.
 *
 * - NK.api(): JSON fetch to the kit. Mutating requests carry the CSRF header (the value of
 *   the readable napekit_csrf cookie). 401 shows the pairing screen; 503 or no answer
 *   shows "reconnecting".
 * - The pairing screen (a phone asks, the kit's long press approves) and one-time links
 *   (/pair#<secret>).
 * - The virtual kit panel, only when the kit is simulated; it works before pairing since it
 *   stands for touching the kit.
 * - Small helpers: elements, formatting, local settings, the SVG line chart.
 *
 * Page scripts register NK.pages[name] = function () {...}; it runs once the DOM is ready.
 * No inline script or style anywhere: the Content-Security-Policy forbids them.
 */
(function () {
  "use strict";

  var NK = (window.NK = { pages: {} });
  var SVG_NS = "http://www.w3.org/2000/svg";

  // ---- tiny DOM helpers ------------------------------------------------------------------
  NK.$ = function (id) { return document.getElementById(id); };

  NK.el = function (tag, attrs, children) {
    var node = document.createElement(tag);
    setAll(node, attrs);
    append(node, children);
    return node;
  };

  NK.svg = function (tag, attrs, children) {
    var node = document.createElementNS(SVG_NS, tag);
    setAll(node, attrs);
    append(node, children);
    return node;
  };

  function setAll(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.setAttribute("class", value);
      else node.setAttribute(key, value === true ? "" : String(value));
    });
  }

  function append(node, children) {
    if (children === null || children === undefined) return;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
  }

  NK.setText = function (id, text) {
    var node = typeof id === "string" ? NK.$(id) : id;
    if (node && node.textContent !== text) node.textContent = text;
  };

  NK.show = function (id, visible) {
    var node = typeof id === "string" ? NK.$(id) : id;
    if (node) node.hidden = !visible;
  };

  NK.msg = function (id, text, kind) {
    var node = NK.$(id);
    if (!node) return;
    node.textContent = text || "";
    node.classList.toggle("bad", kind === "bad");
    node.classList.toggle("good", kind === "good");
  };

  // ---- formatting --------------------------------------------------------------------------
  NK.fmtTemp = function (value, digits) {
    if (typeof value !== "number" || !isFinite(value)) return "––.–";
    return value.toFixed(digits === undefined ? 1 : digits);
  };

  NK.fmtClock = function (seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds)) return "–";
    var s = Math.max(0, Math.ceil(seconds));
    var m = Math.floor(s / 60);
    var r = s % 60;
    return m + ":" + (r < 10 ? "0" : "") + r;
  };

  NK.fmtDuration = function (seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds)) return "–";
    var s = Math.round(seconds);
    if (s < 60) return s + " s";
    var m = Math.floor(s / 60);
    var r = s % 60;
    if (m < 60) return r ? m + " min " + r + " s" : m + " min";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  };

  NK.fmtDate = function (unixSeconds) {
    if (typeof unixSeconds !== "number") return "–";
    try {
      return new Date(unixSeconds * 1000).toLocaleString(undefined, {
        weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit"
      });
    } catch (e) {
      return new Date(unixSeconds * 1000).toISOString().slice(0, 16).replace("T", " ");
    }
  };

  // ---- this phone's own choices (localStorage; may be unavailable) ------------------------
  NK.local = {
    get: function (key) {
      try { return window.localStorage.getItem("napekit." + key); } catch (e) { return null; }
    },
    set: function (key, value) {
      try {
        if (value === null) window.localStorage.removeItem("napekit." + key);
        else window.localStorage.setItem("napekit." + key, value);
      } catch (e) { /* private mode: forget it */ }
    }
  };

  // ---- the API ------------------------------------------------------------------------------
  NK.cookie = function (name) {
    var parts = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < parts.length; i++) {
      var part = parts[i].trim();
      var eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq) === name) {
        try { return decodeURIComponent(part.slice(eq + 1)); } catch (e) { return part.slice(eq + 1); }
      }
    }
    return "";
  };

  var DOWN = "The kit is not answering.";

  /* Returns {ok, status, data}; never throws. status 0 = no answer at all. */
  NK.api = async function (method, path, body, options) {
    options = options || {};
    var init = {
      method: method,
      headers: { "Accept": "application/json" },
      credentials: "same-origin",
      cache: "no-store"
    };
    if (method !== "GET" && method !== "HEAD") {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRF-Token"] = NK.cookie("napekit_csrf");
      init.body = JSON.stringify(body === undefined ? {} : body);
    }
    var res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      NK.setConn("down");
      return { ok: false, status: 0, data: { error: DOWN, field: null } };
    }
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (res.status === 502 || res.status === 503 || res.status === 504) NK.setConn("down");
    else NK.setConn("up");
    if (!data || typeof data !== "object") {
      data = res.ok ? {} : { error: "The kit answered " + res.status + ".", field: null };
    }
    if (!res.ok && typeof data.error !== "string") data.error = "The kit answered " + res.status + ".";
    if (res.status === 401 && !options.quiet) NK.needPairing();
    return { ok: res.ok, status: res.status, data: data };
  };

  var connState = null;
  NK.setConn = function (state) {
    if (state === connState) return;
    connState = state;
    var node = NK.$("conn");
    if (!node) return;
    node.classList.toggle("down", state === "down");
    node.textContent = state === "down" ? "Reconnecting…" : "";
  };

  // ---- pairing -------------------------------------------------------------------------------
  var pairing = { shown: false, id: null, timer: null, expiresAt: 0, inflight: false };
  var unpairedHooks = [];

  NK.onUnpaired = function (fn) { unpairedHooks.push(fn); };

  /* An API call said 401: the page's content is replaced by the pairing screen. */
  NK.needPairing = function () {
    if (pairing.shown) return;
    pairing.shown = true;
    unpairedHooks.forEach(function (fn) { try { fn(); } catch (e) { /* keep going */ } });
    var section = NK.$("pairing");
    if (document.body.dataset.page !== "pair") {
      NK.show("content", false);
    }
    NK.show("paired", false);
    NK.show(section, true);
    var title = NK.$("pair-title");
    if (title) { title.setAttribute("tabindex", "-1"); title.focus({ preventScroll: true }); }
    if (sim.on) NK.showSimHint();
  };

  NK.showSimHint = function () {
    var section = NK.$("pairing");
    if (!section || section.hidden) return;
    NK.show("pair-sim-hint", true);
  };

  function pairReset(message, kind) {
    clearTimeout(pairing.timer);
    pairing.id = null;
    NK.show("pair-wait", false);
    NK.show("pair-steps", true);
    NK.show("pair-start", true);
    var start = NK.$("pair-start");
    if (start) start.disabled = false;
    NK.msg("pair-msg", message || "", kind);
  }

  async function pairStart() {
    var start = NK.$("pair-start");
    start.disabled = true;
    NK.msg("pair-msg", "Asking the kit…");
    var r = await NK.api("POST", "/api/pairing", {}, { quiet: true });
    if (!r.ok || typeof r.data.id !== "string") {
      pairReset(r.data.error || "The kit did not take the request.", "bad");
      return;
    }
    pairing.id = r.data.id;
    var life = typeof r.data.expires_in_s === "number" ? r.data.expires_in_s : 60;
    pairing.expiresAt = Date.now() + life * 1000;
    NK.setText("pair-code", String(r.data.code || "----"));
    NK.show("pair-steps", false);
    NK.show("pair-start", false);
    NK.show("pair-wait", true);
    NK.msg("pair-msg", "");
    showCountdown(life);
    if (sim.on) { NK.showSimHint(); openSim(); }
    pairing.timer = setTimeout(pairPoll, 1000);
  }

  function showCountdown(seconds) {
    NK.setText("pair-countdown", "Waiting for the kit… " + Math.max(0, Math.ceil(seconds)) + " s left");
  }

  async function pairPoll() {
    var id = pairing.id;
    if (!id || pairing.inflight) return;
    pairing.inflight = true;
    clearTimeout(pairing.timer);
    var r = await NK.api("GET", "/api/pairing/" + encodeURIComponent(id), undefined, { quiet: true });
    pairing.inflight = false;
    if (pairing.id !== id) return; // cancelled meanwhile
    if (r.ok && r.data.status === "approved") {
      pairing.id = null;
      NK.show("pair-wait", false);
      NK.msg("pair-msg", "Paired. Opening the kit…", "good");
      setTimeout(afterPaired, 500);
      return;
    }
    if ((r.ok && r.data.status === "expired") || r.status === 404) {
      pairReset("The request ran out before the kit's button was held. Try again.", "bad");
      return;
    }
    if (r.ok && typeof r.data.expires_in_s === "number") {
      showCountdown(r.data.expires_in_s);
    } else if (!r.ok && r.status !== 0 && r.status !== 503 && r.status !== 429) {
      pairReset(r.data.error, "bad");
      return;
    } else {
      showCountdown((pairing.expiresAt - Date.now()) / 1000);
      if (Date.now() > pairing.expiresAt + 15000) {
        pairReset("The kit stopped answering. Try again.", "bad");
        return;
      }
    }
    pairing.timer = setTimeout(pairPoll, 1000);
  }

  function afterPaired() {
    window.scrollTo(0, 0);  // the pairing may have been done from the panel further down
    if (document.body.dataset.page === "pair") window.location.assign("/");
    else window.location.reload();
  }

  /* /pair#<secret>: a one-time link made by `napekit pair` on the kit's terminal. */
  async function redeemLink(secret) {
    try { history.replaceState(null, "", window.location.pathname); } catch (e) { /* ok */ }
    NK.msg("pair-msg", "Using the pairing link…");
    var r = await NK.api("POST", "/api/pairing/link", { secret: secret }, { quiet: true });
    if (r.ok) {
      NK.msg("pair-msg", "Paired. Opening the kit…", "good");
      setTimeout(afterPaired, 500);
    } else {
      NK.msg("pair-msg", (r.status === 403 ? "This link was used already or has run out. " :
        (r.data.error || "") + " ") + "Pair with the kit's button instead.", "bad");
    }
  }

  async function initPairPage() {
    var secret = window.location.hash ? window.location.hash.slice(1) : "";
    if (secret) { await redeemLink(secret); return; }
    if (!NK.maybePaired()) { NK.needPairing(); return; }
    var r = await NK.api("GET", "/api/status", undefined, { quiet: true });
    if (r.ok) {
      NK.show("pairing", false);
      NK.show("paired", true);
    } else if (r.status === 401) {
      NK.needPairing();
    }
  }

  function initPairing() {
    var start = NK.$("pair-start");
    if (!start) return;
    // A press on the virtual kit: ask again soon rather than in a second.
    NK.on("kit", function () {
      if (!pairing.id) return;
      clearTimeout(pairing.timer);
      pairing.timer = setTimeout(pairPoll, 250);
    });
    start.addEventListener("click", pairStart);
    NK.$("pair-cancel").addEventListener("click", function () { pairReset(""); });
  }

  // ---- the virtual kit (simulation only) --------------------------------------------------
  var sim = { on: false, timer: null, busy: false };

  function openSim() {
    var panel = NK.$("simkit");
    if (panel && !panel.open) panel.open = true;
  }

  async function simRefresh() {
    clearTimeout(sim.timer);
    var r = await NK.api("GET", "/api/sim/state", undefined, { quiet: true });
    var panel = NK.$("simkit");
    if (r.status === 404 && !sim.on) return; // not a simulated kit: no panel
    if (r.ok) {
      if (!sim.on) {
        sim.on = true;
        NK.show(panel, true);
        if (pairing.shown) { NK.showSimHint(); }
      }
      renderSim(r.data);
    }
    var wait = r.ok ? (panel && panel.open ? 700 : 3000) : 2000;
    sim.timer = setTimeout(simRefresh, document.hidden ? 5000 : wait);
  }

  function renderSim(s) {
    var relay = !!s.contacts;
    NK.setText("sim-relay", relay ? "closed (heating)" : "open");
    NK.$("sim-relay-lamp").classList.toggle("on", relay);
    var buzz = s.buzzer;
    var buzzing = !!buzz && buzz !== "off";
    NK.setText("sim-buzzer", buzzing ? (typeof buzz === "string" ? buzz : "sounding") : "quiet");
    NK.$("sim-buzzer-lamp").classList.toggle("on", buzzing);
    NK.setText("sim-true", typeof s.true_c === "number" ? s.true_c.toFixed(1) + " °C" : "–");
    var faults = Array.isArray(s.faults) && s.faults.length ? s.faults.join(", ") : "none";
    NK.setText("sim-faults", faults);
    var kb = NK.$("sim-kitbutton");
    if (kb && !kb.classList.contains("down")) kb.setAttribute("aria-pressed", s.button ? "true" : "false");
  }

  async function simSend(method, path, body, done) {
    var r = await NK.api(method, path, body, { quiet: true });
    if (r.ok) NK.msg("sim-msg", done, "good");
    else NK.msg("sim-msg", r.data.error, "bad");
    NK.emit("kit");
    setTimeout(simRefresh, 150);
    return r;
  }

  NK.simPress = function () {
    return simSend("POST", "/api/sim/button", { action: "press" }, "Pressed the kit's button.");
  };
  NK.simHold = function (seconds) {
    seconds = Math.min(30, Math.max(2, seconds || 3));
    return simSend("POST", "/api/sim/button", { action: "hold", duration_s: Math.round(seconds * 10) / 10 },
      "Held the kit's button for " + seconds.toFixed(1) + " s.");
  };

  /* A real press-and-hold on the drawn button: short tap = press, 2 s or more = hold. */
  function initKitButton() {
    var kb = NK.$("sim-kitbutton");
    var downAt = 0;
    var longTimer = null;
    function finish(send) {
      if (!downAt) return;
      var held = (Date.now() - downAt) / 1000;
      downAt = 0;
      clearTimeout(longTimer);
      kb.classList.remove("down", "long");
      if (!send) return;
      if (held >= 2) NK.simHold(held);
      else NK.simPress();
    }
    kb.addEventListener("pointerdown", function (e) {
      if (e.button !== undefined && e.button !== 0) return;
      downAt = Date.now();
      kb.classList.add("down");
      try { kb.setPointerCapture(e.pointerId); } catch (err) { /* ok */ }
      longTimer = setTimeout(function () { kb.classList.add("long"); }, 2000);
      e.preventDefault();
    });
    kb.addEventListener("pointerup", function () { finish(true); });
    kb.addEventListener("pointercancel", function () { finish(false); });
    kb.addEventListener("contextmenu", function (e) { e.preventDefault(); });
    // Keyboard (Enter / Space) gives a click with no pointer: a short press.
    kb.addEventListener("click", function (e) { if (e.detail === 0) NK.simPress(); });
  }

  function initSim() {
    var panel = NK.$("simkit");
    if (!panel) return;
    initKitButton();
    NK.$("sim-press").addEventListener("click", function () { NK.simPress(); });
    NK.$("sim-hold").addEventListener("click", function () { NK.simHold(3); });
    NK.$("sim-inject").addEventListener("click", function () {
      var fault = NK.$("sim-fault").value;
      simSend("POST", "/api/sim/fault", { fault: fault }, "Injected: " + fault + ".");
    });
    NK.$("sim-clear").addEventListener("click", function () {
      simSend("DELETE", "/api/sim/fault", {}, "Injected faults removed. A latched fault on the kit still needs a long press.");
    });
    panel.addEventListener("toggle", function () { if (panel.open) simRefresh(); });
    simRefresh();
  }

  // ---- a tiny event bus (the sim panel tells the page to refresh at once) ----------------
  var listeners = {};
  NK.on = function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); };
  NK.emit = function (name, arg) {
    (listeners[name] || []).forEach(function (fn) { try { fn(arg); } catch (e) { /* ok */ } });
  };

  // ---- the SVG line chart (Now and History) -----------------------------------------------
  /* points: [{x, y, relay}] with x in seconds; opts: {target, xLabel(x) -> text, empty}. */
  NK.drawChart = function (svg, points, opts) {
    opts = opts || {};
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var W = 320, H = 170, L = 34, R = 8, T = 14, B = 34;
    var pw = W - L - R, ph = H - T - B;
    var ys = points.map(function (p) { return p.y; }).filter(function (y) { return typeof y === "number"; });
    if (points.length < 2 || ys.length < 2) {
      svg.appendChild(NK.svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", className: "empty",
        text: opts.empty || "Waiting for readings…" }));
      return;
    }
    var target = typeof opts.target === "number" ? opts.target : null;
    var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys);
    if (target !== null) { lo = Math.min(lo, target); hi = Math.max(hi, target); }
    lo = Math.floor(lo - 0.5); hi = Math.ceil(hi + 0.5);
    if (hi - lo < 4) { var mid = (hi + lo) / 2; lo = Math.floor(mid - 2); hi = lo + 4; }
    var x0 = points[0].x, x1 = points[points.length - 1].x;
    if (x1 - x0 < 1) x1 = x0 + 1;
    function sx(x) { return L + (x - x0) / (x1 - x0) * pw; }
    function sy(y) { return T + (hi - y) / (hi - lo) * ph; }

    var stepY = [1, 2, 5, 10, 20].filter(function (k) { return (hi - lo) / k <= 6; })[0] || 50;
    for (var g = Math.ceil(lo / stepY) * stepY; g <= hi; g += stepY) {
      svg.appendChild(NK.svg("line", { x1: L, x2: W - R, y1: sy(g), y2: sy(g), className: "grid" }));
      svg.appendChild(NK.svg("text", { x: L - 4, y: sy(g) + 4, "text-anchor": "end", text: String(g) }));
    }
    svg.appendChild(NK.svg("line", { x1: L, x2: L, y1: T, y2: T + ph, className: "axis" }));
    svg.appendChild(NK.svg("line", { x1: L, x2: W - R, y1: T + ph, y2: T + ph, className: "axis" }));

    // relay-on spans as a band under the plot
    var bandY = T + ph + 3;
    for (var i = 0; i < points.length - 1; i++) {
      if (points[i].relay) {
        var a = sx(points[i].x), b = sx(points[i + 1].x);
        svg.appendChild(NK.svg("rect", { x: a, y: bandY, width: Math.max(0.5, b - a), height: 5, className: "relay-on" }));
      }
    }

    if (target !== null) {
      svg.appendChild(NK.svg("line", { x1: L, x2: W - R, y1: sy(target), y2: sy(target), className: "tline" }));
      svg.appendChild(NK.svg("text", { x: W - R - 2, y: sy(target) - 4, "text-anchor": "end", className: "ttext",
        text: "target " + target.toFixed(1) }));
    }

    var d = "";
    var pen = false;
    points.forEach(function (p) {
      if (typeof p.y !== "number") { pen = false; return; }
      d += (pen ? "L" : "M") + sx(p.x).toFixed(1) + " " + sy(p.y).toFixed(1);
      pen = true;
    });
    svg.appendChild(NK.svg("path", { d: d, className: "line" }));

    var label = opts.xLabel || function (x) { return Math.round(x) + " s"; };
    svg.appendChild(NK.svg("text", { x: L, y: H - 8, "text-anchor": "start", text: label(x0, true) }));
    svg.appendChild(NK.svg("text", { x: W - R, y: H - 8, "text-anchor": "end", text: label(x1, false) }));
    svg.appendChild(NK.svg("text", { x: L + 4, y: T - 3, "text-anchor": "start", text: "°C" }));
    svg.appendChild(NK.svg("rect", { x: L + pw / 2 - 30, y: H - 15, width: 14, height: 5, className: "relay-on" }));
    svg.appendChild(NK.svg("text", { x: L + pw / 2 - 12, y: H - 8, "text-anchor": "start", text: "heat on" }));
  };

  // ---- start ------------------------------------------------------------------------------
  /* A paired browser holds the readable napekit_csrf cookie next to its HttpOnly token.
     Without it the API can only answer 401: show the pairing screen at once instead. */
  NK.maybePaired = function () { return !!NK.cookie("napekit_csrf"); };

  function boot() {
    initPairing();
    initSim();
    var page = document.body.dataset.page;
    if (page === "pair") { initPairPage(); return; }
    if (!NK.maybePaired()) { NK.needPairing(); return; }
    var fn = NK.pages[page];
    if (fn) fn();
  }

  // Page scripts are deferred after this one: wait until they have registered.
  if (document.readyState === "complete") boot();
  else document.addEventListener("DOMContentLoaded", boot);
})();
