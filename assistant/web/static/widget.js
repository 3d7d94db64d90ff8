// The chat widget of the virtual assistant. The layout loads this script
// (defer) on every citizen page; it turns the header's links to
// /assistente into a button that opens a chat panel: a modal dialog that
// takes the focus, keeps it inside while open, closes with Escape or its
// close button and gives the focus back to the link. Without this script
// the link opens /assistente, the same conversation rendered by the
// server. SPORTELLO_ASSISTANT (prepended by the server) holds the
// strings in every language, the API's path and the stylesheet's URL.
(function () {
  'use strict';
  var C = window.SPORTELLO_ASSISTANT;
  if (!C || !window.fetch || !document.querySelector) {
    return;
  }
  var lang = (document.documentElement.lang || 'it').slice(0, 2).toLowerCase();
  var S = C.strings[lang] || C.strings.it;
  var KEY = 'sportello-assistente';
  var MAX_LINES = 30;
  var panel, log, choices, form, input, sendButton, errorBox, waitBox, opener;
  var sending = false;
  var state = load();

  function load() {
    try {
      var s = JSON.parse(window.sessionStorage.getItem(KEY));
      if (s && typeof s === 'object' && Array.isArray(s.lines)) {
        return s;
      }
    } catch (e) { /* Storage off: the conversation lasts the page. */ }
    return { id: '', lines: [], suggestions: [], actions: [] };
  }

  function save() {
    try {
      window.sessionStorage.setItem(KEY, JSON.stringify(state));
    } catch (e) { /* Storage off or full. */ }
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) {
      e.className = cls;
    }
    if (text !== undefined) {
      e.textContent = text;
    }
    return e;
  }

  // appendText writes a reply's text into parent, one paragraph a line,
  // with the web addresses as links. Text is never parsed as HTML.
  function appendText(parent, text) {
    String(text).split('\n').forEach(function (line) {
      if (!line.trim()) {
        return;
      }
      var p = el('p');
      line.split(' ').forEach(function (word, i) {
        if (i > 0) {
          p.appendChild(document.createTextNode(' '));
        }
        var m = /^(https?:\/\/[^\s]+?)([.,;:)»]*)$/.exec(word);
        if (m) {
          var a = el('a', '', m[1]);
          a.href = m[1];
          p.appendChild(a);
          if (m[2]) {
            p.appendChild(document.createTextNode(m[2]));
          }
        } else {
          p.appendChild(document.createTextNode(word));
        }
      });
      parent.appendChild(p);
    });
  }

  function build() {
    var css = el('link');
    css.rel = 'stylesheet';
    css.href = C.style;
    document.head.appendChild(css);

    panel = el('div', 'sv-assistant');
    panel.id = 'sv-assistant';
    panel.hidden = true;
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-modal', 'true');
    panel.setAttribute('aria-labelledby', 'sv-assistant-title');

    var head = el('div', 'sv-assistant-head');
    var title = el('h2', 'sv-assistant-title', S.title);
    title.id = 'sv-assistant-title';
    var restart = el('button', 'sv-assistant-restart', S.restart);
    restart.type = 'button';
    restart.addEventListener('click', function () {
      state = { id: '', lines: [], suggestions: [], actions: [] };
      save();
      render();
      input.focus();
    });
    var close = el('button', 'sv-assistant-close');
    close.type = 'button';
    close.setAttribute('aria-label', S.close);
    close.appendChild(el('span', '', '×')).setAttribute('aria-hidden', 'true');
    close.addEventListener('click', hide);
    head.appendChild(title);
    head.appendChild(restart);
    head.appendChild(close);

    log = el('div', 'sv-assistant-log');
    log.setAttribute('role', 'log');
    log.setAttribute('aria-live', 'polite');
    log.setAttribute('aria-labelledby', 'sv-assistant-title');
    log.tabIndex = 0;

    waitBox = el('p', 'sv-assistant-wait', S.wait);
    waitBox.hidden = true;
    waitBox.setAttribute('aria-hidden', 'true');

    choices = el('div', 'sv-assistant-choices');

    form = el('form', 'sv-assistant-form');
    form.noValidate = true;
    var label = el('label', 'sv-assistant-label', S.label);
    label.htmlFor = 'sv-assistant-input';
    input = el('input', 'form-control');
    input.id = 'sv-assistant-input';
    input.type = 'text';
    input.maxLength = 500;
    input.autocomplete = 'off';
    input.setAttribute('aria-describedby', 'sv-assistant-error');
    errorBox = el('p', 'sv-assistant-error');
    errorBox.id = 'sv-assistant-error';
    errorBox.setAttribute('role', 'alert');
    sendButton = el('button', 'btn btn-primary', S.send);
    sendButton.type = 'submit';
    var row = el('div', 'sv-assistant-row');
    row.appendChild(input);
    row.appendChild(sendButton);
    form.appendChild(label);
    form.appendChild(row);
    form.appendChild(errorBox);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      send(input.value);
    });

    panel.appendChild(head);
    panel.appendChild(log);
    panel.appendChild(waitBox);
    panel.appendChild(choices);
    panel.appendChild(form);
    panel.addEventListener('keydown', onKey);
    document.body.appendChild(panel);
  }

  function focusables() {
    return Array.prototype.filter.call(
      panel.querySelectorAll('a[href], button, input, [tabindex]:not([tabindex="-1"])'),
      function (e) { return !e.disabled && e.offsetParent !== null; });
  }

  function onKey(e) {
    if (e.key === 'Escape' || e.key === 'Esc') {
      e.preventDefault();
      hide();
      return;
    }
    if (e.key !== 'Tab') {
      return;
    }
    // The dialog is modal: Tab cycles inside it.
    var f = focusables();
    if (!f.length) {
      return;
    }
    var first = f[0];
    var last = f[f.length - 1];
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  }

  function show(e) {
    e.preventDefault();
    opener = e.currentTarget;
    if (!panel) {
      build();
      // aria-controls names the panel only once it exists: an ID that
      // names nothing is an error for assistive technologies.
      Array.prototype.forEach.call(document.querySelectorAll('a[aria-haspopup="dialog"][href="' + C.page + '"]'), function (a) {
        a.setAttribute('aria-controls', 'sv-assistant');
      });
    }
    render();
    panel.hidden = false;
    document.documentElement.classList.add('sv-assistant-open');
    opener.setAttribute('aria-expanded', 'true');
    input.focus();
  }

  function hide() {
    panel.hidden = true;
    document.documentElement.classList.remove('sv-assistant-open');
    if (opener) {
      opener.setAttribute('aria-expanded', 'false');
      opener.focus();
    }
  }

  function lineElement(l) {
    var citizen = l.from === 'citizen';
    var d = el('div', 'sv-assistant-msg ' + (citizen ? 'sv-assistant-citizen' : 'sv-assistant-bot'));
    d.appendChild(el('p', 'sv-assistant-who', citizen ? S.you : S.assistant));
    appendText(d, l.text);
    return d;
  }

  function render() {
    log.textContent = '';
    if (!state.lines.length) {
      log.appendChild(lineElement({ from: 'assistant', text: S.hello }));
    }
    state.lines.forEach(function (l) { log.appendChild(lineElement(l)); });
    renderChoices();
    log.scrollTop = log.scrollHeight;
  }

  function addLine(from, text) {
    var l = { from: from, text: text };
    state.lines.push(l);
    if (state.lines.length > MAX_LINES) {
      state.lines = state.lines.slice(state.lines.length - MAX_LINES);
    }
    log.appendChild(lineElement(l));
    log.scrollTop = log.scrollHeight;
  }

  function button(label, message) {
    var b = el('button', 'btn btn-outline-primary btn-sm', label);
    b.type = 'button';
    b.addEventListener('click', function () { send(message); });
    return b;
  }

  function renderChoices() {
    choices.textContent = '';
    (state.suggestions || []).forEach(function (s) {
      choices.appendChild(button(s.name, s.name));
    });
    (state.actions || []).forEach(function (a) {
      if (a.message) {
        choices.appendChild(button(a.label, a.message));
      } else if (a.url) {
        var link = el('a', 'btn btn-link btn-sm', a.label);
        link.href = a.url;
        choices.appendChild(link);
      }
    });
  }

  function setBusy(busy) {
    sending = busy;
    sendButton.disabled = busy;
    waitBox.hidden = !busy;
    log.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  function send(text) {
    text = String(text || '').trim();
    if (sending) {
      return;
    }
    errorBox.textContent = '';
    input.removeAttribute('aria-invalid');
    if (!text) {
      input.focus();
      return;
    }
    setBusy(true);
    fetch(C.api, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
      body: JSON.stringify({ message: text, conversation_id: state.id || '', lang: lang })
    }).then(function (r) {
      return r.json().then(function (b) { return { ok: r.ok, body: b }; });
    }).then(function (res) {
      setBusy(false);
      var b = res.body || {};
      if (!res.ok) {
        var err = b.error || {};
        errorBox.textContent = (err.fields && err.fields.message) || err.message || S.error;
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
      input.value = '';
      addLine('citizen', text);
      addLine('assistant', b.reply);
      state.id = b.conversation_id;
      state.suggestions = b.suggestions || [];
      state.actions = b.actions || [];
      save();
      renderChoices();
      input.focus();
    }).catch(function () {
      setBusy(false);
      errorBox.textContent = S.error;
      input.focus();
    });
  }

  function init() {
    if (window.location.pathname === C.page) {
      return; // The page is the conversation already.
    }
    var links = document.querySelectorAll('a[href="' + C.page + '"]');
    Array.prototype.forEach.call(links, function (a) {
      a.setAttribute('aria-haspopup', 'dialog');
      a.setAttribute('aria-expanded', 'false');
      a.addEventListener('click', show);
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
