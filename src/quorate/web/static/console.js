// quorate web console: live sections over server-sent events, and forms submitted in the background.
// The server pushes {element id: HTML} for the sections that changed; this script only swaps them in.
(function () {
  "use strict";
  var status = document.getElementById("live-status");

  function say(text) {
    if (status) { status.textContent = text; }
  }

  function connect() {
    var source = new EventSource("/events");
    source.addEventListener("sections", function (event) {
      var changed = JSON.parse(event.data);
      Object.keys(changed).forEach(function (id) {
        var element = document.getElementById(id);
        if (element) { element.innerHTML = changed[id]; }
      });
      say("Live: updated " + new Date().toLocaleTimeString());
      document.body.setAttribute("data-updated", String(Date.now()));
    });
    source.addEventListener("expired", function () {
      source.close();
      window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
    });
    source.onerror = function () { say("Live updates interrupted; reconnecting..."); };
    source.onopen = function () { say("Live"); };
  }

  function showAnswer(ok, text) {
    var answer = document.getElementById("answer");
    if (!answer) {
      answer = document.createElement("p");
      answer.id = "answer";
      var heading = document.querySelector("main h1");
      heading.parentNode.insertBefore(answer, heading.nextSibling);
    }
    answer.className = "answer " + (ok ? "good" : "bad");
    answer.textContent = text;
  }

  // Service actions stay on the page: the answer appears above, the state follows through the event stream.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form.inline")) { return; }
    event.preventDefault();
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    showAnswer(true, "Asked quorated; waiting for its answer...");
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { "Accept": "application/json" },
      credentials: "same-origin"
    }).then(function (response) {
      return response.json();
    }).then(function (answer) {
      showAnswer(answer.ok, answer.result);
    }).catch(function (error) {
      showAnswer(false, "The request failed: " + error);
    }).finally(function () {
      buttons.forEach(function (b) { b.disabled = false; });
    });
  });

  connect();
})();
