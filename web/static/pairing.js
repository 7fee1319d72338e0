/* napekit: the pairing screen. A phone asks (POST /api/pairing), the kit beeps, a long press
 * at the kit approves; the page polls GET /api/pairing/<id> until then. One-time links
 * (/pair#<secret>, made by `napekit pair` on the kit's terminal) are redeemed here too.
 * Any API call that answers 401 calls NK.needPairing(): the page's content gives way to this
 * screen (inside <main>, so the page keeps its main landmark). */
(function () {
  "use strict";
  var NK = window.NK;
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
    NK.ready();
    if (NK.sim.on) NK.showSimHint();
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
    if (NK.sim.on) { NK.showSimHint(); NK.openSim(); }
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
    NK.ready();
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

  NK.pairingShown = function () { return pairing.shown; };

  NK.initPairPage = initPairPage;
  NK.initPairing = function () {
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
})();
