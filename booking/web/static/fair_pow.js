// The proof of work of the booking form (booking/fair_pow.go): while the
// citizen reads the summary, the browser finds a counter such that
// SHA-256(challenge + decimal counter) starts with the service's number
// of zero bits, and puts it in the form. The form works without this
// script: the server then asks the citizen to wait a few seconds instead
// (the page says how long). Status texts come from the form's data
// attributes, in the page's language; this file holds no text.
//
// The binary serves it after the shared solver (internal/powjs/pow.js,
// powjs.With), the same as the queue's form runs; the whole served file
// is also the Web Worker that solves the proof, so that the page stays
// responsive (a worker is same-origin, which the CSP's script-src 'self'
// allows, and needs no second file).
(function () {
  "use strict";

  // The worker runs the solver (internal/powjs, served in front of this
  // script) and nothing of the form.
  if (typeof document === "undefined") return;

  var scriptURL = document.currentScript && document.currentScript.src;
  var form = document.querySelector("form[data-sv-pow]");
  if (!form) return;
  var bits = Number(form.getAttribute("data-sv-pow"));
  var challenge = form.elements["verifica_sfida"];
  var counter = form.elements["verifica_numero"];
  var status = document.getElementById("verifica-stato");
  if (!challenge || !counter) return;
  var ready = false, pending = false;
  var say = function (attr) {
    if (status) status.textContent = form.getAttribute(attr) || "";
  };
  var done = function (c) {
    counter.value = String(c);
    ready = true;
    say("data-sv-pow-done");
    if (pending) {
      pending = false;
      form.requestSubmit ? form.requestSubmit() : form.submit();
    }
  };
  say("data-sv-pow-working");
  sportelloPow.solve(scriptURL, challenge.value, bits, done);
  // "Invia" before the proof is found waits for it; the edit buttons
  // (formaction /prenota) go at once.
  form.addEventListener("submit", function (e) {
    var by = e.submitter;
    if (ready || (by && by.getAttribute("formaction"))) return;
    e.preventDefault();
    pending = true;
    say("data-sv-pow-working");
  });
})();
