/* napekit: the pairing screen. A phone asks (POST /api/pairing {name}), the kit beeps, a long
 * press at the kit approves it when it is the only phone asking; the page polls
 * GET /api/pairing/<id> and says what the kit heard: waiting for the press (with a warning
 * when another phone asks too), approved, refused (two phones asked at once, so both were
 * refused), or run out. One-time links (/pair#<secret>, made by `napekit pair` on the kit's
 * terminal) are redeemed here too.
 * Any API call that answers 401 calls NK.needPairing(answer): the page's content gives way to
 * this screen (inside <main>, so the page keeps its main landmark); a phone that was removed
 * from the kit is told so, not silently asked to pair as if it never had been. */
(function () {
  "use strict";
  var NK = window.NK;
  // The kit's answer (401) to a phone that was removed: web.auth.REVOKED.
  var REMOVED = "this phone was removed from the kit; pair again";
  var NAME_MAX = 40;  // firmware.pairing.NAME_MAX_CHARS (the input's maxlength too)
  var DO_NOW = "Now hold the kit's button for 2 seconds.";
  var EXPIRED = "Nobody held the kit's button within the minute, so the request ran out and " +
    "nothing was paired. Ask again.";
  // What the kit heard, as a headline over its own words (pair_status "reason").
  var HEADLINES = {
    several: "Refused: two phones asked at once",
    replaced: "Replaced by a newer request",
    crowded: "Dropped: too many phones asking"
  };
  // ---- pairing -------------------------------------------------------------------------------
  var pairing = { shown: false, id: null, timer: null, expiresAt: 0, inflight: false };
  var unpairedHooks = [];

  NK.onUnpaired = function (fn) { unpairedHooks.push(fn); };

  /* A default name for this phone from its browser, e.g. "Pixel 7 (Chrome)", "iPhone
     (Safari)": what a person would call it in a list. */
  NK.defaultPhoneName = function (ua) {
    ua = ua === undefined ? (navigator.userAgent || "") : ua;
    var device = "Phone";
    var android = ua.match(/Android[^;)]*;\s*([^;)]+?)(?:\s+Build\/[^;)]*)?\)/);
    if (android && !/^(K|wv|Mobile|[a-z]{2}-[a-z]{2})$/i.test(android[1].trim())) {
      device = android[1].trim();
    } else if (/Android/.test(ua)) device = "Android phone";
    else if (/iPhone/.test(ua)) device = "iPhone";
    else if (/iPad/.test(ua)) device = "iPad";
    else if (/CrOS/.test(ua)) device = "Chromebook";
    else if (/Macintosh|Mac OS X/.test(ua)) device = "Mac";
    else if (/Windows/.test(ua)) device = "Windows PC";
    else if (/Linux/.test(ua)) device = "Linux computer";
    var browser = /Edg(A|iOS)?\//.test(ua) ? "Edge"
      : /SamsungBrowser\//.test(ua) ? "Samsung Internet"
      : /OPR\/|Opera/.test(ua) ? "Opera"
      : /Firefox\/|FxiOS\//.test(ua) ? "Firefox"
      : /Chrome\/|CriOS\/|Chromium\//.test(ua) ? "Chrome"
      : /Safari\//.test(ua) ? "Safari" : "";
    var name = browser ? device + " (" + browser + ")" : device;
    // only what the kit accepts: no control or invisible characters, at most NAME_MAX long
    name = name.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f]/g, "");
    return name.slice(0, NAME_MAX).trim() || "Phone";
  };

  function showRemoved(removed) {
    NK.local.set("removed", removed ? "1" : null);
    NK.show("pair-removed", removed);
  }

  /* Why the kit said 401: the answer when there is one, else (the live stream said
     "unpaired") one quiet question, which also clears a stale cookie. */
  async function learnWhy(answer) {
    if ((answer && answer.error === REMOVED) || NK.local.get("removed") === "1") {
      showRemoved(true);  // until this phone is paired again
      return;
    }
    if ((answer && typeof answer.error === "string") || !NK.maybePaired()) return;
    var r = await NK.api("GET", "/api/csrf", undefined, { quiet: true });
    if (r.status === 401 && r.data.error === REMOVED) showRemoved(true);
  }

  /* An API call said 401: the page's content is replaced by the pairing screen. */
  NK.needPairing = function (answer) {
    learnWhy(answer);
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
    NK.show("pair-name-field", true);
    NK.show("pair-start", true);
    var start = NK.$("pair-start");
    if (start) start.disabled = false;
    NK.msg("pair-msg", message || "", kind);
  }

  function nameError(text) {
    var input = NK.$("pair-name");
    NK.setText("pair-name-err", text || "");
    NK.show("pair-name-err", !!text);
    if (text) { input.setAttribute("aria-invalid", "true"); input.focus(); }
    else input.removeAttribute("aria-invalid");
  }

  function chosenName() {
    var input = NK.$("pair-name");
    var name = input ? input.value.trim() : "";
    return name || NK.defaultPhoneName();
  }

  /* Another phone asks too: the warning takes the code hint's place (nothing moves). */
  function showOthers(on) {
    NK.$("pair-others").classList.toggle("off", !on);
    NK.$("pair-code-hint").classList.toggle("off", on);
  }

  /* The kit's answer, shown where the code is (so nothing jumps): what it heard and what to
     do now; the Cancel button becomes "Ask again". */
  function showOutcome(kind, headline, detail) {
    clearTimeout(pairing.timer);
    pairing.id = null;
    NK.$("pair-wait").dataset.outcome = kind;
    NK.setText("pair-do", headline);
    showOthers(false);
    // the headline says "Refused" already: the kit's words go on from there
    detail = detail.replace(/^(Refused|Replaced|Dropped): (.)/, function (m, word, first) {
      return first.toUpperCase();
    });
    NK.setText("pair-countdown", detail);
    var again = NK.$("pair-cancel");
    again.textContent = kind === "approved" ? "Opening the kit…" : "Ask again";
    again.disabled = kind === "approved";
  }

  async function pairStart() {
    var start = NK.$("pair-start");
    var name = chosenName();
    if (name.length > NAME_MAX) { nameError("At most " + NAME_MAX + " characters."); return; }
    nameError("");
    start.disabled = true;
    NK.msg("pair-msg", "Asking the kit…");
    var r = await NK.api("POST", "/api/pairing", { name: name }, { quiet: true });
    if (!r.ok || typeof r.data.id !== "string") {
      if (r.data.field === "name") { pairReset(""); nameError(r.data.error); return; }
      pairReset(r.data.error || "The kit did not take the request.", "bad");
      return;
    }
    pairing.id = r.data.id;
    var life = typeof r.data.expires_in_s === "number" ? r.data.expires_in_s : 60;
    pairing.expiresAt = Date.now() + life * 1000;
    NK.setText("pair-code", String(r.data.code || "----"));
    NK.show("pair-steps", false);
    NK.show("pair-name-field", false);
    NK.show("pair-start", false);
    showOthers(false);
    NK.$("pair-wait").dataset.outcome = "";
    NK.setText("pair-do", DO_NOW);
    var cancel = NK.$("pair-cancel");
    cancel.textContent = "Cancel";
    cancel.disabled = false;
    NK.show("pair-wait", true);
    NK.msg("pair-msg", "");
    showCountdown(life);
    if (NK.sim.on) { NK.showSimHint(); NK.openSim(); }
    pairing.timer = setTimeout(pairPoll, 1000);
  }

  function showCountdown(seconds) {
    NK.setText("pair-countdown", "Waiting for the kit's button… " + Math.max(0, Math.ceil(seconds)) + " s left");
  }

  /* What the kit heard, from one answer to the poll; true when the poll should go on. */
  function heard(r) {
    var status = r.ok ? r.data.status : null;
    if (status === "approved") {
      showRemoved(false);
      showOutcome("approved", "Approved", "The kit approved this phone" +
        (r.data.name ? " as “" + r.data.name + "”" : "") + ". Opening the kit…");
      setTimeout(afterPaired, 1200);
      return false;
    }
    if (status === "refused") {
      showOutcome("refused", HEADLINES[r.data.reason] || "Refused",
        r.data.message || "The kit refused the request. Ask again alone.");
      return false;
    }
    if (status === "expired" || r.status === 404) {
      showOutcome("expired", "Ran out", EXPIRED);
      return false;
    }
    if (status === "pending" && typeof r.data.expires_in_s === "number") {
      showCountdown(r.data.expires_in_s);
      showOthers(r.data.others > 0);
      return true;
    }
    if (!r.ok && r.status !== 0 && r.status !== 503 && r.status !== 429) {
      pairReset(r.data.error, "bad");
      return false;
    }
    showCountdown((pairing.expiresAt - Date.now()) / 1000);
    if (Date.now() > pairing.expiresAt + 15000) {
      pairReset("The kit stopped answering. Try again.", "bad");
      return false;
    }
    return true;
  }

  async function pairPoll() {
    var id = pairing.id;
    if (!id || pairing.inflight) return;
    pairing.inflight = true;
    clearTimeout(pairing.timer);
    var r = await NK.api("GET", "/api/pairing/" + encodeURIComponent(id), undefined, { quiet: true });
    pairing.inflight = false;
    if (pairing.id !== id) return; // cancelled meanwhile
    if (heard(r)) pairing.timer = setTimeout(pairPoll, 1000);
  }

  /* Cancel: the kit forgets the request, so it does not count against the next phone.
     After the kit's answer the same button is "Ask again": back to the start. */
  function pairCancel() {
    var id = pairing.id;
    pairReset("");
    if (id) NK.api("DELETE", "/api/pairing/" + encodeURIComponent(id), {}, { quiet: true });
    NK.$("pair-start").focus();
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
    var r = await NK.api("POST", "/api/pairing/link", { secret: secret, name: chosenName() },
      { quiet: true });
    if (r.ok) {
      showRemoved(false);
      NK.msg("pair-msg", "Paired" + (r.data.name ? " as “" + r.data.name + "”" : "") +
        ". Opening the kit…", "good");
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
      NK.needPairing(r.data);
    }
  }

  NK.pairingShown = function () { return pairing.shown; };

  NK.initPairPage = initPairPage;
  NK.initPairing = function () {
    var start = NK.$("pair-start");
    if (!start) return;
    var input = NK.$("pair-name");
    if (!input.value) input.value = NK.defaultPhoneName();
    input.addEventListener("input", function () { nameError(""); });
    // A press on the virtual kit: ask again soon rather than in a second.
    NK.on("kit", function () {
      if (!pairing.id) return;
      clearTimeout(pairing.timer);
      pairing.timer = setTimeout(pairPoll, 250);
    });
    start.addEventListener("click", pairStart);
    NK.$("pair-cancel").addEventListener("click", pairCancel);
  };
})();
