/// The page's stylesheet and script, served from memory (the appliance has no internet: no CDN, no web fonts).
enum AdminAssets {
    static let css = #"""
    :root {
      --ink: #1d232a; --ink-2: #4a5561; --ink-3: #7b8692; --line: #e3e7eb; --line-2: #eef1f4; --paper: #ffffff;
      --page: #f5f7f9; --ok: #1f9d55; --bad: #d64545; --warn: #c77d0a; --halt: #6b7480; --focus: #3b82f6;
      font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
      color: var(--ink); background: var(--page);
    }
    * { box-sizing: border-box; }
    body { margin: 0; }
    .mono, code, time { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
    .bar { display: flex; align-items: center; justify-content: space-between; gap: 16px; padding: 10px 24px;
      background: var(--paper); border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 2; }
    .brand { display: flex; align-items: baseline; gap: 12px; }
    .logo { font-weight: 700; letter-spacing: .02em; font-size: 16px; }
    .title { color: var(--ink-2); font-size: 15px; }
    .tools { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
    .user { color: var(--ink-2); padding: 0 4px 0 12px; border-left: 1px solid var(--line); margin-left: 4px; }
    form.inline { display: inline; margin: 0; }
    .button { display: inline-block; border: 1px solid #c9d1d9; background: var(--paper); color: var(--ink); border-radius: 6px;
      padding: 5px 11px; font: inherit; cursor: pointer; text-decoration: none; line-height: 1.3; }
    .button:hover { background: var(--line-2); }
    .button:focus-visible, input:focus-visible { outline: 2px solid var(--focus); outline-offset: 1px; }
    .button.subtle { border-color: var(--line); color: var(--ink-2); }
    .button.primary { background: var(--ink); color: #fff; border-color: var(--ink); width: 100%; padding: 8px; }
    .button.small { padding: 2px 8px; font-size: 12.5px; }
    .button.current, .button:disabled { background: var(--line-2); color: var(--ink-3); cursor: default; }
    main { padding: 20px 24px 32px; max-width: 1600px; margin: 0 auto; }
    .card { background: var(--paper); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; margin-bottom: 18px; }
    h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--ink-2); margin: 0 0 10px; font-weight: 600; }
    h2 .sub { text-transform: none; letter-spacing: 0; color: var(--ink-3); font-weight: 400; margin-left: 6px; }
    h3 { font-size: 13px; margin: 0 0 6px; }
    table { border-collapse: collapse; width: 100%; }
    th, td { text-align: left; padding: 6px 8px; vertical-align: middle; white-space: nowrap; }
    thead th { font-size: 12px; font-weight: 600; color: var(--ink-3); border-bottom: 1px solid var(--line); }
    .num { text-align: right; font-variant-numeric: tabular-nums; }
    .strong { font-weight: 600; }
    .dim { color: var(--ink-3); }
    .services tbody.service { border-top: 1px solid var(--line); }
    .services tbody.service:first-of-type { border-top: none; }
    .service-row th, .service-row td { padding-top: 10px; font-weight: 500; }
    .service-row .label { font-size: 15px; font-weight: 700; }
    .server-row td { padding-top: 4px; padding-bottom: 4px; color: var(--ink-2); }
    .server-row:last-child td { padding-bottom: 10px; }
    .indent { padding-left: 22px; position: relative; }
    .indent::before { content: ""; position: absolute; left: 9px; top: 0; bottom: 50%; width: 8px; border-left: 1px solid #cfd6dd; border-bottom: 1px solid #cfd6dd; }
    .status { width: 22px; text-align: center; }
    .arrow { font-size: 13px; }
    .arrow.up, .ok-text { color: var(--ok); }
    .arrow.down, .bad-text { color: var(--bad); }
    .dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; }
    .dot.ok { background: var(--ok); }
    .dot.bad { background: var(--bad); }
    .state { display: inline-block; min-width: 52px; text-align: center; border-radius: 10px; padding: 1px 8px; font-size: 12px; font-weight: 600;
      border: 1px solid var(--line); color: var(--ink-2); }
    .state.drain { color: var(--warn); border-color: #f0d7ad; background: #fdf6ea; }
    .state.halt { color: #fff; background: var(--halt); border-color: var(--halt); }
    .health { font-size: 12.5px; }
    .role { margin-left: 6px; border-radius: 10px; padding: 1px 7px; font-size: 11.5px; font-weight: 600; border: 1px dashed var(--line); color: var(--ink-2); }
    .role.backup.active { color: var(--warn); border: 1px solid #f0d7ad; background: #fdf6ea; }
    .checkcell { max-width: 420px; overflow: hidden; text-overflow: ellipsis; }
    .check { font-size: 12.5px; }
    .refused { color: var(--bad); }
    .actions { text-align: right; }
    .actions form + form { margin-left: 4px; }
    .weight input[type=number] { width: 78px; padding: 2px 6px; border: 1px solid var(--line); border-radius: 5px; font: inherit; text-align: right; }
    .grid { display: grid; grid-template-columns: 1fr; gap: 18px; }
    .grid.three { grid-template-columns: minmax(0, 2.1fr) minmax(0, 1.1fr) minmax(0, 1fr); }
    @media (max-width: 1100px) { .grid.three { grid-template-columns: 1fr; } }
    .grid .card { margin-bottom: 0; }
    .grid + .grid { margin-top: 18px; }
    .graphs { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 14px 28px; }
    .spark { display: grid; grid-template-columns: 92px 70px 1fr; grid-template-rows: auto auto; align-items: center; column-gap: 8px; margin-bottom: 6px; }
    .spark .what { color: var(--ink-3); font-size: 12px; }
    .spark .now { font-weight: 600; text-align: right; font-variant-numeric: tabular-nums; }
    .spark .peak { grid-column: 3; color: var(--ink-3); font-size: 11px; text-align: right; }
    .sparkline { width: 100%; height: 36px; grid-row: 1; grid-column: 3; }
    .sparkline polyline { fill: none; stroke: var(--ink-2); stroke-width: 1.4; vector-effect: non-scaling-stroke; }
    .sparkline .base { stroke: var(--line); stroke-width: 1; vector-effect: non-scaling-stroke; }
    .scroll { max-height: 360px; overflow: auto; }
    table.compact td, table.compact th { padding: 4px 6px; font-size: 13px; }
    table.compact .mono, table.compact time { font-size: 12px; }
    table.compact tbody tr:nth-child(even) { background: #fafbfc; }
    .empty { color: var(--ink-3); text-align: center; padding: 18px; }
    .alarm { background: var(--bad); color: #fff; border-radius: 8px; padding: 10px 14px; margin-bottom: 16px; font-weight: 600; }
    .foot { color: var(--ink-3); font-size: 12px; text-align: right; margin-top: 16px; }
    #toast { position: fixed; right: 24px; bottom: 24px; background: var(--ink); color: #fff; padding: 10px 14px; border-radius: 8px;
      box-shadow: 0 6px 24px rgba(0,0,0,.18); max-width: 560px; white-space: pre-wrap; z-index: 5; }
    #toast.error { background: var(--bad); }
    .login-page { display: flex; min-height: 100vh; align-items: center; justify-content: center; }
    .login { width: 340px; display: flex; flex-direction: column; gap: 12px; padding: 24px; }
    .login label { display: flex; flex-direction: column; gap: 4px; color: var(--ink-2); font-size: 13px; }
    .login input { padding: 8px; border: 1px solid #c9d1d9; border-radius: 6px; font: inherit; }
    .login .error { color: var(--bad); margin: 0; }
    nav.sections { display: flex; gap: 2px; margin-left: 12px; flex-wrap: wrap; }
    nav.sections a { color: var(--ink-2); text-decoration: none; padding: 5px 10px; border-radius: 6px; }
    nav.sections a:hover { background: var(--line-2); }
    nav.sections a.current { background: var(--ink); color: #fff; }
    .filters { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 8px 14px; align-items: end; }
    .filters label { display: flex; flex-direction: column; gap: 3px; color: var(--ink-2); font-size: 12.5px; }
    .filters input, .filters select, .editor input, .editor select, .editor textarea {
      padding: 5px 7px; border: 1px solid #c9d1d9; border-radius: 5px; font: inherit; background: var(--paper); }
    .filters.inline-filters { display: flex; gap: 12px; margin-bottom: 10px; }
    .filter-actions { display: flex; gap: 8px; align-items: center; }
    .scroll.tall { max-height: 70vh; }
    .pager { display: flex; gap: 8px; justify-content: flex-end; margin-top: 10px; }
    .record-fields th { width: 190px; color: var(--ink-2); font-weight: 600; vertical-align: top; }
    .wrap, .record-line { white-space: pre-wrap; word-break: break-all; }
    .record-line { background: var(--line-2); padding: 10px; border-radius: 6px; font-size: 12px; }
    .spark.bad polyline { stroke: var(--bad); }
    .log-lines { max-height: 75vh; overflow: auto; background: #0f1419; border-radius: 8px; }
    pre.log { margin: 0; padding: 10px 12px; color: #d5dde5; font-size: 12px; line-height: 1.5; white-space: pre-wrap; word-break: break-all; }
    pre.log .level-trace, pre.log .level-debug { color: #8a96a3; }
    pre.log .level-notice { color: #9fd3ff; }
    pre.log .level-warning { color: #f2c14e; }
    pre.log .level-error, pre.log .level-critical { color: #ff7b7b; font-weight: 600; }
    footer.version { color: var(--ink-3); font-size: 12px; text-align: center; padding: 0 24px 20px; }
    .config-servers input, .config-keys input, .config-keys select, .config-servers select, .config-add-service input,
      .config-add-service select, .users input, .users select { padding: 4px 6px; border: 1px solid #c9d1d9; border-radius: 5px; font: inherit; }
    .config-keys, .config-add-service form { display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: center; margin-top: 10px; }
    .config-servers td.actions { white-space: nowrap; }
    .button.danger { color: var(--bad); border-color: #e8b4b4; }
    .error { color: var(--bad); }
    pre.diff { background: #0f1419; color: #d5dde5; border-radius: 8px; padding: 10px 12px; font-size: 12.5px; overflow: auto; }
    pre.diff .diff-added { color: #7ee787; }
    pre.diff .diff-removed { color: #ff7b7b; }
    pre.diff .diff-hunk { color: #9fd3ff; }
    """#

    static let javascript = #"""
    // pacsgate admin: live refresh and in-place actions. The page works without this script (forms post and redirect).
    (function () {
      "use strict";
      var csrf = document.querySelector('meta[name="csrf-token"]');
      csrf = csrf ? csrf.getAttribute("content") : "";
      var main = document.querySelector("main[data-refresh]");
      var toast = document.getElementById("toast");
      var toastTimer = null;

      function show(message, isError) {
        if (!toast) return;
        toast.textContent = message;
        toast.className = isError ? "error" : "";
        toast.hidden = false;
        clearTimeout(toastTimer);
        toastTimer = setTimeout(function () { toast.hidden = true; }, isError ? 9000 : 4000);
      }

      function localTimes(root) {
        var nodes = root.querySelectorAll("time[data-time]");
        for (var i = 0; i < nodes.length; i++) {
          var date = new Date(nodes[i].getAttribute("data-time"));
          if (isNaN(date)) continue;
          nodes[i].textContent = nodes[i].hasAttribute("data-date") ? date.toLocaleString() : date.toLocaleTimeString();
        }
      }

      function refresh() {
        if (!main) return Promise.resolve();
        var active = document.activeElement;
        if (active && active.tagName === "INPUT" && main.contains(active)) return Promise.resolve();
        return fetch(main.getAttribute("data-refresh"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
          .then(function (response) {
            if (response.status === 401) { window.location = "/login"; return null; }
            return response.ok ? response.text() : null;
          })
          .then(function (html) {
            if (html === null || html === undefined) return;
            var selector = main.getAttribute("data-refresh-target");
            var target = selector ? document.querySelector(selector) : main;
            if (!target) return;
            var follow = target.scrollTop + target.clientHeight >= target.scrollHeight - 4;
            target.innerHTML = html;
            localTimes(target);
            if (selector && follow) target.scrollTop = target.scrollHeight;
          })
          .catch(function () {});
      }

      document.addEventListener("submit", function (event) {
        var form = event.target;
        if (!main || !form.action || form.hasAttribute("data-upload")) return;
        if ((form.getAttribute("method") || "get").toLowerCase() !== "post") return;
        var path = new URL(form.action).pathname;
        if (path === "/logout") return;
        event.preventDefault();
        var body = new URLSearchParams(new FormData(form));
        fetch(form.action, {
          method: "POST", body: body, credentials: "same-origin",
          headers: { "Accept": "application/json", "X-CSRF-Token": csrf }
        }).then(function (response) {
          return response.json().catch(function () { return {}; }).then(function (data) {
            var text = data.message || data.error || (response.ok ? "done" : "failed (" + response.status + ")");
            if (data.problems && data.problems.length) text += "\n" + data.problems.join("\n");
            show(text, !response.ok || data.applied === false);
          });
        }).then(refresh);
      });

      var upload = document.querySelector("form[data-upload] input[type=file]");
      if (upload) {
        upload.addEventListener("change", function () {
          var file = upload.files && upload.files[0];
          if (!file) return;
          file.text().then(function (text) {
            return fetch("/api/v1/config", {
              method: "POST", body: text, credentials: "same-origin",
              headers: { "Content-Type": "application/yaml", "Accept": "application/json", "X-CSRF-Token": csrf }
            });
          }).then(function (response) {
            return response.json().then(function (data) {
              var text = data.message || data.error || "";
              if (data.problems && data.problems.length) text += "\n" + data.problems.join("\n");
              show(text, !response.ok || data.applied === false);
            });
          }).catch(function (error) { show("upload failed: " + error, true); })
            .then(function () { upload.value = ""; refresh(); });
        });
      }

      // Times typed without a zone are read in the browser's: the forms say which (minutes east of UTC).
      var zones = document.querySelectorAll("input[data-tz]");
      for (var z = 0; z < zones.length; z++) zones[z].value = String(-new Date().getTimezoneOffset());
      var autosubmit = document.querySelectorAll("select[data-autosubmit]");
      for (var a = 0; a < autosubmit.length; a++) {
        autosubmit[a].addEventListener("change", function (event) { event.target.form.submit(); });
      }
      var back = document.querySelector("a[data-back]");
      if (back && window.history.length > 1) {
        back.addEventListener("click", function (event) { event.preventDefault(); window.history.back(); });
      }
      localTimes(document);
      var lines = document.getElementById("log-lines");
      if (lines) lines.scrollTop = lines.scrollHeight;
      if (main) setInterval(refresh, 3000);
    })();
    """#
}
