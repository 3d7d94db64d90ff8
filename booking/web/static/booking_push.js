// "Ricevi un promemoria con una notifica" on a booking's page: the
// partial booking_push (templates/_booking_push.html) holds a hidden box
// with the subscription URL, the manage token and the texts to say, in
// data attributes. This script shows the box only when the browser can
// receive push messages and the server has a key; otherwise the page
// stays as it is and the reminders come by email. Texts are set with
// textContent only.
(function () {
  "use strict";

  var box = document.getElementById("promemoria-notifica");
  var status = document.getElementById("promemoria-notifica-stato");
  var canPush = window.fetch && window.Promise && "serviceWorker" in navigator &&
    "PushManager" in window && "Notification" in window;
  if (!box || !status || !canPush) {
    return;
  }
  var button = box.querySelector("button");
  var url = box.getAttribute("data-push-url");
  var token = box.getAttribute("data-push-token");
  var ticket = box.getAttribute("data-push-ticket");

  function text(name) {
    return box.getAttribute("data-msg-" + name) || "";
  }

  function say(name) {
    status.textContent = text(name);
  }

  // Failure carries the name of the text to show.
  function Failure(name) {
    this.name = name;
  }

  // keyBytes decodes a base64url key into the bytes subscribe wants.
  function keyBytes(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    b64 += "====".slice((b64.length % 4) || 4);
    var raw = window.atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      out[i] = raw.charCodeAt(i);
    }
    return out;
  }

  // madeWith tells whether sub was made with the key: a subscription of
  // an older key must be dropped before the browser takes a new one.
  function madeWith(sub, key) {
    var have = sub.options && sub.options.applicationServerKey;
    if (!have) {
      return false;
    }
    have = new Uint8Array(have);
    if (have.length !== key.length) {
      return false;
    }
    for (var i = 0; i < key.length; i++) {
      if (have[i] !== key[i]) {
        return false;
      }
    }
    return true;
  }

  function ask() {
    return new Promise(function (resolve) {
      // Older Safari answers through the callback, the others through
      // the promise.
      var p = Notification.requestPermission(resolve);
      if (p && p.then) {
        p.then(resolve, function () {
          resolve("default");
        });
      }
    });
  }

  function subscribe(reg, key) {
    return reg.pushManager.getSubscription().then(function (old) {
      if (old && madeWith(old, key)) {
        return old;
      }
      return (old ? old.unsubscribe() : Promise.resolve(true)).then(function () {
        return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
      });
    });
  }

  function register(sub) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "Authorization": "Bearer " + token },
      body: JSON.stringify(sub.toJSON())
    }).then(function (res) {
      if (!res.ok) {
        throw new Failure("failed");
      }
    });
  }

  // remember tells the service worker which page a tap on this
  // booking's notification opens: this one.
  function remember(reg) {
    var worker = reg.active || navigator.serviceWorker.controller;
    if (worker && ticket) {
      worker.postMessage({ type: "remember-ticket", id: ticket, url: location.href });
    }
  }

  function activate(key) {
    button.disabled = true;
    say("working");
    var reg;
    ask().then(function (answer) {
      if (answer === "denied") {
        throw new Failure("denied");
      }
      if (answer !== "granted") {
        throw new Failure("dismissed");
      }
      return navigator.serviceWorker.register("/sw.js").then(function () {
        return navigator.serviceWorker.ready;
      });
    }).then(function (r) {
      reg = r;
      return subscribe(reg, key);
    }).then(register).then(function () {
      remember(reg);
      say("done");
      button.hidden = true;
    }).catch(function (e) {
      say(e instanceof Failure ? e.name : "failed");
      button.disabled = false;
    });
  }

  fetch("/api/v1/push/key", { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (res) {
      return res.ok ? res.json() : null;
    })
    .then(function (k) {
      if (!k || !k.public_key || !button || !url || !token) {
        return;
      }
      var key = keyBytes(k.public_key);
      button.addEventListener("click", function () {
        activate(key);
      });
      box.hidden = false;
      if (Notification.permission === "denied") {
        say("denied");
      }
    })
    .catch(function () {
      // No key: no button, the reminders come by email.
    });
})();
