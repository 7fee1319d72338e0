/* napekit: Settings' list of paired phones (GET /api/phones): each phone's name, when it was
 * paired and last seen; Rename (PATCH /api/phones/<id> {name}; the kit judges the name and its
 * error shows under the field) and Remove (DELETE /api/phones/<id>, tapped twice). A removed
 * phone is told so by the kit the next time it asks. settings.js calls NK.initPhones(). */
(function () {
  "use strict";
  var NK = window.NK;
  var $ = NK.$;
  var NAME_MAX = 40;  // firmware.pairing.NAME_MAX_CHARS

  /* "just now", "5 min ago", "3 h ago", else the date. */
  NK.fmtAgo = function (unixSeconds) {
    if (typeof unixSeconds !== "number") return "never";
    var ago = Date.now() / 1000 - unixSeconds;
    if (ago < 60) return "just now";
    if (ago < 3600) return Math.floor(ago / 60) + " min ago";
    if (ago < 86400) return Math.floor(ago / 3600) + " h ago";
    return NK.fmtDate(unixSeconds);
  };

  async function loadPhones() {
    var r = await NK.api("GET", "/api/phones");
    if (r.status === 401) return;
    if (!r.ok) { NK.msg("phones-msg", r.data.error, "bad"); return; }
    renderPhones(r.data.phones || []);
  }

  function renderPhones(phones) {
    var list = $("phones");
    while (list.firstChild) list.removeChild(list.firstChild);
    if (!phones.length) {
      list.appendChild(NK.el("li", { className: "muted", text: "No paired phones." }));
      return;
    }
    phones.forEach(function (p) { list.appendChild(phoneItem(p)); });
  }

  function phoneItem(p) {
    var name = p.name || "Phone " + p.id;
    var info = NK.el("div", { className: "phone-info" }, [
      NK.el("strong", { text: name }),
      p.current ? NK.el("span", { className: "badge this-phone", text: "this phone" }) : null,
      NK.el("small", { text: "Paired " + NK.fmtDate(p.paired_at) + " · last seen " +
        NK.fmtAgo(p.last_seen) })
    ]);
    var rename = NK.el("button", { type: "button", className: "btn small", text: "Rename",
      "aria-label": "Rename " + name, "aria-expanded": "false" });
    var remove = removeButton(p, name);
    var form = renameForm(p, name, rename);
    rename.addEventListener("click", function () {
      var open = form.hidden;
      form.hidden = !open;
      rename.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) { var input = form.querySelector("input"); input.focus(); input.select(); }
    });
    return NK.el("li", null, [info, NK.el("div", { className: "phone-actions" }, [rename, remove]),
      form]);
  }

  function renameForm(p, name, opener) {
    var id = "phone-name-" + p.id;
    var input = NK.el("input", { id: id, className: "text", type: "text", maxlength: NAME_MAX,
      autocomplete: "off", spellcheck: "false", "aria-describedby": id + "-err" });
    input.value = name;
    var error = NK.el("p", { id: id + "-err", className: "field-error", hidden: true });
    var save = NK.el("button", { type: "submit", className: "btn small primary", text: "Save name" });
    var cancel = NK.el("button", { type: "button", className: "btn small", text: "Cancel" });
    var form = NK.el("form", { className: "rename-form", hidden: true, novalidate: true }, [
      NK.el("label", { "for": id, text: "New name for " + name }), input, error,
      NK.el("div", { className: "row2" }, [save, cancel])]);
    function showError(text) {
      error.textContent = text || "";
      error.hidden = !text;
      if (text) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
    cancel.addEventListener("click", function () {
      form.hidden = true;
      opener.setAttribute("aria-expanded", "false");
      showError("");
      opener.focus();
    });
    form.addEventListener("submit", async function (e) {
      e.preventDefault();
      save.disabled = true;
      var r = await NK.api("PATCH", "/api/phones/" + encodeURIComponent(p.id),
        { name: input.value });
      save.disabled = false;
      if (r.ok) {
        NK.msg("phones-msg", "Renamed to “" + input.value.trim() + "”.", "good");
        renderPhones(r.data.phones || []);
      } else if (r.status !== 401) {
        showError(r.data.field === "name" ? r.data.error : "");
        if (r.data.field !== "name") NK.msg("phones-msg", r.data.error, "bad");
        input.focus();
      }
    });
    return form;
  }

  function removeButton(p, name) {
    var btn = NK.el("button", { type: "button", className: "btn small", text: "Remove",
      "aria-label": "Remove " + name });
    var armed = null;
    btn.addEventListener("click", async function () {
      if (!armed) {
        btn.textContent = p.current ? "Tap again: unpair this phone" : "Tap again to remove";
        armed = setTimeout(function () { armed = null; btn.textContent = "Remove"; }, 4000);
        return;
      }
      clearTimeout(armed);
      armed = null;
      btn.disabled = true;
      var r = await NK.api("DELETE", "/api/phones/" + encodeURIComponent(p.id), {});
      if (r.ok && p.current) {
        NK.needPairing();  // this phone unpaired itself: the pairing screen, at once
      } else if (r.ok) {
        NK.msg("phones-msg", name + " can no longer control the kit; it will be told so.", "good");
        if (Array.isArray(r.data.phones)) renderPhones(r.data.phones);
        else loadPhones();
      } else if (r.status !== 401) {
        btn.disabled = false;
        btn.textContent = "Remove";
        NK.msg("phones-msg", r.data.error, "bad");
      }
    });
    return btn;
  }

  NK.initPhones = loadPhones;
})();
