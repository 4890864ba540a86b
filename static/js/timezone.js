// Offer the browser's own time zone (Intl API) next to the zone picker, and put it in the
// registration form when the page did not know the visitor's zone.
// Progressive enhancement only: the picker and the form work without JavaScript.
//
// Browsers report ICU's zone names, several of them old ones (Chromium says Asia/Calcutta,
// Asia/Katmandu, Europe/Kiev); the pages list current names (Asia/Kolkata...). When the browser's
// name is not among the options, the server's link table (/time-zones.json, from the tz database)
// says which current name it stands for.
(function () {
  "use strict";
  var script = document.currentScript;
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!zone) return;

  var pickers = document.querySelectorAll(".zone-picker");
  // The registration form's zone select while it still holds the webinar's zone as a stand-in.
  var fallbacks = document.querySelectorAll("select[data-zone-fallback]");
  if (!pickers.length && !fallbacks.length) return;

  function option(select, name) {
    if (!select) return null;
    return Array.prototype.find.call(select.options, function (o) { return o.value === name; }) || null;
  }

  function lists(select, name) {
    return !!option(select, name);
  }

  function offer(form, name) {
    var box = form.querySelector(".browser-zone");
    if (!box || box.dataset.current === name) return;
    var listed = option(form.querySelector("select[name=tz]"), name);
    if (!listed) return;
    var link = box.querySelector(".browser-zone-link");
    var url = new URL(link.getAttribute("href"), window.location.href);
    url.searchParams.set("tz", name);
    link.href = url.pathname + url.search + (box.dataset.anchor ? "#" + box.dataset.anchor : "");
    // The option's own words ("São Paulo, Brazil (UTC−03:00)"), in the page's language: never the IANA id.
    box.querySelector(".browser-zone-name").textContent = listed.textContent;
    box.hidden = false;
  }

  function preselect(select, name) {
    // Only while nobody has touched it: the person's own choice always wins.
    if (select.value === select.dataset.zoneFallback && lists(select, name)) select.value = name;
  }

  function use(name) {
    pickers.forEach(function (form) { offer(form, name); });
    fallbacks.forEach(function (select) { preselect(select, name); });
  }

  var sample = document.querySelector(".zone-picker select[name=tz]") || fallbacks[0];
  if (lists(sample, zone)) {
    use(zone);
    return;
  }
  var source = script && script.dataset.zoneLinks;
  if (!source || !window.fetch) return;
  fetch(source, { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (data) {
      var current = data && data.links && data.links[zone];
      if (current) use(current);
    })
    .catch(function () { /* no offer: the picker still works */ });
})();
