// Ticketing: small enhancements. Every page works without this file, except paying with
// Stripe.js, which needs it (the card is collected by Stripe's own iframe), and live updates.
(function () {
  "use strict";

  function formatRemaining(seconds) {
    seconds = Math.max(0, Math.ceil(seconds));
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }

  // The live region holding `node` can be rendered again by calling what this returns
  // (null when the page is not live or its stream is not open).
  var liveRefreshers = [];
  function liveRegionOf(node) {
    for (var i = 0; i < liveRefreshers.length; i++) {
      if (liveRefreshers[i].region.contains(node)) return liveRefreshers[i].refresh;
    }
    return null;
  }

  // Live countdown to an order's expiry. The server renders the seconds left, so the
  // visitor's clock being wrong does not matter; at zero the browser goes (once) to the
  // timer's data-expired-url, a GET of the page, where the server shows the expired state
  // (a live page renders its live region again instead, staying the same page). Never a
  // reload: the page may be the answer to a POST, which a reload would send again.
  function startCountdowns(root) {
    var timers = (root || document).querySelectorAll("[data-countdown]");
    if (!timers.length) return;
    var started = performance.now();
    var reloaded = false;
    function tick() {
      var elapsed = (performance.now() - started) / 1000;
      var anyLive = false;
      timers.forEach(function (timer) {
        if (!document.contains(timer)) return; // replaced by a live update
        var left = Number(timer.getAttribute("data-remaining")) - elapsed;
        var value = timer.querySelector("[data-countdown-value]") || timer;
        value.textContent = formatRemaining(left);
        timer.classList.toggle("is-urgent", left <= 60);
        if (left > 0) anyLive = true;
        else if (!reloaded && timer.getAttribute("data-expired-url")) {
          reloaded = true;
          var url = timer.getAttribute("data-expired-url");
          var live = liveRegionOf(timer);
          window.setTimeout(function () {
            // A live page renders its region again instead (and hears of a payment later).
            if (live) live(); else window.location.replace(url);
          }, 800);
        }
      });
      if (anyLive) window.setTimeout(tick, 1000 - ((performance.now() - started) % 1000));
    }
    tick();
  }

  // "10" becomes "10.00" when the price field loses focus (the server does the same).
  function normalisePrices(root) {
    (root || document).querySelectorAll("input[data-price]").forEach(function (input) {
      input.addEventListener("blur", function () {
        var value = parseFloat(input.value.replace(/[$,\s]/g, ""));
        if (!isNaN(value) && isFinite(value)) input.value = value.toFixed(2);
      });
    });
  }

  // Forms marked data-once cannot be sent twice by a double click.
  function submitOnce(root) {
    (root || document).querySelectorAll("form[data-once]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.getAttribute("data-sent")) { event.preventDefault(); return; }
        form.setAttribute("data-sent", "1");
        form.querySelectorAll("button[type=submit]").forEach(function (b) {
          b.setAttribute("aria-disabled", "true");
        });
      });
    });
  }

  // Card payment with Stripe.js: the card becomes a PaymentMethod in Stripe's iframe and its
  // id is sent to the payments API, with the session cookie, as JSON.
  function stripePayment() {
    var form = document.getElementById("payment-form");
    if (!form || !window.Stripe) return;
    var errors = document.getElementById("payment-errors");
    var button = form.querySelector("[data-stripe-submit]");
    var orderId = form.getAttribute("data-order-id");
    var stripe = window.Stripe(form.getAttribute("data-stripe-key"));
    var card = stripe.elements().create("card", {
      style: { base: { fontSize: "16px", color: "#1b1f2a" } },
    });
    card.mount("#card-element");
    button.disabled = false;

    function showError(message) {
      errors.textContent = message;
      errors.hidden = false;
      button.disabled = false;
    }

    card.on("change", function (event) {
      if (event.error) showError(event.error.message);
      else errors.hidden = true;
    });

    // A 404 right after Purchase means payments has not heard of the order yet (it learns
    // through an event a moment later): try again for a few seconds.
    function send(paymentMethodId, attempt) {
      return fetch("/api/payments", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ token: paymentMethodId, orderId: orderId }),
      }).then(function (response) {
        if (response.ok) {
          window.location.assign("/orders/" + encodeURIComponent(orderId) + "?paid=1");
          return;
        }
        if (response.status === 404 && attempt < 8) {
          return new Promise(function (resolve) { window.setTimeout(resolve, 600); })
            .then(function () { return send(paymentMethodId, attempt + 1); });
        }
        return response.json().then(
          function (body) {
            var list = (body && body.errors) || [];
            showError(list.map(function (e) { return e.message; }).join(" ") ||
              "The payment did not go through. Please try again.");
          },
          function () { showError("The payment did not go through. Please try again."); }
        );
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      errors.hidden = true;
      stripe.createPaymentMethod({ type: "card", card: card }).then(function (result) {
        if (result.error) return showError(result.error.message);
        return send(result.paymentMethod.id, 0);
      }).catch(function () {
        showError("We could not reach the payment service. Please try again.");
      });
    });
  }

  // Live pages: the server renders the page; an element with data-live names the page's
  // event stream (Server-Sent Events). When something it shows changes, the element is
  // rendered again by the server (a GET of this same page) and swapped in. A reserved
  // ticket leaves the landing page at once. EventSource reconnects by itself, sending the
  // last event's id, so the stream resumes where it stopped.
  function liveUpdates() {
    var region = document.querySelector("[data-live]");
    if (!region || !window.EventSource || !window.fetch || !window.DOMParser) return;
    var source = new EventSource(region.getAttribute("data-live"));
    source.addEventListener("open", function () { region.setAttribute("data-live-open", ""); });
    liveRefreshers.push({ region: region, refresh: function () { schedule(); } });
    var scheduled = null;
    var running = false;
    var again = false;

    function refresh() {
      scheduled = null;
      if (running) { again = true; return; }
      running = true;
      fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html")
            .querySelector("[data-live-region]");
          if (!fresh) return;
          region.innerHTML = fresh.innerHTML;
          region.setAttribute("data-live-updated", String(Date.now()));
          startCountdowns(region);
          normalisePrices(region);
          submitOnce(region);
        })
        .catch(function () { /* the next event tries again */ })
        .then(function () {
          running = false;
          if (again) { again = false; schedule(); }
        });
    }

    function schedule() {
      if (!scheduled) scheduled = window.setTimeout(refresh, 150);
    }

    source.addEventListener("ticket", function (event) {
      try {
        var ticket = JSON.parse(event.data);
        if (ticket.state === "reserved") {
          region.querySelectorAll('.ticket-card[data-ticket-id="' + CSS.escape(String(ticket.id)) + '"]')
            .forEach(function (card) { card.remove(); });
        }
      } catch (e) { /* render again below */ }
      schedule();
    });
    source.addEventListener("order", schedule);
    source.addEventListener("resync", schedule);
    window.addEventListener("pagehide", function () { source.close(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    startCountdowns();
    normalisePrices();
    submitOnce();
    stripePayment();
    liveUpdates();
  });
})();
