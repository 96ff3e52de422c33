/* sanichain map pages: draws the compact layer rows the service embeds, with popups and controls.
   Rows are arrays; `fields` names their columns. Colours and sizes come from the page (one source of
   truth in service/maps/style.py), so this file only applies rules. */
(function () {
  "use strict";
  var S = {map: null, words: {}, base: "", lang: "zh", groups: {}, counts: {}, index: {}};

  function esc(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function w(key) { return S.words[key] !== undefined ? S.words[key] : key; }
  function num(v, digits) {
    return Number(v).toLocaleString(S.lang === "zh" ? "zh-CN" : "en", {maximumFractionDigits: digits});
  }

  // One attribute as shown in a popup.
  function format(key, rec) {
    var v = rec[key];
    if (v === null || v === undefined || v === "") { return null; }
    switch (key) {
      case "status": case "species": case "stream": return esc(w(v));
      case "kind": return esc(w(v));
      case "utilisation": case "waste_connected_share": case "toilet_share": case "large_farms_facility_share":
      case "villages_served_share": return num(v * 100, 0) + "%";
      case "transfer_capacity_ratio": return num(v, 2);
      case "capacity": return num(v, 1) + " " + esc(rec.capacity_unit || "");
      case "inflow": case "flow": return num(v, 2) + " t/d";
      case "distance_m": case "nearest_m": case "reach_m": return num(v, 0) + " m";
      case "waste_connected": case "sludge_connected": case "manure_facility": case "served":
        return w(v ? "yes" : "no");
      default: return typeof v === "number" ? num(v, 2) : esc(v);
    }
  }
  var LABEL = {distance_m: "distance", nearest_m: "nearest", reach_m: "reach", other_name: "from"};

  function popupHtml(spec, rec) {
    var title = rec.name || rec.code || "";
    var html = '<div class="sc-popup"><div class="sc-popup-layer">' + esc(w(spec.title || spec.layer)) +
      '</div><b class="sc-popup-name">' + esc(title) + "</b><table>";
    (spec.popup || []).forEach(function (key) {
      var text = format(key, rec);
      if (text !== null) { html += "<tr><th>" + esc(w(LABEL[key] || key)) + "</th><td>" + text + "</td></tr>"; }
    });
    html += "</table>";
    var links = [];
    var layer = rec.layer || spec.layer;
    if (spec.record !== false && layer && rec.id !== undefined && rec.id > 0) {
      links.push('<a href="' + S.base + "/collections/" + layer + "/items/" + rec.id + '">' + w("record") + "</a>");
    }
    if (spec.own_map && rec.id !== undefined && rec.id > 0) {
      var href = layer === "towns" ? "/maps/towns/" + esc(rec.code) : "/maps/facilities/" + esc(layer) + "/" + esc(rec.id);
      links.push('<a href="' + S.base + href + "?lang=" + S.lang + '">' +
        w(layer === "towns" ? "town_map" : "own_map") + "</a>");
    }
    if (S.editLink && rec.id !== undefined && rec.id > 0) {  // set for signed-in editors only
      var edit = S.editLink(layer, rec);
      if (edit) { links.push(edit); }
    }
    if (links.length) { html += '<div class="sc-popup-links">' + links.join(" · ") + "</div>"; }
    return html + "</div>";
  }

  function record(fields, row) {
    var rec = {};
    for (var i = 0; i < fields.length; i++) { rec[fields[i]] = row[i]; }
    return rec;
  }

  function colour(rule, rec) {
    if (!rule) { return "#495057"; }
    if (rule.fixed) { return rule.fixed; }
    var v = rec[rule.field];
    if (rule.values) {  // lite layers send booleans as 1/0
      return rule.values[v === 1 ? "true" : v === 0 ? "false" : String(v)] || rule.none;
    }
    if (v === null || v === undefined) { return rule.none; }
    for (var i = 0; i < rule.breaks.length; i++) { if (v < rule.breaks[i]) { return rule.colors[i]; } }
    return rule.colors[rule.colors.length - 1];
  }

  function size(rule, rec) {
    if (!rule) { return 5; }
    if (rule.fixed) { return rule.fixed; }
    var v = Number(rec[rule.field]) || 0;
    return Math.max(rule.min, Math.min(rule.max, rule.min + rule.scale * Math.sqrt(v)));
  }

  function remember(layer, rec) {
    (S.index[layer] = S.index[layer] || {})[rec.id] = rec;
  }

  function register(key, group, n) {
    S.groups[key] = group;
    S.counts[key] = (S.counts[key] || 0) + n;
  }

  S.init = function (map, config) {
    S.map = map;
    S.words = config.words;
    S.base = config.base || "";
    S.lang = config.lang;
    S.renderer = L.canvas({padding: 0.5, tolerance: 4});
    if (window.innerWidth < 640) {  // phones: start with the panels folded
      document.querySelectorAll("details.sc-fold").forEach(function (d) { d.removeAttribute("open"); });
    }
  };

  S.points = function (group, spec) {
    var markers = [];
    spec.rows.forEach(function (row) {
      var rec = record(spec.fields, row);
      remember(spec.layer, rec);
      var fill = colour(spec.color, rec);
      var m = L.circleMarker([rec.lat, rec.lon], {
        renderer: S.renderer, radius: size(spec.radius, rec), color: spec.stroke || fill, weight: spec.weight || 1.5,
        dashArray: rec.status && rec.status !== "operational" ? "3 3" : null,
        fillColor: fill, fillOpacity: spec.opacity || 0.85
      });
      if (spec.lazy) {  // a large layer carries no attributes: read the API record on opening
        m.bindPopup("…");
        m.on("popupopen", function (e) { S.fillPopup(e.popup, spec, rec); });
      } else {
        m.bindPopup(function () { return popupHtml(spec, rec); });
      }
      m.feature = {layer: spec.layer, id: rec.id, name: rec.name};
      markers.push(m);
    });
    if (group.addLayers) {  // a cluster group: loads in chunks, the page is drawn when the last one is
      // Folium puts the group on the map after this call; a cluster group not on the map checks every
      // new marker against all earlier ones (quadratic), so add them once the page script has run.
      S.pending++;
      setTimeout(function () {
        group.options.chunkProgress = function (done, total) {
          if (done >= total) { S.pending--; S.checkReady(); }
        };
        group.addLayers(markers);
        if (!markers.length) { S.pending--; S.checkReady(); }
      }, 0);
    } else { markers.forEach(function (m) { group.addLayer(m); }); }
    register(spec.key || spec.layer, group, markers.length);
  };

  S.fillPopup = function (popup, spec, rec) {
    var url = S.base + "/collections/" + spec.layer + "/items/" + rec.id;
    fetch(url, {headers: {Accept: "application/geo+json"}})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (f) {
        var p = f.properties || {};
        var full = Object.assign({}, p, rec, {manure_facility: p.has_manure_facility});
        popup.setContent(popupHtml(spec, full));
      })
      .catch(function () { popup.setContent(popupHtml(spec, rec)); });  // offline: what the page has
  };

  S.lines = function (group, spec) {
    var n = 0;
    spec.rows.forEach(function (row) {
      var rec = record(spec.fields, row);
      rec.layer = "chain_links";
      var line = L.polyline([[rec.lat1, rec.lon1], [rec.lat2, rec.lon2]], {
        renderer: S.renderer, color: (spec.colors && spec.colors[rec.stream]) || spec.color, opacity: 0.75,
        weight: Math.max(spec.width.min, Math.min(spec.width.max, spec.width.min + spec.width.scale * Math.sqrt(rec.flow)))
      });
      line.bindPopup(function () {  // ends named when opened: their layers may be drawn after the lines
        var from = (S.index[rec.source_layer] || {})[rec.source_id];
        var to = (S.index[rec.target_layer] || {})[rec.target_id];
        rec.from = rec.other_name && spec.side === "upstream" ? rec.other_name : (from ? from.name : "");
        rec.to = rec.other_name && spec.side === "downstream" ? rec.other_name : (to ? to.name : "");
        return popupHtml(spec, rec);
      });
      line.feature = {layer: "chain_links", id: rec.id};
      group.addLayer(line);
      n++;
    });
    register(spec.key, group, n);
  };

  S.areas = function (group, spec) {
    spec.features.forEach(function (f) {
      var rec = f.properties;
      var fill = colour(spec.color, rec);
      var shape = L.geoJSON(f.geometry, {
        renderer: S.renderer,
        style: {color: spec.stroke || fill, weight: spec.weight || 1, fillColor: fill,
                fillOpacity: spec.opacity === undefined ? 0.35 : spec.opacity, dashArray: spec.dash || null}
      });
      shape.bindPopup(function () { return popupHtml(spec, rec); });
      shape.feature = {layer: spec.layer, id: rec.id, name: rec.name};
      group.addLayer(shape);
    });
    register(spec.key || spec.layer, group, spec.features.length);
  };

  S.circles = function (group, spec) {  // reach circles, radius in metres
    spec.rows.forEach(function (row) {
      var rec = record(spec.fields, row);
      var c = L.circle([rec.lat, rec.lon], {
        renderer: S.renderer, radius: rec.reach_m, color: spec.color, weight: 1, fillOpacity: 0.08,
        dashArray: rec.hypothetical ? "4 4" : null, interactive: true
      });
      c.bindPopup(function () { return popupHtml(spec, rec); });
      group.addLayer(c);
    });
    register(spec.key, group, spec.rows.length);
  };

  S.control = function (map, id, position) {  // moves the page's #id block into a map control
    var source = document.getElementById(id);
    var C = L.Control.extend({
      onAdd: function () {
        var div = L.DomUtil.create("div", "sc-control");
        div.id = id + "-control";
        while (source && source.firstChild) { div.appendChild(source.firstChild); }
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        return div;
      }
    });
    new C({position: position}).addTo(map);
  };

  // The import page, linked next to the sign-in link of the panel for those who may import.
  S.importLink = function () {
    var signIn = document.querySelector('.sc-links a[href$="/login"]');
    if (!signIn || document.querySelector(".sc-import-link")) { return; }
    var li = document.createElement("li");
    var a = document.createElement("a");
    a.className = "sc-import-link";
    a.href = S.base + "/imports/new";
    a.textContent = S.words.import_data || "Import data";
    li.appendChild(a);
    signIn.parentNode.parentNode.insertBefore(li, signIn.parentNode.nextSibling);
  };

  // The edit form: the page asks whether this browser may edit (signed-in editors and admins), and only
  // then loads the form's script and style. Nothing of it is in the page, which every reader shares.
  S.editor = function (map, spec) {
    if (!/^https?:$/.test(window.location.protocol)) { return; }
    fetch(S.base + "/maps/editor", {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : {}; })
      .then(function (who) {
        if (who.may_import) { S.importLink(); }
        if (!who.may_edit) { return; }
        var css = document.createElement("link");
        css.rel = "stylesheet";
        css.href = S.base + spec.assets.css;
        document.head.appendChild(css);
        var js = document.createElement("script");
        js.src = S.base + spec.assets.js;
        js.onload = function () { window.SanichainEdit.start(S, map, spec); };
        document.head.appendChild(js);
      })
      .catch(function () { /* no service to ask: a reader's map, no form */ });
  };

  S.pending = 0;
  S.fitted = false;
  S.checkReady = function () {
    if (S.fitted && S.pending === 0 && !S.ready) {
      S.ready = true;  // every layer drawn: tests and benchmarks wait for this
      document.documentElement.setAttribute("data-map-ready", "1");
    }
  };

  S.fit = function (map) {  // show everything drawn
    var bounds = L.latLngBounds([]);
    Object.keys(S.groups).forEach(function (key) {
      var g = S.groups[key];
      var b = g.getBounds ? g.getBounds() : null;
      if (b && b.isValid()) { bounds.extend(b); }
    });
    if (bounds.isValid()) { map.fitBounds(bounds, {padding: [10, 10], maxZoom: 15, animate: false}); }
    S.fitted = true;
    S.checkReady();
  };

  window.Sanichain = S;
})();
