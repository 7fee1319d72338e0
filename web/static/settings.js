/* napekit: the Settings page. GET /api/settings fills the form; Save sends the changed
 * fields with PUT /api/settings. The kit judges every value: its error is shown next to the
 * field it names ({"error", "field"}, e.g. "target_c" or "stage_s.effleurage"). The paired
 * phones list is phones.js's. */
(function () {
  "use strict";
  var NK = window.NK;
  var $ = NK.$;

  NK.pages.settings = function () {
    var form = $("settings-form");
    var current = null;   // settings as the kit last reported them
    var stageIds = [];
    var saving = false;

    // ---- load ------------------------------------------------------------------------------
    async function load() {
      var results = await Promise.all([NK.api("GET", "/api/settings"), NK.api("GET", "/api/status")]);
      var r = results[0], st = results[1];
      if (r.status === 401) return;
      if (!r.ok) {
        showFormError(r.data.error + " Retrying…");
        NK.ready();
        setTimeout(load, 2000);
        return;
      }
      showFormError("");
      var titles = {};
      var order = [];
      if (st.ok && Array.isArray(st.data.stages)) {
        st.data.stages.forEach(function (s) { titles[s.id] = s.title; order.push(s.id); });
      }
      var stageS = r.data.stage_s || {};
      Object.keys(stageS).forEach(function (id) { if (order.indexOf(id) === -1) order.push(id); });
      stageIds = order.filter(function (id) { return id in stageS; });
      buildStageFields(titles);
      fill(r.data);
      $("heat-set").disabled = false;
      $("massage-set").disabled = false;
      $("save").disabled = false;
      NK.ready();
    }

    function buildStageFields(titles) {
      var box = $("stage-fields");
      while (box.firstChild) box.removeChild(box.firstChild);
      stageIds.forEach(function (id) {
        var inputId = "stage-" + id;
        var errId = inputId + "-err";
        box.appendChild(NK.el("div", { className: "stage-field", "data-field": "stage_s." + id }, [
          NK.el("label", { "for": inputId, text: titles[id] || id.replace(/_/g, " ") }),
          NK.el("span", { className: "num" }, [
            NK.el("input", { id: inputId, type: "number", inputmode: "numeric", min: 10, max: 600,
              step: 1, "data-stage": id, "aria-describedby": errId }),
            NK.el("span", { className: "unit", text: "s" })
          ]),
          NK.el("p", { className: "field-error", id: errId, hidden: true })
        ]));
      });
    }

    function fill(s) {
      current = s;
      $("target_c").value = typeof s.target_c === "number" ? s.target_c.toFixed(1) : "";
      $("target_range").value = s.target_c;
      $("hold_min").value = s.hold_min;
      $("auto_advance").checked = !!s.auto_advance;
      $("stroke_ticks").checked = !!s.stroke_ticks;
      stageIds.forEach(function (id) {
        var input = $("stage-" + id);
        if (input && s.stage_s && typeof s.stage_s[id] === "number") input.value = s.stage_s[id];
      });
    }

    // ---- steppers and the slider -------------------------------------------------------------
    function decimals(step) {
      var text = String(step);
      return text.indexOf(".") === -1 ? 0 : text.length - text.indexOf(".") - 1;
    }

    form.addEventListener("click", function (e) {
      var btn = e.target.closest ? e.target.closest(".step") : null;
      if (!btn) return;
      var input = $(btn.dataset.for);
      var step = parseFloat(btn.dataset.step);
      var min = parseFloat(input.min), max = parseFloat(input.max);
      var value = parseFloat(input.value);
      if (!isFinite(value)) value = step > 0 ? min : max;
      else value = value + step;
      value = Math.min(max, Math.max(min, value));
      var k = Math.abs(step);
      value = Math.round(value / k) * k;
      input.value = value.toFixed(decimals(k));
      input.dispatchEvent(new Event("input", { bubbles: true }));
    });

    form.addEventListener("input", function (e) {
      var t = e.target;
      if (t.id === "target_range") $("target_c").value = Number(t.value).toFixed(1);
      if (t.id === "target_c" && isFinite(parseFloat(t.value))) $("target_range").value = t.value;
      clearError(t);
      NK.msg("save-msg", changes() ? "Not saved yet." : "");
    });
    form.addEventListener("change", function () {
      NK.msg("save-msg", changes() ? "Not saved yet." : "");
    });

    // ---- save --------------------------------------------------------------------------------
    function number(id, field, errors, integer) {
      var raw = $(id).value.trim();
      var value = Number(raw);
      if (raw === "" || !isFinite(value)) { errors.push([field, "Enter a number."]); return; }
      if (integer && Math.round(value) !== value) { errors.push([field, "Enter a whole number."]); return; }
      return value;
    }

    /* The fields that differ from what the kit has, or null; errors collects [field, text]. */
    function changes(errors) {
      if (!current) return null;
      errors = errors || [];
      var body = {};
      var t = number("target_c", "target_c", errors);
      if (t !== undefined && t !== current.target_c) body.target_c = t;
      var h = number("hold_min", "hold_min", errors, true);
      if (h !== undefined && h !== current.hold_min) body.hold_min = h;
      var aa = $("auto_advance").checked;
      if (aa !== !!current.auto_advance) body.auto_advance = aa;
      var st = $("stroke_ticks").checked;
      if (st !== !!current.stroke_ticks) body.stroke_ticks = st;
      var stages = {};
      stageIds.forEach(function (id) {
        var v = number("stage-" + id, "stage_s." + id, errors);
        if (v !== undefined && (!current.stage_s || v !== current.stage_s[id])) stages[id] = v;
      });
      if (Object.keys(stages).length) body.stage_s = stages;
      return Object.keys(body).length ? body : null;
    }

    form.addEventListener("submit", async function (e) {
      e.preventDefault();
      if (saving || !current) return;
      clearAllErrors();
      var errors = [];
      var body = changes(errors);
      if (errors.length) {
        errors.forEach(function (pair) { showFieldError(pair[0], pair[1]); });
        focusFirstError();
        NK.msg("save-msg", "Not saved. Fix the marked field and save again.", "bad");
        return;
      }
      if (!body) { NK.msg("save-msg", "Nothing changed.", ""); return; }
      saving = true;
      $("save").disabled = true;
      NK.msg("save-msg", "Saving…");
      var r = await NK.api("PUT", "/api/settings", body);
      saving = false;
      $("save").disabled = false;
      if (r.ok) {
        if (r.data && typeof r.data.target_c === "number") fill(r.data);
        else {
          var again = await NK.api("GET", "/api/settings");
          if (again.ok) fill(again.data);
        }
        NK.msg("save-msg", "Saved.", "good");
      } else if (r.status !== 401) {
        if (r.data.field) showFieldError(r.data.field, r.data.error);
        else showFormError(r.data.error);
        focusFirstError();
        NK.msg("save-msg", "Not saved. Fix the marked field and save again.", "bad");
      }
    });

    // ---- inline errors -----------------------------------------------------------------------
    function containerFor(field) {
      var nodes = form.querySelectorAll("[data-field]");
      var best = null;
      for (var i = 0; i < nodes.length; i++) {
        var f = nodes[i].dataset.field;
        if (f === field) return nodes[i];
        if (field.indexOf(f + ".") === 0) best = nodes[i];  // "stage_s.x" falls back to "stage_s"
      }
      return best;
    }

    function showFieldError(field, text) {
      var box = containerFor(String(field));
      if (!box) { showFormError(text); return; }
      var err = null;
      for (var i = 0; i < box.children.length; i++) {
        if (box.children[i].classList.contains("field-error")) err = box.children[i];
      }
      if (!err) err = box.parentNode.querySelector("#" + box.dataset.field + "-err");
      if (err) { err.textContent = text; err.hidden = false; }
      var input = box.querySelector("input, select");
      if (input && box.dataset.field !== "stage_s") input.setAttribute("aria-invalid", "true");
    }

    function showFormError(text) {
      var node = $("form-error");
      node.textContent = text || "";
      node.hidden = !text;
    }

    function clearError(input) {
      var box = input.closest ? input.closest("[data-field]") : null;
      if (!box) return;
      input.removeAttribute("aria-invalid");
      for (var i = 0; i < box.children.length; i++) {
        if (box.children[i].classList.contains("field-error")) box.children[i].hidden = true;
      }
    }

    function clearAllErrors() {
      showFormError("");
      form.querySelectorAll(".field-error").forEach(function (n) { n.hidden = true; n.textContent = ""; });
      form.querySelectorAll("[aria-invalid]").forEach(function (n) { n.removeAttribute("aria-invalid"); });
    }

    function focusFirstError() {
      var bad = form.querySelector("[aria-invalid='true']");
      if (bad) {
        // Centre it first: the sticky Save bar would cover a field scrolled to the bottom.
        bad.scrollIntoView({ block: "center" });
        bad.focus({ preventScroll: true });
        return;
      }
      var shown = form.querySelector(".field-error:not([hidden]), #form-error:not([hidden])");
      if (shown) shown.scrollIntoView({ block: "center" });
    }

    // ---- this phone ----------------------------------------------------------------------------
    if ("speechSynthesis" in window) {
      NK.show("speak-field", true);
      var speak = $("speak");
      speak.checked = NK.local.get("speak") === "1";
      speak.addEventListener("change", function () {
        NK.local.set("speak", speak.checked ? "1" : null);
        if (speak.checked) {
          try {
            window.speechSynthesis.cancel();
            window.speechSynthesis.speak(new SpeechSynthesisUtterance("Each stage will be read aloud."));
          } catch (e) { /* no voice */ }
        }
      });
    }
    $("guide-again").addEventListener("click", function () {
      NK.local.set("guide_seen", null);
      NK.msg("phone-msg", "The safety notes will show before the next start.", "good");
    });

    load();
    if (NK.initPhones) NK.initPhones();  // phones.js: the paired phones list
  };
})();
