// Live updates of the queue's citizen pages (ticket page and board).
// The pages work without this script (they reload themselves); with it,
// they follow the Server-Sent Events stream named in a data attribute
// and rewrite a polite live region. Text is set with textContent only.
(function () {
  "use strict";

  function label(t) {
    switch (t.state) {
      case "waiting": return "In attesa";
      case "called": return "È il tuo turno: sportello " + t.desk;
      case "serving": return "In servizio allo sportello " + t.desk;
      case "served": return "Servito";
      case "no_show": return "Non presentato";
      case "cancelled": return "Hai lasciato la coda";
    }
    return t.state;
  }

  function wait(t) {
    if (t.state !== "waiting") return "";
    if (t.position === 0) return "Sei il prossimo.";
    if (t.position === 1) return "C'è 1 persona prima di te, circa " + t.estimated_wait_minutes + " minuti.";
    return "Ci sono " + t.position + " persone prima di te, circa " + t.estimated_wait_minutes + " minuti.";
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
    follow(ticket.getAttribute("data-coda-ticket"), "ticket", function (t) {
      var a = label(t), b = wait(t);
      if (text.textContent !== a) text.textContent = a;
      if (more.textContent !== b) more.textContent = b;
      var active = t.state === "waiting" || t.state === "called" || t.state === "serving";
      if (!active || t.state === "serving") {
        var leave = document.getElementById("lascia");
        if (leave) leave.hidden = true;
      }
      return active;
    });
  }

  var board = document.querySelector("[data-coda-board]");
  if (board) {
    follow(board.getAttribute("data-coda-board"), "calls", function (calls) {
      var box = document.createDocumentFragment();
      if (!calls.length) {
        var p = document.createElement("p");
        p.className = "h3 text-white";
        p.textContent = "Nessuna chiamata per ora.";
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
          d.textContent = "sportello " + c.desk;
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
})();
