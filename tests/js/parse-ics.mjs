// Parse an .ics file with Mozilla's ical.js (the parser inside Thunderbird) and print JSON.
//
// Usage: node parse-ics.mjs FILE   (or "-" / nothing to read stdin)
//
// Times are converted to UTC using ONLY the VTIMEZONE components found in the file: ical.js ships
// no zone database, and we fail loudly if a TZID is not defined in the file rather than let ical.js
// silently treat the time as floating.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const path = process.argv[2];
const text = !path || path === "-" ? readFileSync(0, "utf8") : readFileSync(path, "utf8");

const calendar = new ICAL.Component(ICAL.parse(text));

// Start from an empty service so nothing but this file's zones can be used.
ICAL.TimezoneService.reset();
const zones = [];
for (const vtimezone of calendar.getAllSubcomponents("vtimezone")) {
  const tzid = vtimezone.getFirstPropertyValue("tzid");
  ICAL.TimezoneService.register(vtimezone);
  zones.push(tzid);
}

function utcIso(time, propName, vevent) {
  if (!time) return null;
  const prop = vevent.getFirstProperty(propName);
  const tzid = prop.getParameter("tzid");
  if (tzid && (!time.zone || time.zone.tzid !== tzid)) {
    throw new Error(`${propName}: TZID ${tzid} is not defined by a VTIMEZONE in the file`);
  }
  // toJSDate() uses the zone attached to the time, i.e. the file's VTIMEZONE.
  return time.toJSDate().toISOString().replace(".000Z", "Z");
}

// ORGANIZER/ATTENDEE as ical.js reads them: the address and the CN parameter (RFC 6868 decoded).
function people(vevent, name) {
  return vevent.getAllProperties(name).map((prop) => ({ value: prop.getFirstValue(), cn: prop.getParameter("cn") ?? null }));
}

const events = calendar.getAllSubcomponents("vevent").map((vevent) => {
  const event = new ICAL.Event(vevent);
  return {
    uid: event.uid,
    summary: event.summary,
    description: event.description,
    location: event.location,
    sequence: event.sequence,
    status: vevent.getFirstPropertyValue("status"),
    start: utcIso(event.startDate, "dtstart", vevent),
    end: utcIso(event.endDate, "dtend", vevent),
    start_tzid: vevent.getFirstProperty("dtstart").getParameter("tzid") ?? null,
    organizers: people(vevent, "organizer"),
    attendees: people(vevent, "attendee"),
  };
});

const result = {
  method: calendar.getFirstPropertyValue("method"),
  prodid: calendar.getFirstPropertyValue("prodid"),
  timezones: zones,
  events,
};
process.stdout.write(JSON.stringify(result, null, 2) + "\n");
