// Re-fetch each [data-refresh] element's HTML fragment and swap it in, without a reload.
(function () {
  "use strict";
  function refresh(el) {
    var seconds = parseInt(el.getAttribute("data-interval"), 10) || 5;
    window.setTimeout(function () {
      fetch(el.getAttribute("data-refresh"), {
        credentials: "same-origin",
        headers: { "X-Requested-With": "relaywarden-refresh" },
      }).then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        return response.ok ? response.text() : null;
      }).then(function (html) {
        if (html !== null) {
          el.innerHTML = html;
          el.setAttribute("data-refreshed-at", String(Date.now()));
        }
      }).catch(function () { /* the server is restarting: try again next time */ })
        .then(function () { refresh(el); });
    }, seconds * 1000);
  }
  document.querySelectorAll("[data-refresh]").forEach(refresh);
})();
