/* ragd support widget.
 *
 *   <script src="https://ragd.example.com/widget.js" data-key="pk_..." async></script>
 *
 * Puts a launcher button and a chat panel on the page, inside a shadow root so the page's CSS
 * cannot reach in (and the widget's cannot leak out); the host element's own box is pinned
 * with inline !important declarations, which no page rule outranks. The root is open: a page's
 * scripts could reach the widget anyway (they share the window), and an open root lets
 * accessibility and test tools see it. Talks to the ragd server the
 * script came from: POST /widget/session (the publishable key, from this page's origin),
 * then /widget/message (answers streamed as Server-Sent Events), /widget/conversation,
 * /widget/feedback and /widget/handoff with the session token. Theme (colours, title,
 * greeting, position) comes from the organization's settings in the session response.
 * Server and model text is only ever set with textContent. */
(function () {
  "use strict";

  var script = document.currentScript ||
    document.querySelector('script[data-key][src*="widget.js"]');
  if (!script || !script.getAttribute("data-key")) return;
  var KEY = script.getAttribute("data-key");
  var BASE = new URL(script.src, location.href).origin;
  var STORE = "ragd-widget:" + KEY.slice(0, 12);
  if (window.__ragdWidget && window.__ragdWidget[KEY]) return; /* loaded twice */
  window.__ragdWidget = window.__ragdWidget || {};
  window.__ragdWidget[KEY] = true;

  /* ---- state ---- */

  var session = null; /* {token, expiresAt, conversationId} */
  var rendered = {}; /* message ids already on screen */
  var busy = false;
  var pollTimer = null;

  function storageGet(area, k) {
    try { return window[area].getItem(k); } catch (e) { return null; }
  }
  function storageSet(area, k, v) {
    try { if (v === null) window[area].removeItem(k); else window[area].setItem(k, v); }
    catch (e) { /* storage may be off: the widget still works for this page view */ }
  }

  function visitorId() {
    var v = storageGet("localStorage", STORE + ":visitor");
    if (!v || !/^[A-Za-z0-9_-]{8,64}$/.test(v)) {
      var a = new Uint8Array(12);
      crypto.getRandomValues(a);
      v = "v_" + Array.prototype.map.call(a, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      }).join("");
      storageSet("localStorage", STORE + ":visitor", v);
    }
    return v;
  }

  /* ---- DOM ---- */

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) {
      e.setAttribute(k, attrs[k]);
    }
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  var host = document.createElement("ragd-support-widget");
  /* Inline !important declarations beat any page rule, even `* { display: none !important }`. */
  host.setAttribute("style", "all: initial !important; display: block !important; " +
    "position: fixed !important; z-index: 2147483000 !important; bottom: 0 !important; " +
    "right: 0 !important; width: 0 !important; height: 0 !important; " +
    "visibility: visible !important; opacity: 1 !important;");
  var root = host.attachShadow({ mode: "open" });

  var css =
    ":host { all: initial !important; display: block !important; }\n" +
    "* { box-sizing: border-box; font-family: system-ui, -apple-system, 'Segoe UI', Roboto, " +
    "sans-serif; font-size: 14px; line-height: 1.45; letter-spacing: normal; " +
    "text-transform: none; }\n" +
    ".wrap { --primary: #2563eb; --on-primary: #ffffff; position: fixed; bottom: 16px; " +
    "right: 16px; display: flex; flex-direction: column; align-items: flex-end; gap: 12px; " +
    "color: #111827; }\n" +
    ".wrap.left { right: auto; left: 16px; align-items: flex-start; }\n" +
    ".launcher { display: inline-flex; align-items: center; gap: 8px; border: 0; " +
    "border-radius: 999px; padding: 12px 18px; background: var(--primary); " +
    "color: var(--on-primary); cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); " +
    "font-weight: 600; }\n" +
    ".launcher:focus-visible, button:focus-visible, textarea:focus-visible, " +
    "input:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }\n" +
    ".panel { display: none; flex-direction: column; width: 370px; " +
    "max-width: calc(100vw - 32px); height: 520px; max-height: calc(100vh - 100px); " +
    "background: #ffffff; color: #111827; border-radius: 14px; overflow: hidden; " +
    "box-shadow: 0 10px 40px rgba(0,0,0,.3); border: 1px solid #e5e7eb; }\n" +
    ".panel.open { display: flex; }\n" +
    ".head { display: flex; align-items: center; justify-content: space-between; gap: 8px; " +
    "padding: 12px 14px; background: var(--primary); color: var(--on-primary); }\n" +
    ".head h2 { margin: 0; font-size: 16px; font-weight: 700; color: inherit; }\n" +
    ".head button { background: transparent; border: 0; color: inherit; cursor: pointer; " +
    "font-size: 20px; line-height: 1; padding: 4px 8px; border-radius: 6px; }\n" +
    ".log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; " +
    "gap: 10px; background: #f9fafb; }\n" +
    ".msg { max-width: 88%; padding: 8px 12px; border-radius: 12px; white-space: pre-wrap; " +
    "word-wrap: break-word; overflow-wrap: anywhere; color: #111827; }\n" +
    ".msg.visitor { align-self: flex-end; background: var(--primary); color: var(--on-primary); }\n" +
    ".msg.assistant, .msg.agent { align-self: flex-start; background: #ffffff; " +
    "border: 1px solid #e5e7eb; }\n" +
    ".msg.agent { border-color: #10b981; }\n" +
    ".msg.system { align-self: center; background: transparent; color: #6b7280; " +
    "font-size: 12px; text-align: center; }\n" +
    ".who { display: block; font-size: 11px; font-weight: 600; color: #6b7280; " +
    "margin-bottom: 2px; }\n" +
    ".sources { margin: 6px 0 0; padding: 0 0 0 16px; font-size: 12px; color: #4b5563; }\n" +
    ".fb { display: flex; gap: 6px; margin-top: 6px; }\n" +
    ".fb button, .tools button { border: 1px solid #d1d5db; background: #ffffff; " +
    "color: #111827; border-radius: 999px; padding: 3px 10px; font-size: 12px; cursor: pointer; }\n" +
    ".fb button[aria-pressed='true'] { background: #111827; color: #ffffff; }\n" +
    ".tools { display: flex; gap: 8px; padding: 6px 12px 0; background: #ffffff; " +
    "flex-wrap: wrap; }\n" +
    ".handoff { display: none; gap: 6px; padding: 6px 12px 0; background: #ffffff; }\n" +
    ".handoff.open { display: flex; }\n" +
    ".handoff input { flex: 1; min-width: 0; border: 1px solid #d1d5db; border-radius: 8px; " +
    "padding: 6px 8px; color: #111827; background: #ffffff; }\n" +
    "form.send { display: flex; gap: 8px; padding: 10px 12px 12px; background: #ffffff; " +
    "border-top: 1px solid #e5e7eb; }\n" +
    "textarea { flex: 1; min-width: 0; resize: none; height: 42px; border: 1px solid #d1d5db; " +
    "border-radius: 10px; padding: 9px 10px; color: #111827; background: #ffffff; }\n" +
    "form.send button, .handoff button { border: 0; border-radius: 10px; padding: 0 14px; " +
    "background: var(--primary); color: var(--on-primary); font-weight: 600; cursor: pointer; }\n" +
    "button[disabled] { opacity: .6; cursor: default; }\n" +
    ".sr { position: absolute; width: 1px; height: 1px; overflow: hidden; " +
    "clip: rect(0 0 0 0); white-space: nowrap; }\n" +
    "@media (max-width: 420px) { .wrap { right: 8px; bottom: 8px; } " +
    ".wrap.left { left: 8px; } .panel { width: calc(100vw - 16px); " +
    "max-width: calc(100vw - 16px); height: calc(100vh - 90px); } }\n";
  var style = el("style");
  style.textContent = css;
  root.appendChild(style);

  var wrap = el("div", { "class": "wrap", part: "wrap" });
  var panelId = "ragd-panel";
  var panel = el("section", { "class": "panel", id: panelId, role: "dialog",
    "aria-modal": "false", "aria-labelledby": "ragd-title" });
  var head = el("div", { "class": "head" });
  var title = el("h2", { id: "ragd-title" }, "Support");
  var closeBtn = el("button", { type: "button", "aria-label": "Close chat" }, "\u00d7");
  head.appendChild(title);
  head.appendChild(closeBtn);
  var log = el("div", { "class": "log", role: "log", "aria-live": "polite",
    "aria-label": "Conversation", tabindex: "0" });
  var tools = el("div", { "class": "tools" });
  var humanBtn = el("button", { type: "button", "aria-expanded": "false",
    "aria-controls": "ragd-handoff" }, "Talk to a person");
  tools.appendChild(humanBtn);
  var handoffBox = el("form", { "class": "handoff", id: "ragd-handoff" });
  var emailLabel = el("label", { "class": "sr", "for": "ragd-email" },
    "Your e-mail address (optional)");
  var emailIn = el("input", { id: "ragd-email", type: "email", autocomplete: "email",
    placeholder: "Your e-mail (optional)" });
  var handoffSend = el("button", { type: "submit" }, "Request");
  handoffBox.appendChild(emailLabel);
  handoffBox.appendChild(emailIn);
  handoffBox.appendChild(handoffSend);
  var form = el("form", { "class": "send" });
  var inputLabel = el("label", { "class": "sr", "for": "ragd-input" }, "Your question");
  var input = el("textarea", { id: "ragd-input", rows: "1", maxlength: "4000",
    placeholder: "Ask a question\u2026" });
  var sendBtn = el("button", { type: "submit" }, "Send");
  form.appendChild(inputLabel);
  form.appendChild(input);
  form.appendChild(sendBtn);
  panel.appendChild(head);
  panel.appendChild(log);
  panel.appendChild(tools);
  panel.appendChild(handoffBox);
  panel.appendChild(form);
  var launcher = el("button", { type: "button", "class": "launcher",
    "aria-expanded": "false", "aria-controls": panelId }, "Chat with us");
  wrap.appendChild(panel);
  wrap.appendChild(launcher);
  root.appendChild(wrap);

  function attach() {
    (document.body || document.documentElement).appendChild(host);
  }
  if (document.body) attach(); else document.addEventListener("DOMContentLoaded", attach);

  /* ---- theme ---- */

  function color(v, def) {
    return typeof v === "string" && /^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(v) ? v : def;
  }
  var greeting = "";
  function applyTheme(t) {
    if (!t) return;
    wrap.style.setProperty("--primary", color(t.primary_color, "#2563eb"));
    wrap.style.setProperty("--on-primary", color(t.text_color, "#ffffff"));
    if (typeof t.title === "string" && t.title) {
      title.textContent = t.title;
      launcher.textContent = t.title;
    }
    if (t.position === "bottom-left") {
      wrap.classList.add("left");
      host.style.setProperty("right", "auto", "important");
      host.style.setProperty("left", "0", "important");
    }
    if (typeof t.greeting === "string") greeting = t.greeting;
  }

  /* ---- server ---- */

  function api(method, path, body, stream) {
    var h = { "Content-Type": "application/json" };
    if (session && path !== "/widget/session") h.Authorization = "Bearer " + session.token;
    return fetch(BASE + path, {
      method: method, headers: h, body: body ? JSON.stringify(body) : undefined,
      mode: "cors", credentials: "omit", cache: "no-store"
    }).then(function (r) {
      if (stream && r.ok) return r;
      return r.text().then(function (t) {
        var j = null;
        try { j = t ? JSON.parse(t) : null; } catch (e) { j = null; }
        if (!r.ok) {
          var err = new Error((j && j.detail) || ("HTTP " + r.status));
          err.status = r.status;
          err.code = j && j.code;
          throw err;
        }
        return j;
      });
    });
  }

  function saveSession() {
    storageSet("sessionStorage", STORE + ":session", session ? JSON.stringify(session) : null);
  }

  function startSession() {
    session = null;
    return api("POST", "/widget/session", { key: KEY, visitor_id: visitorId() }).then(function (j) {
      session = { token: j.session_token, expiresAt: Date.parse(j.expires_at),
        conversationId: j.conversation_id, theme: j.theme };
      saveSession();
      applyTheme(j.theme);
      rendered = {};
      while (log.firstChild) log.removeChild(log.firstChild);
      if (greeting) addMessage({ id: "greeting", role: "assistant", body: greeting }, true);
      return session;
    });
  }

  function ensureSession() {
    if (session && session.expiresAt > Date.now() + 5000) return Promise.resolve(session);
    return startSession();
  }

  /* Calls fn once, and once more with a fresh session when the old one was refused. */
  function withSession(fn) {
    return ensureSession().then(fn).catch(function (e) {
      if (e && e.status === 401) return startSession().then(fn);
      throw e;
    });
  }

  function touched() {
    if (session) {
      session.expiresAt = Date.now() + 14 * 60 * 1000;
      saveSession();
    }
  }

  /* ---- messages ---- */

  function label(role) {
    return role === "visitor" ? "You" : role === "agent" ? "Support agent" :
      role === "assistant" ? "Assistant" : "";
  }

  function addSources(node, sources) {
    if (!sources || !sources.length) return;
    var ul = el("ul", { "class": "sources", "aria-label": "Sources" });
    sources.forEach(function (s) { ul.appendChild(el("li", null, s.title || "Document")); });
    node.appendChild(ul);
  }

  function addFeedback(node, id, current) {
    var box = el("div", { "class": "fb", role: "group", "aria-label": "Was this helpful?" });
    var yes = el("button", { type: "button", "aria-pressed": current === "helpful" ? "true" : "false" },
      "Helpful");
    var no = el("button", { type: "button",
      "aria-pressed": current === "not_helpful" ? "true" : "false" }, "Not helpful");
    function send(helpful) {
      withSession(function () {
        return api("POST", "/widget/feedback", { message_id: id, helpful: helpful });
      }).then(function () {
        yes.setAttribute("aria-pressed", helpful ? "true" : "false");
        no.setAttribute("aria-pressed", helpful ? "false" : "true");
      }).catch(function () { /* feedback is best effort */ });
    }
    yes.addEventListener("click", function () { send(true); });
    no.addEventListener("click", function () { send(false); });
    box.appendChild(yes);
    box.appendChild(no);
    node.appendChild(box);
  }

  /* Adds m {id, role, body, sources, feedback}; returns its text node holder. */
  function addMessage(m, local) {
    if (m.id && rendered[m.id]) return null;
    if (m.id) rendered[m.id] = true;
    var node = el("div", { "class": "msg " + (m.role || "system") });
    var who = label(m.role);
    if (who) node.appendChild(el("span", { "class": "who" }, who));
    var text = el("span", { "class": "text" }, m.body || "");
    node.appendChild(text);
    if (m.role === "assistant" && !local) {
      addSources(node, m.sources);
      if (m.id) addFeedback(node, m.id, m.feedback);
    }
    log.appendChild(node);
    log.scrollTop = log.scrollHeight;
    return { node: node, text: text };
  }

  function loadConversation() {
    return api("GET", "/widget/conversation").then(function (j) {
      (j.messages || []).forEach(function (m) { addMessage(m, false); });
      touched();
    });
  }

  function parseEvents(buf, onEvent) {
    var parts = buf.split("\n\n");
    var rest = parts.pop();
    parts.forEach(function (block) {
      block.split("\n").forEach(function (line) {
        if (line.indexOf("data: ") !== 0) return;
        var data = line.slice(6);
        if (data === "[DONE]") return;
        try { onEvent(JSON.parse(data)); } catch (e) { /* a partial or odd line */ }
      });
    });
    return rest;
  }

  function ask(question) {
    busy = true;
    sendBtn.disabled = true;
    addMessage({ role: "visitor", body: question }, true);
    var pending = addMessage({ role: "assistant", body: "\u2026" }, true);
    var got = "";
    return withSession(function () {
      return api("POST", "/widget/message", { message: question, stream: true }, true);
    }).then(function (resp) {
      touched();
      var reader = resp.body.getReader();
      var dec = new TextDecoder();
      var buf = "";
      function onEvent(ev) {
        if (ev.type === "token") {
          got += ev.content;
          pending.text.textContent = got;
          log.scrollTop = log.scrollHeight;
        } else if (ev.type === "done") {
          pending.text.textContent = ev.answer;
          rendered[ev.message_id] = true;
          rendered[ev.visitor_message_id] = true;
          addSources(pending.node, ev.sources);
          addFeedback(pending.node, ev.message_id, null);
        } else if (ev.type === "error") {
          pending.text.textContent = "Sorry, something went wrong. Please try again.";
        }
      }
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) { parseEvents(buf + "\n\n", onEvent); return; }
          buf = parseEvents(buf + dec.decode(r.value, { stream: true }), onEvent);
          return pump();
        });
      }
      return pump();
    }).catch(function (e) {
      pending.text.textContent = e && e.status === 429 ?
        "We are receiving a lot of questions. Please wait a moment and try again." :
        "Sorry, the assistant is unavailable right now.";
    }).then(function () {
      busy = false;
      sendBtn.disabled = false;
    });
  }

  /* ---- opening and closing ---- */

  function poll() {
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = setTimeout(function () {
      if (!panel.classList.contains("open") || !session) return;
      loadConversation().catch(function () { /* next time */ }).then(poll);
    }, 20000);
  }

  function open() {
    panel.classList.add("open");
    launcher.setAttribute("aria-expanded", "true");
    var first = !session;
    var restored = null;
    if (first) {
      try { restored = JSON.parse(storageGet("sessionStorage", STORE + ":session") || "null"); }
      catch (e) { restored = null; }
    }
    var ready;
    if (restored && restored.token && restored.expiresAt > Date.now() + 5000) {
      session = restored;
      applyTheme(session.theme);
      ready = loadConversation().catch(function () { return startSession(); });
    } else {
      ready = ensureSession();
    }
    ready.catch(function (e) {
      addMessage({ role: "system", body: e && e.code === "ORIGIN_NOT_ALLOWED" ?
        "This chat is not enabled for this site." : "The chat is unavailable right now." }, true);
    }).then(poll);
    input.focus();
  }

  function close() {
    panel.classList.remove("open");
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  launcher.addEventListener("click", function () {
    if (panel.classList.contains("open")) close(); else open();
  });
  closeBtn.addEventListener("click", close);
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { e.preventDefault(); close(); }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var q = input.value.trim();
    if (!q || busy) return;
    input.value = "";
    ask(q);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      if (typeof form.requestSubmit === "function") form.requestSubmit();
      else form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });
  humanBtn.addEventListener("click", function () {
    var opening = !handoffBox.classList.contains("open");
    handoffBox.classList.toggle("open", opening);
    humanBtn.setAttribute("aria-expanded", opening ? "true" : "false");
    if (opening) emailIn.focus();
  });
  handoffBox.addEventListener("submit", function (e) {
    e.preventDefault();
    var email = emailIn.value.trim();
    handoffSend.disabled = true;
    withSession(function () {
      return api("POST", "/widget/handoff", email ? { email: email } : {});
    }).then(function () {
      handoffBox.classList.remove("open");
      humanBtn.setAttribute("aria-expanded", "false");
      addMessage({ role: "system", body: email ?
        "Thanks! A person from our team will get back to you at " + email + "." :
        "Thanks! A person from our team will join this conversation." }, true);
      humanBtn.focus();
    }).catch(function () {
      addMessage({ role: "system", body: "Sorry, the request could not be sent." }, true);
    }).then(function () { handoffSend.disabled = false; });
  });
})();
