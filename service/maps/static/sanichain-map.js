/* sanichain map pages: draws the compact layer rows the service embeds, with popups and controls.
   Rows are arrays; `fields` names their columns. Colours and sizes come from the page (one source of
   truth in service/maps/style.py), so this file only applies rules. */
(function () {
  "use strict";
  var S = {map: null, words: {}, base: "", lang: "zh", groups: {}, counts: {}, index: {}, drawn: {}, arrows: [],
           labels: []};

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
      case "waste_connected": case "sludge_connected": case "manure_facility": case "served": case "overdue":
        return w(v ? "yes" : "no");
      case "last_outcome": return esc(w(v));
      case "assisting_units": case "supervisors": return esc(String(v).split(",").join("、"));
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
    if (S.inspectLink && rec.id !== undefined && rec.id > 0) {  // set for signed-in inspectors only
      var inspect = S.inspectLink(layer, rec);
      if (inspect) { links.push(inspect); }
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
    S.inactive = config.inactive;
    S.broken = config.broken;
    map.options.zoomSnap = 0.1;  // fit the city to the screen, not to the nearest whole zoom level
    map.on("zoomend", S.placeArrows);
    map.on("zoomend", S.declutter);
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
      // not operational: never a load colour (0 % of a closed plant is not "under 80 %")
      var off = rec.status !== undefined && rec.status !== null && rec.status !== "operational";
      var m = spec.ring ?  // an inspection ring: the outcome's colour, dashed when overdue
        L.circleMarker([rec.lat, rec.lon], {
          renderer: S.renderer, radius: size(spec.radius, rec), weight: 3, color: fill, fill: false,
          dashArray: rec.overdue ? "4 3" : null
        }) :
        L.circleMarker([rec.lat, rec.lon], {
          renderer: S.renderer, radius: size(spec.radius, rec), weight: spec.weight || 1.5,
          color: off ? S.inactive.stroke : spec.stroke || fill, dashArray: off ? S.inactive.dash : null,
          fillColor: off ? S.inactive.fill : fill, fillOpacity: off ? 1 : spec.opacity || 0.85
        });
      // a town map names what its flows reach beyond it; a facility's page names the facility
      if ((spec.label_outside && rec.outside) || spec.label) {
        var load = rec.utilisation === null || rec.utilisation === undefined ? "" : " · " + num(rec.utilisation * 100, 0) + "%";
        m.bindTooltip(esc(rec.name) + (off ? " · " + esc(w(rec.status)) : load),
                      {permanent: true, direction: "right", className: "sc-label"});
        m.labelRank = spec.label ? 1e9 : Number(rec.capacity) || 0;  // the biggest keep their label first
        S.labels.push(m);
      }
      (S.drawn[spec.layer] = S.drawn[spec.layer] || {})[rec.id] = m;
      if (spec.lazy) {  // a large layer carries no attributes: read the API record on opening
        m.bindPopup("…");
        m.on("popupopen", function (e) { S.fillPopup(e.popup, spec, rec); });
      } else {
        m.bindPopup(function () { return popupHtml(spec, rec); });
      }
      m.feature = {layer: rec.layer || spec.layer, id: rec.id, name: rec.name};  // a ring: its facility's
      markers.push(m);
    });
    if (group.addLayers) {  // a cluster group: loads in chunks, the page is drawn when the last one is
      // Folium puts the group on the map after this call; a cluster group not on the map checks every
      // new marker against all earlier ones (quadratic), so add them once the page script has run.
      S.pending++;
      setTimeout(function () {
        group.options.iconCreateFunction = S.clusterIcon;
        group.options.chunkProgress = function (done, total) {
          if (done >= total) { S.pending--; S.checkReady(); }
        };
        group.addLayers(markers);
        if (!markers.length) { S.pending--; S.checkReady(); }
      }, 0);
    } else { markers.forEach(function (m) { group.addLayer(m); }); }
    register(spec.key || spec.layer, group, markers.length);
  };

  // A cluster drawn as a pie of its markers' fill colours, so it follows the legend (green = served or
  // equipped, red = not) instead of the plugin's yellow/orange, which the legend uses for loads.
  S.clusterIcon = function (cluster) {
    var counts = {}, total = 0;
    cluster.getAllChildMarkers().forEach(function (m) {
      var c = m.options.fillColor || "#495057";
      counts[c] = (counts[c] || 0) + 1;
      total++;
    });
    var at = 0, stops = [];
    Object.keys(counts).sort().forEach(function (c) {
      var end = at + counts[c] / total * 100;
      stops.push(c + " " + at.toFixed(2) + "% " + end.toFixed(2) + "%");
      at = end;
    });
    var n = cluster.getChildCount(), px = n < 10 ? 30 : n < 100 ? 36 : 42;
    return L.divIcon({
      html: '<div class="sc-cluster" style="background:conic-gradient(' + stops.join(",") + ')"><span>' + n + "</span></div>",
      className: "sc-cluster-icon", iconSize: L.point(px, px)
    });
  };

  S.fillPopup = function (popup, spec, rec) {
    var url = S.base + "/collections/" + spec.layer + "/items/" + rec.id;
    fetch(url, {headers: {Accept: "application/geo+json"}})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (f) {
        var p = f.properties || {};
        var full = Object.assign({}, p, rec, {manure_facility: p.has_manure_facility});
        if (S.lang === "en" && p.name_en) { full.name = p.name_en; }  // (a lite row carries no name)
        popup.setContent(popupHtml(spec, full));
      })
      .catch(function () { popup.setContent(popupHtml(spec, rec)); });  // offline: what the page has
  };

  S.lines = function (group, spec) {
    var n = 0;
    // arrowheads in a layer of their own that follows the group on and off the map (the group holds
    // exactly its lines)
    var heads = L.layerGroup();
    group.on("add", function () { heads.addTo(S.map); });
    group.on("remove", function () { heads.remove(); });
    if (S.map.hasLayer(group)) { heads.addTo(S.map); }
    spec.rows.forEach(function (row) {
      var rec = record(spec.fields, row);
      rec.layer = "chain_links";
      var broken = rec.live === false;  // an end is not operational: not a live flow
      var weight = Math.max(spec.width.min, Math.min(spec.width.max, spec.width.min + spec.width.scale * Math.sqrt(rec.flow)));
      var stroke = broken ? S.broken.color : (spec.colors && spec.colors[rec.stream]) || spec.color;
      var line = L.polyline([[rec.lat1, rec.lon1], [rec.lat2, rec.lon2]], {
        renderer: S.renderer, color: stroke, opacity: broken ? 0.9 : 0.75,
        weight: broken ? Math.min(weight, 3) : weight, dashArray: broken ? S.broken.dash : null
      });
      line.broken = broken;
      if (!broken) {
        var start = [rec.lat1, rec.lon1];  // placed by placeArrows once the view is set
        var arrow = L.polygon([start, start, start], {renderer: S.renderer, stroke: false, fillColor: stroke, fillOpacity: 0.95,
                                   interactive: false});
        arrow.line = line;
        arrow.size = 5 + weight;
        S.arrows.push(arrow);
        heads.addLayer(arrow);
      }
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

  // Direction: a filled arrowhead at 60 % of each live line, a few pixels long whatever the zoom (so
  // placed again after every zoom); none where the line is shorter on screen than three heads.
  S.placeArrows = function () {
    var map = S.map;
    S.arrows.forEach(function (a) {
      var ll = a.line.getLatLngs(), p1 = map.project(ll[0]), p2 = map.project(ll[1]);
      var dx = p2.x - p1.x, dy = p2.y - p1.y, len = Math.sqrt(dx * dx + dy * dy);
      if (len < a.size * 3) { a.setLatLngs([ll[0], ll[0], ll[0]]); return; }
      var ux = dx / len, uy = dy / len, tip = L.point(p1.x + dx * 0.6 + ux * a.size / 2, p1.y + dy * 0.6 + uy * a.size / 2);
      var back = L.point(tip.x - ux * a.size * 1.6, tip.y - uy * a.size * 1.6), half = a.size * 0.75;
      a.setLatLngs([map.unproject(tip), map.unproject(L.point(back.x - uy * half, back.y + ux * half)),
                    map.unproject(L.point(back.x + uy * half, back.y - ux * half))]);
    });
  };

  // Permanent labels never overlap: each, biggest facility first, goes right, left, above or below its
  // marker, wherever its box meets no label already placed (inside the map if a side allows); a label
  // with no free side is hidden (its marker's popup still names it). Run after the view is fitted and
  // after every zoom.
  S.declutter = function () {
    var placed = [], map = S.map, view = map.getContainer().getBoundingClientRect();
    function clear(r) {
      return placed.every(function (p) {
        return r.right <= p.left || r.left >= p.right || r.bottom <= p.top || r.top >= p.bottom;
      });
    }
    S.labels.slice().sort(function (a, b) { return b.labelRank - a.labelRank; }).forEach(function (m) {
      var t = m.getTooltip(), el = t && t.getElement();
      if (!el || !map.hasLayer(m) || !el.isConnected) { return; }
      el.classList.remove("sc-label-hidden");
      var sides = ["right", "left", "top", "bottom"], fallback = null;
      for (var i = 0; i < sides.length; i++) {
        t.options.direction = sides[i];
        t.update();
        var r = el.getBoundingClientRect();
        if (!clear(r)) { continue; }
        if (r.left >= view.left && r.right <= view.right && r.top >= view.top && r.bottom <= view.bottom) {
          placed.push(r);
          return;
        }
        fallback = fallback || sides[i];  // clear of the others but cut by the screen's edge
      }
      if (fallback) {
        t.options.direction = fallback;
        t.update();
        placed.push(el.getBoundingClientRect());
      } else { el.classList.add("sc-label-hidden"); }
    });
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
        if (who.may_inspect) {
          S.inspectLink = function (layer, rec) {
            if ((who.inspected_layers || []).indexOf(layer) < 0) { return null; }
            return '<a class="sc-inspect-link" href="' + S.base + "/inspections/new?layer=" + esc(layer) +
              "&feature_id=" + esc(rec.id) + '">' + w("inspect") + "</a>";
          };
        }
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

  S.fit = function (map, only) {  // show everything drawn, or one group (the city outline)
    var bounds = L.latLngBounds([]);
    Object.keys(S.groups).filter(function (key) { return !only || key === only; }).forEach(function (key) {
      var g = S.groups[key];
      var b = g.getBounds ? g.getBounds() : null;
      if (b && b.isValid()) { bounds.extend(b); }
    });
    // On a wide screen the view keeps clear of the legend (and, but for the city, of the short panel
    // up left, which the city's outline leaves room for); the city's outline with little room around
    // it, a town's or a facility's with room for the labels of what its flows reach.
    var wide = window.innerWidth >= 900, margin = only ? 4 : 40;
    var side = function (id) {
      var el = document.getElementById(id);
      return wide && el ? el.offsetWidth + 14 : margin;
    };
    var options = {paddingTopLeft: [only ? margin : side("sc-panel-control"), margin],
                   paddingBottomRight: [side("sc-legend-control"), margin], maxZoom: 15, animate: false};
    if (bounds.isValid()) { map.fitBounds(bounds, options); }
    S.placeArrows();
    S.declutter();
    S.fitted = true;
    S.checkReady();
  };

  window.Sanichain = S;
})();
