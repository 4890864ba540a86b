// Type to find a time zone: a search box that narrows a zone <select> to the zones whose city,
// country, offset or former name match what is typed ("sao", "brésil", "+5:30", "UTC+05:30",
// "calcutta"), accents and case ignored. Progressive enhancement: the box is in the page, hidden,
// next to each zone <select> (templates/_macros/time.html, zone_search); without JavaScript the plain
// <select> is all there is.
//
// Typing only narrows the list: it never changes what the select holds, so nobody sends a zone they
// did not choose (typing "india" must not leave Indianapolis selected). Keyboard: type to narrow,
// Down arrow moves to the list, Escape clears the box. Enter shows the times in the first match (the
// visitor's zone picker, where Enter is the choice) or moves to the list (inside a longer form, which
// it must not send half filled). A live region says how many zones match.
(function () {
  "use strict";

  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().replace(/\u2212/g, "-");
  }

  // "+5:30", "+0530", "utc+5:30", "gmt-3" -> "+05:30", "-03:": the labels' "UTC+05:30" spelling,
  // so that an offset typed the way people write it finds its zones ("+5" finds +05:00, +05:30, +05:45).
  function offsetWord(word) {
    var match = /^(?:utc|gmt)?([+-])(\d{1,2})(?::(\d{0,2}))?$/.exec(word);
    var hours, minutes;
    if (match) {
      hours = match[2];
      minutes = match[3] || "";
    } else {
      match = /^(?:utc|gmt)?([+-])(\d{3,4})$/.exec(word);
      if (!match) return word;
      hours = match[2].slice(0, match[2].length - 2);
      minutes = match[2].slice(-2);
    }
    return match[1] + (hours.length === 1 ? "0" : "") + hours + ":" + minutes;
  }

  // Former and alternative names (Asia/Calcutta, US/Eastern), from the site's list of zone links,
  // fetched once per page and only when someone searches: {current name: " calcutta ..."}.
  var formerNames = null;
  function loadFormerNames(url) {
    if (!formerNames) {
      formerNames = !url || !window.fetch
        ? Promise.resolve({})
        : fetch(url, { credentials: "same-origin" })
            .then(function (response) { return response.ok ? response.json() : {}; })
            .then(function (data) {
              var names = {};
              var links = (data && data.links) || {};
              Object.keys(links).forEach(function (former) {
                names[links[former]] = (names[links[former]] || "") + " " + fold(former.replace(/[_/]/g, " "));
              });
              return names;
            })
            .catch(function () { return {}; });
    }
    return formerNames;
  }

  function plural(count) {
    try {
      return new Intl.PluralRules(document.documentElement.lang || "en").select(count) === "one" ? "one" : "other";
    } catch (e) {
      return count === 1 ? "one" : "other";
    }
  }

  function enhance(input) {
    var select = document.getElementById(input.dataset.select);
    var box = input.closest(".zone-search");
    var status = document.getElementById(input.getAttribute("aria-describedby"));
    if (!select || !box) return;

    // The full list, kept aside: options are moved out of the select and back, never rebuilt.
    var groups = [];
    var loose = [];
    Array.prototype.forEach.call(select.children, function (child) {
      if (child.tagName === "OPTGROUP") {
        groups.push({
          element: child,
          options: Array.prototype.map.call(child.children, function (option) {
            return { element: option, text: fold(option.textContent + " " + option.value.replace(/_/g, " ")) };
          })
        });
      } else {
        loose.push(child);
      }
    });

    // The person's own choice (or the page's): kept through any filtering, restored when the box is cleared.
    var chosen = select.value;
    var firstMatch = null;
    select.addEventListener("change", function () { chosen = select.value; });

    var withFormerNames = false;
    function addFormerNames() {
      if (withFormerNames) return;
      withFormerNames = true;
      loadFormerNames(input.dataset.zoneLinks).then(function (names) {
        groups.forEach(function (group) {
          group.options.forEach(function (entry) {
            if (names[entry.element.value]) entry.text += names[entry.element.value];
          });
        });
        if (input.value.trim()) apply();
      });
    }
    input.addEventListener("focus", addFormerNames);

    function apply() {
      var words = fold(input.value.trim()).split(/\s+/).filter(Boolean).map(offsetWord);
      var matches = 0;
      var first = null;
      groups.forEach(function (group) {
        var shown = 0;
        group.options.forEach(function (entry) {
          var matching = words.length && words.every(function (word) { return entry.text.indexOf(word) !== -1; });
          if (!words.length || matching || entry.element.value === chosen) {
            group.element.appendChild(entry.element);
            shown += 1;
            if (matching) {
              matches += 1;
              if (!first) first = entry.element;
            }
          } else if (entry.element.parentNode) {
            entry.element.parentNode.removeChild(entry.element);
          }
        });
        if (shown && !group.element.parentNode) select.appendChild(group.element);
        if (!shown && group.element.parentNode) select.removeChild(group.element);
      });
      firstMatch = words.length ? first : null;
      // Groups back in their first order.
      groups.forEach(function (group) { if (group.element.parentNode) select.appendChild(group.element); });
      // Moving options about must not move the selection either: it stays what the person chose.
      if (select.value !== chosen) select.value = chosen;
      if (!words.length) {
        status.textContent = "";
        return;
      }
      var template = matches ? input.dataset["found" + (plural(matches) === "one" ? "One" : "Other")] : input.dataset.foundNone;
      status.textContent = template.replace("{n}", String(matches));
    }

    var timer = null;
    input.addEventListener("input", function () {
      addFormerNames();
      clearTimeout(timer);
      timer = setTimeout(apply, 120);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") {
        event.preventDefault();
        select.focus();
      } else if (event.key === "Escape" && input.value) {
        event.preventDefault();
        input.value = "";
        apply();
      } else if (event.key === "Enter") {
        apply();
        if (input.form && input.form.classList.contains("zone-picker")) {
          // Enter here is the visitor's choice: show the times in the first match.
          if (firstMatch) select.value = firstMatch.value;
        } else {
          event.preventDefault();
          select.focus();
        }
      }
    });
    box.hidden = false;
  }

  document.querySelectorAll(".zone-search input[data-select]").forEach(enhance);
})();
