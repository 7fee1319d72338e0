/* napekit: the kit's live status for a page.
 *
 * NK.live(onStatus, onDown) opens GET /api/events (server-sent events): one "status" event
 * at each change, a "heartbeat" after 5 s of silence, "unavailable" while the daemon is
 * away. The stage list comes in the first event (and again only if it changes): this keeps
 * it and puts it back into every status it hands on. When events do not work (no
 * EventSource, the web refuses with 503 because too many streams are open, 401, or the
 * stream falls silent for SILENCE_MS) it polls GET /api/status instead, and tries events
 * again RETRY_EVENTS_MS later. body[data-live] says which ("events" / "polling").
 */
(function () {
  "use strict";
  var NK = window.NK;

  var POLL_MS = 1000;
  var HIDDEN_POLL_MS = 5000;
  var RETRY_EVENTS_MS = 30000;
  var SILENCE_MS = 12000;

  NK.live = function (onStatus, onDown) {
    var es = null;
    var pollTimer = null, retryTimer = null, watchdog = null;
    var stages = null;
    var stopped = false;

    function mode(name) { document.body.dataset.live = name; }

    function deliver(s) {
      if (!s || typeof s !== "object") return;
      if (Array.isArray(s.stages)) stages = s.stages;
      else if (stages) s.stages = stages;
      NK.emit("status", s);
      onStatus(s);
    }

    function parse(text) {
      try { return JSON.parse(text); } catch (e) { return null; }
    }

    // ---- events ------------------------------------------------------------------------
    function startEvents() {
      clearTimeout(retryTimer);
      if (stopped) return;
      if (typeof window.EventSource !== "function") { startPolling(); return; }
      stopPolling();
      try {
        es = new window.EventSource("/api/events");
      } catch (e) {
        fallback();
        return;
      }
      mode("events");
      var heard = false;  // this connection delivered something
      es.addEventListener("status", function (e) {
        heard = true;
        alive();
        var s = parse(e.data);
        if (!s) return;
        NK.setConn("up");
        deliver(s);
      });
      es.addEventListener("heartbeat", function () { heard = true; alive(); });
      es.addEventListener("unavailable", function (e) {
        alive();
        NK.setConn("down");
        onDown({ ok: false, status: 503, data: parse(e.data) || {} });
      });
      es.addEventListener("unpaired", function () {
        stop();
        NK.needPairing();
      });
      es.onerror = function () {
        // CLOSED: the web answered with an error (401, 503...): poll, which also says
        // which. Never heard anything: events do not get through here: poll. Otherwise
        // the browser reconnects by itself (a stream ends every couple of minutes); the
        // watchdog steps in if that takes too long.
        if (es && (es.readyState === 2 || !heard)) fallback();
      };
      alive();
    }

    function alive() {
      clearTimeout(watchdog);
      watchdog = setTimeout(fallback, SILENCE_MS);
    }

    function closeEvents() {
      clearTimeout(watchdog);
      if (es) { es.onerror = null; es.close(); es = null; }
    }

    function fallback() {
      closeEvents();
      if (stopped) return;
      startPolling();
      clearTimeout(retryTimer);
      retryTimer = setTimeout(startEvents, RETRY_EVENTS_MS);
    }

    // ---- polling -----------------------------------------------------------------------
    function startPolling() {
      mode("polling");
      schedule(0);
    }

    function stopPolling() { clearTimeout(pollTimer); pollTimer = null; }

    function schedule(ms) {
      if (stopped) return;
      clearTimeout(pollTimer);
      pollTimer = setTimeout(poll, ms);
    }

    async function poll() {
      pollTimer = null;
      var r = await NK.api("GET", "/api/status");
      if (stopped || es) return;
      if (r.status === 401) { stop(); return; } // the pairing screen took over
      if (r.ok) deliver(r.data);
      else onDown(r);
      schedule(document.hidden ? HIDDEN_POLL_MS : (r.ok ? POLL_MS : 2000));
    }

    function stop() {
      stopped = true;
      closeEvents();
      stopPolling();
      clearTimeout(retryTimer);
    }

    NK.onUnpaired(stop);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && !es && !stopped) schedule(0);
    });

    startEvents();

    return {
      /* Something happened (a command, the virtual kit): ask now if polling. */
      refresh: function () { if (!es) schedule(120); },
      /* A status that came another way (a command's answer). */
      feed: deliver,
      stop: stop
    };
  };
})();
