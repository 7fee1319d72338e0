/* napekit: code shared by every page.
 *
 * - NK.api(): JSON fetch to the kit. Mutating requests carry the CSRF header (the value of
 *   the readable napekit_csrf cookie). 401 shows the pairing screen (with the kit's answer,
 *   which says when this phone was removed); 503 or no answer
 *   shows "reconnecting".
 * - Small helpers: elements, formatting, local settings, an event bus; NK.cfg (limits and
 *   fault codes from the server); NK.ready() reveals the page once it has its data.
 * - pairing.js (the pairing screen), simkit.js (the virtual kit panel), chart.js (the SVG
 *   chart) and live.js (status by server-sent events, or polling) add to NK.
 *
 * Page scripts register NK.pages[name] = function () {...}; it runs once the DOM is ready
 * and calls NK.ready() when it has drawn its first data.
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
    if (res.status === 401 && !options.quiet) NK.needPairing(data);
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

  // ---- a tiny event bus (the sim panel tells the page to refresh at once) ----------------
  var listeners = {};
  NK.on = function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); };
  NK.emit = function (name, arg) {
    (listeners[name] || []).forEach(function (fn) { try { fn(arg); } catch (e) { /* ok */ } });
  };

  // ---- start ------------------------------------------------------------------------------
  /* A paired browser holds the readable napekit_csrf cookie next to its HttpOnly token.
     Without it the API can only answer 401: show the pairing screen at once instead. */
  NK.maybePaired = function () { return !!NK.cookie("napekit_csrf"); };

  /* The page's content stays invisible (body.loading; its space is reserved) until the page
     has drawn what it fetched, so nothing jumps (layout shift) when the data arrives. */
  var READY_LATEST_MS = 4000;
  NK.ready = function () { document.body.classList.remove("loading"); };

  /* Numbers and codes the server gives the page (from firmware.limits and firmware.states:
     never spelt twice). */
  function readConfig() {
    var d = document.body.dataset;
    function list(v) { return v ? v.split(" ") : []; }
    NK.cfg = {
      doseLimit: parseFloat(d.doseLimit) || null,
      oneSensorMaxC: parseFloat(d.oneSensorMaxC) || null,
      poweredFaults: list(d.poweredFaults),
      sensorFaults: list(d.sensorFaults),
      longPressS: parseFloat(d.longPressS) || 2
    };
  }

  function boot() {
    readConfig();
    setTimeout(NK.ready, READY_LATEST_MS);  // whatever happens, never stay blank
    if (NK.initPairing) NK.initPairing();
    if (NK.initSim) NK.initSim();
    var page = document.body.dataset.page;
    if (page === "pair") { NK.initPairPage(); return; }
    if (!NK.maybePaired()) { NK.needPairing(); return; }
    var fn = NK.pages[page];
    if (fn) fn();
    else NK.ready();
  }

  // Page scripts are deferred after this one: wait until they have registered.
  if (document.readyState === "complete") boot();
  else document.addEventListener("DOMContentLoaded", boot);
})();
