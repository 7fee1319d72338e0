/* napekit: the Guide page. GET /api/routine gives the safety lines, the phases before the
 * massage (named as everywhere: Heating, Warm-up, Ready) and the massage stages; the stage times come from this kit's settings. Reading it marks the
 * guide as seen on this phone, so Start no longer asks first. */
(function () {
  "use strict";
  var NK = window.NK;
  var $ = NK.$;

  // One vocabulary everywhere: Heating → Warm-up → Ready → Massage → Done (the default
  // routine's phase titles say the same; the texts are the routine's).
  var PHASES = { preheat: "Heating", warmup: "Warm-up", ready: "Ready" };

  NK.pages.guide = function () {
    async function load() {
      var results = await Promise.all([NK.api("GET", "/api/routine"), NK.api("GET", "/api/settings"),
        NK.api("GET", "/api/status")]);
      var r = results[0];
      if (r.status === 401) return;
      if (!r.ok) {
        $("safety").replaceChildren(NK.el("li", { className: "muted", text: r.data.error + " Retrying…" }));
        NK.ready();
        setTimeout(load, 2000);
        return;
      }
      var status = results[2].ok ? results[2].data : {};
      NK.show("pause-help", typeof status.paused === "boolean");
      var settings = results[1].ok ? results[1].data : {};
      var stageS = settings.stage_s || {};
      var routine = r.data;

      $("safety").replaceChildren.apply($("safety"), (routine.safety || []).map(function (line) {
        return NK.el("li", { text: line });
      }));

      var phases = routine.phases || {};
      var items = [];
      ["preheat", "warmup", "ready"].forEach(function (key) {
        var p = phases[key];
        if (!p) return;
        var timing = "";
        if (key === "preheat") timing = "Until the pad reaches your target" +
          (typeof settings.target_c === "number" ? " (" + settings.target_c.toFixed(1) + " °C)" : "") + ".";
        if (key === "warmup" && typeof settings.hold_min === "number") timing = settings.hold_min + " min.";
        items.push(NK.el("li", null, [
          NK.el("h3", { text: PHASES[key] }),
          NK.el("p", { text: p.instruction }),
          timing ? NK.el("p", { className: "timing", text: timing }) : null
        ]));
      });
      $("phases").replaceChildren.apply($("phases"), items);

      $("stages").replaceChildren.apply($("stages"), (routine.stages || []).map(function (s) {
        var secs = typeof stageS[s.id] === "number" ? stageS[s.id] : s.duration_s;
        var timing = NK.fmtDuration(secs);
        if (s.stroke_every_s) timing += " · a tick every " + s.stroke_every_s + " s, one stroke per tick";
        if (s.hold_s) timing += " · hold " + s.hold_s + " s" + (s.rest_s ? ", rest " + s.rest_s + " s" : "");
        return NK.el("li", null, [
          NK.el("h3", { text: s.title }),
          NK.el("p", { text: s.instruction }),
          s.caution ? NK.el("p", { className: "caution", text: s.caution }) : null,
          NK.el("p", { className: "timing", text: timing })
        ]);
      }));
      NK.local.set("guide_seen", "1");
      NK.ready();
    }

    load();
  };
})();
