/* napekit: the virtual kit panel, only when the kit is simulated (GET /api/sim/state answers).
 * It stands for touching the kit, so it works before pairing: the kit's button (tap, tap
 * twice quickly for a double press, or keep it pressed 2 s for a long press), the relay and
 * buzzer lights, fault injection, why the kit refused to clear a fault when it says so, and
 * the pairing codes a display at the kit would show (the real kit has none: `napekit status`
 * shows them). */
(function () {
  "use strict";
  var NK = window.NK;
  // ---- the virtual kit (simulation only) --------------------------------------------------
  var sim = NK.sim = { on: false, timer: null, busy: false };

  NK.openSim = openSim;
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
        NK.show("simkit-box", true);
        if (NK.pairingShown()) { NK.showSimHint(); }
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
    if ("clear_refused" in s) showRefused("sim", typeof s.clear_refused === "string" ? s.clear_refused : "");
    renderPairing(s.pairing);
    var kb = NK.$("sim-kitbutton");
    if (kb && !kb.classList.contains("down")) kb.setAttribute("aria-pressed", s.button ? "true" : "false");
  }

  /* What a display at the kit would show of pairing: each waiting phone's code and name
     (to compare with the phone), the one-phone rule, and what the last long press did. */
  function renderPairing(p) {
    var box = NK.$("sim-pairing");
    if (!box) return;
    var requests = p && Array.isArray(p.requests) ? p.requests : [];
    var last = p && p.last_press ? p.last_press : null;
    NK.show(box, requests.length > 0 || !!last);
    var list = NK.$("sim-pair-requests");
    while (list.firstChild) list.removeChild(list.firstChild);
    requests.forEach(function (r) {
      list.appendChild(NK.el("li", null, [
        NK.el("strong", { className: "sim-pair-code", text: String(r.code) }), " ",
        String(r.name || "a phone"), " · " + Math.max(0, Math.ceil(r.expires_in_s)) + " s left"]));
    });
    NK.setText("sim-pair-rule", requests.length === 1
      ? "One phone is asking: a long press approves it if the code matches the phone."
      : requests.length > 1
        ? requests.length + " phones are asking at once: a long press refuses them all."
        : "");
    var names = last ? last.names.map(function (n) { return "“" + n + "”"; }).join(", ") : "";
    NK.setText("sim-pair-last", !last ? "" : last.outcome === "approved"
      ? "The last long press approved " + names + "."
      : "The last long press refused " + names + ": two or more phones asked at the same time.");
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
  /* Two short presses as a finger makes them, timed by the kit itself: two taps sent one by
     one would land far apart on a sped-up simulated kit. */
  NK.simDouble = function () {
    return simSend("POST", "/api/sim/button", { action: "double" }, "Pressed the kit's button twice.");
  };
  NK.simHold = function (seconds) {
    seconds = Math.min(30, Math.max(2, seconds || 3));
    return simSend("POST", "/api/sim/button", { action: "hold", duration_s: Math.round(seconds * 10) / 10 },
      "Held the kit's button for " + seconds.toFixed(1) + " s.");
  };

  /* A real press-and-hold on the drawn button: short tap = press, two taps within
     DOUBLE_MS = a double press, 2 s or more = hold. A tap waits DOUBLE_MS for a second one,
     as the kit's own button does in a massage stage; a long press after a tap drops it. */
  var DOUBLE_MS = 450;
  var tapTimer = null;
  var secondDown = false;  // the button went down again while a tap waited

  function waitForSecond() {
    tapTimer = setTimeout(function () { tapTimer = null; NK.simPress(); }, DOUBLE_MS);
  }
  function keyTap() {  // Enter / Space: no press to hold
    if (tapTimer) { clearTimeout(tapTimer); tapTimer = null; NK.simDouble(); }
    else waitForSecond();
  }

  function initKitButton() {
    var kb = NK.$("sim-kitbutton");
    var downAt = 0;
    var longTimer = null;
    function finish(send) {
      if (!downAt) return;
      var held = (Date.now() - downAt) / 1000;
      var second = secondDown;
      downAt = 0;
      secondDown = false;
      clearTimeout(longTimer);
      kb.classList.remove("down", "long");
      if (!send) { if (second) NK.simPress(); return; }
      if (held >= 2) NK.simHold(held);
      else if (second) NK.simDouble();
      else waitForSecond();
    }
    kb.addEventListener("pointerdown", function (e) {
      if (e.button !== undefined && e.button !== 0) return;
      if (tapTimer) { clearTimeout(tapTimer); tapTimer = null; secondDown = true; }
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
    kb.addEventListener("click", function (e) { if (e.detail === 0) keyTap(); });
  }

  /* Why the kit did not clear a fault on a long press, in its own words: from the status
     the page got (the Now page) or from the virtual kit's state (every page); either says. */
  var refused = { status: "", sim: "" };
  function showRefused(source, text) {
    refused[source] = text;
    var shown = refused.status || refused.sim;
    NK.setText("sim-refused", shown ? "The kit did not clear the fault: " + shown : "");
    NK.show("sim-refused", !!shown);
  }
  NK.on("status", function (s) {
    showRefused("status", s && s.fault && typeof s.fault.clear_refused === "string" ? s.fault.clear_refused : "");
  });

  NK.initSim = function () {
    var panel = NK.$("simkit");
    if (!panel) return;
    initKitButton();
    NK.$("sim-press").addEventListener("click", function () { NK.simPress(); });
    NK.$("sim-double").addEventListener("click", function () { NK.simDouble(); });
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
  };
})();
