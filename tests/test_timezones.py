"""Pure time-zone conversions and labels: DST edges, odd offsets, the viewer's own date."""

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
import pytz

from webinars import timezones
from webinars.timezones import UnknownZoneError, WallTimeError, localize, time_range, zone_time, zone_times_line


def paris(*args):
    return localize(datetime(*args), "Europe/Paris")


def test_seed_event_line_is_paris_and_tokyo():
    start = paris(2024, 3, 12, 10, 0)
    assert start == pytz.utc.localize(datetime(2024, 3, 12, 9, 0))
    assert zone_times_line(start, ["Europe/Paris", "Asia/Tokyo"]) == "10:00 Paris time | 18:00 Tokyo time"


def test_eu_and_us_dst_disagree_in_march():
    # The US moved to summer time on 10 March 2024, Europe only on 31 March.
    start = paris(2024, 3, 12, 10, 0)
    assert zone_time(start, "America/New_York").time == "05:00"
    assert zone_time(start, "America/New_York").abbreviation == "EDT"
    assert zone_time(start, "Europe/Paris").abbreviation == "CET"


def test_time_range_uses_the_abbreviation_in_force_on_that_date():
    summer = paris(2023, 10, 27, 16, 0)
    assert time_range(summer, summer + timedelta(minutes=75), "Europe/Paris") == "16:00 - 17:15 CEST"
    winter = paris(2023, 11, 3, 16, 0)
    assert time_range(winter, winter + timedelta(minutes=75), "Europe/Paris") == "16:00 - 17:15 CET"


def test_range_across_a_dst_change_names_both_abbreviations():
    start = paris(2023, 10, 29, 1, 30)  # clocks go back at 03:00 CEST
    assert time_range(start, start + timedelta(hours=2), "Europe/Paris") == "01:30 - 02:30 CEST/CET"


@pytest.mark.parametrize(
    ("local", "zone", "expected_utc", "abbreviation"),
    [
        (datetime(2024, 1, 15, 9, 0), "Australia/Sydney", datetime(2024, 1, 14, 22, 0), "AEDT"),
        (datetime(2024, 7, 15, 9, 0), "Australia/Sydney", datetime(2024, 7, 14, 23, 0), "AEST"),
        (datetime(2024, 3, 12, 15, 30), "Asia/Kolkata", datetime(2024, 3, 12, 10, 0), "IST"),
        (datetime(2024, 3, 12, 15, 45), "Asia/Kathmandu", datetime(2024, 3, 12, 10, 0), "UTC+05:45"),
        (datetime(2024, 7, 1, 12, 0), "America/New_York", datetime(2024, 7, 1, 16, 0), "EDT"),
        (datetime(2024, 12, 1, 12, 0), "America/New_York", datetime(2024, 12, 1, 17, 0), "EST"),
    ],
)
def test_localize_and_back(local, zone, expected_utc, abbreviation):
    instant = localize(local, zone)
    assert instant == pytz.utc.localize(expected_utc)
    back = timezones.to_zone(instant, zone)
    assert back.replace(tzinfo=None) == local
    assert timezones.abbreviation(back) == abbreviation


def test_kolkata_and_kathmandu_half_and_quarter_hours():
    start = localize(datetime(2024, 3, 12, 10, 0), "Europe/Paris")
    line = zone_times_line(start, ["Europe/Paris", "Asia/Kolkata", "Asia/Kathmandu"])
    assert line == "10:00 Paris time | 14:30 Kolkata time | 14:45 Kathmandu time"


def test_event_crossing_midnight_shows_the_viewers_date():
    # 09:00 Sydney on Wednesday 16 December is still Tuesday evening in New York.
    start = localize(datetime(2026, 12, 16, 9, 0), "Australia/Sydney")
    viewer = zone_time(start, "America/New_York")
    assert viewer.date == "Tuesday 15 December 2026"
    assert viewer.time == "17:00"
    event = zone_time(start, "Australia/Sydney")
    assert event.date == "Wednesday 16 December 2026"
    line = zone_times_line(start, ["Australia/Sydney", "America/New_York"])
    assert line == "09:00 Sydney time | 17:00 New York time (Tuesday 15 December 2026)"


def test_southern_hemisphere_summer_is_in_january():
    jan = localize(datetime(2024, 1, 10, 12, 0), "Australia/Sydney")
    jul = localize(datetime(2024, 7, 10, 12, 0), "Australia/Sydney")
    assert timezones.to_zone(jan, "Australia/Sydney").utcoffset() == timedelta(hours=11)
    assert timezones.to_zone(jul, "Australia/Sydney").utcoffset() == timedelta(hours=10)


def test_skipped_local_time_is_refused_with_a_clear_message():
    with pytest.raises(WallTimeError, match="does not exist"):
        localize(datetime(2024, 3, 31, 2, 30), "Europe/Paris")
    with pytest.raises(WallTimeError, match="does not exist"):
        localize(datetime(2024, 10, 6, 2, 30), "Australia/Sydney")


def test_repeated_local_time_is_refused_with_a_clear_message():
    with pytest.raises(WallTimeError, match="happens twice"):
        localize(datetime(2024, 10, 27, 2, 30), "Europe/Paris")
    with pytest.raises(WallTimeError, match="happens twice"):
        localize(datetime(2024, 11, 3, 1, 30), "America/New_York")


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "../../etc/passwd", "Europe/Paris\x00", "x" * 500, None, 5])
def test_unknown_zones_are_refused(name):
    assert not timezones.is_known_zone(name)
    with pytest.raises(UnknownZoneError):
        timezones.get_zone(name)


def test_long_date_is_written_out_for_people():
    assert zone_time(paris(2024, 3, 12, 10, 0), "Europe/Paris").date == "Tuesday 12 March 2024"


def test_utc_iso_for_time_elements():
    assert timezones.utc_iso(paris(2024, 3, 12, 10, 0)) == "2024-03-12T09:00:00Z"


def test_naive_instants_are_refused():
    with pytest.raises(ValueError):
        timezones.to_zone(datetime(2024, 3, 12, 9, 0), "Europe/Paris")


SCRIPT = """
from datetime import datetime, timedelta
from webinars.timezones import localize, zone_times_line, time_range, zone_time
s = localize(datetime(2024, 3, 12, 10, 0), "Europe/Paris")
print(s.isoformat())
print(zone_times_line(s, ["Europe/Paris", "Asia/Tokyo", "America/New_York"]))
print(time_range(s, s + timedelta(minutes=75), "Europe/Paris"))
print(zone_time(s, "Pacific/Chatham").date)
"""


def test_machine_time_zone_changes_nothing():
    def run(tz: str) -> str:
        env = {**os.environ, "TZ": tz}
        return subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
        ).stdout

    chatham = run("Pacific/Chatham")
    assert chatham == run("UTC")
    assert "10:00 Paris time | 18:00 Tokyo time | 05:00 New York time" in chatham


def test_summer_after_2037_keeps_daylight_saving_time():
    # pytz's tables end in 2037; later summers must not silently fall back to winter time.
    july = localize(datetime(2045, 7, 4, 10, 0), "Europe/Paris")
    assert july == pytz.utc.localize(datetime(2045, 7, 4, 8, 0))
    assert zone_time(july, "Europe/Paris").abbreviation == "CEST"
    assert zone_time(july, "America/New_York").time == "04:00"
    january = localize(datetime(2045, 1, 4, 10, 0), "Europe/Paris")
    assert january == pytz.utc.localize(datetime(2045, 1, 4, 9, 0))
    with pytest.raises(WallTimeError, match="does not exist"):
        localize(datetime(2045, 3, 26, 2, 30), "Europe/Paris")
    with pytest.raises(WallTimeError, match="happens twice"):
        localize(datetime(2045, 10, 29, 2, 30), "Europe/Paris")


# The machine's own tz database (/usr/share/zoneinfo, which the standard library's zoneinfo reads
# first) may be older or newer than pytz's: after 2037 the pages must still read pytz's data, the
# same as every invite's VTIMEZONE, or two calendars of one webinar would disagree.
OS_DATABASE_SCRIPT = """
from datetime import datetime
import pytz
from webinars.timezones import localize, time_range, zone_time
summer = localize(datetime(2040, 7, 4, 10, 0), "Europe/Paris")
print(summer.isoformat())
print(zone_time(pytz.utc.localize(datetime(2045, 1, 4, 12, 0)), "Europe/Paris").text)
print(time_range(summer, summer.replace(hour=9), "Europe/Paris"))
"""


def test_times_after_2037_do_not_depend_on_the_machines_tz_database(tmp_path):
    # A machine whose tz database is wrong about Paris (it holds Tokyo's rules under that name).
    fake = tmp_path / "zoneinfo" / "Europe"
    fake.mkdir(parents=True)
    with pytz.open_resource("Asia/Tokyo") as tokyo:
        (fake / "Paris").write_bytes(tokyo.read())
    env = {**os.environ, "PYTHONTZPATH": str(tmp_path / "zoneinfo")}
    result = subprocess.run([sys.executable, "-c", OS_DATABASE_SCRIPT], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["2040-07-04T08:00:00+00:00", "13:00 Paris time", "10:00 - 11:00 CEST"]


def _vtimezone_offset(zone: str, instant: datetime) -> timedelta:
    from icalendar import Calendar

    from webinars import ical

    component = ical.vtimezone(zone, for_instants=[instant])
    calendar = Calendar.from_ical(b"BEGIN:VCALENDAR\r\n" + component.to_ical() + b"END:VCALENDAR\r\n")
    return instant.astimezone(calendar.walk("VTIMEZONE")[0].to_tz(lookup_tzid=False)).utcoffset()


# Zones whose tz database entry pytz ships differs from older ones after 2037 (Alberta stays on
# UTC−06:00 all year), beside ordinary ones.
ZONES_AFTER_2037 = ["America/Edmonton", "Europe/Paris", "America/New_York", "Australia/Sydney", "America/Sao_Paulo"]


@pytest.mark.parametrize("zone", ZONES_AFTER_2037)
def test_pages_and_invites_agree_on_every_offset_after_2037(zone):
    for year in (2038, 2040, 2045):
        for month in (1, 4, 7, 10):
            instant = pytz.utc.localize(datetime(year, month, 15, 12, 0))
            shown = timezones.to_zone(instant, zone).utcoffset()
            assert shown == _vtimezone_offset(zone, instant), (zone, instant)


# Etc/GMT+5 is UTC−05:00: the tz database's names carry the POSIX sign, the opposite of what people
# write. Every Etc/ name pytz knows, in both languages: named by its offset, with the sign people read.
ETC_NAMES = [name for name in pytz.all_timezones if name.startswith("Etc/")]


def _etc_offset(name: str) -> timedelta:
    number = name.removeprefix("Etc/GMT")
    return -timedelta(hours=int(number)) if number.lstrip("+-").isdigit() else timedelta(0)


@pytest.mark.parametrize("language", ["en", "fr"])
def test_fixed_offset_zones_are_named_by_their_offset_with_the_sign_people_write(sqlite_app, language):
    from webinars.language import in_language

    instant = pytz.utc.localize(datetime(2030, 3, 12, 8, 0))
    assert len(ETC_NAMES) > 30
    with sqlite_app.test_request_context("/"), in_language(language):
        for name in ETC_NAMES:
            zone = timezones.canonical_zone(name)
            offset = _etc_offset(name)
            expected = "UTC" if not offset else timezones.utc_offset(offset)
            assert timezones.zone_label(zone) == expected, name
            assert zone_time(instant, zone).text == f"{(instant + offset):%H:%M} {expected}", name
            assert f" | {(instant + offset):%H:%M} {expected}" in zone_times_line(instant, ["UTC", zone]), name
            # The pickers list GMT under its own name beside UTC; every other name is its offset.
            assert timezones.zone_place(zone) in ({"UTC", "GMT"} if not offset else {expected}), name
            assert timezones.zone_city(zone) in ({"UTC", "GMT"} if not offset else {expected}), name


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_card_in_a_fixed_offset_zone_shows_the_offset(sqlite_app, language):
    from tests.factories import make_webinar
    from tests.test_content import text_of
    from webinars.extensions import db

    with sqlite_app.app_context():
        make_webinar(title="Offsets", local_start=datetime(2030, 6, 4, 10, 0), timezone="Europe/Paris")
        db.session.commit()
    client = sqlite_app.test_client()
    client.set_cookie("lang", language)
    page = text_of(client.get("/?tz=Etc/GMT%2B5"))  # what people read (option values keep the id)
    assert "03:00 UTC\u221205:00" in page  # 10:00 in Paris, summer: 08:00 UTC, 03:00 at UTC−05:00
    assert not re.search(r"GMT ?[+\-\u2212]", page)  # the picker still offers "GMT" itself, beside UTC


def test_french_writes_the_first_of_the_month_as_1er():
    from datetime import date

    assert timezones.long_date(date(2027, 4, 1), "fr_FR") == "jeudi 1er avril 2027"
    assert timezones.day_date(date(2027, 4, 1), "fr_FR") == "1er avril 2027"
    assert timezones.long_date(date(2027, 4, 2), "fr_FR") == "vendredi 2 avril 2027"
    assert timezones.day_date(date(2027, 4, 11), "fr_FR") == "11 avril 2027"  # only the first
    assert timezones.long_date(date(2027, 4, 1), "en_GB") == "Thursday 1 April 2027"
    first = pytz.utc.localize(datetime(2027, 4, 1, 8, 0))
    assert zone_time(first, "Europe/Paris", "fr_FR").date == "jeudi 1er avril 2027"


# -- the names browsers and people send ---------------------------------------------------------------

# Chromium reports ICU's names, which are the tz database's old ones for these places.
BROWSER_NAMES = [
    ("Asia/Calcutta", "Asia/Kolkata"),
    ("Asia/Katmandu", "Asia/Kathmandu"),
    ("America/Buenos_Aires", "America/Argentina/Buenos_Aires"),
    ("Europe/Kiev", "Europe/Kyiv"),
    ("Asia/Saigon", "Asia/Ho_Chi_Minh"),
    ("Asia/Rangoon", "Asia/Yangon"),
    ("America/Godthab", "America/Nuuk"),
]


@pytest.mark.parametrize(("name", "current"), BROWSER_NAMES)
def test_names_browsers_report_become_the_current_iana_name(name, current):
    assert timezones.canonical_zone(name) == current
    assert current in timezones.selectable_zones()


@pytest.mark.parametrize(
    ("name", "current"),
    [
        ("US/Eastern", "America/New_York"),
        ("us/eastern", "America/New_York"),
        ("Canada/Pacific", "America/Vancouver"),
        ("asia/tokyo", "Asia/Tokyo"),
        (" Europe/Paris ", "Europe/Paris"),
        # Universal time has one name, the one people read.
        ("utc", "UTC"),
        ("Etc/UTC", "UTC"),
        ("Etc/Zulu", "UTC"),
        ("Universal", "UTC"),
        # A country's own zone name stays, even where the tz database now links it to a neighbour.
        ("Europe/Amsterdam", "Europe/Amsterdam"),
        ("Europe/Oslo", "Europe/Oslo"),
    ],
)
def test_links_and_spellings_become_one_name(name, current):
    assert timezones.canonical_zone(name) == current


def test_est_follows_the_tz_database_a_fixed_five_hours_behind_utc():
    # EST is not New York (which keeps EDT in summer): whatever zone tzdata names, it never moves.
    name = timezones.canonical_zone("EST")
    for month in (1, 7):
        instant = pytz.utc.localize(datetime(2030, month, 1, 12, 0))
        assert timezones.to_zone(instant, name).utcoffset() == timedelta(hours=-5)


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "../../etc/passwd", "Europe/Paris\x00", "x" * 500, None, 5])
def test_unknown_names_have_no_canonical_name(name):
    assert timezones.canonical_zone_or_none(name) is None
    with pytest.raises(UnknownZoneError):
        timezones.canonical_zone(name)


def test_every_known_name_has_a_canonical_name_that_pytz_loads():
    for name in pytz.all_timezones:
        canonical = timezones.canonical_zone(name)
        assert timezones.canonical_zone(canonical) == canonical
        assert timezones.is_known_zone(canonical)


def test_pickers_offer_each_zone_under_its_current_name_only():
    offered = timezones.selectable_zones()
    assert all(timezones.canonical_zone(name) == name for name in offered)
    assert "US/Eastern" not in offered and "Canada/Eastern" not in offered
    assert {"America/New_York", "Asia/Kolkata", "UTC", "Europe/Amsterdam"} <= set(offered)


def test_the_link_map_for_the_browser_names_every_alias():
    links = timezones.zone_links()
    for name, current in BROWSER_NAMES:
        assert links[name] == current
    assert links["US/Eastern"] == "America/New_York"
    assert "Europe/Paris" not in links  # a current name maps to itself, so it is left out
