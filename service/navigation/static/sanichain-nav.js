/* The shared navigation (service/navigation.py): results as you type, the town picker, the count of
   problems on a map. Without this script the search box is still a form and the links still work. */
(function () {
  "use strict";

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(
      function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); });
  }

  function withLang(url, lang) {
    return lang === "en" ? url + (url.indexOf("?") < 0 ? "?" : "&") + "lang=en" : url;
  }

  function hitItem(hit) {
    var li = document.createElement("li");
    var a = document.createElement("a");
    a.href = hit.href;
    a.setAttribute("role", "option");
    a.textContent = hit.name + " ";
    var small = document.createElement("small");
    small.textContent = hit.layer_name + (hit.town && hit.layer !== "towns" ? " · " + hit.town.name : "") +
      " · " + hit.code;
    a.appendChild(small);
    li.appendChild(a);
    return li;
  }

  function searchBox(nav, base, lang) {
    var form = nav.querySelector("form");
    var input = form.querySelector("input[type=search]");
    var list = form.querySelector(".sc-hits");
    var timer = null, asked = "";
    function show(q) {
      if (q !== input.value.trim()) { return; }  // an older answer
      return function (body) {
        list.textContent = "";
        body.hits.forEach(function (hit) { list.appendChild(hitItem(hit)); });
      };
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = input.value.trim();
        if (q === asked) { return; }
        asked = q;
        if (!q) { list.textContent = ""; return; }
        getJSON(withLang(base + "/search?limit=8&q=" + encodeURIComponent(q), lang)).then(function (body) {
          var render = show(q);
          if (render) { render(body); }
        }).catch(function () { list.textContent = ""; });
      }, 150);
    });
    input.addEventListener("keydown", function (e) {
      var first = list.querySelector("a");
      if (e.key === "ArrowDown" && first) { e.preventDefault(); first.focus(); }
      if (e.key === "Escape") { list.textContent = ""; }
    });
    list.addEventListener("keydown", function (e) {
      var li = document.activeElement && document.activeElement.parentNode;
      if (e.key === "ArrowDown" && li && li.nextSibling) { e.preventDefault(); li.nextSibling.firstChild.focus(); }
      if (e.key === "ArrowUp") {
        e.preventDefault();
        if (li && li.previousSibling) { li.previousSibling.firstChild.focus(); } else { input.focus(); }
      }
    });
    // keep map gestures (scroll zoom, drag) out of the panel's form
    if (window.L && L.DomEvent) { L.DomEvent.disableClickPropagation(form); L.DomEvent.disableScrollPropagation(form); }
  }

  function townPicker(nav, base, lang) {
    var select = nav.querySelector("select.sc-towns");
    if (!select) { return; }
    getJSON(withLang(base + "/search/towns", lang)).then(function (body) {
      body.towns.forEach(function (town) {
        var option = document.createElement("option");
        option.value = town.href;
        option.textContent = town.name;
        select.appendChild(option);
      });
    }).catch(function () { select.hidden = true; });
    select.addEventListener("change", function () { if (select.value) { window.location.href = select.value; } });
  }

  function onCityMap(base) {  // the landing page or /maps/city: the count is the city's
    var root = new URL(base || "/", window.location.href).pathname.replace(/\/+$/, "");
    var path = window.location.pathname.replace(/\/+$/, "");
    return path === root || path === root + "/maps/city";
  }

  function problemCount(nav, base) {
    var badge = nav.querySelector("[data-problem-count]");
    if (!badge || !onCityMap(base)) { return; }  // (other maps: no extra request)
    getJSON(base + "/problems").then(function (body) {
      badge.textContent = String(body.summary.total);
    }).catch(function () { badge.textContent = ""; });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("nav.sc-nav"), function (nav) {
      var base = nav.getAttribute("data-base") || "", lang = nav.getAttribute("data-lang") || "zh";
      searchBox(nav, base, lang);
      townPicker(nav, base, lang);
      problemCount(nav, base);
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
