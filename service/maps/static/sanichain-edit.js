/* sanichain map pages: the edit form of a facility's page, loaded only for signed-in editors.
   The form reads the feature (and its ETag) from the API, lets the marker be dragged to a new position,
   and saves the changed properties and position with one PATCH (JSON Merge Patch, If-Match, the
   session's CSRF token from /auth/me). Validation is the service's: its messages go next to their fields. */
(function () {
  "use strict";
  var E = {};

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function getJson(url) {
    return fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); });
  }

  // A property's value as the text of its input, and back.
  function shown(value) {
    if (value === null || value === undefined) { return ""; }
    return String(value);
  }
  function parsed(kind, text) {
    var t = text.trim();
    if (t === "") { return null; }
    if (kind === "integer" || kind === "number") {
      var n = Number(t);
      return isNaN(n) ? t : n;  // not a number: sent as typed, the service says what is wrong
    }
    if (kind === "boolean") { return t === "true"; }
    return t;
  }

  E.start = function (S, map, spec) {
    E.S = S;
    E.map = map;
    E.spec = spec;
    getJson(S.base + "/auth/me").then(function (me) {
      E.me = me;
      var mine = function (rec) { return !me.town || !rec.town_code || rec.town_code === me.town; };
      S.editLink = function (layer, rec) {  // popups: a link to the feature's page, its form open
        if (spec.layers.indexOf(layer) < 0 || !mine(rec)) { return null; }
        return '<a class="sc-edit-link" href="' + S.base + "/maps/facilities/" + layer + "/" +
          encodeURIComponent(rec.id) + "?lang=" + S.lang + '#edit">' + S.words.edit + "</a>";
      };
      if (spec.id === undefined || !mine(spec)) { return; }  // a city or town map, or not their town
      E.button(S, map);
      if (window.location.hash === "#edit") { E.open(); }
    }).catch(function () { /* signed out meanwhile: no form */ });
  };

  E.button = function (S, map) {
    var C = L.Control.extend({
      onAdd: function () {
        var b = L.DomUtil.create("button", "sc-edit-open");
        b.type = "button";
        b.textContent = "✎ " + S.words.edit;
        L.DomEvent.disableClickPropagation(b);
        L.DomEvent.on(b, "click", E.open);
        return b;
      }
    });
    E.control = new C({position: "bottomleft"}).addTo(map);
  };

  E.open = function () {
    if (E.form) { return; }
    var S = E.S;
    E.control.getContainer().hidden = true;
    E.sheet = el("div", {"class": "sc-edit", role: "dialog", "aria-labelledby": "sc-edit-title"});
    E.sheet.appendChild(el("p", {"class": "sc-edit-message"}, S.words.edit_loading));
    document.body.appendChild(E.sheet);
    var url = S.base + "/collections/" + E.spec.layer + "/items/" + E.spec.id;
    fetch(url, {credentials: "same-origin", headers: {Accept: "application/geo+json"}})
      .then(function (r) {
        if (!r.ok) { throw new Error(String(r.status)); }
        E.etag = r.headers.get("ETag");
        return r.json();
      })
      .then(E.build)
      .catch(function (e) { E.sheet.firstChild.textContent = S.words.edit_failed + " (" + e.message + ")"; });
  };

  E.close = function () {
    if (E.marker) { E.marker.remove(); }
    if (E.circle) { E.circle.setLatLng(E.start); }
    if (E.sheet) { E.sheet.remove(); }
    E.form = E.sheet = E.marker = null;
    E.control.getContainer().hidden = false;
    if (window.location.hash === "#edit") { history.replaceState(null, "", window.location.pathname + window.location.search); }
  };

  function input(field, value) {
    var id = "sc-edit-" + field.name;
    var node;
    if (field.vocabulary || field.kind === "boolean") {
      node = el("select", {id: id, name: field.name});
      var options = field.kind === "boolean" ? ["true", "false"] : field.vocabulary;
      if (value === null || value === undefined) { node.appendChild(el("option", {value: ""}, "—")); }
      options.forEach(function (o) {
        var label = field.kind === "boolean" ? E.S.words[o === "true" ? "yes" : "no"] : E.S.words[o];
        node.appendChild(el("option", {value: o}, label && label !== o ? label + " (" + o + ")" : o));
      });
    } else {
      node = el("input", {id: id, name: field.name, type: field.kind === "date" ? "date" : "text",
                          autocomplete: "off"});
      if (field.kind === "integer") { node.setAttribute("inputmode", "numeric"); }
      if (field.kind === "number") { node.setAttribute("inputmode", "decimal"); }
    }
    node.value = shown(value);
    node.dataset.kind = field.kind;
    node.dataset.was = node.value;
    return node;
  }

  function block(key, label, forId) {
    var div = el("div", {"class": "sc-edit-field", "data-field": key});
    div.appendChild(el("label", forId ? {"for": forId} : {}, label));
    return div;
  }
  function errorSlot(key) { return el("div", {"class": "sc-edit-error", "data-for": key, "aria-live": "polite"}); }

  E.build = function (feature) {
    var S = E.S, w = S.words, p = feature.properties || {};
    E.sheet.textContent = "";
    var form = el("form", {novalidate: ""});
    var head = el("div", {"class": "sc-edit-head"});
    var name = (S.lang === "en" && p.name_en) || p.name || "";  // the page's language, as its popups
    head.appendChild(el("b", {id: "sc-edit-title"}, w.edit_title.replace("{name}", name)));
    var x = el("button", {type: "button", "class": "sc-edit-x", "aria-label": w.edit_cancel}, "×");
    x.addEventListener("click", E.close);
    head.appendChild(x);
    form.appendChild(head);

    // position: the marker on the map, dragged
    var c = feature.geometry && feature.geometry.coordinates;
    E.start = L.latLng(c[1], c[0]);
    var where = block("geometry", w.edit_position);
    E.where = el("div", {"class": "sc-edit-where"});
    where.appendChild(E.where);
    where.appendChild(errorSlot("geometry"));
    form.appendChild(where);

    var by = {};
    E.spec.fields.forEach(function (f) { by[f.name] = f; });
    E.spec.fields.forEach(function (f) {
      if (f.name === "capacity_unit" && by.capacity) { return; }  // drawn with the capacity
      var key = "properties." + f.name;
      var div = block(key, w[f.name] || f.name, "sc-edit-" + f.name);
      if (f.name === "capacity" && by.capacity_unit) {
        var pair = el("div", {"class": "sc-edit-pair"});
        pair.appendChild(input(f, p.capacity));
        var unit = input(by.capacity_unit, p.capacity_unit);
        unit.setAttribute("aria-label", w.capacity_unit);
        pair.appendChild(unit);
        div.appendChild(pair);
        div.appendChild(errorSlot(key));
        div.appendChild(errorSlot("properties.capacity_unit"));
      } else {
        div.appendChild(input(f, p[f.name]));
        div.appendChild(errorSlot(key));
      }
      form.appendChild(div);
    });
    var actions = el("div", {"class": "sc-edit-actions"});
    E.message = el("p", {"class": "sc-edit-message", role: "alert"});  // by the buttons: always in sight
    actions.appendChild(E.message);
    E.save = el("button", {type: "submit", "class": "sc-edit-save"}, w.edit_save);
    var cancel = el("button", {type: "button", "class": "sc-edit-cancel"}, w.edit_cancel);
    cancel.addEventListener("click", E.close);
    actions.appendChild(E.save);
    actions.appendChild(cancel);
    form.appendChild(actions);
    form.addEventListener("submit", function (ev) { ev.preventDefault(); E.submit(); });
    E.sheet.appendChild(form);
    E.form = form;
    E.handle();
  };

  // The feature's marker made draggable: a handle over the drawn circle, which follows it.
  E.handle = function () {
    var S = E.S, map = E.map;
    var group = S.groups.facility;
    E.circle = group && group.getLayers()[0];
    E.marker = L.marker(E.start, {
      icon: L.divIcon({className: "sc-edit-handle", iconSize: [40, 40]}),
      keyboard: false, zIndexOffset: 1000, autoPan: true, title: S.words.edit_position
    }).addTo(map);
    E.marker.dragging.enable();
    E.marker.on("drag dragend", E.moved);
    E.moved();
    // close enough to place it to a few metres, and above the sheet: the map stays usable on the rest
    map.setView(E.start, Math.max(map.getZoom(), 16), {animate: false});
    var free = map.getSize().y - E.sheet.getBoundingClientRect().height;
    var at = map.latLngToContainerPoint(E.start);
    if (at.y > free - 40) { map.panBy([0, at.y - free / 2], {animate: false}); }
  };

  E.moved = function () {
    var now = E.marker.getLatLng();
    if (E.circle) { E.circle.setLatLng(now); }
    var m = E.map.distance(E.start, now);
    E.where.textContent = now.lat.toFixed(6) + ", " + now.lng.toFixed(6) +
      (m >= 0.5 ? " · " + E.S.words.edit_moved.replace("{m}", Math.round(m)) : "");
  };

  function clearErrors() {
    E.message.textContent = "";
    E.message.className = "sc-edit-message";
    E.form.querySelectorAll(".sc-edit-error").forEach(function (d) { d.textContent = ""; });
    E.form.querySelectorAll(".sc-edit-invalid").forEach(function (d) { d.classList.remove("sc-edit-invalid"); });
  }

  function say(text, kind) {
    E.message.textContent = text;
    E.message.className = "sc-edit-message " + (kind || "sc-edit-bad");
  }

  E.patch = function () {
    var patch = {};
    var properties = {};
    E.form.querySelectorAll("input, select").forEach(function (node) {
      if (node.value !== node.dataset.was) { properties[node.name] = parsed(node.dataset.kind, node.value); }
    });
    if (Object.keys(properties).length) { patch.properties = properties; }
    var now = E.marker.getLatLng();
    if (E.map.distance(E.start, now) >= 0.05) {  // 7 decimals: about a centimetre
      patch.geometry = {type: "Point", coordinates: [+now.lng.toFixed(7), +now.lat.toFixed(7)]};
    }
    return patch;
  };

  E.submit = function () {
    var S = E.S, w = S.words;
    clearErrors();
    var patch = E.patch();
    if (!Object.keys(patch).length) { say(w.edit_unchanged, "sc-edit-note"); return; }
    E.save.disabled = true;
    say(w.edit_saving, "sc-edit-note");
    var headers = {"Content-Type": "application/merge-patch+json", Accept: "application/geo+json"};
    if (E.etag) { headers["If-Match"] = E.etag; }
    if (E.me.csrf_token) { headers["X-CSRF-Token"] = E.me.csrf_token; }
    fetch(S.base + "/collections/" + E.spec.layer + "/items/" + E.spec.id, {
      method: "PATCH", credentials: "same-origin", headers: headers, body: JSON.stringify(patch)
    }).then(function (r) {
      if (r.ok) {
        say(w.edit_saved, "sc-edit-good");
        // the page is built again from the changed inventory, once the answer is read (leaving
        // earlier would abort the response still arriving)
        return r.text().then(function () {
          window.location.replace(window.location.pathname + window.location.search);
        });
      }
      E.save.disabled = false;
      return r.json().catch(function () { return {}; }).then(function (problem) { E.refused(r.status, problem); });
    }).catch(function (e) {
      E.save.disabled = false;
      say(w.edit_failed + " (" + e.message + ")");
    });
  };

  E.refused = function (status, problem) {
    var w = E.S.words;
    if (status === 412) {
      say(w.edit_stale);
      var again = el("button", {type: "button", "class": "sc-edit-reload"}, w.edit_reload);
      again.addEventListener("click", function () { window.location.reload(); });
      E.message.appendChild(document.createTextNode(" "));
      E.message.appendChild(again);
      return;
    }
    var loose = [];
    (problem.errors || []).forEach(function (e) {
      var slot = E.form.querySelector('.sc-edit-error[data-for="' + String(e.field).replace(/"/g, "") + '"]');
      if (slot) {
        slot.textContent = (slot.textContent ? slot.textContent + "; " : "") + e.message;
        var name = String(e.field).replace(/^properties\./, "");
        var what = e.field === "geometry" ? E.where : E.form.querySelector('[name="' + name + '"]');
        (what || slot).classList.add("sc-edit-invalid");
      } else {
        loose.push(e.field + ": " + e.message);
      }
    });
    if (status === 422) {
      say(w.edit_refused + (loose.length ? " — " + loose.join("; ") : ""));
      var first = E.form.querySelector(".sc-edit-invalid");
      if (first) { first.scrollIntoView({block: "center"}); }
    } else {
      say(w.edit_failed + " (" + status + "): " + (problem.detail || problem.title || ""));
    }
  };

  window.SanichainEdit = E;
})();
