// Type to find a time zone: a search box that narrows a zone <select> to the zones whose city,
// country or offset match what is typed ("sao", "brésil", "+05:30"), accents and case ignored.
// Progressive enhancement: the box is in the page, hidden, next to each zone <select>
// (templates/_macros/time.html, zone_search); without JavaScript the plain <select> is all there is.
//
// Keyboard: type to narrow, Down arrow moves to the list, Escape clears the box. Enter shows the
// times in the first match (the visitor's zone picker) or moves to the list (inside a longer form,
// which it must not send half filled). A live region says how many zones match.
(function () {
  "use strict";

  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().replace(/\u2212/g, "-");
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
    select.addEventListener("change", function () { chosen = select.value; });

    function apply() {
      var words = fold(input.value.trim()).split(/\s+/).filter(Boolean);
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
      // Groups back in their first order.
      groups.forEach(function (group) { if (group.element.parentNode) select.appendChild(group.element); });
      if (!words.length) {
        select.value = chosen;
        status.textContent = "";
        return;
      }
      if (first) select.value = first.value;
      var template = matches ? input.dataset["found" + (plural(matches) === "one" ? "One" : "Other")] : input.dataset.foundNone;
      status.textContent = template.replace("{n}", String(matches));
    }

    var timer = null;
    input.addEventListener("input", function () {
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
        if (!input.form || !input.form.classList.contains("zone-picker")) {
          event.preventDefault();
          select.focus();
        }
      }
    });
    box.hidden = false;
  }

  document.querySelectorAll(".zone-search input[data-select]").forEach(enhance);
})();
