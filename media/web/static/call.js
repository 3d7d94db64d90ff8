// call.js: the call page of Sportello (media/web). It speaks the
// signalling protocol of media/sfu over one WebSocket, with two peer
// connections: "pub" (this browser offers, sends its microphone, camera
// and screen) and "sub" (the SFU offers, sends the others' media). The
// page's HTML holds every element; this script only shows, hides and
// fills them. It is loaded with defer under a CSP without inline script:
// the page hands it data through data-* attributes on #chiamata, and
// every text it shows, in the page's language, through the JSON element
// #call-testi (see T): the script holds no text of its own.
(function () {
  "use strict";

  var root = document.getElementById("chiamata");
  if (!root) {
    return;
  }

  var cfg = {
    socket: root.dataset.socket,
    role: root.dataset.role,
    upload: root.dataset.upload || "",
    csrf: root.dataset.csrf || "",
    relay: root.dataset.relay === "1",
    back: root.dataset.back || "/"
  };
  var operator = cfg.role === "operator";
  var smallScreen = window.matchMedia && window.matchMedia("(max-width: 576px)").matches;
  // Camera bitrate: enough for a clear face at 960x540; phones send
  // less, so that an uplink over a weak mobile network keeps up.
  var cameraBitrate = smallScreen ? 500000 : 1200000;
  var screenBitrate = 1500000;
  // The camera goes out in three simulcast layers (full, half and
  // quarter resolution, same frame rate), and the SFU forwards to each
  // receiver the one that suits it: a phone, or a page on a slow
  // connection, asks for a lower one. Together they stay under the
  // SFU's cap on a video section (b=AS, 1.5 Mb/s). Chrome sends as many
  // layers as the resolution allows: three from 960x540 up (hence the
  // desktop camera's size), two below (a phone's 480x360), and the SFU
  // falls back to a layer that flows.
  var cameraLayers = smallScreen ? [
    { rid: "h", maxBitrate: 450000, maxFramerate: 30 },
    { rid: "m", scaleResolutionDownBy: 2, maxBitrate: 170000, maxFramerate: 30 },
    { rid: "l", scaleResolutionDownBy: 4, maxBitrate: 70000, maxFramerate: 30 }
  ] : [
    { rid: "h", maxBitrate: 900000, maxFramerate: 30 },
    { rid: "m", scaleResolutionDownBy: 2, maxBitrate: 300000, maxFramerate: 30 },
    { rid: "l", scaleResolutionDownBy: 4, maxBitrate: 100000, maxFramerate: 30 }
  ];
  // The layer this page asks for of the others' cameras: a phone's
  // tiles are small, and a slow or metered connection takes the least.
  var conn = navigator.connection || {};
  var wantLayer = conn.saveData || /(^|-)(2g|3g)$/.test(conn.effectiveType || "") ? "l" : smallScreen ? "m" : "h";

  function $(id) { return document.getElementById(id); }

  // ---- texts -------------------------------------------------------------

  var lang = document.documentElement.getAttribute("lang") || "it";
  var texts = {};
  try {
    texts = JSON.parse($("call-testi").textContent) || {};
  } catch (err) {
    texts = {};
  }

  // T returns the page's text of key ("js." is implied) with its %s and
  // %d filled by the further arguments in order (the catalog's texts are
  // Go formats), or the key itself when the page has no such text.
  function T(key) {
    var args = Array.prototype.slice.call(arguments, 1), i = 0;
    var s = texts["js." + key];
    if (typeof s !== "string") {
      return key;
    }
    return s.replace(/%[sd]/g, function () { return i < args.length ? String(args[i++]) : ""; });
  }

  // ---- state -----------------------------------------------------------

  var S = {
    phase: "check", // check → connecting → lobby → call → ended | refused
    id: "",
    iceServers: [],
    participants: {}, // id → {id,name,role,audio,video,screen,lobby}
    tracks: {}, // stream_id → {participant, kind, source}
    local: null, // MediaStream of microphone and camera
    audio: true, // microphone on (track.enabled)
    video: true, // camera on (track.enabled)
    audioOnly: false, // camera stopped altogether
    screen: null, // MediaStream of the shared screen
    screenTx: null, // the pub transceiver that sends the screen
    screenStreamID: "",
    ws: null,
    wsTries: 0,
    leaving: false,
    pub: null,
    sub: null,
    pubBusy: false, // an offer waits for its answer
    pubAgain: false, // negotiate again when the answer comes
    pubRestart: false, // the next offer restarts ICE
    subQueue: [], // candidates for sub before its remote description
    pubQueue: [],
    devices: null, // the promise of openDevices
    pingTimer: 0,
    meterTimer: 0,
    audioCtx: null,
    chatUnread: 0,
    docUnread: 0
  };

  // ---- status and phases -----------------------------------------------

  var statusEl = $("call-status");
  function say(text) {
    // Clearing first makes screen readers announce a repeated message.
    statusEl.textContent = "";
    window.setTimeout(function () { statusEl.textContent = text; }, 50);
  }

  var phases = { check: "fase-verifica", connecting: "fase-verifica", lobby: "fase-attesa", call: "fase-chiamata", ended: "fase-fine", refused: "fase-fine" };
  function setPhase(p) {
    var before = S.phase;
    S.phase = p;
    root.dataset.phase = p;
    Object.keys(phases).forEach(function (k) {
      $(phases[k]).hidden = phases[k] !== phases[p];
    });
    if (phases[before] !== phases[p]) {
      // The new part of the page gets the focus, so keyboard and screen
      // reader users start from its heading.
      var h = $(phases[p]).querySelector("h2");
      if (h) {
        h.focus();
      }
    }
  }

  // ---- device check ----------------------------------------------------

  var preview = $("anteprima");
  var meter = $("livello-microfono");
  var camSelect = $("scelta-videocamera");
  var micSelect = $("scelta-microfono");
  var checkError = $("verifica-errore");

  function showCheckError(text) {
    checkError.textContent = text;
    checkError.hidden = !text;
  }

  // mediaErrorText says why a device could not be used; what is the key
  // of the device ("device.camera", "device.mic", "device.both").
  function mediaErrorText(err, what) {
    var name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      return T("media.denied", T(what));
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      return T("media.missing", T(what));
    }
    if (name === "NotReadableError" || name === "AbortError") {
      return T("media.busy", T(what));
    }
    return T("media.failed", T(what));
  }

  function cameraConstraints() {
    var c = smallScreen ? { width: { ideal: 480 }, height: { ideal: 360 }, frameRate: { ideal: 24, max: 30 } }
      : { width: { ideal: 960 }, height: { ideal: 540 }, frameRate: { ideal: 30, max: 30 } };
    if (camSelect.value) {
      c.deviceId = { exact: camSelect.value };
    }
    return c;
  }
  function micConstraints() {
    var c = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    if (micSelect.value) {
      c.deviceId = { exact: micSelect.value };
    }
    return c;
  }

  function hasWebRTC() {
    return typeof window.RTCPeerConnection === "function";
  }

  function stopStream(s) {
    if (s) {
      s.getTracks().forEach(function (t) { t.stop(); });
    }
  }

  // openDevices asks for microphone and camera; when both fail it tries
  // each alone, so a laptop without camera still joins with its voice.
  function openDevices() {
    // Without RTCPeerConnection (WebKitGTK as Debian builds it, or a
    // browser whose user switched WebRTC off) the camera would open for
    // nothing: say so at once, before the citizen waits to be admitted.
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !hasWebRTC()) {
      showCheckError(T("media.unsupported"));
      return Promise.resolve(null);
    }
    stopStream(S.local);
    S.local = null;
    return navigator.mediaDevices.getUserMedia({ audio: micConstraints(), video: cameraConstraints() }).then(function (s) {
      showCheckError("");
      return s;
    }, function (err) {
      return navigator.mediaDevices.getUserMedia({ audio: micConstraints() }).then(function (s) {
        showCheckError(mediaErrorText(err, "device.camera"));
        return s;
      }, function () {
        return navigator.mediaDevices.getUserMedia({ video: cameraConstraints() }).then(function (s) {
          showCheckError(mediaErrorText(err, "device.mic"));
          return s;
        }, function () {
          showCheckError(mediaErrorText(err, "device.both"));
          return null;
        });
      });
    }).then(function (s) {
      S.local = s;
      preview.srcObject = s;
      startMeter(s);
      listDevices();
      return s;
    });
  }

  function listDevices() {
    if (!navigator.mediaDevices.enumerateDevices) {
      return;
    }
    navigator.mediaDevices.enumerateDevices().then(function (devs) {
      fill(camSelect, devs.filter(function (d) { return d.kind === "videoinput"; }), T("camera.n"), currentDevice("video"));
      fill(micSelect, devs.filter(function (d) { return d.kind === "audioinput"; }), T("mic.n"), currentDevice("audio"));
    });
  }
  function currentDevice(kind) {
    var t = S.local && S.local.getTracks().filter(function (x) { return x.kind === kind; })[0];
    var s = t && t.getSettings ? t.getSettings() : {};
    return s.deviceId || "";
  }
  function fill(sel, devs, label, current) {
    if (devs.length === 0) {
      return;
    }
    sel.textContent = "";
    devs.forEach(function (d, i) {
      var o = document.createElement("option");
      o.value = d.deviceId;
      o.textContent = d.label || label.replace("%d", String(i + 1));
      o.selected = d.deviceId === current;
      sel.appendChild(o);
    });
  }

  // startMeter shows the microphone's level in the <meter>, ten times a
  // second: enough to see it move, cheap on a phone.
  function startMeter(s) {
    window.clearInterval(S.meterTimer);
    if (!s || s.getAudioTracks().length === 0 || !window.AudioContext) {
      return;
    }
    var ctx = audioContext();
    var src = ctx.createMediaStreamSource(s);
    var an = ctx.createAnalyser();
    an.fftSize = 512;
    src.connect(an);
    var buf = new Float32Array(an.fftSize);
    S.meterTimer = window.setInterval(function () {
      an.getFloatTimeDomainData(buf);
      var sum = 0;
      for (var i = 0; i < buf.length; i++) {
        sum += buf[i] * buf[i];
      }
      var level = Math.min(100, Math.round(Math.sqrt(sum / buf.length) * 300));
      meter.value = level;
      meter.textContent = level;
    }, 100);
  }

  function audioContext() {
    if (!S.audioCtx) {
      S.audioCtx = new window.AudioContext();
    }
    if (S.audioCtx.state === "suspended") {
      S.audioCtx.resume();
    }
    return S.audioCtx;
  }

  // A browser keeps an AudioContext made before the first click or key
  // press suspended (autoplay policy): the meter moves from the person's
  // first interaction on.
  function wake() {
    if (S.audioCtx && S.audioCtx.state === "suspended") {
      S.audioCtx.resume();
    }
  }
  document.addEventListener("pointerdown", wake, { once: true, capture: true });
  document.addEventListener("keydown", wake, { once: true, capture: true });

  function reopen() { S.devices = openDevices(); }
  camSelect.addEventListener("change", reopen);
  micSelect.addEventListener("change", reopen);

  $("entra").addEventListener("click", function () { join(false); });
  $("entra-audio").addEventListener("click", function () { join(true); });

  function join(audioOnly) {
    audioContext(); // a click: the moment a browser lets sound start
    $("entra").disabled = true;
    $("entra-audio").disabled = true;
    // The devices may still be opening (a quick click, a slow prompt).
    S.devices.then(function () { joinWith(audioOnly); });
  }

  function joinWith(audioOnly) {
    window.clearInterval(S.meterTimer);
    if (audioOnly && S.local) {
      S.local.getVideoTracks().forEach(function (t) { t.stop(); S.local.removeTrack(t); });
    }
    S.audioOnly = audioOnly || !S.local || S.local.getVideoTracks().length === 0;
    S.video = !S.audioOnly;
    S.audio = !!S.local && S.local.getAudioTracks().length > 0;
    setPhase("connecting");
    say(T("connecting"));
    connect();
  }

  // ---- signalling socket -----------------------------------------------

  function socketURL() {
    var u = new URL(cfg.socket, window.location.href);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    return u.toString();
  }

  function send(msg) {
    if (S.ws && S.ws.readyState === 1) {
      S.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  function connect() {
    var ws = new WebSocket(socketURL());
    S.ws = ws;
    ws.onopen = function () {
      S.wsTries = 0;
      window.clearInterval(S.pingTimer);
      // Keeps proxies from closing a quiet socket.
      S.pingTimer = window.setInterval(function () { send({ type: "ping" }); }, 20000);
    };
    ws.onmessage = function (ev) {
      var msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      if (ws === S.ws) {
        handle(msg);
      }
    };
    ws.onclose = function (ev) {
      if (ws !== S.ws) {
        return;
      }
      window.clearInterval(S.pingTimer);
      S.ws = null;
      if (S.leaving || S.phase === "ended" || S.phase === "refused") {
        return;
      }
      if (ev.reason === "replaced") {
        // The same person opened the call again elsewhere (another tab,
        // their phone): reconnecting would take it back, and so on.
        finish("ended", endedText("replaced"));
        return;
      }
      // Back off 0.5, 1, 2, 4, 8, 10, 10… seconds, with jitter, as the
      // same participant: the SFU replaces the old session with the new.
      var delay = Math.min(10000, 500 * Math.pow(2, S.wsTries)) * (0.75 + Math.random() / 2);
      S.wsTries++;
      say(T("reconnecting"));
      window.setTimeout(function () {
        if (!S.leaving && S.phase !== "ended" && S.phase !== "refused") {
          connect();
        }
      }, delay);
    };
  }

  function handle(msg) {
    switch (msg.type) {
    case "welcome":
      S.id = msg.id;
      S.iceServers = msg.ice_servers || [];
      S.participants = {};
      clearLobbyList();
      (msg.participants || []).forEach(updateParticipant);
      if (msg.lobby) {
        enterLobby();
      } else {
        startCall();
      }
      break;
    case "lobby":
      enterLobby();
      break;
    case "admitted":
      startCall();
      break;
    case "refused":
      finish("refused", T("refused"));
      break;
    case "ended":
      finish("ended", endedText(msg.reason));
      break;
    case "answer":
      if (msg.pc === "pub" && S.pub) {
        onPubAnswer(msg.sdp);
      }
      break;
    case "offer":
      if (msg.pc === "sub") {
        onSubOffer(msg.sdp);
      }
      break;
    case "candidate":
      onCandidate(msg.pc, msg.candidate);
      break;
    case "participant":
      onParticipant(msg.event, msg.participant);
      break;
    case "tracks":
      // The full list of what sub carries, sent before each sub offer:
      // a stream no longer listed has left the call.
      S.tracks = {};
      (msg.tracks || []).forEach(function (t) { S.tracks[t.stream_id] = t; });
      Object.keys(remote).forEach(function (k) {
        if (!S.tracks[k]) {
          drop(remote[k]);
        }
      });
      placeAll();
      break;
    case "chat":
      onChat(msg);
      break;
    case "document":
      onDocument(msg);
      break;
    case "error":
      say(errorText(msg.code, msg.message));
      break;
    }
  }

  function endedText(reason) {
    // "revoked": the operator revoked this guest's invite (media/sfu Kick).
    if (reason === "revoked") {
      return T("ended.revoked");
    }
    return reason === "replaced" ? T("ended.replaced") : T("ended.operator");
  }

  function errorText(code) {
    switch (code) {
    case "room_full":
    case "lobby_full":
    case "forbidden":
      return T("error." + code);
    }
    return T("error.other");
  }

  function enterLobby() {
    setPhase("lobby");
    say(T("lobby"));
  }

  function finish(phase, text) {
    S.leaving = true;
    closePeers();
    stopStream(S.local);
    stopStream(S.screen);
    window.clearInterval(S.pingTimer);
    if (S.ws) {
      var ws = S.ws;
      S.ws = null;
      ws.close();
    }
    $("fine-titolo").textContent = phase === "refused" ? T("end.refused") : T("end.ended");
    $("fine-testo").textContent = text;
    setPhase(phase);
    say(text);
  }

  Array.prototype.forEach.call(root.querySelectorAll("[data-action=leave]"), function (b) {
    b.addEventListener("click", function () {
      send({ type: "leave" });
      finish("ended", T("left"));
    });
  });

  // ---- peer connections ------------------------------------------------

  function rtcConfig() {
    return {
      iceServers: S.iceServers,
      iceTransportPolicy: cfg.relay ? "relay" : "all",
      bundlePolicy: "max-bundle",
      rtcpMuxPolicy: "require"
    };
  }

  function closePeers() {
    [S.pub, S.sub].forEach(function (pc) {
      if (pc) {
        pc.close();
      }
    });
    S.pub = null;
    S.sub = null;
    S.screenTx = null;
    S.pubBusy = false;
    S.pubAgain = false;
    S.pubRestart = false;
    S.subQueue = [];
    S.pubQueue = [];
    remote = {};
    var grid = $("partecipanti");
    Array.prototype.forEach.call(grid.querySelectorAll(".sv-remote"), function (el) { el.remove(); });
    $("audio-remoti").textContent = "";
  }

  // startCall (re)creates both peer connections: on admission, and after
  // a reconnected socket (the SFU starts a new session then, and offers
  // the others' media again on the new sub connection).
  function startCall() {
    closePeers();
    setPhase("call");
    say(T("in_call"));
    // The SFU forgets a receiver's preferences with its socket: say
    // again that this page takes no video (audio only, e.g. on a phone).
    send({ type: "prefs", video: !S.audioOnly, layer: wantLayer });
    $("propria").srcObject = S.local;
    showSelf();
    if (!hasWebRTC()) {
      // The room, its participants and the chat still work over the
      // socket: the chat is the text alternative to voice.
      sendState();
      say(T("media.unsupported"));
      return;
    }

    var pub = new RTCPeerConnection(rtcConfig());
    S.pub = pub;
    pub.onicecandidate = function (ev) {
      if (ev.candidate && pub === S.pub) {
        send({ type: "candidate", pc: "pub", candidate: ev.candidate.toJSON() });
      }
    };
    pub.onconnectionstatechange = function () {
      if (pub === S.pub && pub.connectionState === "failed") {
        restartIce();
      }
    };
    pub.onnegotiationneeded = function () {
      if (pub === S.pub) {
        negotiate();
      }
    };
    var tracks = S.local ? S.local.getTracks() : [];
    tracks.forEach(function (t) {
      addLocalTrack(pub, t);
    });
    if (S.screen) {
      addScreen(pub, S.screen.getVideoTracks()[0]);
    }

    var sub = new RTCPeerConnection(rtcConfig());
    S.sub = sub;
    sub.onicecandidate = function (ev) {
      if (ev.candidate && sub === S.sub) {
        send({ type: "candidate", pc: "sub", candidate: ev.candidate.toJSON() });
      }
    };
    sub.onconnectionstatechange = function () {
      // The browser cannot restart sub (the SFU offers it); a restart of
      // pub makes the SFU restart sub too.
      if (sub === S.sub && sub.connectionState === "failed") {
        restartIce();
      }
    };
    sub.ontrack = function (ev) {
      if (sub === S.sub) {
        onRemoteTrack(ev);
      }
    };
    sendState();
    if (tracks.length === 0) {
      say(T("in_call.no_media"));
    }
  }

  function addLocalTrack(pc, t) {
    var init = { direction: "sendonly", streams: [S.local] };
    if (t.kind === "video") {
      // Keep the frame rate and lower the resolution when the network is
      // short: a face that moves smoothly reads better than a sharp one
      // that stutters.
      t.contentHint = "motion";
      init.sendEncodings = cameraLayers.map(function (e) { return Object.assign({}, e); });
    }
    var tx;
    try {
      tx = pc.addTransceiver(t, init);
    } catch (err) {
      // A browser without simulcast: one encoding, capped.
      init.sendEncodings = [{ maxBitrate: cameraBitrate, maxFramerate: 30 }];
      tx = pc.addTransceiver(t, init);
    }
    if (t.kind === "video") {
      tune(tx.sender, "maintain-framerate", cameraBitrate);
    }
    return tx;
  }

  // tune sets how the encoder degrades, and the bitrate of a single
  // encoding (simulcast layers keep their own).
  function tune(sender, pref, bitrate) {
    if (!sender.getParameters || !sender.setParameters) {
      return;
    }
    var p = sender.getParameters();
    if (!p.encodings || p.encodings.length === 0) {
      p.encodings = [{}];
    }
    if (p.encodings.length === 1) {
      p.encodings[0].maxBitrate = bitrate;
    }
    p.degradationPreference = pref;
    sender.setParameters(p).catch(function () {
      // Browsers without degradationPreference refuse the whole call:
      // keep at least the bitrate.
      delete p.degradationPreference;
      sender.setParameters(p).catch(function () {});
    });
  }

  // negotiate sends a new pub offer, one at a time: a change while an
  // offer waits for its answer is negotiated when the answer comes.
  function negotiate() {
    var pc = S.pub;
    if (!pc) {
      return;
    }
    if (S.pubBusy) {
      S.pubAgain = true;
      return;
    }
    S.pubBusy = true;
    var restart = S.pubRestart;
    S.pubRestart = false;
    pc.createOffer(restart ? { iceRestart: true } : {}).then(function (offer) {
      return pc.setLocalDescription(offer);
    }).then(function () {
      if (pc !== S.pub) {
        return;
      }
      send({ type: "offer", pc: "pub", sdp: markScreen(pc.localDescription.sdp) });
    }).catch(function (err) {
      S.pubBusy = false;
      say(T("send_failed", err && err.message ? err.message : err));
    });
  }

  function onPubAnswer(sdp) {
    var pc = S.pub;
    if (pc.signalingState !== "have-local-offer") {
      return;
    }
    pc.setRemoteDescription({ type: "answer", sdp: sdp }).then(function () {
      flush(pc, S.pubQueue);
      S.pubQueue = [];
      S.pubBusy = false;
      if (S.pubAgain || S.pubRestart) {
        S.pubAgain = false;
        negotiate();
      }
    }).catch(function () {
      S.pubBusy = false;
    });
  }

  // markScreen names the screen's stream "screen-…" in the offer the SFU
  // reads (the msid of its m-section): a page cannot choose a
  // MediaStream's id, but the SFU only ever sees the SDP we send, so
  // the SDP sent carries the name while the browser keeps its own.
  function markScreen(sdp) {
    var tx = S.screenTx;
    if (!tx || !tx.mid || !S.screen) {
      return sdp;
    }
    var sections = sdp.split(/\r\n(?=m=)/);
    for (var i = 0; i < sections.length; i++) {
      if (sections[i].indexOf("\r\na=mid:" + tx.mid + "\r\n") >= 0) {
        sections[i] = sections[i].replace(/\r\na=msid:(\S+) /g, "\r\na=msid:" + S.screenStreamID + " ")
          .replace(/ msid:(\S+) /g, " msid:" + S.screenStreamID + " ");
      }
    }
    return sections.join("\r\n");
  }

  function onSubOffer(sdp) {
    var pc = S.sub;
    if (!pc) {
      return;
    }
    pc.setRemoteDescription({ type: "offer", sdp: sdp }).then(function () {
      flush(pc, S.subQueue);
      S.subQueue = [];
      return pc.createAnswer();
    }).then(function (answer) {
      return pc.setLocalDescription(answer);
    }).then(function () {
      if (pc === S.sub) {
        send({ type: "answer", pc: "sub", sdp: pc.localDescription.sdp });
      }
    }).catch(function (err) {
      say(T("receive_failed", err && err.message ? err.message : err));
    });
  }

  function onCandidate(which, c) {
    var pc = which === "pub" ? S.pub : S.sub;
    if (!pc || !c) {
      return;
    }
    if (!pc.remoteDescription) {
      (which === "pub" ? S.pubQueue : S.subQueue).push(c);
      return;
    }
    pc.addIceCandidate(c).catch(function () {});
  }

  function flush(pc, queue) {
    queue.forEach(function (c) { pc.addIceCandidate(c).catch(function () {}); });
  }

  // restartIce renews the ICE candidates after a network change: a new
  // pub offer with iceRestart, which makes the SFU restart sub as well.
  function restartIce() {
    if (!S.pub || S.phase !== "call") {
      return;
    }
    say(T("network_changed"));
    S.pubRestart = true;
    negotiate();
  }
  window.addEventListener("online", function () {
    if (S.phase === "call") {
      restartIce();
    } else if (!S.ws && (S.phase === "lobby" || S.phase === "connecting")) {
      connect();
    }
  });

  // ---- remote media ----------------------------------------------------

  // remote holds the remote tracks by stream id until the tracks message
  // tells whose they are.
  var remote = {};

  function onRemoteTrack(ev) {
    var stream = ev.streams[0];
    var id = stream ? stream.id : ev.track.id;
    var r = remote[id] || (remote[id] = { id: id, audio: null, video: null });
    r[ev.track.kind] = ev.track;
    ev.track.addEventListener("ended", function () {
      if (r[ev.track.kind] === ev.track) {
        r[ev.track.kind] = null;
        place(r);
      }
    });
    if (stream) {
      stream.addEventListener("removetrack", function (e) {
        if (r[e.track.kind] === e.track) {
          r[e.track.kind] = null;
          place(r);
        }
      });
    }
    place(r);
  }

  function placeAll() {
    Object.keys(remote).forEach(function (k) { place(remote[k]); });
  }

  // place shows one remote stream: its video in the participant's tile
  // (or a tile of its own for a screen), its audio in a hidden <audio>.
  function place(r) {
    var info = S.tracks[r.id] || {};
    var pid = info.participant || "";
    var screen = info.source === "screen" || r.id.indexOf("screen-") === 0;
    var tileID = "tile-" + (screen ? "screen-" : "") + (pid || r.id);
    if (r.tile && r.tile !== tileID) {
      // First shown before the tracks message named its owner.
      var early = $(r.tile);
      if (early) {
        early.remove();
      }
    }
    r.tile = tileID;
    if (r.video) {
      var tile = $(tileID) || newTile(tileID, screen);
      var v = tile.querySelector("video");
      if (!v.srcObject || v.srcObject.getVideoTracks()[0] !== r.video) {
        v.srcObject = new MediaStream([r.video]);
      }
      tile.dataset.participant = pid;
      caption(tile, pid, screen);
    } else {
      var old = $(tileID);
      if (old && screen) {
        old.remove();
      }
    }
    var aid = "audio-" + r.id;
    var a = $(aid);
    if (r.audio) {
      if (!a) {
        a = document.createElement("audio");
        a.id = aid;
        a.autoplay = true;
        $("audio-remoti").appendChild(a);
      }
      if (!a.srcObject || a.srcObject.getAudioTracks()[0] !== r.audio) {
        a.srcObject = new MediaStream([r.audio]);
      }
    } else if (a) {
      a.remove();
    }
    if (pid && !screen && !$(tileID)) {
      // A participant heard but not seen (audio only) still gets a tile
      // with their name.
      caption(newTile(tileID, false), pid, false);
    }
  }

  // drop removes a stream the SFU no longer sends: its tile and sound.
  function drop(r) {
    delete remote[r.id];
    var tile = r.tile && $(r.tile);
    if (tile) {
      tile.remove();
    }
    var a = $("audio-" + r.id);
    if (a) {
      a.remove();
    }
  }

  function newTile(id, screen) {
    var f = document.createElement("figure");
    f.className = "sv-tile sv-remote" + (screen ? " sv-screen" : "");
    f.id = id;
    var v = document.createElement("video");
    v.autoplay = true;
    v.muted = true; // sound plays through the <audio> elements
    v.playsInline = true;
    f.appendChild(v);
    var c = document.createElement("figcaption");
    f.appendChild(c);
    $("partecipanti").appendChild(f);
    return f;
  }

  function caption(tile, pid, screen) {
    var p = S.participants[pid];
    var name = p ? p.name : T("participant");
    var text = screen ? T("screen_of", name) : name;
    if (p && !screen) {
      var flags = [];
      if (!p.audio) {
        flags.push(T("flag.mic_off"));
      }
      if (!p.video) {
        flags.push(T("flag.camera_off"));
      }
      if (flags.length) {
        text += " (" + flags.join(", ") + ")";
      }
      tile.classList.toggle("sv-novideo", !p.video);
    }
    tile.querySelector("figcaption").textContent = text;
    tile.querySelector("video").setAttribute("aria-label", text);
  }

  function showSelf() {
    var flags = [];
    if (!S.audio) {
      flags.push(T("flag.mic_off"));
    }
    if (!S.video || S.audioOnly) {
      flags.push(T("flag.camera_off"));
    }
    $("self-flags").textContent = flags.length ? "(" + flags.join(", ") + ")" : "";
    $("tile-self").classList.toggle("sv-novideo", !S.video || S.audioOnly);
    pressed($("btn-microfono"), S.audio, T("mic.on"), T("mic.off"));
    pressed($("btn-videocamera"), S.video && !S.audioOnly, T("camera.on"), T("camera.off"));
    pressed($("btn-solo-audio"), S.audioOnly);
    pressed($("btn-schermo"), !!S.screen);
  }

  function pressed(btn, on, yes, no) {
    btn.setAttribute("aria-pressed", on ? "true" : "false");
    btn.classList.toggle("btn-primary", on && !!yes);
    btn.classList.toggle("btn-outline-primary", !(on && !!yes));
    var st = btn.querySelector(".sv-state");
    if (st && yes) {
      st.textContent = on ? yes : no;
    }
  }

  // ---- participants and lobby ------------------------------------------

  function updateParticipant(p) {
    S.participants[p.id] = p;
    if (p.lobby) {
      if (operator) {
        addKnock(p);
      }
      return;
    }
    removeKnock(p.id);
    Array.prototype.forEach.call(document.querySelectorAll(".sv-remote"), function (t) {
      if (t.dataset.participant === p.id) {
        caption(t, p.id, t.classList.contains("sv-screen"));
      }
    });
  }

  function onParticipant(event, p) {
    if (!p) {
      return;
    }
    switch (event) {
    case "joined":
      p.lobby = false;
      updateParticipant(p);
      say(T("joined", p.name));
      break;
    case "updated":
      updateParticipant(p);
      break;
    case "knocking":
      p.lobby = true;
      updateParticipant(p);
      beep();
      say(T("knocking", p.name));
      break;
    case "left":
      delete S.participants[p.id];
      removeKnock(p.id);
      Array.prototype.forEach.call(document.querySelectorAll(".sv-remote"), function (t) {
        if (t.dataset.participant === p.id) {
          t.remove();
        }
      });
      if (!p.lobby) {
        say(T("left_call", p.name));
      }
      break;
    }
  }

  function clearLobbyList() {
    var l = $("sala-lista");
    if (l) {
      l.textContent = "";
      $("sala").hidden = true;
    }
  }

  function addKnock(p) {
    var list = $("sala-lista");
    if (!list || $("knock-" + p.id)) {
      return;
    }
    var li = document.createElement("li");
    li.id = "knock-" + p.id;
    var name = document.createElement("span");
    name.textContent = p.name;
    li.appendChild(name);
    li.appendChild(knockButton("admit", "btn-primary", p));
    li.appendChild(knockButton("refuse", "btn-outline-danger", p));
    list.appendChild(li);
    $("sala").hidden = false;
  }

  // knockButton is the operator's button to admit or refuse (type) a
  // knocking participant; its accessible name says whom.
  function knockButton(type, cls, p) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "btn btn-sm " + cls;
    b.textContent = T(type);
    b.setAttribute("aria-label", T(type + ".label", p.name));
    b.dataset.id = p.id;
    b.dataset.knock = type;
    b.addEventListener("click", function () {
      send({ type: type, id: p.id });
      removeKnock(p.id);
      $("chiamata-titolo").focus();
    });
    return b;
  }

  function removeKnock(id) {
    var li = $("knock-" + id);
    if (li) {
      li.remove();
    }
    var list = $("sala-lista");
    if (list && list.children.length === 0) {
      $("sala").hidden = true;
    }
  }

  // beep plays two short tones when someone knocks, so an operator busy
  // in another window hears it.
  function beep() {
    try {
      var ctx = audioContext();
      [0, 0.25].forEach(function (at) {
        var o = ctx.createOscillator();
        var g = ctx.createGain();
        o.frequency.value = 880;
        g.gain.setValueAtTime(0.15, ctx.currentTime + at);
        g.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + at + 0.18);
        o.connect(g);
        g.connect(ctx.destination);
        o.start(ctx.currentTime + at);
        o.stop(ctx.currentTime + at + 0.2);
      });
    } catch (e) {
      // No sound: the lobby list and the status line still tell.
    }
  }

  // Ending for everyone asks first, in the page rather than in a
  // confirm() dialog: the question and its two buttons are read in
  // order, and the focus goes to them and back.
  var termina = $("btn-termina");
  if (termina) {
    var confirmBox = $("termina-conferma");
    termina.addEventListener("click", function () {
      confirmBox.hidden = false;
      termina.setAttribute("aria-expanded", "true");
      $("termina-si").focus();
    });
    $("termina-no").addEventListener("click", function () {
      confirmBox.hidden = true;
      termina.setAttribute("aria-expanded", "false");
      termina.focus();
    });
    $("termina-si").addEventListener("click", function () {
      confirmBox.hidden = true;
      if (!send({ type: "end" })) {
        say(T("disconnected"));
      }
    });
  }

  // ---- controls --------------------------------------------------------

  function sendState() {
    send({ type: "state", audio: S.audio, video: S.video && !S.audioOnly, screen: !!S.screen });
  }

  $("btn-microfono").addEventListener("click", function () {
    var t = S.local && S.local.getAudioTracks()[0];
    if (!t) {
      say(T("no_mic"));
      return;
    }
    S.audio = !S.audio;
    t.enabled = S.audio;
    showSelf();
    sendState();
    say(S.audio ? T("mic.turned_on") : T("mic.turned_off"));
  });

  $("btn-videocamera").addEventListener("click", function () {
    if (S.audioOnly) {
      setAudioOnly(false);
      return;
    }
    var t = S.local && S.local.getVideoTracks()[0];
    if (!t) {
      return;
    }
    S.video = !S.video;
    t.enabled = S.video;
    showSelf();
    sendState();
    say(S.video ? T("camera.turned_on") : T("camera.turned_off"));
  });

  $("btn-solo-audio").addEventListener("click", function () {
    setAudioOnly(!S.audioOnly);
  });

  function videoSender() {
    if (!S.pub) {
      return null;
    }
    return S.pub.getTransceivers().filter(function (tx) {
      return tx !== S.screenTx && tx.sender && tx.receiver.track.kind === "video" && !tx.stopped;
    })[0] || null;
  }

  // setAudioOnly stops the camera altogether (its light goes off and
  // nothing is sent) or starts it again.
  function setAudioOnly(on) {
    var tx = videoSender();
    if (on) {
      if (S.local) {
        S.local.getVideoTracks().forEach(function (t) { t.stop(); S.local.removeTrack(t); });
      }
      if (tx) {
        tx.sender.replaceTrack(null);
      }
      S.audioOnly = true;
      S.video = false;
      showSelf();
      sendState();
      // Audio only both ways: the SFU stops sending the others' video too,
      // which is what saves a weak connection.
      send({ type: "prefs", video: false });
      say(T("audio_only"));
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: cameraConstraints() }).then(function (s) {
      var t = s.getVideoTracks()[0];
      if (!S.local) {
        S.local = new MediaStream();
      }
      S.local.addTrack(t);
      $("propria").srcObject = S.local;
      S.audioOnly = false;
      S.video = true;
      send({ type: "prefs", video: true, layer: wantLayer });
      if (tx) {
        t.contentHint = "motion";
        tx.sender.replaceTrack(t);
      } else if (S.pub) {
        addLocalTrack(S.pub, t);
      }
      showSelf();
      sendState();
      say(T("camera.turned_on"));
    }, function (err) {
      say(mediaErrorText(err, "device.camera"));
    });
  }

  $("btn-schermo").addEventListener("click", function () {
    if (S.screen) {
      stopScreen();
      return;
    }
    if (!navigator.mediaDevices.getDisplayMedia) {
      say(T("no_share"));
      return;
    }
    navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 10, max: 15 } }, audio: false }).then(function (s) {
      var t = s.getVideoTracks()[0];
      // Text on a shared screen must stay legible: keep the resolution
      // and let the frame rate drop.
      t.contentHint = "detail";
      t.addEventListener("ended", stopScreen);
      S.screen = s;
      if (!S.screenStreamID) {
        S.screenStreamID = "screen-" + (s.id || String(Date.now())).replace(/[^A-Za-z0-9-]/g, "");
      }
      if (S.pub) {
        addScreen(S.pub, t);
      }
      showSelf();
      sendState();
      say(T("sharing"));
    }, function () {
      say(T("share_failed"));
    });
  });

  function addScreen(pc, t) {
    S.screenTx = pc.addTransceiver(t, { direction: "sendonly", streams: [S.screen], sendEncodings: [{ maxBitrate: screenBitrate }] });
    tune(S.screenTx.sender, "maintain-resolution", screenBitrate);
  }

  function stopScreen() {
    if (!S.screen) {
      return;
    }
    stopStream(S.screen);
    S.screen = null;
    if (S.screenTx && S.pub) {
      // Stopping the transceiver rejects its m-section in the next
      // offer, which ends the track at the SFU (an "inactive" one would
      // leave it open, silent) and so removes it from the others' calls.
      S.screenTx.stop();
      S.screenTx = null;
    }
    showSelf();
    sendState();
    say(T("share_stopped"));
  }

  // ---- panels ----------------------------------------------------------

  function toggle(btn, panel, focusID, badge) {
    var open = panel.hidden;
    panel.hidden = !open;
    btn.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      $(badge).hidden = true;
      $(badge).textContent = "";
      if (badge === "chat-nuovi") {
        S.chatUnread = 0;
      } else {
        S.docUnread = 0;
      }
      $(focusID).focus();
    }
  }
  $("btn-chat").addEventListener("click", function () {
    toggle($("btn-chat"), $("pannello-chat"), "chat-testo", "chat-nuovi");
  });
  if ($("btn-documenti")) {
    $("btn-documenti").addEventListener("click", function () {
      toggle($("btn-documenti"), $("pannello-documenti"), "doc-file", "doc-nuovi");
    });
  }
  document.addEventListener("keydown", function (ev) {
    // Escape closes the panel the focus is in and returns to its button.
    if (ev.key !== "Escape") {
      return;
    }
    [["pannello-chat", "btn-chat"], ["pannello-documenti", "btn-documenti"]].forEach(function (p) {
      var panel = $(p[0]);
      if (panel && !panel.hidden && panel.contains(document.activeElement)) {
        panel.hidden = true;
        $(p[1]).setAttribute("aria-expanded", "false");
        $(p[1]).focus();
      }
    });
  });

  function bump(badgeID, n) {
    var b = $(badgeID);
    b.textContent = n === 1 ? T("new.one") : T("new.many", n);
    b.hidden = false;
  }

  // ---- chat ------------------------------------------------------------

  $("chat-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = $("chat-testo");
    var text = input.value.trim();
    if (!text) {
      say(T("chat.empty"));
      input.focus();
      return;
    }
    if (!send({ type: "chat", text: text.slice(0, 2000) })) {
      say(T("chat.failed"));
      return;
    }
    input.value = "";
    input.focus();
  });

  function onChat(m) {
    var li = document.createElement("li");
    var from = document.createElement("span");
    from.className = "sv-from";
    from.textContent = T("chat.from", m.from === S.id ? T("you") : m.name || T("participant"));
    var text = document.createElement("span");
    text.className = "sv-text";
    text.textContent = m.text;
    li.appendChild(from);
    li.appendChild(text);
    if (m.at) {
      var d = new Date(m.at);
      if (!isNaN(d)) {
        var time = document.createElement("time");
        time.dateTime = m.at;
        time.className = "small ms-1";
        time.textContent = "(" + d.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" }) + ")";
        li.appendChild(time);
      }
    }
    var list = $("chat-messaggi");
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
    if ($("pannello-chat").hidden && m.from !== S.id) {
      // The list is hidden, so its live region is silent: the status
      // line says it instead, and the button counts it.
      S.chatUnread++;
      bump("chat-nuovi", S.chatUnread);
      say(T("chat.new", m.name || T("someone"), m.text));
    }
  }

  // ---- documents -------------------------------------------------------

  var docForm = $("doc-form");
  if (docForm) {
    docForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var input = $("doc-file");
      var status = $("doc-stato");
      if (!input.files || input.files.length === 0) {
        status.textContent = T("doc.choose");
        input.focus();
        return;
      }
      var f = input.files[0];
      if (f.size > 20 * 1024 * 1024) {
        status.textContent = T("doc.too_big");
        return;
      }
      var body = new FormData();
      body.append("file", f, f.name);
      status.textContent = T("doc.sending", f.name);
      var headers = { Accept: "application/json" };
      if (cfg.csrf) {
        // An operator's upload sits behind the login: the session's
        // CSRF token goes in the header auth/web checks.
        headers["X-CSRF-Token"] = cfg.csrf;
      }
      fetch(cfg.upload, { method: "POST", body: body, credentials: "same-origin", headers: headers }).then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (j) {
          if (!res.ok) {
            // The server's messages are Italian: the page's text of the
            // error's code says it in the page's language.
            var e = j.error || {};
            var known = e.code && typeof texts["js.doc.error." + e.code] === "string";
            throw new Error(known ? T("doc.error." + e.code) : T("doc.failed.status", res.status));
          }
          status.textContent = T("doc.sent", f.name);
          input.value = "";
        });
      }).catch(function (err) {
        status.textContent = err.message || T("doc.failed");
      });
    });
  }

  function size(n) {
    if (n >= 1024 * 1024) {
      // The decimal separator of the page's language, as sizeText.
      return (n / 1024 / 1024).toFixed(1).replace(".", T("decimal")) + " MB";
    }
    return Math.max(1, Math.round(n / 1024)) + " KB";
  }

  function onDocument(d) {
    var list = $("doc-lista");
    if (!list || !d.url || $("doc-" + d.id)) {
      return;
    }
    var li = document.createElement("li");
    li.id = "doc-" + d.id;
    var a = document.createElement("a");
    a.href = d.url;
    a.setAttribute("download", d.name || "");
    a.textContent = d.name || T("doc.default");
    li.appendChild(a);
    var p = S.participants[d.from];
    var who = d.from === S.id ? T("doc.from.you") : T("doc.from", p ? p.name : d.from_name || T("someone"));
    li.appendChild(document.createTextNode(" (" + size(d.size || 0) + ", " + who + ")"));
    list.appendChild(li);
    $("doc-vuoto").hidden = true;
    if ($("pannello-documenti").hidden && d.from !== S.id) {
      S.docUnread++;
      bump("doc-nuovi", S.docUnread);
      say(T("doc.new", d.name || T("doc.default")));
    }
  }

  // ---- for tests and diagnostics ---------------------------------------

  function ufrag(desc) {
    var m = desc && /a=ice-ufrag:(\S+)/.exec(desc.sdp);
    return m ? m[1] : "";
  }

  function pcStats(pc) {
    if (!pc) {
      return Promise.resolve(null);
    }
    return pc.getStats().then(function (report) {
      var out = { video: { framesDecoded: 0, bytesReceived: 0, frameWidth: 0 }, audio: { totalSamplesReceived: 0, bytesReceived: 0 }, sent: { bytes: 0, layers: {} }, pair: null, state: pc.connectionState, remoteUfrag: ufrag(pc.remoteDescription) };
      var pairID = "";
      report.forEach(function (s) {
        if (s.type === "inbound-rtp" && s.kind === "video") {
          out.video.framesDecoded += s.framesDecoded || 0;
          out.video.bytesReceived += s.bytesReceived || 0;
          out.video.frameWidth = Math.max(out.video.frameWidth, s.frameWidth || 0);
        } else if (s.type === "inbound-rtp" && s.kind === "audio") {
          out.audio.totalSamplesReceived += s.totalSamplesReceived || 0;
          out.audio.bytesReceived += s.bytesReceived || 0;
        } else if (s.type === "outbound-rtp") {
          out.sent.bytes += s.bytesSent || 0;
          if (s.kind === "video" && s.rid) {
            // Each simulcast layer: bytes sent, its width, and what
            // limits the encoder ("cpu" when it dropped layers or
            // resolution to keep up).
            out.sent.layers[s.rid] = { bytes: s.bytesSent || 0, frameWidth: s.frameWidth || 0, limit: s.qualityLimitationReason || "" };
          }
        } else if (s.type === "transport" && s.selectedCandidatePairId) {
          pairID = s.selectedCandidatePairId;
        }
      });
      var pair = pairID && report.get(pairID);
      if (!pair) {
        report.forEach(function (s) {
          if (!pair && s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
            pair = s;
          }
        });
      }
      if (pair) {
        var l = report.get(pair.localCandidateId) || {};
        var r = report.get(pair.remoteCandidateId) || {};
        out.pair = { local: l.candidateType || "", remote: r.candidateType || "" };
      }
      return out;
    });
  }

  window.sportelloCall = {
    get state() { return S.phase; },
    get id() { return S.id; },
    // tracks is what the SFU says it sends: stream id → participant,
    // kind, source.
    get tracks() { return S.tracks; },
    // dropSocket closes the signalling socket as a network failure
    // would; the page then reconnects by itself. For tests and for
    // support staff checking a citizen's reconnection.
    // layer is the simulcast layer this page asks for; setLayer asks for
    // another ("h", "m" or "l"), as a page that knows better than its
    // screen size would (and tests do).
    get layer() { return wantLayer; },
    setLayer: function (l) {
      wantLayer = l;
      send({ type: "prefs", video: !S.audioOnly, layer: l });
    },
    dropSocket: function () {
      if (S.ws) {
        S.ws.close();
      }
    },
    stats: function () {
      return Promise.all([pcStats(S.sub), pcStats(S.pub)]).then(function (r) {
        var sub = r[0] || { video: {}, audio: {}, pair: null };
        return {
          phase: S.phase,
          video: sub.video,
          audio: sub.audio,
          sub: { pair: sub.pair, state: sub.state || "", remoteUfrag: sub.remoteUfrag || "" },
          pub: r[1] ? { pair: r[1].pair, state: r[1].state, bytesSent: r[1].sent.bytes, layers: r[1].sent.layers, remoteUfrag: r[1].remoteUfrag } : null
        };
      });
    }
  };

  // ---- start -----------------------------------------------------------

  setPhase("check");
  reopen();
})();
