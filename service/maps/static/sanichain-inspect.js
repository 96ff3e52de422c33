/* sanichain: the inspection form. A record is first saved on the phone (IndexedDB, photos as made-smaller
   JPEG blobs) with an idempotency key of its own, then sent to POST /inspections. Until the service has
   stored it, it stays in the outbox and is sent again when the network returns (the `online` event, a
   timer, the next visit of the page); the key makes every re-send answer the first record, so a record
   whose answer was lost is stored exactly once. Texts from the service go in as text, never as markup. */
(function () {
  "use strict";
  var root = document.getElementById("sc-inspect");
  var $ = function (id) { return document.getElementById(id); };
  var csrf = root.getAttribute("data-csrf");
  var user = root.getAttribute("data-user");
  var DB_NAME = "sanichain-inspections", STORE = "outbox";
  var RETRY_MS = 20000, MAX_SIDE = 1600, MAX_PHOTOS = 4;
  var fix = null;  // the latest position: {lon, lat, accuracy}
  var flushing = false;

  var S = window.SanichainInspect = {pending: 0, sent: [], attempts: 0, ready: false, flushing: false};

  // -- the outbox (IndexedDB) --------------------------------------------------------------------
  function openDb() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = function () { req.result.createObjectStore(STORE, {keyPath: "key"}); };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }

  function inStore(mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var req = work(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(req ? req.result : undefined); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function saved() {
    return inStore("readonly", function (s) { return s.getAll(); }).then(function (all) {
      return all.filter(function (item) { return item.user === user; })
        .sort(function (a, b) { return a.saved_at < b.saved_at ? -1 : 1; });
    });
  }
  function keep(item) { return inStore("readwrite", function (s) { return s.put(item); }); }
  function drop(key) { return inStore("readwrite", function (s) { return s.delete(key); }); }

  // -- what the inspector sees -------------------------------------------------------------------
  function message(text) {
    $("sc-inspect-message").textContent = text || "";
    $("sc-inspect-message").hidden = !text;
  }

  function label(item) {
    var when = new Date(item.fields.inspected_at).toLocaleString("zh-CN", {hour12: false});
    return when + " · " + item.outcome_text + (item.photos.length ? " · " + item.photos.length + " 张照片 photos" : "");
  }

  function render() {
    return saved().then(function (items) {
      S.pending = items.length;
      $("sc-inspect-pending").textContent = String(items.length);
      var list = $("sc-inspect-queue");
      list.textContent = "";
      items.forEach(function (item) {
        var li = document.createElement("li");
        li.className = item.error ? "failed" : "waiting";
        li.appendChild(document.createTextNode(label(item)));
        if (item.error) {
          var why = document.createElement("span");
          why.className = "why";
          why.textContent = "未被接受 · Not accepted: " + item.error;
          li.appendChild(why);
          var discard = document.createElement("button");
          discard.type = "button";
          discard.className = "small";
          discard.textContent = "删除 · Discard";
          discard.addEventListener("click", function () { drop(item.key).then(render); });
          li.appendChild(discard);
        }
        list.appendChild(li);
      });
    });
  }

  function showSent(record) {
    S.sent.push(record.id);
    $("sc-inspect-sent-box").hidden = false;
    var li = document.createElement("li");
    var a = document.createElement("a");
    a.href = "/inspections/" + record.id;
    a.textContent = "#" + record.id + " · " + new Date(record.inspected_at).toLocaleString("zh-CN", {hour12: false});
    li.appendChild(a);
    $("sc-inspect-sent").appendChild(li);
  }

  // -- sending ------------------------------------------------------------------------------------
  function formOf(item) {
    var body = new FormData();
    Object.keys(item.fields).forEach(function (name) { body.append(name, item.fields[name]); });
    item.photos.forEach(function (photo) { body.append("photo", photo.blob, photo.name); });
    return body;
  }

  function sendOne(item) {
    S.attempts += 1;
    return fetch("/inspections", {
      method: "POST", body: formOf(item), credentials: "same-origin",
      headers: {"Idempotency-Key": item.key, "X-CSRF-Token": csrf, "Accept": "application/json"}
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.status === 200 || response.status === 201) {
          return drop(item.key).then(function () { showSent(body); return true; });
        }
        if (response.status >= 500 || response.status === 408 || response.status === 429) {
          return false;  // the service is not ready: try again later, unchanged
        }
        item.error = (body && (body.detail || body.title)) || ("HTTP " + response.status);
        return keep(item).then(function () { return true; });  // kept, shown, never re-sent as is
      });
    });
  }

  function flush() {
    if (flushing) { return Promise.resolve(); }
    flushing = S.flushing = true;
    return saved().then(function (items) {
      var waiting = items.filter(function (item) { return !item.error; });
      var next = function (i) {
        if (i >= waiting.length) { return Promise.resolve(); }
        return sendOne(waiting[i]).then(function (goOn) { return goOn ? next(i + 1) : null; });
      };
      return next(0);
    }).catch(function () {
      return null;  // offline, or the connection dropped: the outbox keeps everything
    }).then(function () {
      flushing = S.flushing = false;
      return render();
    });
  }

  // -- the form -----------------------------------------------------------------------------------
  function newKey() {
    if (window.crypto && crypto.randomUUID) { return "web-" + crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return "web-" + Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function smaller(file) {
    // a camera photo is 2–6 MB; a 1600 px JPEG shows the defect and crosses a weak network
    if (!window.createImageBitmap) { return Promise.resolve(file); }
    return createImageBitmap(file).then(function (bitmap) {
      var scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) { resolve(blob || file); }, "image/jpeg", 0.85);
      });
    }).catch(function () { return file; });
  }

  function checklist() {
    var answers = {};
    Array.prototype.forEach.call(document.querySelectorAll("fieldset.item"), function (set) {
      var chosen = set.querySelector("input:checked");
      var v = chosen ? chosen.value : "unchecked";
      answers[set.getAttribute("data-key")] = v === "yes" ? true : (v === "no" ? false : null);
    });
    return answers;
  }

  function onSubmit(event) {
    event.preventDefault();
    var outcome = document.querySelector("input[name=outcome]:checked");
    if (!outcome) { message("请选择结果 · Choose an outcome"); return; }
    var files = Array.prototype.slice.call($("photos").files || []);
    if (files.length > MAX_PHOTOS) { message("最多 4 张照片 · At most 4 photos"); return; }
    message("");
    var fields = {
      layer: root.getAttribute("data-layer"),
      feature_id: root.getAttribute("data-feature"),
      inspected_at: new Date().toISOString(),
      outcome: outcome.value,
      checklist: JSON.stringify(checklist()),
      notes: $("notes").value
    };
    if (fix) {
      fields.lon = fix.lon.toFixed(6); fields.lat = fix.lat.toFixed(6);
      fields.accuracy_m = String(Math.round(fix.accuracy));
    }
    var outcomeText = outcome.parentNode.textContent.trim();
    Promise.all(files.map(smaller)).then(function (blobs) {
      var item = {
        key: newKey(), user: user, saved_at: new Date().toISOString(), fields: fields, error: null,
        outcome_text: outcomeText,
        photos: blobs.map(function (blob, i) { return {name: "photo-" + (i + 1) + ".jpg", blob: blob}; })
      };
      return keep(item);
    }).then(function () {
      $("sc-inspect-form").reset();
      return render();
    }).then(flush).catch(function (error) {
      message("未能保存在本机 · Could not keep the record on this phone: " + error);
    });
  }

  function watchPosition() {
    var shown = $("sc-inspect-position");
    if (!navigator.geolocation) { shown.textContent = "无法定位 · No position on this device"; return; }
    navigator.geolocation.watchPosition(function (p) {
      fix = {lon: p.coords.longitude, lat: p.coords.latitude, accuracy: p.coords.accuracy};
      shown.textContent = "位置 ±" + Math.round(p.coords.accuracy) + " 米 · Position ±" + Math.round(p.coords.accuracy) + " m";
    }, function () {
      shown.textContent = "没有位置，记录仍可保存 · No position; the record can still be saved";
    }, {enableHighAccuracy: true, maximumAge: 60000, timeout: 20000});
  }

  $("sc-inspect-form").addEventListener("submit", onSubmit);
  window.addEventListener("online", flush);
  setInterval(flush, RETRY_MS);
  watchPosition();
  flush().then(function () { S.ready = true; });
  S.flush = flush;
}());
