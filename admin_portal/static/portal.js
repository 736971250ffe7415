// Small progressive enhancements; every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Live dashboard: the server sends a fresh fragment when something changed.
  var live = document.querySelector("[data-live]");
  if (live && window.EventSource) {
    var source = new EventSource(live.getAttribute("data-live"));
    source.addEventListener("refresh", function (event) {
      var holder = document.createElement("div");
      holder.innerHTML = event.data;
      var fresh = holder.querySelector("[data-live]");
      if (fresh) { live.replaceChildren.apply(live, Array.prototype.slice.call(fresh.childNodes)); }
    });
  }
  // Confirmation for destructive buttons (the server never relies on it).
  document.querySelectorAll("[data-confirm]").forEach(function (element) {
    element.addEventListener("click", function (event) {
      if (!window.confirm(element.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
});
