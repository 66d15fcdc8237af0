/* omnihub web chat widget: <script src="https://hub/chat/widget.js" data-channel="web"></script>
   Plain JavaScript, no build step. Speaks JSON frames over a WebSocket (long-poll fallback);
   see omnihub/connectors/webchat/protocol.py for the frames. */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-channel]");
  if (!script || window.__omnihubChat) return;
  var ds = script.dataset, base = new URL(script.src, location.href).origin;
  var channel = ds.channel || "web", api = base + "/chat/" + encodeURIComponent(channel);
  var cfg = window.OmnihubChat || {};
  var user = cfg.user || (ds.userId ? {user_id: ds.userId, user_hash: ds.userHash,
    email: ds.userEmail, email_hash: ds.userEmailHash, name: ds.userName} : null);
  var KEY = "omnihub.chat." + channel + ".";
  var store = {
    get: function (k) { try { return JSON.parse(localStorage.getItem(KEY + k)); } catch (e) { return null; } },
    set: function (k, v) { try { localStorage.setItem(KEY + k, JSON.stringify(v)); } catch (e) {} }
  };
  var S = {token: store.get("token"), session: null, lastId: null, readUpTo: "", agentSeen: "",
    pending: store.get("pending") || {}, ws: null, poll: false, failures: 0, opened: false,
    backoff: 1000, stopped: false, els: {}, lastAgentId: ""};

  // --- view ---------------------------------------------------------------------------
  var host = document.createElement("div");
  host.id = "omnihub-chat";
  document.body.appendChild(host);
  var root = host.attachShadow ? host.attachShadow({mode: "open"}) : host;
  root.innerHTML = "<style>" +
    ":host{all:initial}*{box-sizing:border-box;font-family:system-ui,sans-serif;font-size:14px}" +
    ".launcher{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;" +
    "background:#2563eb;color:#fff;cursor:pointer;box-shadow:0 4px 14px #0004;z-index:2147483000;line-height:0}" +
    ".dot{position:absolute;top:4px;right:4px;width:12px;height:12px;border-radius:50%;background:#ef4444;display:none}" +
    ".panel{position:fixed;right:20px;bottom:88px;width:340px;max-width:calc(100vw - 40px);height:480px;" +
    "max-height:calc(100vh - 120px);background:#fff;border-radius:14px;box-shadow:0 8px 30px #0004;display:none;" +
    "flex-direction:column;overflow:hidden;z-index:2147483000}.panel.open{display:flex}" +
    ".head{background:#2563eb;color:#fff;padding:12px 14px;font-weight:600;display:flex;justify-content:space-between}" +
    ".head button{background:none;border:0;color:#fff;font-size:18px;cursor:pointer}" +
    ".status{font-size:12px;font-weight:400;opacity:.85}" +
    ".list{flex:1;overflow-y:auto;padding:12px;background:#f3f4f6;display:flex;flex-direction:column;gap:6px}" +
    ".msg{max-width:80%;padding:8px 11px;border-radius:14px;white-space:pre-wrap;word-wrap:break-word;line-height:1.35}" +
    ".visitor{align-self:flex-end;background:#2563eb;color:#fff;border-bottom-right-radius:4px}" +
    ".agent,.bot,.system{align-self:flex-start;background:#fff;color:#111;border-bottom-left-radius:4px;box-shadow:0 1px 2px #0001}" +
    ".note{align-self:center;color:#6b7280;font-size:12px;text-align:center}" +
    ".meta{display:block;font-size:11px;opacity:.75;margin-top:3px;text-align:right}" +
    ".recalled{font-style:italic;opacity:.7}.msg img{max-width:100%;border-radius:8px;display:block}" +
    ".msg a{color:inherit}.buttons{display:flex;flex-wrap:wrap;gap:6px;align-self:flex-start}" +
    ".buttons button{border:1px solid #2563eb;color:#2563eb;background:#fff;border-radius:14px;padding:5px 10px;cursor:pointer}" +
    ".typing{font-size:12px;color:#6b7280;padding:0 14px;height:16px}" +
    "form{display:flex;gap:6px;padding:8px;border-top:1px solid #e5e7eb;align-items:center}" +
    ".input{flex:1;border:1px solid #d1d5db;border-radius:18px;padding:8px 12px;outline:none;resize:none;height:36px}" +
    ".icon{background:none;border:0;font-size:20px;cursor:pointer;padding:0 2px;color:#4b5563;line-height:0}" +
    ".emoji{display:none;flex-wrap:wrap;padding:4px 8px}.emoji.open{display:flex}" +
    ".send{background:#2563eb;color:#fff;border:0;border-radius:18px;padding:8px 14px;cursor:pointer}" +
    ".away{flex-direction:column;align-items:stretch;gap:6px;background:#fff;border:0;border-radius:10px;padding:10px}" +
    ".away input,.away textarea{border:1px solid #d1d5db;border-radius:8px;padding:7px 9px;outline:none}" +
    ".away textarea{height:70px;resize:none}.away .problem{color:#b91c1c;font-size:12px}" +
    ".hidden{display:none}" +
    "</style>" +
    "<button class='launcher' aria-label='Chat'>" + icon("M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2z", 26) +
    "<span class='dot'></span></button>" +
    "<div class='panel' role='dialog'><div class='head'><div><div class='title'></div>" +
    "<div class='status'>Connecting\u2026</div></div><button class='close' aria-label='Close'>\u00D7</button></div>" +
    "<div class='list' aria-live='polite'></div><div class='typing'></div><div class='emoji'></div>" +
    "<form class='compose'><button type='button' class='icon attach' aria-label='Attach a file'>" +
    icon("M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z", 22) + "</button>" +
    "<input type='file' class='file' hidden><button type='button' class='icon smile' aria-label='Emoji'>\uD83D\uDE0A</button>" +
    "<textarea class='input' rows='1' placeholder='Write a message\u2026' maxlength='10000'></textarea>" +
    "<button class='send' type='submit'>Send</button></form></div>";
  function $(sel) { return root.querySelector(sel); }
  var panel = $(".panel"), list = $(".list"), input = $(".input"), fileInput = $(".file");
  var emoji = $(".emoji");
  "\uD83D\uDE00 \uD83D\uDE02 \uD83D\uDE0D \uD83D\uDC4D \uD83D\uDE4F \uD83C\uDF89 \u2764\uFE0F \uD83D\uDE22 \uD83D\uDE21 \uD83E\uDD14 \uD83D\uDCE6 \u2705".split(" ").forEach(function (e) {
    var b = el("button", "icon", e); b.type = "button";
    b.onclick = function () { input.value += e; input.focus(); };
    emoji.appendChild(b);
  });
  $(".launcher").onclick = function () { toggle(!panel.classList.contains("open")); };
  $(".close").onclick = function () { toggle(false); };
  $(".smile").onclick = function () { emoji.classList.toggle("open"); };
  $(".attach").onclick = function () { fileInput.click(); };
  fileInput.onchange = function () { if (fileInput.files[0]) upload(fileInput.files[0]); fileInput.value = ""; };
  $("form.compose").onsubmit = function (ev) { ev.preventDefault(); sendText(input.value); };
  input.onkeydown = function (ev) { if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); sendText(input.value); } };
  input.oninput = typing;
  document.addEventListener("visibilitychange", markRead);

  function icon(path, size) {  // inline SVG: no icon font, no emoji font needed
    return "<svg viewBox='0 0 24 24' width='" + size + "' height='" + size + "' fill='currentColor'><path d='" + path + "'/></svg>";
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag); if (cls) e.className = cls;
    if (text != null) e.textContent = text; return e;
  }
  function toggle(open) {
    panel.classList.toggle("open", open);
    if (open) { $(".dot").style.display = "none"; input.focus(); markRead(); }
  }
  function setStatus(text) { $(".status").textContent = text; }
  function note(text) { list.appendChild(el("div", "note", text)); scroll(); }
  function scroll() { list.scrollTop = list.scrollHeight; }

  function place(node, id) {  // keep the list in id (time) order; unsent messages last
    var kids = list.children;
    for (var i = 0; i < kids.length; i++) {
      var k = kids[i].dataset.id, pend = kids[i].dataset.pending;
      if ((k && id && k > id) || (pend && id)) { list.insertBefore(node, kids[i]); return; }
    }
    list.appendChild(node);
  }

  function fill(node, m) {
    node.textContent = "";
    node.className = "msg " + (m.direction === "in" ? "visitor" : m.author);
    if (m.recalled_at) { node.appendChild(el("span", "recalled", "Message deleted")); return; }
    (m.parts || []).forEach(function (p) {
      if (p.kind === "text") node.appendChild(el("div", null, p.text));
      else if (p.kind === "image" && p.url) {
        var img = el("img"); img.alt = p.name || "image"; node.appendChild(img);
        media(p.url).then(function (u) { img.src = u; });
        if (p.caption) node.appendChild(el("div", null, p.caption));
      } else if (p.url) {
        var a = el("a", null, "\uD83D\uDCC4 " + (p.name || "file")); a.href = "#";
        a.onclick = function (ev) { ev.preventDefault(); media(p.url).then(function (u) {
          var d = el("a"); d.href = u; d.download = p.name || "file"; d.click(); }); };
        node.appendChild(a);
      }
    });
    var meta = el("span", "meta");
    if (m.edited_at) meta.textContent = "edited ";
    node.appendChild(meta);
  }

  function upsert(m) {
    if (!m || !m.id) return;
    var node = S.els[m.id];
    if (!node) { node = S.els[m.id] = el("div"); node.dataset.id = m.id; place(node, m.id); }
    fill(node, m);
    if (!S.lastId || m.id > S.lastId) S.lastId = m.id;
    if (m.direction === "out" && m.id > S.lastAgentId) {
      S.lastAgentId = m.id;
      if (m.id > S.readUpTo) S.readUpTo = m.id;  // an agent answering has read what came before
      showButtons(m.buttons);
      if (!panel.classList.contains("open")) $(".dot").style.display = "block";
      $(".typing").textContent = "";
    }
    receipts(); scroll(); markRead();
  }

  function receipts() {
    var mine = list.querySelectorAll(".visitor[data-id]");
    for (var i = 0; i < mine.length; i++) {
      var meta = mine[i].querySelector(".meta");
      if (meta) meta.textContent = mine[i].dataset.id <= S.readUpTo ? "Read" : "Sent";
    }
  }

  function showButtons(buttons) {
    var old = $(".buttons"); if (old) old.remove();
    if (!buttons || !buttons.length) return;
    var row = el("div", "buttons");
    buttons.forEach(function (label) {
      var b = el("button", null, label); b.type = "button";
      b.onclick = function () { row.remove(); sendText(label); };
      row.appendChild(b);
    });
    list.appendChild(row);
  }

  // --- off hours: the notice and a leave-a-message form instead of the chat box ----------
  function showHours(hours) {
    var away = $(".away"), notice = $(".notice");
    if (!hours || hours.open || S.leftMessage) {
      if (away) away.remove(); if (notice) notice.remove();
      $("form.compose").classList.remove("hidden"); return;
    }
    setStatus("Away");
    if (!notice) { notice = el("div", "note notice"); list.insertBefore(notice, list.firstChild); }
    notice.textContent = hours.notice || "We're away right now.";
    if (away) return;
    away = el("form", "away");
    away.innerHTML = "<input class='name' name='name' placeholder='Your name' maxlength='120' required>" +
      "<input class='contact' name='contact' placeholder='E-mail or phone (+country code)' maxlength='320' required>" +
      "<textarea class='text' name='text' placeholder='Your message' maxlength='10000' required></textarea>" +
      "<div class='problem'></div><button class='send' type='submit'>Leave a message</button>";
    away.onsubmit = function (ev) {
      ev.preventDefault();
      var f = {type: "leave_message", client_id: S.leaving || newId(), name: away.querySelector(".name").value.trim(),
        contact: away.querySelector(".contact").value.trim(), text: away.querySelector(".text").value.trim()};
      if (!f.name || !f.contact || !f.text) { away.querySelector(".problem").textContent = "Please fill in every field."; return; }
      S.leaving = f.client_id; away.querySelector(".problem").textContent = "";
      away.querySelector(".send").disabled = true;
      frame(f);
    };
    list.appendChild(away);
    $("form.compose").classList.add("hidden");
    scroll();
  }
  function leaveMessageDone(f) {
    if (f.type === "ack") {
      S.leaving = null; S.leftMessage = true; showHours(S.hours);
      note("Thanks! We'll get back to you."); return;
    }
    var away = $(".away"); if (!away) return;
    away.querySelector(".problem").textContent = f.message;
    away.querySelector(".send").disabled = false;
    if (f.code !== "busy" && f.code !== "not_stored") S.leaving = null;  // a changed form is a new message
  }

  function media(url) {  // the visitor's token goes in a header, never in the URL
    return fetch(base + url, {headers: {Authorization: "Bearer " + S.session}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.blob(); })
      .then(function (b) { return URL.createObjectURL(b); });
  }

  // --- sending ------------------------------------------------------------------------
  function newId() {
    var a = new Uint8Array(12); crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }
  function sendText(text) {
    text = text.trim(); if (!text) return;
    input.value = ""; emoji.classList.remove("open");
    var id = newId();
    S.pending[id] = text; store.set("pending", S.pending);
    var node = el("div", "msg visitor", text); node.dataset.pending = id;
    node.appendChild(el("span", "meta", "Sending\u2026"));
    list.appendChild(node); scroll();
    frame({type: "message", client_id: id, text: text});
    typing.active = false;
  }
  function resendPending() {
    for (var id in S.pending) frame({type: "message", client_id: id, text: S.pending[id]});
  }
  function upload(file) {
    var id = newId(), node = el("div", "msg visitor", "\u23F3 " + file.name);
    node.dataset.pending = id; list.appendChild(node); scroll();
    var form = new FormData(); form.append("client_id", id); form.append("file", file, file.name);
    fetch(api + "/upload", {method: "POST", body: form, headers: {Authorization: "Bearer " + S.session}})
      .then(function (r) { return r.json().then(function (b) { return [r, b]; }); })
      .then(function (rb) {
        if (!rb[0].ok) { node.remove(); note("\u26A0 " + file.name + ": " + rb[1].error.message); return; }
        rb[1].frames.forEach(handle);
      })
      .catch(function () { node.remove(); note("\u26A0 " + file.name + " could not be sent"); });
  }
  function typing() {
    var now = Date.now();
    if (!typing.active || now - typing.at > 3000) { frame({type: "typing", active: true}); typing.at = now; }
    typing.active = true;
    clearTimeout(typing.timer);
    typing.timer = setTimeout(function () { typing.active = false; frame({type: "typing", active: false}); }, 4000);
  }
  function markRead() {
    if (!S.session || !S.lastAgentId || S.lastAgentId <= S.agentSeen) return;
    if (document.visibilityState !== "visible" || !panel.classList.contains("open")) return;
    S.agentSeen = S.lastAgentId;
    frame({type: "read", message_id: S.lastAgentId});
  }

  // --- frames from the hub ------------------------------------------------------------
  function handle(f) {
    switch (f.type) {
      case "welcome":
        S.token = f.token; S.session = f.session; store.set("token", f.token);
        $(".title").textContent = f.title; S.greeting = f.greeting; S.failures = 0; S.backoff = 1000;
        S.resend = true; S.hours = f.hours;
        setStatus("Online"); showHours(f.hours);
        break;
      case "history":
        (f.messages || []).forEach(upsert); (f.updates || []).forEach(upsert);
        if (f.read_up_to && f.read_up_to > S.readUpTo) S.readUpTo = f.read_up_to;
        if (!list.querySelector("[data-id]") && S.greeting && !S.greeted) {
          S.greeted = true; var g = el("div", "msg agent", S.greeting); list.insertBefore(g, list.firstChild);
        }
        receipts();
        if (S.resend) { S.resend = false; resendPending(); }
        break;
      case "ack":
        if (S.leaving && f.client_id === S.leaving) leaveMessageDone(f);
        var node = list.querySelector("[data-pending='" + f.client_id + "']");
        delete S.pending[f.client_id]; store.set("pending", S.pending);
        if (node && !S.els[f.id]) { delete node.dataset.pending; node.dataset.id = f.id; S.els[f.id] = node; }
        else if (node) node.remove();
        upsert(f.message);
        break;
      case "message": case "update": upsert(f.message); break;
      case "typing": showTyping(f.active); break;
      case "read": if (f.up_to > S.readUpTo) { S.readUpTo = f.up_to; receipts(); } break;
      case "resync": frame({type: "resume", last_id: S.lastId}); break;
      case "error":
        if (S.leaving && f.ref === S.leaving) { leaveMessageDone(f); break; }
        if ((f.code === "busy" || f.code === "not_stored") && f.ref && S.pending[f.ref]) setTimeout(resendPending, 2000);
        else if (f.code !== "unknown_message") note("\u26A0 " + f.message);
        break;
    }
  }
  function showTyping(active) {
    clearTimeout(showTyping.timer);
    $(".typing").textContent = active ? "Agent is typing\u2026" : "";
    if (active) showTyping.timer = setTimeout(function () { $(".typing").textContent = ""; }, 6000);
  }

  // --- transport: WebSocket, reconnect with backoff, long-poll when sockets are blocked ----
  function hello() {
    return {type: "hello", token: S.token, user: user || undefined,
            language: navigator.language || undefined};
  }
  function frame(f) {
    if (S.ws && S.ws.readyState === 1) S.ws.send(JSON.stringify(f));
    else if (S.poll && S.session) post("/send", f).then(function (b) { b.frames.forEach(handle); });
  }
  function connect() {
    if (S.stopped) return;
    var ws = S.ws = new WebSocket(api.replace(/^http/, "ws") + "/ws");
    var opened = false;
    ws.onopen = function () { opened = S.opened = true; ws.send(JSON.stringify(hello())); };
    ws.onmessage = function (ev) {
      var f = JSON.parse(ev.data); handle(f);
      if (f.type === "welcome") ws.send(JSON.stringify({type: "resume", last_id: S.lastId}));
    };
    ws.onclose = function (ev) {
      S.ws = null; setStatus("Reconnecting\u2026");
      if (ev.code === 4401) { S.token = null; store.set("token", null); }
      if (ev.code === 4403) { S.stopped = true; setStatus("Chat unavailable"); note("\u26A0 " + (ev.reason || "refused")); return; }
      if (!opened && ++S.failures >= 3 && !S.opened) return startPolling();
      setTimeout(connect, S.backoff); S.backoff = Math.min(S.backoff * 2, 15000);
    };
  }
  function post(path, body) {
    var headers = {"Content-Type": "application/json"};
    if (S.session && body.type !== "hello") headers.Authorization = "Bearer " + S.session;
    return fetch(api + path, {method: "POST", headers: headers, body: JSON.stringify(body)})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); });
  }
  function startPolling() {
    S.poll = true;
    post("/send", hello()).then(function (b) { b.frames.forEach(handle); setStatus("Online"); pollLoop(); })
      .catch(function () { setTimeout(startPolling, S.backoff); S.backoff = Math.min(S.backoff * 2, 15000); });
  }
  function pollLoop() {
    post("/poll", {last_id: S.lastId, wait: 25})
      .then(function (b) { b.frames.forEach(handle); pollLoop(); })
      .catch(function () { setStatus("Reconnecting\u2026"); setTimeout(startPolling, 2000); });
  }

  window.__omnihubChat = {open: function () { toggle(true); }, state: S};
  connect();
})();
