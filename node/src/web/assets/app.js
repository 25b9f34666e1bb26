// Weft web app: keeps the page live and sends forms without a reload.
// Served from the node (no inline scripts: the Content-Security-Policy
// forbids them). Without this script every form still works by posting
// and redirecting back.
(function () {
  "use strict";

  var live = document.getElementById("live");
  var offline = document.getElementById("offline");
  var errorBox = document.getElementById("error");

  // Times are rendered in UTC by the server; show them in local time.
  function localTimes(root) {
    var els = root.querySelectorAll("time[data-ms]");
    for (var i = 0; i < els.length; i++) {
      var d = new Date(Number(els[i].getAttribute("data-ms")));
      if (!isNaN(d.getTime())) {
        els[i].textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        els[i].setAttribute("datetime", d.toISOString());
      }
    }
  }

  function scrollToEnd() {
    var list = document.getElementById("messages");
    if (list && list.lastElementChild) {
      list.lastElementChild.scrollIntoView({ block: "end" });
    }
  }

  // Fetches this page again and swaps in its live part.
  var busy = false, again = false;
  function refresh() {
    if (!live) return;
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.getElementById("live");
        if (next) {
          live.replaceChildren.apply(live, Array.prototype.slice.call(next.childNodes));
          localTimes(live);
          scrollToEnd();
        }
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  var timer = null;
  function soon() {
    if (timer) return;
    timer = setTimeout(function () { timer = null; refresh(); }, 100);
  }

  // The node's event stream: any event may change what this page shows.
  function listen() {
    if (!window.EventSource || !live) return;
    var first = true;
    var es = new EventSource("/app/events");
    es.onmessage = function (e) {
      var type = "";
      try { type = JSON.parse(e.data).type; } catch (_) {}
      if (type === "stream_open") {
        if (offline) offline.hidden = true;
        document.documentElement.setAttribute("data-live", "1");
        // Reconnected: what happened meanwhile is on the page after one refresh.
        if (!first) soon();
        first = false;
        return;
      }
      if (type === "peer_connected" || type === "peer_disconnected" || type === "listening") return;
      if (type === "file_progress") {
        try { window.__weftProgress(JSON.parse(e.data)); } catch (_) {}
        return;
      }
      soon();
    };
    es.onerror = function () {
      if (offline) offline.hidden = false;
      document.documentElement.removeAttribute("data-live");
    };
  }

  function showError(text) {
    if (!errorBox) return;
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  // A Moment's photos are staged one by one, then the post names them.
  function stagePhotos(form) {
    var input = form.querySelector("input[type=file][id=photos]");
    var files = input && input.files ? Array.prototype.slice.call(input.files) : [];
    if (files.length > Number(input && input.getAttribute("data-max"))) {
      return Promise.reject(input.getAttribute("data-too-many"));
    }
    var ids = [];
    return files.reduce(function (p, f) {
      return p.then(function () {
        return fetch("/app/moments/image", { method: "POST", credentials: "same-origin", body: f })
          .then(function (r) {
            if (r.ok) return r.json().then(function (j) { ids.push(j.id); });
            return r.text().then(function (html) {
              var doc = new DOMParser().parseFromString(html, "text/html");
              var why = doc.querySelector("#failure, #refused");
              return Promise.reject(why ? why.textContent : String(r.status));
            });
          });
      });
    }, Promise.resolve()).then(function () {
      var hidden = form.querySelector("input[name=images]");
      if (hidden) hidden.value = ids.join(",");
      if (input) input.value = "";
    });
  }

  // Forms post in the background; the page refreshes its live part.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
    e.preventDefault();
    if (form.querySelector("input[type=file][id=photos]")) {
      stagePhotos(form).then(function () { post(form); }, function (why) { showError(String(why)); });
      return;
    }
    post(form);
  });

  function post(form) {
    var body = new URLSearchParams(new FormData(form));
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: body
    })
      .then(function (r) {
        if (r.ok) {
          showError("");
          // A reply or a language change moves to another address.
          if (r.redirected && r.url.split("#")[0] !== location.href.split("#")[0]) {
            location.href = r.url;
            return;
          }
          if (form.id === "composer" || form.closest("#compose")) form.reset();
          if (!live || form.closest("#live") === null && form.id !== "composer" && !form.closest("#compose")) {
            location.reload();
            return;
          }
          refresh();
          return;
        }
        return r.text().then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var why = doc.querySelector("#failure, #refused");
          showError(why ? why.textContent : String(r.status));
        });
      })
      .catch(function () { showError(offline ? offline.textContent : "offline"); })
      .then(function () { if (button) button.disabled = false; });
  }

  // The emoji panel types into the composer where the cursor is.
  document.addEventListener("click", function (e) {
    var b = e.target && e.target.closest ? e.target.closest("button[data-emoji]") : null;
    var field = document.getElementById("message");
    if (!b || !field) return;
    var at = field.selectionStart || field.value.length;
    var end = field.selectionEnd || at;
    var emoji = b.getAttribute("data-emoji");
    field.value = field.value.slice(0, at) + emoji + field.value.slice(end);
    field.focus();
    field.selectionStart = field.selectionEnd = at + emoji.length;
  });

  // Enter sends, Shift+Enter breaks the line.
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.key === "Enter" && !e.shiftKey && t && t.id === "message" && t.form) {
      e.preventDefault();
      t.form.requestSubmit();
    }
  });

  // Attachments: the file goes up as the request body, with progress.
  var bar = document.getElementById("attach-bar");
  function kindOf(type) {
    if (/^image\//.test(type)) return "image";
    if (/^audio\//.test(type)) return "voice";
    if (/^video\//.test(type)) return "video";
    return "file";
  }
  function upload(blob, kind, name) {
    if (!bar) return;
    if (blob.size > Number(bar.getAttribute("data-max"))) {
      showError(bar.getAttribute("data-too-large"));
      return;
    }
    var progress = document.getElementById("upload");
    var xhr = new XMLHttpRequest();
    xhr.open("POST", bar.getAttribute("data-upload") + "?kind=" + kind + "&name=" + encodeURIComponent(name));
    xhr.upload.onprogress = function (e) {
      if (progress && e.lengthComputable) { progress.hidden = false; progress.value = 100 * e.loaded / e.total; }
    };
    xhr.onload = function () {
      if (progress) progress.hidden = true;
      if (xhr.status >= 200 && xhr.status < 400) { showError(""); refresh(); return; }
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var why = doc.querySelector("#failure, #refused");
      showError(why ? why.textContent : String(xhr.status));
    };
    xhr.onerror = function () {
      if (progress) progress.hidden = true;
      showError(offline ? offline.textContent : "offline");
    };
    xhr.send(blob);
  }
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t && t.id === "scan" && t.files && t.files[0]) {
      fetch("/app/contacts/scan", { method: "POST", credentials: "same-origin", body: t.files[0] })
        .then(function (r) {
          if (r.ok) { showError(""); refresh(); return; }
          return r.text().then(function (html) {
            var doc = new DOMParser().parseFromString(html, "text/html");
            var why = doc.querySelector("#failure, #refused");
            showError(why ? why.textContent : String(r.status));
          });
        })
        .catch(function () { showError(offline ? offline.textContent : "offline"); });
      t.value = "";
      return;
    }
    if (t && t.id === "attach" && t.files && t.files[0]) {
      var f = t.files[0];
      upload(f, kindOf(f.type), f.name);
      t.value = "";
    }
  });

  // Voice notes, where the browser can record.
  var rec = document.getElementById("record");
  if (rec && window.MediaRecorder && navigator.mediaDevices) {
    rec.hidden = false;
    var recorder = null, label = rec.textContent;
    rec.addEventListener("click", function () {
      if (recorder) { recorder.stop(); return; }
      navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
        var parts = [];
        recorder = new MediaRecorder(stream);
        recorder.ondataavailable = function (e) { if (e.data.size) parts.push(e.data); };
        recorder.onstop = function () {
          stream.getTracks().forEach(function (t) { t.stop(); });
          var type = recorder.mimeType || "audio/webm";
          recorder = null;
          rec.textContent = label;
          upload(new Blob(parts, { type: type }), "voice", /ogg/.test(type) ? "voice.ogg" : "voice.webm");
        };
        recorder.start();
        rec.textContent = rec.getAttribute("data-stop");
      }).catch(function (err) { showError(String(err && err.message || err)); });
    });
  }

  // Download progress, straight from the event stream.
  function onProgress(ev) {
    var bars = document.querySelectorAll("progress[data-file]");
    for (var i = 0; i < bars.length; i++) {
      if (bars[i].getAttribute("data-file") === ev.file && ev.size > 0) {
        bars[i].value = 100 * ev.have / ev.size;
      }
    }
  }
  window.__weftProgress = onProgress;

  localTimes(document);
  scrollToEnd();
  listen();
})();
