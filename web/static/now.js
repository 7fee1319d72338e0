/* napekit: the Now page. The status comes live (NK.live: server-sent events, or polling) and
 * shows the phase (Heating → Warm-up → Ready → Massage → Done), the reading against the
 * target, the heat dose in words, a live chart while heating, the current stage with a
 * countdown ring, and Start / Next / Stop whose labels say what they do in each state.
 *
 * Safety text first: when the pad is powered although the kit switched the relay off
 * (status.powered true while relay is false, or a relay_welded / runaway fault), the
 * largest text on the page says "The pad is still heating. Unplug its power supply now."
 * with the live temperature, and "heat off" appears nowhere. A sensor fault or a null
 * reading shows "no reading" (per sensor when the status has temp1_c / temp2_c), never a
 * stale number. Fields the kit may not send yet (powered, temp1_c, temp2_c, sensors,
 * dose_day_cem43, heat_available_at, paused, fault.clear_refused) are used when present. */
(function () {
  "use strict";
  var NK = window.NK;
  var $ = NK.$;

  var CHART_WINDOW_MS = 15 * 60 * 1000;
  var CHART_KEY = "napekit.chart";
  var HEATING = ["preheat", "warmup"];
  var ACTIVE = ["preheat", "warmup", "ready", "massage"];
  var UNPLUG = "The pad is still heating. Unplug its power supply now.";

  var WORDS = {
    idle: ["Not running", "The pad is off. Press Start to begin a session."],
    preheat: ["Heating", "The pad is heating up to your target."],
    warmup: ["Warm-up", "The pad holds your target while the warmth soaks in."],
    ready: ["Ready", "Take the pad off, then press the kit's button or Start massage."],
    massage: ["Massage", "Follow the stage below."],
    done: ["Done", "Session complete. The pad is off."],
    fault: ["Stopped by a fault", "The kit turned the heat off."]
  };
  var PHASE_CARD = {
    preheat: ["Heating", "Heating: sit back and relax"],
    warmup: ["Warm-up", "Warm-up: let the warmth work"],
    ready: ["Ready", "Ready: take the pad off"]
  };
  var READY_TEXT = "Take the pad off and set it aside. Press the kit's button or Start massage to begin.";

  function has(list, item) { return list.indexOf(item) !== -1; }
  function num(v) { return typeof v === "number" && isFinite(v); }

  /* The pad has power although the kit switched it off: a welded relay. */
  NK.padPowered = function (s) {
    if (!s) return false;
    if (s.powered === true && !s.relay) return true;
    return !!(s.fault && has(NK.cfg.poweredFaults, s.fault.code));
  };

  /* The reading to show: a number, or null for "no reading". */
  NK.shownTemp = function (s) {
    if (!num(s.temp_c)) return null;
    var perSensor = "temp1_c" in s || "temp2_c" in s;
    if (!perSensor && s.fault && has(NK.cfg.sensorFaults, s.fault.code)) return null;
    return s.temp_c;
  };

  NK.pages.now = function () {
    var last = null;        // the last status shown
    var lastKey = null;     // state/stage, to notice a change
    var lastRingKey = null;
    var holdMin = null;     // warm-up minutes, for the ring
    var warmTotal = 0;      // largest remaining_s seen in this warm-up (fallback)
    var startTemp = null;   // reading at the start of heating, for the ring
    var busy = false;
    var points = loadPoints();
    var lastPointAt = 0;
    var lastSaved = 0;
    var live = null;

    // ---- connection lost -----------------------------------------------------------------
    function showDown(r) {
      var word = $("state-word");
      word.dataset.state = "down";
      $("reading-card").dataset.state = "down";
      $("reading-card").removeAttribute("data-alarm");
      NK.setText(word, "Reconnecting…");
      NK.setText("state-sub", r.status === 0 || r.status >= 500 ?
        "The kit is not answering. If it is restarting, it comes back with the heat off." :
        (r.data && r.data.error) || "");
      // No stale numbers: what the kit does now is unknown.
      NK.setText("temp", "––.–");
      NK.show("temp-unit", true);
      NK.setText("relay", "heat unknown");
      $("relay").classList.remove("on", "alarm");
      NK.show("sensors", false);
      NK.show("dose", false);
      setButtons(null);
      NK.ready();
    }

    // ---- the reading card ----------------------------------------------------------------
    function renderReading(s, hot) {
      var state = s.state;
      var words = WORDS[state] || [state, ""];
      var word = $("state-word");
      word.dataset.state = state;
      var card = $("reading-card");
      card.dataset.state = state;
      if (hot) card.dataset.alarm = "powered";
      else card.removeAttribute("data-alarm");

      var title = words[0], sub = words[1];
      if (state === "massage" && s.waiting) sub = "Time is up for this stage.";
      if (state === "massage" && s.paused) sub = "Paused. Resume when you are ready.";
      if (state === "fault" && s.fault && has(NK.cfg.sensorFaults, s.fault.code)) sub = "The kit turned the heat off: a temperature sensor failed.";
      if (hot) {
        title = UNPLUG;
        sub = "The kit cannot stop this heat itself: its relay may be stuck closed. Take the pad off your neck.";
      }
      NK.setText(word, title);
      NK.setText("state-sub", sub);

      var t = NK.shownTemp(s);
      NK.setText("temp", t === null ? "no reading" : NK.fmtTemp(t));
      NK.show("temp-unit", t !== null);
      $("temp").classList.toggle("none", t === null);
      NK.setText("target", NK.fmtTemp(s.target_c));
      var relay = $("relay");
      NK.setText(relay, hot ? "pad powered: unplug it" : (s.relay ? "heating" : "heat off"));
      relay.classList.toggle("on", !!s.relay && !hot);
      relay.classList.toggle("alarm", hot);
      renderSensors(s);
      renderDose(s);
      renderNotes(s);
      var phase = state === "done" ? "done" : state;
      Array.prototype.forEach.call(document.querySelectorAll(".phase-strip li"), function (li) {
        if (li.dataset.phase === phase) li.setAttribute("aria-current", "step");
        else li.removeAttribute("aria-current");
      });
    }

    function sensorText(n, v) {
      return "Sensor " + n + ": " + (num(v) ? NK.fmtTemp(v) + " °C" : "no reading");
    }

    function renderSensors(s) {
      var perSensor = "temp1_c" in s || "temp2_c" in s;
      if (!perSensor) { NK.show("sensors", false); return; }
      var text = s.sensors === 1 ? sensorText(1, s.temp1_c) + " (the kit's only sensor)" :
        sensorText(1, s.temp1_c) + " · " + sensorText(2, s.temp2_c);
      NK.setText("sensors", text);
      NK.show("sensors", true);
    }

    function renderDose(s) {
      var limit = NK.cfg.doseLimit;
      var day = num(s.dose_day_cem43) ? s.dose_day_cem43 : null;
      var session = num(s.dose_cem43) ? s.dose_cem43 : null;
      var inSession = has(["preheat", "warmup", "ready"], s.state);
      var show = !!limit && ((inSession && (day !== null || session !== null)) ||
        (day !== null && day > 0 && has(["idle", "done"], s.state)));
      NK.show("dose", show);
      if (!show) return;
      var used = day !== null ? day : session;
      var text = "Heat dose " + used.toFixed(1) + " of " + limit.toFixed(0) +
        (day !== null ? " today, " + Math.max(0, limit - day).toFixed(1) + " left" : " (this session)");
      if (day !== null && session !== null && inSession) text += " · this session " + session.toFixed(1);
      NK.setText("dose-text", text + ".");
      var meter = $("dose-meter");
      meter.value = Math.min(limit, Math.max(0, used));
    }

    function renderNotes(s) {
      var sensorsNote = "";
      if (s.sensors === 1) {
        sensorsNote = "This kit has one temperature sensor. It works, with a lower top " +
          "temperature" + (NK.cfg.oneSensorMaxC ? " (" + NK.cfg.oneSensorMaxC.toFixed(1) + " °C)" : "") +
          ": with two sensors the kit can check one against the other.";
      }
      NK.setText("note-sensors", sensorsNote);
      NK.show("note-sensors", !!sensorsNote);
      var doseNote = "";
      if (num(s.heat_available_at) && s.heat_available_at * 1000 > Date.now()) {
        doseNote = "Today's heat dose is used up, so the pad stays off. Heat is back at " +
          NK.fmtDate(s.heat_available_at) + ". A session now runs the massage guide without heat.";
      }
      NK.setText("note-dose", doseNote);
      NK.show("note-dose", !!doseNote);
    }

    // ---- the fault banner ----------------------------------------------------------------
    function renderFault(s, hot) {
      var fault = s.fault;
      NK.show("fault", !!fault || hot);
      if (!fault && !hot) return;
      NK.setText("fault-title", hot ? "Unplug the pad's power supply now" : "The kit turned the heat off");
      var message = fault ? (fault.message || fault.code || "") : "";
      // While the pad is powered nothing may say the heat is off, not even a message.
      if (hot && /heat (is )?off/i.test(message)) message = "";
      if (hot && !message) message = "Power reaches the pad although the kit switched its relay off.";
      NK.setText("fault-msg", message);
      var refused = fault && typeof fault.clear_refused === "string" ? fault.clear_refused : "";
      NK.setText("fault-refused", refused ? "The long press did not clear the fault: " + refused : "");
      NK.show("fault-refused", !!refused);
      NK.setText("fault-clear", hot ?
        "Once it is unplugged and cool, hold the kit's button for 2 seconds to clear the fault." :
        "Once the cause is fixed, hold the kit's button for 2 seconds to clear it.");
      NK.show("fault-clear", !!fault);
    }

    // ---- everything --------------------------------------------------------------------
    function render(s) {
      var state = s.state;
      var hot = NK.padPowered(s);
      renderReading(s, hot);
      renderFault(s, hot);
      NK.show("first-note", state === "idle" && !NK.local.get("guide_seen") && !hot);

      // a new session clears the chart
      if (state === "preheat" && last && !has(ACTIVE, last.state)) {
        points = [];
        startTemp = s.temp_c;
      }
      if (startTemp === null && state === "preheat") startTemp = points.length ? points[0].c : s.temp_c;
      if (state !== "warmup") warmTotal = 0;
      recordPoint(s);
      renderChart(s);
      renderStage(s);
      setButtons(s);

      var key = state + "/" + (s.stage_index === null || s.stage_index === undefined ? "" : s.stage_index);
      if (lastKey !== null && key !== lastKey) changed(s);
      if (state === "warmup" && (!last || last.state !== "warmup")) loadHoldMin();
      if (last && has(ACTIVE, last.state) && has(["idle", "done"], state)) NK.summary.open();
      else if (!last && state === "done") NK.summary.open();
      else if (!last) NK.summary.restore();
      if (has(ACTIVE, state)) NK.summary.close();
      lastKey = key;
      last = s;
      NK.ready();
    }

    function stageOf(s) {
      if (s.state !== "massage" || !Array.isArray(s.stages)) return null;
      return s.stages[s.stage_index] || null;
    }

    function ring(state, s, fraction) {
      var node = $("ring-fg");
      var ringKey = state + "/" + s.stage_index;
      if (ringKey !== lastRingKey) {
        // A new stage starts full at once; only the countdown itself is animated.
        node.classList.add("jump");
        node.setAttribute("stroke-dashoffset", (100 - fraction * 100).toFixed(2));
        node.getBoundingClientRect();
        node.classList.remove("jump");
        lastRingKey = ringKey;
      } else {
        node.setAttribute("stroke-dashoffset", (100 - fraction * 100).toFixed(2));
      }
    }

    function phaseView(s) {
      var state = s.state;
      var v = { fraction: 0, ringText: "", ringSub: "", count: "Before the massage",
        title: PHASE_CARD[state][1], instr: s.phase ? s.phase.instruction : "", caution: "" };
      if (state === "preheat") {
        var tgt = s.target_c, now = NK.shownTemp(s), from = startTemp;
        if (num(now) && num(tgt)) {
          if (!num(from) || from >= tgt) from = Math.min(now, tgt - 1);
          v.fraction = 1 - Math.max(0, Math.min(1, (now - from) / (tgt - from)));
          v.ringText = Math.max(0, tgt - now).toFixed(1) + "°";
          v.ringSub = "to go";
        } else {
          v.fraction = 1; v.ringText = "…";
        }
      } else if (state === "warmup") {
        var left = num(s.remaining_s) ? s.remaining_s : 0;
        warmTotal = Math.max(warmTotal, left);
        var total = holdMin ? holdMin * 60 : warmTotal || 1;
        v.fraction = Math.max(0, Math.min(1, left / total));
        v.ringText = NK.fmtClock(left);
        v.ringSub = "left";
      } else {
        v.count = "Massage next";
        v.ringText = "Go";
        v.instr = READY_TEXT;
      }
      return v;
    }

    function renderStage(s) {
      var state = s.state;
      var stage = stageOf(s);
      var show = !!stage || has(["preheat", "warmup", "ready"], state);
      NK.show("stage-card", show);
      if (!show) return;
      var v;
      if (stage) {
        var total = Number(stage.duration_s) || 1;
        var left = num(s.remaining_s) ? s.remaining_s : total;
        v = { fraction: Math.max(0, Math.min(1, left / total)), ringText: NK.fmtClock(left),
          ringSub: s.paused ? "paused" : (s.waiting ? "time is up" : "left"),
          count: "Stage " + (s.stage_index + 1) + " of " + s.stages.length,
          title: stage.title, instr: stage.instruction, caution: stage.caution || "" };
      } else {
        v = phaseView(s);
      }
      ring(state, s, v.fraction);
      NK.setText("ring-text", v.ringText);
      NK.setText("ring-sub", v.ringSub);
      NK.setText("stage-count", v.count);
      NK.setText("stage-title", v.title || "");
      NK.setText("stage-instr", v.instr || "");
      NK.setText("stage-caution", v.caution);
      NK.show("stage-caution", !!v.caution);
      NK.show("stage-wait", !!(stage && s.waiting && !s.paused));
      // Pause / Resume only where the kit reports "paused" (it knows the commands then), and
      // not once a stage's time is up with nothing left to hold (the kit would refuse).
      var pause = $("btn-pause");
      var canPause = !!stage && typeof s.paused === "boolean" && (s.paused || !s.waiting);
      NK.show(pause, canPause);
      NK.setText(pause, s.paused ? "Resume" : "Pause");
      pause.disabled = busy;
    }

    function setButtons(s) {
      var start = $("btn-start"), next = $("btn-next"), stop = $("btn-stop");
      var state = s ? s.state : null;
      var hot = NK.padPowered(s);
      NK.setText(start, state === "ready" ? "Start massage" : "Start");
      start.disabled = busy || hot || !(state === "idle" || state === "done" || state === "ready");
      var nextText = "Next";
      if (has(HEATING, state)) nextText = "Skip heating";
      else if (state === "massage" && Array.isArray(s.stages) && s.stage_index === s.stages.length - 1) nextText = "Finish";
      else if (state === "massage") nextText = "Next stage";
      NK.setText(next, nextText);
      next.disabled = busy || !(has(HEATING, state) || state === "massage");
      stop.disabled = busy || !has(ACTIVE, state);
    }

    // ---- a stage changed: vibrate, maybe speak --------------------------------------------
    function changed(s) {
      if (!has(["warmup", "ready", "massage", "done", "fault"], s.state)) return;
      var touched = !navigator.userActivation || navigator.userActivation.hasBeenActive;
      if (navigator.vibrate && touched) {  // browsers refuse (and complain) before a tap
        try { navigator.vibrate(s.state === "fault" ? [400, 150, 400, 150, 400] : [180, 90, 180]); } catch (e) { /* ok */ }
      }
      if (NK.local.get("speak") !== "1" || !("speechSynthesis" in window)) return;
      var text = "";
      var stage = stageOf(s);
      if (NK.padPowered(s)) text = UNPLUG;
      else if (stage) text = stage.title + ". " + stage.instruction;
      else if (s.state === "fault" && s.fault) text = "Fault. " + (s.fault.message || "");
      else if (s.state === "done") text = "Done. Session complete.";
      else if (PHASE_CARD[s.state]) text = PHASE_CARD[s.state][1] + ". " + (s.state === "ready" ? READY_TEXT : (s.phase ? s.phase.instruction : ""));
      if (!text) return;
      try {
        window.speechSynthesis.cancel();
        window.speechSynthesis.speak(new SpeechSynthesisUtterance(text));
      } catch (e) { /* no voice: fine */ }
    }

    async function loadHoldMin() {
      var r = await NK.api("GET", "/api/settings");
      if (r.ok && typeof r.data.hold_min === "number") holdMin = r.data.hold_min;
    }

    // ---- the live chart ------------------------------------------------------------------
    function loadPoints() {
      try {
        var raw = window.sessionStorage.getItem(CHART_KEY);
        var list = raw ? JSON.parse(raw) : [];
        var cutoff = Date.now() - CHART_WINDOW_MS;
        return Array.isArray(list) ? list.filter(function (p) { return p && p.t >= cutoff; }) : [];
      } catch (e) { return []; }
    }

    function savePoints(force) {
      var now = Date.now();
      if (!force && now - lastSaved < 5000) return;
      lastSaved = now;
      try { window.sessionStorage.setItem(CHART_KEY, JSON.stringify(points)); } catch (e) { /* ok */ }
    }

    function recordPoint(s) {
      var now = Date.now();
      var t = NK.shownTemp(s);
      if (t === null || now - lastPointAt < 1000) return;
      lastPointAt = now;
      points.push({ t: now, c: t, r: !!s.relay });
      var cutoff = now - CHART_WINDOW_MS;
      while (points.length && points[0].t < cutoff) points.shift();
      savePoints(false);
    }

    window.addEventListener("pagehide", function () { savePoints(true); });

    function renderChart(s) {
      var show = has(["preheat", "warmup", "ready"], s.state) ||
        ((s.state === "fault" || NK.padPowered(s)) && points.length > 1);
      NK.show("chart-card", show);
      if (!show) return;
      var now = Date.now();
      var series = points.map(function (p) { return { x: (p.t - now) / 1000, y: p.c, relay: p.r }; });
      NK.drawChart($("chart"), series, {
        target: s.target_c,
        empty: "The chart starts with the next readings…",
        xLabel: function (x, first) {
          if (!first) return "now";
          var m = Math.round(-x / 60);
          return m >= 1 ? m + " min ago" : Math.round(-x) + " s ago";
        }
      });
    }

    // ---- buttons -------------------------------------------------------------------------
    async function command(name) {
      if (busy) return;
      busy = true;
      setButtons(last);
      NK.msg("action-msg", "");
      var r = await NK.api("POST", "/api/session/" + name, {});
      busy = false;
      if (r.ok) {
        if (r.data && r.data.state) live.feed(r.data);
        else setButtons(last);
      } else if (r.status !== 401) {
        NK.msg("action-msg", r.data.error || "The kit refused.", "bad");
        setButtons(last);
      }
      live.refresh();
    }

    function modal(id) {
      var dialog = $(id);
      if (!dialog || typeof dialog.showModal !== "function") return false;
      dialog.showModal();
      return true;
    }

    function start() {
      if (last && last.state === "ready") { command("start"); return; }
      if (NK.local.get("guide_seen")) { command("start"); return; }
      fillSafety();
      if (!modal("first-dialog")) window.location.assign("/guide");
    }

    function next() {
      if (last && has(HEATING, last.state)) {
        if (!modal("skip-dialog")) command("next");  // no <dialog>: the kit's button is no safer
        return;
      }
      command("next");
    }

    var safetyLoaded = false;
    async function fillSafety() {
      if (safetyLoaded) return;
      var list = $("first-safety");
      var r = await NK.api("GET", "/api/routine");
      if (!r.ok || !Array.isArray(r.data.safety)) return;
      safetyLoaded = true;
      list.replaceChildren.apply(list, r.data.safety.map(function (line) { return NK.el("li", { text: line }); }));
    }

    $("btn-start").addEventListener("click", start);
    $("btn-next").addEventListener("click", next);
    $("btn-stop").addEventListener("click", function () { command("stop"); });
    $("btn-pause").addEventListener("click", function () { command(last && last.paused ? "resume" : "pause"); });
    $("first-go").addEventListener("click", function () {
      NK.local.set("guide_seen", "1");
      NK.show("first-note", false);
      $("first-dialog").close();
      command("start");
    });
    $("first-cancel").addEventListener("click", function () { $("first-dialog").close(); });
    $("skip-go").addEventListener("click", function () {
      $("skip-dialog").close();
      if (last && has(HEATING, last.state)) command("next");
    });
    $("skip-cancel").addEventListener("click", function () { $("skip-dialog").close(); });

    live = NK.live(render, showDown);
    NK.on("kit", function () { live.refresh(); });
  };
})();
