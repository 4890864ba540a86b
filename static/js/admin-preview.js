// Live preview of the "10:00 Paris time | 18:00 Tokyo time" line on the webinar form.
// Progressive enhancement: without JavaScript the form's Preview button shows the same line.
// The server computes the line (same code as the public pages), so the preview cannot disagree.
(function () {
  "use strict";
  var output = document.getElementById("zones-preview");
  if (!output || !window.fetch) return;
  var form = output.closest("form");
  var names = ["start_date", "start_time", "timezone"];
  var fields = names.map(function (name) { return form.elements[name]; });
  if (fields.some(function (f) { return !f; })) return;
  // One <select> per display zone, all named display_zones.
  var zoneSelects = Array.prototype.slice.call(form.querySelectorAll("select[name=display_zones]"));
  var timer = null;
  var latest = 0;

  function show(text, isError) {
    output.textContent = text;
    output.classList.toggle("error", Boolean(isError));
  }

  function refresh() {
    var params = new URLSearchParams({
      date: fields[0].value,
      time: fields[1].value,
      zone: fields[2].value
    });
    zoneSelects.forEach(function (select) { if (select.value) params.append("zones", select.value); });
    var request = ++latest;
    fetch(output.dataset.endpoint + "?" + params.toString(), {
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (request !== latest || !data) return;  // an older answer arriving late
        if (data.error) show(data.line ? data.line + " (" + data.error + ")" : data.error, true);
        else show(data.line, false);
      })
      .catch(function () { /* the Preview button still works */ });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }

  fields.concat(zoneSelects).forEach(function (field) {
    field.addEventListener("input", schedule);
    field.addEventListener("change", schedule);
  });
  refresh();
})();
