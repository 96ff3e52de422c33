/* sanichain: the import page. Uploads the file as a dry run (POST /imports, upload progress from the
   XHR), follows the job (GET /imports/{id}: stage and rows), shows the report, and confirms it
   (POST /imports/{id}/confirm). Every text from the service goes in as text, never as markup. */
(function () {
  "use strict";
  var root = document.getElementById("sc-import");
  var csrf = root.getAttribute("data-csrf");
  var form = document.getElementById("sc-import-form");
  var $ = function (id) { return document.getElementById(id); };
  var POLL_MS = 400;
  var STAGES = {
    queued: "排队中 · queued", reading: "读取文件 · reading", checking: "检查 · checking",
    writing: "写入 · writing", chain: "检查收运链 · checking the chain", done: "完成 · done"
  };
  var COUNTS = [
    ["rows_read", "读取行数", "Rows read"], ["created", "新增", "Created"], ["updated", "更新", "Updated"],
    ["unchanged", "未变", "Unchanged"], ["rejected", "拒绝", "Rejected"], ["warned", "有警告", "Warned"]
  ];
  var job = null;  // the dry run shown

  var S = window.SanichainImport = {state: "ready"};

  function show(id, on) { $(id).hidden = !on; }

  function message(text) {
    $("sc-import-message").textContent = text || "";
    show("sc-import-message", !!text);
  }

  function progress(percent, text) {
    show("sc-import-progress", true);
    if (percent === null) { $("sc-import-bar").removeAttribute("value"); } else { $("sc-import-bar").value = percent; }
    $("sc-import-stage").textContent = text;
  }

  function problemText(xhrStatus, body) {
    var said = body && (body.detail || body.title);
    return "未完成（" + xhrStatus + "）· Not done: " + (said || "the service answered " + xhrStatus);
  }

  function send(method, url, body, onUpload) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("Accept", "application/json");
      if (method !== "GET") { xhr.setRequestHeader("X-CSRF-Token", csrf); }
      if (onUpload) { xhr.upload.onprogress = onUpload; }
      xhr.onload = function () {
        var parsed = null;
        try { parsed = JSON.parse(xhr.responseText); } catch (e) { parsed = null; }
        if (xhr.status >= 200 && xhr.status < 300) { resolve(parsed); } else { reject(problemText(xhr.status, parsed)); }
      };
      xhr.onerror = function () { reject("网络错误 · Network error"); };
      if (typeof body === "string") { xhr.setRequestHeader("Content-Type", "application/json"); }
      xhr.send(body || null);
    });
  }

  function follow(doc) {
    var p = doc.progress || {};
    var bytes = p.total_bytes ? Math.round(100 * (p.bytes_read || 0) / p.total_bytes) : null;
    var stage = STAGES[p.stage || doc.status] || (p.stage || doc.status);
    progress(doc.status === "done" ? 100 : (bytes === null ? null : 50 + bytes / 2),
      stage + " — " + (p.rows || 0) + " 行 rows");
    if (doc.status === "queued" || doc.status === "running") {
      return new Promise(function (r) { setTimeout(r, POLL_MS); })
        .then(function () { return send("GET", doc.links.self); })
        .then(follow);
    }
    if (doc.status === "failed") {
      throw "导入失败 · Import failed: " + ((doc.error && doc.error.detail) || "");
    }
    return doc;
  }

  function counts(dl, summary) {
    dl.textContent = "";
    COUNTS.forEach(function (c) {
      var box = document.createElement("div");
      if (c[0] === "rejected" && summary.rejected) { box.className = "bad"; }
      box.setAttribute("data-count", c[0]);
      var dt = document.createElement("dt");
      dt.textContent = c[1] + " " + c[2];
      var dd = document.createElement("dd");
      dd.textContent = String(summary[c[0]] || 0);
      box.appendChild(dt);
      box.appendChild(dd);
      dl.appendChild(box);
    });
  }

  function rows(tableId, items) {
    var body = $(tableId).tBodies[0];
    body.textContent = "";
    items.forEach(function (item) {
      var tr = document.createElement("tr");
      [String(item.row), item.column || "—", item.problem].forEach(function (text, i) {
        var td = document.createElement("td");
        if (i === 0) { td.className = "row"; }
        td.textContent = text;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function items(list, texts) {
    list.textContent = "";
    texts.forEach(function (text) {
      var li = document.createElement("li");
      li.textContent = text;
      list.appendChild(li);
    });
  }

  // The chain re-checked after the import: what it would create or clear (or why it was not checked).
  function chain(c) {
    var texts = [];
    if (c && c.checked === false) {
      texts.push("未检查 · not checked: " + (c.reason || ""));
    } else if (c) {
      var s = c.summary || {};
      texts.push("新问题 · findings created: " + (s.findings_created || 0));
      texts.push("已消除 · findings cleared: " + (s.findings_cleared || 0));
      texts.push("错误 · errors: " + (s.errors_before || 0) + " → " + (s.errors_after || 0));
      ((c.findings && c.findings.created) || []).slice(0, 20).forEach(function (f) {
        texts.push("新 · new: " + (f.message || JSON.stringify(f)));
      });
    }
    items($("sc-import-chain"), texts);
    show("sc-import-chain-box", texts.length > 0);
  }

  function rejectedCount(doc) { return (doc.report && doc.report.rejected_count) || 0; }

  function updateConfirm() {
    if (!job) { return; }
    var rejected = rejectedCount(job);
    var validOnly = $("valid_rows_only").checked;
    var blocked = rejected > 0 && !validOnly;
    $("sc-import-confirm").disabled = blocked || !job.links.confirm;
    $("sc-import-confirm-note").textContent = blocked
      ? "有 " + rejected + " 行被拒绝：修改文件后重新上传，或勾选“只导入有效行”。 · " + rejected +
        " row(s) rejected: fix the file and upload it again, or tick “Import the valid rows only”."
      : "";
  }

  function report(doc) {
    job = doc;
    var r = doc.report || {};
    counts($("sc-import-summary"), r.summary || {});
    rows("sc-import-rejected", r.rejected || []);
    show("sc-import-rejected-box", rejectedCount(doc) > 0);
    $("sc-import-rejected-more").textContent = r.rejected_truncated
      ? "表中只列出前 " + r.rejected.length + " 行，CSV 含全部 " + r.rejected_count + " 行。 · The table lists the first " +
        r.rejected.length + "; the CSV has all " + r.rejected_count + "."
      : "";
    if (doc.links.rejected_csv) { $("sc-import-rejected-csv").href = doc.links.rejected_csv; }
    rows("sc-import-warnings", r.warnings || []);
    items($("sc-import-file-warnings"), (r.file_warnings || []).map(String));
    show("sc-import-warnings-table", (r.warnings || []).length > 0);
    show("sc-import-warnings-box", (r.warnings || []).length + (r.file_warnings || []).length > 0);
    chain(r.chain);
    show("sc-import-report", true);
    updateConfirm();
    S.state = "report";
  }

  function finished(doc) {
    counts($("sc-import-final"), (doc.report && doc.report.summary) || {});
    $("sc-import-items").href = "/collections/" + encodeURIComponent(doc.layer) + "/items?f=html";
    show("sc-import-report", false);
    show("sc-import-done", true);
    S.state = "done";
  }

  function failed(text) {
    message(typeof text === "string" ? text : String(text));
    show("sc-import-progress", false);
    $("sc-import-check").disabled = false;
    S.state = "failed";
  }

  $("crs").addEventListener("change", function () { show("crs-other-box", $("crs").value === "other"); });
  $("valid_rows_only").addEventListener("change", updateConfirm);

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = $("file").files[0];
    if (!file) { message("请选择文件 · Choose a file"); return; }
    var data = new FormData();
    var crs = $("crs").value === "other" ? $("crs-other").value.trim() : $("crs").value;
    data.append("layer", $("layer").value);
    data.append("dry_run", "true");
    if (crs) { data.append("crs", /^\d+$/.test(crs) ? "EPSG:" + crs : crs); }
    data.append("encoding", $("encoding").value);
    if ($("sheet").value.trim()) { data.append("sheet", $("sheet").value.trim()); }
    if ($("upsert_by").checked) { data.append("upsert_by", "code"); }
    data.append("valid_rows_only", $("valid_rows_only").checked ? "true" : "false");
    data.append("file", file, file.name);
    job = null;
    message("");
    show("sc-import-report", false);
    show("sc-import-done", false);
    $("sc-import-check").disabled = true;
    S.state = "uploading";
    progress(0, "上传 · uploading 0%");
    send("POST", "/imports", data, function (e) {
      if (e.lengthComputable) {
        var percent = Math.round(100 * e.loaded / e.total);
        progress(percent / 2, "上传 · uploading " + percent + "%");
      }
    })
      .then(follow)
      .then(function (doc) { $("sc-import-check").disabled = false; report(doc); })
      .catch(failed);
  });

  $("sc-import-confirm").addEventListener("click", function () {
    if (!job || !job.links.confirm) { return; }
    $("sc-import-confirm").disabled = true;
    S.state = "confirming";
    progress(null, "导入中 · importing");
    send("POST", job.links.confirm, JSON.stringify({valid_rows_only: $("valid_rows_only").checked}))
      .then(follow)
      .then(finished)
      .catch(function (text) { failed(text); updateConfirm(); });
  });
})();
