// The omnihub workbench: plain JavaScript, no build step, no dependencies.
// Rule: every text from the API goes into the page with textContent, never parsed as HTML,
// so HTML or script in a customer's message is shown, never run.
"use strict";

(() => {
  const TOKEN_KEY = "omnihub.token";
  const $ = (id) => document.getElementById(id);
  const state = { me: null, selected: null, conversation: null, history: [], customers: new Map(),
                  stream: null, lastEventId: null, refreshTimer: null, threadTimer: null };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error && body.error.message) || `HTTP ${status}`);
      this.status = status;
    }
  }

  async function api(method, path, body, headers = {}) {
    const init = { method, headers: { Authorization: `Bearer ${token()}`, ...headers } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    const data = resp.status === 204 ? null : await resp.json().catch(() => null);
    if (resp.status === 401) signOut("Your token was refused; sign in again.");
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
  }

  function randomKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function when(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    const sameDay = date.toDateString() === new Date().toDateString();
    return sameDay ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
                   : date.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  }

  // --- signing in and out ------------------------------------------------------------

  async function signIn(candidate) {
    sessionStorage.setItem(TOKEN_KEY, candidate);
    try {
      state.me = await api("GET", "/api/v1/me");
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY);
      $("signin-error").textContent = err.status === 401 ? "Unknown or revoked token." : err.message;
      return;
    }
    $("signin").hidden = true;
    $("workbench").hidden = false;
    $("whoami").textContent = `${state.me.agent} · ${state.me.role}`;
    startStream();
    loadCannedReplies();
  }

  function signOut(reason) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (state.stream) state.stream.abort();
    state.stream = null;
    state.me = null;
    $("workbench").hidden = true;
    $("signin").hidden = false;
    $("signin-error").textContent = reason || "";
  }

  // --- the conversation list ---------------------------------------------------------

  function listQuery() {
    const q = new URLSearchParams({ limit: "100" });
    const add = (name, value) => { if (value) q.set(name, value); };
    add("status", $("f-status").value);
    add("group", $("f-group").value.trim());
    add("channel", $("f-channel").value.trim());
    add("q", $("f-q").value.trim());
    if ($("f-mine").checked) q.set("assignee", "me");
    if ($("f-unassigned").checked) q.set("unassigned", "true");
    return q;
  }

  async function loadList() {
    let page;
    try {
      page = await api("GET", `/api/v1/conversations?${listQuery()}`);
    } catch (err) {
      $("list-empty").textContent = err.message;
      $("list-empty").hidden = false;
      return;
    }
    const list = $("conversations");
    list.replaceChildren(...page.items.map(conversationRow));
    $("list-empty").textContent = "No conversations.";
    $("list-empty").hidden = page.items.length > 0;
  }

  function conversationRow(conv) {
    const row = el("li", "conv");
    row.dataset.id = conv.id;
    row.tabIndex = 0;
    if (conv.id === state.selected) row.classList.add("selected");
    const top = el("div", "conv-top");
    const name = el("span", "conv-name", conv.customer_id);
    top.append(name, el("span", "time", when(conv.last_message_at || conv.updated_at)));
    const tags = el("div", "conv-tags");
    tags.append(el("span", "badge channel", conv.channel_id),
                el("span", `badge status-${conv.status}`, conv.status));
    if (conv.group) tags.append(el("span", "badge", conv.group));
    tags.append(el("span", "badge assignee", conv.assignee ? `@${conv.assignee}` : "unassigned"));
    if (conv.priority) tags.append(el("span", "badge priority", `P${conv.priority}`));
    row.append(top, tags);
    customerName(conv.customer_id).then((n) => { name.textContent = n; });
    row.addEventListener("click", () => openConversation(conv.id));
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") openConversation(conv.id); });
    return row;
  }

  async function customer(id, fresh = false) {
    if (fresh || !state.customers.has(id)) {
      state.customers.set(id, api("GET", `/api/v1/customers/${encodeURIComponent(id)}`)
        .catch((err) => { state.customers.delete(id); throw err; }));
    }
    return state.customers.get(id);
  }

  async function customerName(id) {
    try {
      const c = await customer(id);
      return c.display_name || (c.identities[0] && c.identities[0].address) || id;
    } catch { return id; }
  }

  function scheduleListRefresh() {
    clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(loadList, 80);
  }

  // --- the live stream: fetch() so the token travels in a header, never in a URL -----

  function setLive(stateName, text) {
    $("live").dataset.state = stateName;
    $("live").textContent = text;
  }

  async function startStream() {
    const controller = new AbortController();
    state.stream = controller;
    let delay = 500;
    while (state.stream === controller) {
      try {
        const headers = { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" };
        if (state.lastEventId) headers["Last-Event-ID"] = state.lastEventId;
        const resp = await fetch("/api/v1/events", { headers, signal: controller.signal,
                                                     cache: "no-store" });
        if (resp.status === 401) { signOut("Your token was refused; sign in again."); return; }
        if (!resp.ok || !resp.body) throw new Error(`stream answered ${resp.status}`);
        setLive("live", "live");
        delay = 500;
        loadList();  // after the stream is open, so nothing falls between the two
        if (state.selected) refreshThread();
        await readEvents(resp.body, onEvent);
      } catch (err) {
        if (controller.signal.aborted) return;
      }
      if (state.stream !== controller) return;
      setLive("down", "reconnecting…");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }

  async function readEvents(body, handle) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = { id: null, type: "message", data: [] };
        for (const line of block.split("\n")) {
          if (!line || line.startsWith(":")) continue;  // a comment: the heartbeat
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "id") event.id = val;
          else if (field === "event") event.type = val;
          else if (field === "data") event.data.push(val);
        }
        if (event.id) state.lastEventId = event.id;
        if (event.data.length) handle(event.type, event.data.join("\n"));
      }
    }
  }

  function onEvent(type, raw) {
    let payload;
    try { payload = JSON.parse(raw); } catch { return; }
    const data = payload.data || {};
    const conv = data.conversation || (type.startsWith("conversation.") ? data : null);
    const conversationId = data.conversation_id || (conv && conv.id);
    if (type.startsWith("customer.")) state.customers.clear();
    scheduleListRefresh();
    if (conversationId && conversationId === state.selected) {
      clearTimeout(state.threadTimer);
      state.threadTimer = setTimeout(refreshThread, 80);
    }
  }

  // --- one conversation: the customer's whole history, actions, profile ---------------

  async function openConversation(id) {
    state.selected = id;
    for (const row of $("conversations").children) {
      row.classList.toggle("selected", row.dataset.id === id);
    }
    $("no-selection").hidden = true;
    $("conversation").hidden = false;
    $("action-error").textContent = "";
    await refreshThread();
    $("c-text").focus();
    if (state.selected !== id) return;
    const question = lastCustomerText((state.history || []).filter(
      (m) => m.conversation_id === id)).slice(0, 200);
    $("kb-q").value = question;
    searchKb(question);
  }

  async function refreshThread() {
    const id = state.selected;
    if (!id) return;
    try {
      const conv = await api("GET", `/api/v1/conversations/${encodeURIComponent(id)}`);
      const [profile, history] = await Promise.all([
        customer(conv.customer_id, true),
        api("GET", `/api/v1/customers/${encodeURIComponent(conv.customer_id)}/history?limit=200`),
      ]);
      if (state.selected !== id) return;
      state.conversation = conv;
      state.history = history.items.slice().reverse();
      renderHeader(conv, profile);
      renderThread(state.history, conv);
      renderProfile(profile, conv);
    } catch (err) {
      $("action-error").textContent = err.message;
    }
  }

  function renderHeader(conv, profile) {
    $("conv-title").textContent = profile.display_name || conv.customer_id;
    const meta = $("conv-meta");
    meta.replaceChildren(
      el("span", "badge channel", conv.channel_id),
      el("span", `badge status-${conv.status}`, conv.status),
      el("span", "badge", conv.group ? `group ${conv.group}` : "no group"),
      el("span", "badge assignee", conv.assignee ? `@${conv.assignee}` : "unassigned"));
    const open = !["resolved", "closed"].includes(conv.status);
    $("act-take").hidden = !open || conv.assignee === state.me.agent;
    $("act-resolve").hidden = !open;
    $("act-reopen").hidden = open;
  }

  function partText(part) {
    if (part.kind === "text") return part.text;
    const label = part.caption || part.filename || part.name || part.title || part.url || "";
    if (part.kind === "location") return `[location ${part.latitude}, ${part.longitude}] ${label}`;
    return `[${part.kind}] ${label}`.trim();
  }

  function renderThread(messages, conv) {
    const thread = $("thread");
    const atBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 40;
    thread.replaceChildren(...messages.map((m) => {
      const item = el("li", `msg ${m.direction === "in" ? "inbound" : "outbound"}`);
      item.dataset.id = m.id;
      if (m.private) item.classList.add("note");
      if (m.conversation_id !== conv.id) item.classList.add("elsewhere");
      const head = el("div", "msg-head");
      const who = m.author === "customer" ? "customer" : m.author.replace(/^agent:/, "");
      head.append(el("span", "badge channel", m.channel_id), el("span", "author", who),
                  el("span", "time", when(m.created_at)));
      if (m.private) head.append(el("span", "badge note-badge", "note"));
      else if (m.direction !== "in") head.append(el("span", "msg-status", m.status));
      const body = el("div", "msg-body");
      if (m.recalled_at) body.append(el("em", null, "recalled"));
      else for (const part of m.parts) body.append(el("p", null, partText(part)));
      item.append(head, body);
      return item;
    }));
    if (atBottom || thread.dataset.for !== conv.id) thread.scrollTop = thread.scrollHeight;
    thread.dataset.for = conv.id;
  }

  function renderProfile(profile, conv) {
    $("profile").hidden = false;
    $("p-name").textContent = profile.display_name || profile.id;
    $("p-identities").replaceChildren(...profile.identities.map((i) => {
      const li = el("li");
      li.append(el("span", "badge", i.kind), el("span", null, i.address));
      if (i.verified) li.append(el("span", "verified", "✓"));
      return li;
    }));
    const tagItems = (tags) => (tags.length ? tags.map((t) => el("li", "badge", t))
                                            : [el("li", "muted", "none")]);
    $("p-tags").replaceChildren(...tagItems(profile.tags));
    // tags the shop's rules derived (customer_tags.yaml), marked apart from agents' own
    $("p-tags").append(...(profile.derived_tags || []).map((t) => {
      const li = el("li", "badge derived", t);
      li.title = "derived by a tag rule";
      return li;
    }));
    $("p-conv-tags").replaceChildren(...tagItems(conv.tags));
    renderOrders(profile.id);
  }

  async function renderOrders(customerId) {
    const list = $("p-orders");
    let orders = [];
    try {
      ({ items: orders } = await api("GET",
        `/api/v1/customers/${encodeURIComponent(customerId)}/orders?limit=5`));
    } catch (err) {
      list.replaceChildren(el("li", "muted", err.message));
      return;
    }
    list.replaceChildren(...(orders.length ? orders.map((o) => el("li", null,
      `${o.order_id} · ${o.status} · ${o.total} ${o.currency} · ${o.placed_at.slice(0, 10)}`))
      : [el("li", "muted", "none")]));
  }

  // The knowledge base beside the thread: the customer's last question is searched when a
  // conversation opens, and the agent can search with words of their own; "Insert" puts
  // an answer into the reply box (in the variant for this conversation's channel).
  async function searchKb(query) {
    const list = $("kb-results");
    if (!query) { list.replaceChildren(); return; }
    const conv = state.conversation;
    const params = new URLSearchParams({ q: query.slice(0, 1000), limit: "3" });
    if (conv) params.set("channel", conv.channel_id);
    let hits = [];
    try {
      ({ items: hits } = await api("GET", `/api/v1/kb/search?${params}`));
    } catch (err) {
      list.replaceChildren(el("li", "muted", err.message));
      return;
    }
    list.replaceChildren(...(hits.length ? hits.map((hit) => {
      const li = el("li", "kb-hit");
      const insert = el("button", "quiet", "Insert");
      insert.type = "button";
      insert.addEventListener("click", () => {
        const box = $("c-text");
        box.value = box.value ? `${box.value} ${hit.answer}` : hit.answer;
        box.focus();
      });
      li.append(el("strong", null, hit.entry.question), el("p", null, hit.answer), insert);
      return li;
    }) : [el("li", "muted", "no matching answer")]));
  }

  function lastCustomerText(messages) {
    for (let i = messages.length - 1; i >= 0; i -= 1) {
      const m = messages[i];
      if (m.direction === "in") return m.parts.map(partText).join(" ").trim();
    }
    return "";
  }

  async function act(path, body) {
    $("action-error").textContent = "";
    try {
      await api("POST", `/api/v1/conversations/${encodeURIComponent(state.selected)}/${path}`, body);
      await Promise.all([refreshThread(), loadList()]);
      return true;
    } catch (err) {
      $("action-error").textContent = err.message;
      return false;
    }
  }

  async function send(event) {
    event.preventDefault();
    const text = $("c-text").value.trim();
    if (!text || !state.selected) return;
    $("c-send").disabled = true;
    const key = randomKey();  // a retried send is not sent twice
    try {
      await api("POST", `/api/v1/conversations/${encodeURIComponent(state.selected)}/messages`,
                { text, private: $("c-note").checked }, { "Idempotency-Key": key });
      $("c-text").value = "";
      $("c-note").checked = false;
      $("action-error").textContent = "";
      await refreshThread();
    } catch (err) {
      $("action-error").textContent = err.message;
    } finally {
      $("c-send").disabled = false;
    }
  }

  async function loadCannedReplies() {
    let replies;
    try {
      replies = (await api("GET", "/api/v1/canned-replies")).items;
    } catch { return; }  // optional: the hub may not offer them
    if (!replies || !replies.length) return;
    const select = $("c-canned");
    select.replaceChildren(el("option", null, "canned replies…"), ...replies.map((r) => {
      const option = el("option", null, `${r.shortcut}${r.title ? ` — ${r.title}` : ""}`);
      option.value = r.id;
      return option;
    }));
    select.firstChild.value = "";
    select.hidden = false;
  }

  async function insertCanned(select) {
    const id = select.value;
    select.value = "";
    if (!id || !state.selected) return;
    const path = `/api/v1/canned-replies/${encodeURIComponent(id)}/render` +
                 `?conversation=${encodeURIComponent(state.selected)}`;
    try {
      const { text } = await api("GET", path);  // variables filled for this customer
      const box = $("c-text");
      box.value = box.value ? `${box.value} ${text}` : text;
      box.focus();
    } catch (err) {
      $("action-error").textContent = err.message;
    }
  }

  // --- wiring ------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("signin-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const value = $("token").value.trim();
      $("token").value = "";
      if (value) signIn(value);
    });
    $("signout").addEventListener("click", () => signOut());
    $("filters").addEventListener("submit", (e) => { e.preventDefault(); loadList(); });
    $("filters").addEventListener("change", (e) => {
      if (e.target === $("f-mine") && e.target.checked) $("f-unassigned").checked = false;
      if (e.target === $("f-unassigned") && e.target.checked) $("f-mine").checked = false;
      loadList();
    });
    $("composer").addEventListener("submit", send);
    $("c-text").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("composer").requestSubmit();
    });
    $("c-canned").addEventListener("change", (e) => insertCanned(e.target));
    $("kb-search").addEventListener("submit", (e) => {
      e.preventDefault();
      searchKb($("kb-q").value.trim());
    });
    $("act-take").addEventListener("click", () => act("assign", { assignee: state.me.agent }));
    $("act-resolve").addEventListener("click", () => act("resolve"));
    $("act-reopen").addEventListener("click", () => act("reopen"));
    $("transfer").addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { reason: $("t-reason").value.trim() };
      if ($("t-group").value.trim()) body.group = $("t-group").value.trim();
      if ($("t-agent").value.trim()) body.assignee = $("t-agent").value.trim();
      if (await act("transfer", body)) e.target.reset();
    });
    if (token()) signIn(token());
  });
})();
