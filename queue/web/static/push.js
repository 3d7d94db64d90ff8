// "Avvisami con una notifica": Web Push for a ticket, on the ticket page
// and in the waiting room. The pages carry a hidden box (#avvisi) with
// the subscription's URL (and, on the ticket page, the ticket's secret)
// in data attributes, and an empty polite live region (#avvisi-stato).
// This script shows the box only when the browser can receive push
// messages and the server has a key (GET /api/v1/push/key answers);
// without it, or without script, the page simply keeps following the
// ticket by itself. Text is set with textContent only, and comes from
// the page in its language (the JSON element #coda-testi, which the
// template writes): this script holds no text of its own.
(function () {
  "use strict";

  var box = document.getElementById("avvisi");
  var status = document.getElementById("avvisi-stato");
  if (!box || !status || !window.fetch || !window.Promise || !("serviceWorker" in navigator) ||
    !("PushManager" in window) || !("Notification" in window)) {
    return;
  }
  var button = box.querySelector("button");
  var target = box.getAttribute("data-push-url");
  var secret = box.getAttribute("data-push-secret");
  var ticket = box.getAttribute("data-push-ticket");
  var key = null;

  var texts = {};
  try {
    texts = JSON.parse(document.getElementById("coda-testi").textContent) || {};
  } catch (err) {
    texts = {};
  }

  // text returns the page's text of key, or "" when it has none.
  function text(key) {
    return Object.prototype.hasOwnProperty.call(texts, key) ? texts[key] : "";
  }

  var msgDone = text("push.js.done");
  var msgDenied = text("push.js.denied");
  var msgDismissed = text("push.js.dismissed");
  var msgFailed = text("push.js.failed");
  var msgWorking = text("push.js.working");

  function say(msg) {
    status.textContent = msg;
  }

  // polite is an error whose message is ready for the citizen.
  function polite(msg) {
    var e = new Error(msg);
    e.polite = true;
    return e;
  }

  // bytes decodes the base64url VAPID key for applicationServerKey.
  function bytes(b64url) {
    var s = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = window.atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out;
  }

  // sameKey tells whether an existing subscription was made with key:
  // after a key change the browser refuses to subscribe again until the
  // old one is dropped.
  function sameKey(sub, want) {
    var have = sub.options && sub.options.applicationServerKey;
    if (!have) {
      return false;
    }
    have = new Uint8Array(have);
    if (have.length !== want.length) {
      return false;
    }
    for (var i = 0; i < have.length; i++) {
      if (have[i] !== want[i]) {
        return false;
      }
    }
    return true;
  }

  // subscription returns this browser's push subscription for key,
  // reusing one made before (another ticket, a reload).
  function subscription(reg) {
    var want = bytes(key);
    return reg.pushManager.getSubscription().then(function (old) {
      if (old && sameKey(old, want)) {
        return old;
      }
      var drop = old ? old.unsubscribe() : Promise.resolve(true);
      return drop.then(function () {
        return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: want });
      });
    });
  }

  // send gives the subscription to the server.
  function send(sub) {
    var body = sub.toJSON();
    body.lang = (document.documentElement.getAttribute("lang") || "it").slice(0, 2);
    var headers = { "Content-Type": "application/json", "Accept": "application/json" };
    if (secret) {
      headers.Authorization = "Bearer " + secret;
    }
    return fetch(target, {
      method: "POST", credentials: "same-origin", headers: headers, body: JSON.stringify(body)
    }).then(function (res) {
      if (res.ok) {
        return;
      }
      // The API's messages are Italian: the page's text of the error's
      // code says it in the page's language.
      return res.json().then(function (e) {
        throw polite((e && e.error && text("push.js.error." + e.error.code)) || msgFailed);
      }, function () {
        throw polite(msgFailed);
      });
    });
  }

  // remember tells the service worker which page to open when the
  // citizen taps a notification of this ticket.
  function remember(reg) {
    var w = reg.active || navigator.serviceWorker.controller;
    if (w && ticket) {
      w.postMessage({ type: "remember-ticket", id: ticket, url: location.href });
    }
  }

  // permission asks the citizen, with the promise of today's browsers
  // or the callback of older Safari.
  function permission() {
    return new Promise(function (resolve) {
      var p = Notification.requestPermission(resolve);
      if (p && p.then) {
        p.then(resolve, function () {
          resolve("default");
        });
      }
    });
  }

  function activate() {
    button.disabled = true;
    say(msgWorking);
    var reg;
    permission().then(function (p) {
      if (p === "denied") {
        throw polite(msgDenied);
      }
      if (p !== "granted") {
        throw polite(msgDismissed);
      }
      return navigator.serviceWorker.register("/sw.js").then(function () {
        return navigator.serviceWorker.ready;
      });
    }).then(function (r) {
      reg = r;
      return subscription(reg);
    }).then(send).then(function () {
      remember(reg);
      say(msgDone);
      button.hidden = true;
    }).catch(function (e) {
      say(e && e.polite ? e.message : msgFailed);
      button.disabled = false;
    });
  }

  fetch("/api/v1/push/key", { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (res) {
      return res.ok ? res.json() : null;
    })
    .then(function (k) {
      if (!k || !k.public_key || !button || !target) {
        return;
      }
      key = k.public_key;
      button.addEventListener("click", activate);
      box.hidden = false;
      if (Notification.permission === "denied") {
        say(msgDenied);
      }
    })
    .catch(function () {
      // No key, no button: the page works as before.
    });
})();
