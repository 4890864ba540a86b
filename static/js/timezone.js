// Offer the browser's own time zone (Intl API) next to the zone picker.
// Progressive enhancement only: the picker works without JavaScript.
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!zone) return;
  document.querySelectorAll(".zone-picker").forEach(function (form) {
    var offer = form.querySelector(".browser-zone");
    if (!offer || offer.dataset.current === zone) return;
    var select = form.querySelector("select[name=tz]");
    var known = select && Array.prototype.some.call(select.options, function (o) { return o.value === zone; });
    if (!known) return;
    var link = offer.querySelector(".browser-zone-link");
    var url = new URL(link.getAttribute("href"), window.location.href);
    url.searchParams.set("tz", zone);
    link.href = url.pathname + url.search + "#your-time";
    offer.querySelector(".browser-zone-name").textContent = zone.replace(/_/g, " ");
    offer.hidden = false;
  });
})();
