"""Attendance from the webinar platform's participant report: Zoom's and Teams' real layouts (blocks
before the table, BOMs, UTF-16, tabs and semicolons, several rows per person, day-first and month-first
dates), the command and the upload form, attended and no-show on each registration, the attendance
rate in the admin and the CSV, and hostile files that never cause a 5xx."""

from __future__ import annotations

import codecs
import csv
import io
import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from tests._support.forms import csrf_token, post_form
from tests.factories import make_webinar
from tests.test_admin import signed_in
from webinars.database import utcnow
from webinars.extensions import db
from webinars.registrations.models import AttendanceImport, Registration
from webinars.registrations.operations import cancel_registration, register
from webinars.registrations.participant_reports import ReportError, date_order, parse_minutes, read_report
from webinars.timezones import localize

DAY = date(2024, 3, 5)

# Zoom: Reports > Usage > Participants > Export, "Export with meeting data" ticked: a block about the
# meeting (with the host's address), a blank line, then one row per join. UTF-8 with a BOM.
ZOOM_WITH_MEETING_DATA = (
    codecs.BOM_UTF8
    + (
        "Meeting ID,Topic,Start Time,End Time,User Email,Duration (Minutes),Participants\r\n"
        "812 3456 7890,Community wealth building,03/05/2024 09:55:01 AM,03/05/2024 11:20:40 AM,"
        "host@forum.example,86,4\r\n"
        "\r\n"
        "Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest,Recording Consent\r\n"
        "Forum host,host@forum.example,03/05/2024 09:55:01 AM,03/05/2024 11:20:40 AM,86,No,Y\r\n"
        "Ana Lima,Ana@Example.org,03/05/2024 10:01:12 AM,03/05/2024 10:31:00 AM,30,Yes,Y\r\n"
        "Ana Lima (phone),ana@example.org,03/05/2024 10:20:00 AM,03/05/2024 10:45:00 AM,25,Yes,Y\r\n"
        "Ana Lima,ana@example.org,03/05/2024 10:50:00 AM,03/05/2024 11:10:00 AM,20,Yes,Y\r\n"
        "José Núñez,jose@bücher.example,03/05/2024 10:05:00 AM,03/05/2024 11:00:00 AM,55,Yes,Y\r\n"
        "Dial-in user,,03/05/2024 10:00:00 AM,03/05/2024 10:30:00 AM,30,Yes,\r\n"
        "Gate crasher,crasher@example.net,03/05/2024 10:00:00 AM,03/05/2024 10:10:00 AM,10,Yes,Y\r\n"
    ).encode()
)

# Teams: the meeting's Attendance tab > Download: UTF-16 with tabs, a summary block, the participants,
# then each join again under "In-Meeting Activities" (which must not count twice).
TEAMS = codecs.BOM_UTF16_LE + (
    "1. Summary\r\n"
    "Meeting title\tCommunity wealth building\r\n"
    "Attended participants\t3\r\n"
    "Start time\t3/5/24, 9:55:01 AM\r\n"
    "End time\t3/5/24, 11:20:40 AM\r\n"
    "Meeting duration\t1h 25m 39s\r\n"
    "Average attendance time\t52m 10s\r\n"
    "\r\n"
    "2. Participants\r\n"
    "Name\tFirst Join\tLast Leave\tIn-Meeting Duration\tEmail\tParticipant ID (UPN)\tRole\r\n"
    "Forum host\t3/5/24, 9:55:01 AM\t3/5/24, 11:20:40 AM\t1h 25m 39s\thost@forum.example\thost@forum.example\t"
    "Organizer\r\n"
    "Ana Lima\t3/5/24, 10:01:12 AM\t3/5/24, 11:10:00 AM\t1h 4m 48s\tana@example.org\t\tAttendee\r\n"
    "José Núñez\t3/5/24, 10:05:00 AM\t3/5/24, 11:00:00 AM\t55m\tjose@xn--bcher-kva.example\t\tAttendee\r\n"
    "\r\n"
    "3. In-Meeting Activities\r\n"
    "Name\tJoin Time\tLeave Time\tDuration\tEmail\tRole\r\n"
    "Ana Lima\t3/5/24, 10:01:12 AM\t3/5/24, 10:31:00 AM\t29m 48s\tana@example.org\tAttendee\r\n"
    "Ana Lima\t3/5/24, 10:20:00 AM\t3/5/24, 11:10:00 AM\t50m\tana@example.org\tAttendee\r\n"
    "José Núñez\t3/5/24, 10:05:00 AM\t3/5/24, 11:00:00 AM\t55m\tjose@xn--bcher-kva.example\tAttendee\r\n"
).encode("utf-16-le")

# Zoom's webinar attendee report: report details, then hosts, panelists and attendees apart, each with
# the same columns; "Attended: No" lists a registrant who never came.
ZOOM_WEBINAR = (
    b"Attendee Report\n"
    b'Report Generated:,"Mar 5, 2024 11:30 AM"\n'
    b"Topic,Webinar ID,Actual Start Time,Actual Duration (minutes),# Registered,# Cancelled,Unique Viewers\n"
    b'Community wealth building,812 3456 7890,"Mar 5, 2024 09:55 AM",86,3,0,2\n'
    b"\n"
    b"Host Details\n"
    b"Attended,User Name (Original Name),Email,Join Time,Leave Time,Time in Session (minutes),Is Guest,"
    b"Country/Region Name\n"
    b"Yes,Forum host,host@forum.example,2024-03-05 09:55:01,2024-03-05 11:20:40,86,No,France\n"
    b"\n"
    b"Attendee Details\n"
    b"Attended,User Name (Original Name),Email,Join Time,Leave Time,Time in Session (minutes),Is Guest,"
    b"Country/Region Name\n"
    b"Yes,Ana Lima,ana@example.org,2024-03-05 10:01:12,2024-03-05 11:10:00,69,Yes,Portugal\n"
    b"No,Bea Ortiz,bea@example.org,--,--,--,Yes,Spain\n"
)

# A spreadsheet saved in a European locale: semicolons, day-first dates, Windows-1252.
EUROPEAN = (
    "Nom;E-mail;Join time;Leave time;Duration (minutes)\r\n"
    "Ana Lima;ana@example.org;05/03/2024 10:01;05/03/2024 11:10;69\r\n"
    "Zoé Brun;zoe@example.org;05/03/2024 10:30;05/03/2024 10:40;10\r\n"
).encode("cp1252")


# -- reading reports (no database) --------------------------------------------------------------------


def test_zoom_with_meeting_data_reads_the_participants_block_and_merges_each_persons_rows():
    report = read_report(ZOOM_WITH_MEETING_DATA, webinar_day=DAY)
    assert report.platform == "Zoom"
    assert report.columns == {
        "email": "User Email",
        "join": "Join Time",
        "leave": "Leave Time",
        "duration": "Duration (Minutes)",
    }
    ana = report.people["ana@example.org"]
    assert ana.rows == 3
    assert ana.first_join == datetime(2024, 3, 5, 10, 1, 12) and ana.last_leave == datetime(2024, 3, 5, 11, 10)
    # 10:01:12-10:45 (two overlapping devices count once) and 10:50-11:10: 43.8 + 20 minutes.
    assert ana.minutes == 64
    assert set(report.people) == {"host@forum.example", "ana@example.org", "jose@bücher.example", "crasher@example.net"}
    assert report.skipped_rows == 1  # the dial-in without an address


def test_teams_utf16_report_reads_the_participants_and_not_the_activities_again():
    report = read_report(TEAMS, webinar_day=DAY)
    assert report.platform == "Microsoft Teams"
    assert report.columns == {
        "email": "Email",
        "join": "First Join",
        "leave": "Last Leave",
        "duration": "In-Meeting Duration",
    }
    assert set(report.people) == {"host@forum.example", "ana@example.org", "jose@xn--bcher-kva.example"}
    assert report.people["ana@example.org"].rows == 1
    assert report.people["ana@example.org"].first_join == datetime(2024, 3, 5, 10, 1, 12)
    assert report.people["jose@xn--bcher-kva.example"].minutes == 55


def test_teams_report_saved_as_utf8_with_a_bom_and_commas_reads_the_same():
    text = TEAMS[len(codecs.BOM_UTF16_LE) :].decode("utf-16-le")
    rows = [line.split("\t") for line in text.split("\r\n")]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    report = read_report(codecs.BOM_UTF8 + buffer.getvalue().encode(), webinar_day=DAY)
    assert set(report.people) == {"host@forum.example", "ana@example.org", "jose@xn--bcher-kva.example"}
    assert report.columns["join"] == "First Join"


def test_zoom_webinar_report_reads_every_block_of_attendees_and_leaves_out_those_who_never_came():
    report = read_report(ZOOM_WEBINAR, webinar_day=DAY)
    assert set(report.people) == {"host@forum.example", "ana@example.org"}
    assert report.columns["attended"] == "Attended"
    assert report.columns["duration"] == "Time in Session (minutes)"
    assert report.people["ana@example.org"].minutes == 69


def test_semicolons_and_day_first_dates_of_a_european_spreadsheet():
    report = read_report(EUROPEAN, webinar_day=DAY)
    assert report.columns == {
        "email": "E-mail",
        "join": "Join time",
        "leave": "Leave time",
        "duration": "Duration (minutes)",
    }
    assert report.people["zoe@example.org"].first_join == datetime(2024, 3, 5, 10, 30)


def test_a_date_order_that_both_readings_allow_is_settled_by_the_webinars_day():
    values = ["03/05/2024 10:00", "03/05/2024 11:00"]
    assert date_order(values, date(2024, 3, 5)) == "mdy"
    assert date_order(values, date(2024, 5, 3)) == "dmy"
    assert date_order(["13/05/2024 10:00"], date(2024, 3, 5)) == "dmy"  # only one reading exists
    assert date_order(["2024-03-05T10:00:00Z"], None) == "ymd"
    assert date_order(["yesterday"], DAY) is None


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("58", 58),
        ("58.5", 58.5),
        ("1h 2m 3s", 62.05),
        ("45 min", 45),
        ("1:02:03", 62.05),
        ("02:30", 2.5),
        ("", None),
        ("--", None),
    ],
)
def test_durations_as_the_platforms_write_them(text, minutes):
    found = parse_minutes(text)
    assert found == pytest.approx(minutes, abs=0.01) if minutes is not None else found is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x01\x02\xff" * 100,
        b"Full Name\tUser Action\tTimestamp\r\nAna\tJoined\t3/5/2024, 10:01:12 AM\r\n",  # Teams 2020: no addresses
        b"name,email\r\nana,ana@example.org\r\n",  # no join time or duration
        b"User Email,Join Time\r\n" + b"a" * 200_000 + b"@x.org,1\r\n",
        b'User Email,Join Time\r\n"unterminated,\r\n',
        b"User Email,Join Time\r\n=cmd|' /C calc'!A0@x.org,03/05/2024 10:00\r\n",
    ],
)
def test_a_file_that_is_no_participant_report_is_refused_with_a_reason_or_read_harmlessly(data):
    try:
        report = read_report(data, webinar_day=DAY)
    except ReportError as error:
        assert str(error)
    else:
        assert all("@" in address for address in report.people)


# -- marking registrations ----------------------------------------------------------------------------


def _webinar_with_registrants(app) -> int:
    with app.app_context():
        webinar = make_webinar(starts_at=localize(datetime(2024, 3, 5, 10, 0), "Europe/Paris"), slug="past", capacity=3)
        now = webinar.starts_at - timedelta(days=2)
        for name, email in [
            ("Ana", "ana@example.org"),
            ("José", "jose@xn--bcher-kva.example"),
            ("Lou", "lou@example.org"),
            ("Max", "max@example.org"),  # waitlisted (capacity 3)
        ]:
            register(webinar, name=name, email=email, now=now)
        cancelled = register(webinar, name="Cid", email="cid@example.org", now=now)
        cancel_registration(db.session.get(Registration, cancelled.id), now=now)
        db.session.commit()
        return webinar.id


def _attendance(app) -> dict[str, tuple]:
    with app.app_context():
        rows = db.session.scalars(select(Registration).order_by(Registration.id))
        return {r.email: (r.status, r.attended, r.attended_minutes) for r in rows}


def test_the_command_marks_attended_and_no_shows_and_says_which_columns_it_used(app, runner, tmp_path):
    webinar_id = _webinar_with_registrants(app)
    path = tmp_path / "participants_81234567890.csv"
    path.write_bytes(ZOOM_WITH_MEETING_DATA)
    result = runner.invoke(args=["attendance", "import", "past", str(path)])
    assert result.exit_code == 0, result.output
    columns = "email: “User Email”; join time: “Join Time”; leave time: “Leave Time”; duration: “Duration (Minutes)”"
    assert f"Columns used: {columns}." in result.output
    assert "2 attended, 1 no-show, 2 participants not registered." in result.output
    attendance = _attendance(app)
    assert attendance["ana@example.org"] == ("confirmed", True, 64)
    assert attendance["jose@xn--bcher-kva.example"] == ("confirmed", True, 55)
    assert attendance["lou@example.org"] == ("confirmed", False, None)
    assert attendance["max@example.org"][1:] == (None, None)  # on the waiting list: held no seat
    assert attendance["cid@example.org"] == ("cancelled", None, None)
    with app.app_context():
        ana = db.session.scalar(select(Registration).where(Registration.email == "ana@example.org"))
        # 10:01:12 in the webinar's zone (Paris, UTC+1 in March) is 09:01:12 UTC.
        assert ana.joined_at == localize(datetime(2024, 3, 5, 10, 1, 12), "Europe/Paris")
        record = db.session.scalar(select(AttendanceImport))
        assert (record.webinar_id, record.platform, record.attended, record.no_shows, record.unregistered) == (
            webinar_id,
            "Zoom",
            2,
            1,
            2,
        )


def test_a_new_import_replaces_the_last_and_a_dry_run_changes_nothing(app, runner, tmp_path):
    _webinar_with_registrants(app)
    first, second = tmp_path / "zoom.csv", tmp_path / "teams.csv"
    first.write_bytes(ZOOM_WITH_MEETING_DATA)
    second.write_bytes(EUROPEAN)
    runner.invoke(args=["attendance", "import", "past", str(first)])
    dry = runner.invoke(args=["attendance", "import", "past", str(second), "--dry-run"])
    assert dry.exit_code == 0 and "nothing changed" in dry.output
    assert _attendance(app)["jose@xn--bcher-kva.example"][1] is True
    runner.invoke(args=["attendance", "import", "past", str(second), "--min-minutes", "15"])
    attendance = _attendance(app)
    assert attendance["ana@example.org"][1:] == (True, 69)
    assert attendance["jose@xn--bcher-kva.example"][1] is False  # not in the new report


def test_the_command_refuses_an_unknown_webinar_a_future_one_and_a_file_it_cannot_read(app, runner, tmp_path):
    _webinar_with_registrants(app)
    with app.app_context():
        make_webinar(local_start=datetime(2031, 1, 1, 10, 0), slug="future")
        db.session.commit()
    path = tmp_path / "report.csv"
    path.write_bytes(b"name,email\r\nana,ana@example.org\r\n")
    assert "No webinar has the slug" in runner.invoke(args=["attendance", "import", "nope", str(path)]).output
    assert "has not started yet" in runner.invoke(args=["attendance", "import", "future", str(path)]).output
    unreadable = runner.invoke(args=["attendance", "import", "past", str(path)])
    assert unreadable.exit_code != 0 and "No column of email addresses" in unreadable.output


def _upload(client, webinar_id: int, data: bytes, filename: str = "report.csv", **fields):
    url = f"/admin/webinars/{webinar_id}/attendance"
    form = {"csrf_token": csrf_token(client, url), "zone": "Europe/Paris", "min_minutes": "0", **fields}
    form["report"] = (io.BytesIO(data), filename)
    return client.post(url, data=form, content_type="multipart/form-data")


def test_the_upload_form_imports_teams_and_the_rate_shows_in_the_admin_and_the_csvs(app, client):
    webinar_id = _webinar_with_registrants(app)
    organiser = signed_in(app, client)
    response = _upload(organiser, webinar_id, TEAMS, "Community wealth building - Attendance report.csv")
    assert response.status_code == 303
    page = organiser.get(response.headers["Location"]).get_data(as_text=True)
    columns = "email: “Email”; join time: “First Join”; leave time: “Last Leave”; duration: “In-Meeting Duration”"
    assert f"Columns used: {columns}" in page
    assert "Attended: 2" in page and "No-shows: 1" in page and "Microsoft Teams" in page
    webinar_page = organiser.get(f"/admin/webinars/{webinar_id}").get_data(as_text=True)
    assert "Attendance rate: 67%" in webinar_page
    listing = organiser.get("/admin/").get_data(as_text=True)
    assert '<td data-label="Attended" class="count-attended">2 <span class="small">(67%)</span></td>' in listing
    rows = list(
        csv.DictReader(
            io.StringIO(
                organiser.get(f"/admin/webinars/{webinar_id}/registrations.csv").get_data(as_text=True).lstrip("\ufeff")
            )
        )
    )
    by_email = {row["email"]: row for row in rows}
    assert (by_email["ana@example.org"]["attended"], by_email["ana@example.org"]["minutes attended"]) == (
        "attended",
        "65",
    )
    assert by_email["lou@example.org"]["attended"] == "no-show"
    assert by_email["max@example.org"]["attended"] == ""
    summary = list(
        csv.DictReader(io.StringIO(organiser.get("/admin/webinars.csv").get_data(as_text=True).lstrip("\ufeff")))
    )
    [past] = [row for row in summary if row["slug"] == "past"]
    assert (past["attended"], past["no-shows"], past["attendance rate (%)"]) == ("2", "1", "66.7")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00" * 5000,
        b"\xff\xfe" + b"\x00\xd8" * 1000,
        b"name,email\r\nana,ana@example.org\r\n",
        b"a,b\r\n" * 100_001,
    ],
)
def test_a_hostile_upload_gets_its_reason_beside_the_field_never_a_5xx(app, client, data):
    webinar_id = _webinar_with_registrants(app)
    organiser = signed_in(app, client)
    response = _upload(organiser, webinar_id, data)
    assert response.status_code == 422
    assert '<p class="error" id="report-error" role="alert">' in response.get_data(as_text=True)
    assert _attendance(app)["ana@example.org"][1] is None


@pytest.mark.parametrize(
    "data",
    [
        b"User Email,Join Time,Leave Time\r\nana@example.org,0001-01-01 00:00,9999-12-31 23:59\r\n",
        b"User Email,Join Time,Duration (Minutes)\r\nana@example.org,03/05/2024 10:00,99999999999999999999\r\n",
        "User Email;Join Time\r\n\u202eana@example.org\u200b;03/05/2024 10:00\r\n".encode(),
        b"Email,Join Time\r\n" + b"ana@example.org,03/05/2024 10:00\r\n" * 5000,
    ],
)
def test_odd_values_in_a_readable_report_never_cause_a_5xx(app, client, data):
    webinar_id = _webinar_with_registrants(app)
    organiser = signed_in(app, client)
    response = _upload(organiser, webinar_id, data)
    assert response.status_code in (303, 422), response.status_code


@pytest.mark.app_config(MAX_CONTENT_LENGTH=64 * 1024)
def test_an_upload_larger_than_the_limit_gets_a_413_page(app, client):
    webinar_id = _webinar_with_registrants(app)
    organiser = signed_in(app, client)
    # Over the limit, under the test client's 500 kB threshold for a temporary file it would leave open.
    response = _upload(organiser, webinar_id, ZOOM_WITH_MEETING_DATA * 100)
    assert response.status_code == 413 and "too large" in response.get_data(as_text=True)


def test_attendance_of_a_webinar_that_has_not_started_cannot_be_imported(app, client):
    organiser = signed_in(app, client)
    with app.app_context():
        webinar_id = make_webinar(starts_at=utcnow() + timedelta(days=3)).id
        db.session.commit()
    page = organiser.get(f"/admin/webinars/{webinar_id}/attendance")
    assert "has not started yet" in page.get_data(as_text=True)
    assert _upload(organiser, webinar_id, TEAMS).status_code == 409


# -- the recording, afterwards ------------------------------------------------------------------------


def _imported(app, runner, tmp_path) -> int:
    webinar_id = _webinar_with_registrants(app)
    path = tmp_path / "zoom.csv"
    path.write_bytes(ZOOM_WITH_MEETING_DATA)
    assert runner.invoke(args=["attendance", "import", "past", str(path)]).exit_code == 0
    return webinar_id


def _followups(smtp_server) -> dict[str, str]:
    return {m.rcpt_tos[0]: m.subject for m in smtp_server.messages if "recording" in m.subject}


def test_adding_the_recording_can_send_thanks_to_attendees_and_sorry_to_no_shows_once(
    app, runner, client, smtp_server, tmp_path
):
    webinar_id = _imported(app, runner, tmp_path)
    organiser = signed_in(app, client)
    form = organiser.get(f"/admin/webinars/{webinar_id}/edit").get_data(as_text=True)
    assert "Email the recording to attendees and no-shows" in form
    with app.app_context():
        from webinars.outbox.sender import deliver_due

        deliver_due()
    smtp_server.clear()
    edit = organiser.get(f"/admin/webinars/{webinar_id}/edit")
    import html as html_module

    from tests._support.forms import csrf_token_from_html

    page = edit.get_data(as_text=True)
    fields = dict(re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', page))
    data = {
        name: html_module.unescape(value)
        for name, value in fields.items()
        if name not in ("notify", "confirm_registrations", "send_recording", "csrf_token")
    }
    data.update(
        csrf_token=csrf_token_from_html(page),
        recording_url="https://video.example.org/forum",
        send_recording="y",
        timezone="Europe/Paris",
        duration_minutes="60",
    )
    response = organiser.post(f"/admin/webinars/{webinar_id}/edit", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    shown = organiser.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 thank-you and 1 sorry-we-missed-you" in shown, re.findall(r"role=\"status\">([^<]*)", shown)
    with app.app_context():
        from webinars.outbox.sender import deliver_due

        deliver_due()
    sent = _followups(smtp_server)
    assert set(sent) == {"ana@example.org", "jose@xn--bcher-kva.example", "lou@example.org"}
    assert sent["ana@example.org"].startswith("Thank you for joining us")
    assert sent["lou@example.org"].startswith("Sorry we missed you")
    assert "https://video.example.org/forum" in smtp_server.messages_to("lou@example.org")[-1].body("plain")
    # Pressing the button on the attendance page afterwards sends nobody anything twice.
    again = post_form(
        organiser,
        f"/admin/webinars/{webinar_id}/attendance/followups",
        {},
        form_url=f"/admin/webinars/{webinar_id}/attendance",
    )
    assert "already been sent the recording" in organiser.get(again.headers["Location"]).get_data(as_text=True)
    smtp_server.clear()
    with app.app_context():
        from webinars.outbox.sender import deliver_due

        deliver_due()
    assert _followups(smtp_server) == {}


def test_the_recording_button_waits_for_the_recordings_address(app, runner, client, smtp_server, tmp_path):
    webinar_id = _imported(app, runner, tmp_path)
    organiser = signed_in(app, client)
    page = organiser.get(f"/admin/webinars/{webinar_id}/attendance").get_data(as_text=True)
    assert "Once the recording’s address is in the webinar" in page
    response = post_form(
        organiser,
        f"/admin/webinars/{webinar_id}/attendance/followups",
        {},
        form_url=f"/admin/webinars/{webinar_id}/attendance",
    )
    assert "Add the recording’s address to the webinar first." in organiser.get(response.headers["Location"]).get_data(
        as_text=True
    )
    with app.app_context():
        from webinars.catalogue.models import Webinar

        db.session.get(Webinar, webinar_id).recording_url = "https://video.example.org/r"
        db.session.commit()
    response = post_form(
        organiser,
        f"/admin/webinars/{webinar_id}/attendance/followups",
        {},
        form_url=f"/admin/webinars/{webinar_id}/attendance",
    )
    assert "2 thank-you and 1 sorry-we-missed-you" in organiser.get(response.headers["Location"]).get_data(as_text=True)
