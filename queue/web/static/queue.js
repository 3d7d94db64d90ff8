// Live updates of the queue's citizen pages (ticket page, waiting room
// and board), and the proof of work of the "prendi il numero" form.
// The pages work without this script (they reload themselves; an office
// that asks for a proof of work says that it needs the script); with it,
// they follow the Server-Sent Events stream named in a data attribute
// and rewrite a polite live region. Text is set with textContent only,
// and every text comes from the page, in its language: the template
// writes them into a JSON element (#coda-testi), so this script holds no
// text of its own.
//
// The binary serves it after the shared proof-of-work solver
// (internal/powjs/pow.js), and the whole file also runs as the Web
// Worker that solves the proof.
(function () {
  "use strict";

  // The worker runs the solver (internal/powjs, served in front of this
  // script) and nothing of the page.
  if (typeof document === "undefined") return;

  var scriptURL = document.currentScript && document.currentScript.src;

  var texts = {};
  try {
    texts = JSON.parse(document.getElementById("coda-testi").textContent) || {};
  } catch (err) {
    texts = {};
  }

  // T returns the page's text of key with its %s and %d filled by the
  // further arguments in order (the catalog's texts are Go formats), or
  // the key itself when the page has no such text.
  function T(key) {
    var args = Array.prototype.slice.call(arguments, 1), i = 0;
    var s = Object.prototype.hasOwnProperty.call(texts, key) ? texts[key] : key;
    return s.replace(/%[sd]/g, function () { return i < args.length ? String(args[i++]) : ""; });
  }

  // solve finds the counter of a challenge and calls done with it, with
  // the shared solver (internal/powjs): in a worker running this very
  // file, or on the page.
  function solve(challenge, bits, done) {
    sportelloPow.solve(scriptURL, challenge, bits, done);
  }

  var proofForm = document.querySelector("form[data-coda-pow]");
  if (proofForm) {
    var bits = Number(proofForm.getAttribute("data-coda-pow"));
    var challenge = proofForm.elements["verifica_sfida"];
    var counter = proofForm.elements["verifica_contatore"];
    var status = document.getElementById("verifica-stato");
    var ready = false, sending = false, waiting = [];
    var expired = function () {
      // A challenge that expires within a minute would be refused by
      // the time the post arrives: get a new one.
      return Date.now() / 1000 > Number(challenge.getAttribute("data-coda-expires")) - 60;
    };
    var run = function () {
      var ch = challenge.value;
      ready = false;
      counter.value = "";
      solve(ch, bits, function (c) {
        if (challenge.value !== ch) return;
        counter.value = String(c);
        ready = true;
        var ws = waiting;
        waiting = [];
        ws.forEach(function (f) { f(); });
      });
    };
    var renew = function (then) {
      var send = function () { proofForm.submit(); };
      fetch(proofForm.getAttribute("data-coda-challenge"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
        .then(function (c) {
          challenge.value = c.challenge;
          challenge.setAttribute("data-coda-expires", String(Math.floor(Date.parse(c.expires) / 1000)));
          bits = c.bits;
          waiting.push(then);
          run();
        })
        // Without a new challenge, post anyway: the answer explains.
        .catch(send);
    };
    run();
    proofForm.addEventListener("submit", function (e) {
      if (ready && !expired()) return;
      e.preventDefault();
      if (sending) return;
      sending = true;
      proofForm.setAttribute("aria-busy", "true");
      status.textContent = T("proof.working");
      var send = function () {
        status.textContent = T("proof.done");
        proofForm.submit();
      };
      if (expired()) renew(send);
      else waiting.push(send);
    });
  }

  // place names a desk as the pages do (place in messages.go): "sportello
  // 4" for a bare number, in the page's language, the label itself
  // otherwise.
  function place(desk) {
    return /^[0-9]+$/.test(desk || "") ? T("desk.number", desk) : desk;
  }

  var states = { waiting: 1, called: 1, serving: 1, served: 1, no_show: 1, cancelled: 1, parked: 1 };

  // label says where a ticket is (stateLabel in citizen.go, same keys).
  function label(t) {
    return states[t.state] ? T("state." + t.state, place(t.desk)) : t.state;
  }

  // roomLabel is label for the waiting room of a remote appointment
  // (waitingLabel in waiting.go).
  function roomLabel(t) {
    return states[t.state] ? T("room." + t.state) : t.state;
  }

  function wait(t) {
    if (t.state !== "waiting") return "";
    if (t.position === 0) return T("wait.next");
    if (t.position === 1) return T("wait.one", t.estimated_wait_minutes);
    return T("wait.many", t.position, t.estimated_wait_minutes);
  }

  function follow(url, name, onData, onEnd) {
    var es = new EventSource(url);
    es.addEventListener(name, function (e) {
      var v;
      try { v = JSON.parse(e.data); } catch (err) { return; }
      if (onData(v) === false) es.close();
    });
    es.onerror = function () {
      // The browser reconnects by itself; a closed stream (the ticket
      // ended, or a 404) is final.
      if (es.readyState === EventSource.CLOSED && onEnd) onEnd();
    };
  }

  var ticket = document.querySelector("[data-coda-ticket]");
  if (ticket) {
    var text = document.getElementById("stato-testo");
    var more = document.getElementById("stato-attesa");
    var say = ticket.hasAttribute("data-coda-room") ? roomLabel : label;
    follow(ticket.getAttribute("data-coda-ticket"), "ticket", function (t) {
      var a = say(t), b = wait(t);
      if (text.textContent !== a) text.textContent = a;
      if (more.textContent !== b) more.textContent = b;
      var active = t.state === "waiting" || t.state === "called" || t.state === "serving" || t.state === "parked";
      if (!active || t.state === "serving" || t.state === "parked") {
        var leave = document.getElementById("lascia");
        if (leave) leave.hidden = true;
      }
      return active;
    });
  }

  // The operator's desk page reloads itself as soon as its office's line
  // or calls change: the stream's first event is the line as the page
  // shows it, every later one a change. The page marks the element only
  // when it reloads itself anyway (no form open, no error shown).
  // Once the operator sends a form (call, serve, transfer…), the page
  // no longer reloads itself: the form's own answer is the next page, and
  // a reload would abort its navigation (the change the form made moves
  // the line, so its event arrives while the answer is on its way).
  var desk = document.querySelector("[data-coda-desk]");
  if (desk) {
    var seen = null, sending = false;
    document.addEventListener("submit", function () { sending = true; });
    follow(desk.getAttribute("data-coda-desk"), "line", function (v) {
      if (sending) return false;
      if (seen === null) { seen = v.line; return true; }
      if (v.line !== seen) {
        window.location.replace(desk.getAttribute("data-coda-desk-reload"));
        return false;
      }
      return true;
    });
  }

  // The hall's board rings a chime and speaks each new call (and each
  // recall) through the browser's own Web Audio and speech synthesis, as
  // configured by the screen's address (suono=no, voce=no). Browsers let
  // a page make sound only after a gesture on it, so a button asks for
  // one, unless the screen's browser was started to allow it.
  function boardAudio(board) {
    var chimeOn = board.getAttribute("data-coda-chime") === "1";
    var voiceOn = board.getAttribute("data-coda-voice") === "1" && "speechSynthesis" in window;
    // The voice reads the phrase in the page's language (it-IT, en-GB,
    // de-DE): a voice of another language would mangle it.
    var voiceLang = board.getAttribute("data-coda-voice-lang") || "it-IT";
    var box = document.querySelector("[data-coda-audio]");
    var audio = { ready: false, ctx: null };
    if (!box || (!chimeOn && !voiceOn)) return function () {};
    var button = document.getElementById("audio-attiva");
    var status = document.getElementById("audio-stato");
    var AC = window.AudioContext || window.webkitAudioContext;
    var enable = function () {
      if (chimeOn && AC && !audio.ctx) {
        try { audio.ctx = new AC(); } catch (e) { audio.ctx = null; }
      }
      if (audio.ctx && audio.ctx.state === "suspended") audio.ctx.resume();
      audio.ready = true;
      button.setAttribute("aria-pressed", "true");
      button.disabled = true;
      status.textContent = T("board.js.audio_on");
    };
    button.addEventListener("click", enable);
    box.hidden = false;
    // A browser started to allow sound without a gesture runs the
    // context at once: no button needed.
    if (chimeOn && AC) {
      try {
        audio.ctx = new AC();
        if (audio.ctx.state === "running") enable();
      } catch (e) { audio.ctx = null; }
    } else if (navigator.userActivation && navigator.userActivation.hasBeenActive) {
      enable();
    }
    var chime = function () {
      var c = audio.ctx;
      if (!c) return;
      var t = c.currentTime;
      [880, 660].forEach(function (f, i) {
        var o = c.createOscillator(), g = c.createGain(), at = t + i * 0.35;
        o.type = "sine";
        o.frequency.value = f;
        g.gain.setValueAtTime(0.0001, at);
        g.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
        g.gain.exponentialRampToValueAtTime(0.0001, at + 0.3);
        o.connect(g);
        g.connect(c.destination);
        o.start(at);
        o.stop(at + 0.32);
      });
    };
    // voiceFor picks an installed voice of the language, the exact
    // region first ("de-DE"), else any of the language ("de-AT"); with
    // none the browser chooses by the utterance's lang.
    var voiceFor = function (tag) {
      var vs = window.speechSynthesis.getVoices ? window.speechSynthesis.getVoices() : [], i, l;
      var want = tag.toLowerCase(), base = want.split("-")[0], near = null;
      for (i = 0; i < vs.length; i++) {
        l = (vs[i].lang || "").replace("_", "-").toLowerCase();
        if (l === want) return vs[i];
        if (!near && l.split("-")[0] === base) near = vs[i];
      }
      return near;
    };
    var speak = function (call) {
      // "A012" is read "A 12": the letter, then the number.
      var n = call.number.replace(/^([A-Z])0*([0-9]+)$/, "$1 $2");
      var u = new SpeechSynthesisUtterance(T("board.js.speak", n, place(call.desk)));
      u.lang = voiceLang;
      var v = voiceFor(voiceLang);
      if (v) u.voice = v;
      window.speechSynthesis.speak(u);
    };
    return function (call) {
      if (!audio.ready) return;
      if (chimeOn) chime();
      if (voiceOn) setTimeout(function () { speak(call); }, chimeOn ? 800 : 0);
    };
  }

  var board = document.querySelector("[data-coda-board]");
  if (board) {
    var announce = boardAudio(board);
    var lastCall = null;
    follow(board.getAttribute("data-coda-board"), "calls", function (calls) {
      // The first event is the list as it was when the page opened:
      // only the calls after it are announced.
      var top = calls.length ? calls[0].number + "|" + calls[0].called : "";
      if (lastCall !== null && top && top !== lastCall) announce(calls[0]);
      lastCall = top;
      var box = document.createDocumentFragment();
      if (!calls.length) {
        var p = document.createElement("p");
        p.className = "h3 text-white";
        p.textContent = T("board.js.none");
        box.appendChild(p);
      } else {
        var ol = document.createElement("ol");
        ol.className = "list-unstyled mb-0";
        calls.forEach(function (c, i) {
          var li = document.createElement("li");
          li.className = "d-flex justify-content-between border-bottom border-secondary py-2 " +
            (i === 0 ? "display-2 fw-bold text-warning" : "display-6");
          var n = document.createElement("span");
          n.textContent = c.number;
          var d = document.createElement("span");
          d.textContent = place(c.desk);
          li.appendChild(n);
          li.appendChild(d);
          ol.appendChild(li);
        });
        box.appendChild(ol);
      }
      board.replaceChildren(box);
      return true;
    });
  }

  // The kiosk's timed screens (coda_chiosco.html) go back to the start by
  // themselves, so that the next citizen finds it. WCAG 2.2.1 asks that
  // whoever is still reading be warned and may stay: after the screen's
  // time a polite notice with a focused "stay" button appears, and only
  // 20 seconds later does the page leave; any touch or key before that
  // starts the time again. Without this script a meta refresh inside
  // <noscript> does the return.
  var kiosk = document.querySelector("[data-kiosk-return]");
  if (kiosk) {
    var home = kiosk.getAttribute("data-kiosk-return");
    var after = (parseInt(kiosk.getAttribute("data-kiosk-after"), 10) || 60) * 1000;
    var stay = kiosk.querySelector("button");
    var timer = null;
    var arm = function () {
      kiosk.hidden = true;
      clearTimeout(timer);
      timer = setTimeout(warn, after);
    };
    var warn = function () {
      kiosk.hidden = false;
      if (stay) stay.focus();
      timer = setTimeout(function () { window.location.assign(home); }, 20000);
    };
    if (stay) stay.addEventListener("click", arm);
    ["pointerdown", "keydown"].forEach(function (type) {
      document.addEventListener(type, function () { if (kiosk.hidden) arm(); }, { passive: true });
    });
    arm();
  }
})();
