"""Demo data: the two seed webinars exactly as the seed pages state them, plus upcoming ones, and the
seed thematic page's topic ("Worker cooperatives", with its description and date).

Upcoming webinars are dated relative to today, in several zones, so that a newcomer sees a
living site with open registration.
"""

from datetime import date, datetime, time, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select

from ..database import utcnow
from ..extensions import db
from ..timezones import localize, to_zone
from .models import AgendaSection, Partner, Speaker, Topic, Webinar, new_ical_uid

TOPICS = {
    "social-economy": "Social economy",
    "cooperatives": "Co-operatives",
    "local-development": "Local development",
    "future-of-work": "Future of work",
    "digital-economy": "Digital economy",
    "worker-cooperatives": "Worker cooperatives",
}

# Seed 002, the ILO's thematic page "SSE: Worker cooperatives": its description and date, verbatim.
TOPIC_PAGES = {
    "worker-cooperatives": (
        "Worker cooperatives are emerging as an organizational model responding to the changes within the world "
        "of work. They have a specific democratic governance structure of member-worker-owners, where decisions are "
        "made by those directly involved in the enterprise. Any type of business can be worker-owned and controlled "
        "as a cooperative, and worker cooperatives can provide ways for organizing new forms of work with less "
        "dependence on the employer and increased flexibility and collaboration among workers. The ILO’s work on "
        "worker cooperatives looks into how they are being used as a response strategy to the changes in the world "
        "of work, including through union engagement, worker buyouts, cooperatives of freelancers, as well as "
        "cooperatives using online platforms.",
        date(2021, 7, 2),
    ),
}

LEED = Partner(
    name="OECD Local Employment and Economic Development (LEED) Programme",
    description=(
        "The mission of the Local Employment and Economic Development Programme (LEED) is to build vibrant "
        "communities with more and better quality jobs for all. Since 1982, the Programme has been supporting "
        "national and local governments through tailored reviews and capacity building activities, as well as "
        "research and good practice reports on innovative approaches to local development."
    ),
)

SEED_WEBINARS = [
    {
        "slug": "worker-co-operatives-across-continents",
        "title": "Worker co-operatives across continents: Policy and practical experiences from Japan and beyond",
        "title_fr": (
            "Les coopératives de travail sur tous les continents\u00a0: politiques et expériences du Japon "
            "et d’ailleurs"
        ),
        "summary_fr": (
            "En 2020, le Parlement japonais a adopté à l’unanimité une loi inédite sur les coopératives de travail, "
            "qui donne pour la première fois un cadre juridique unique au mouvement coopératif du pays."
        ),
        "summary": (
            "In 2020, the Japanese legislature unanimously approved a groundbreaking law focusing on worker "
            "co-operatives, providing for the first time a centralised legal framework for the country’s "
            "worker co-operative movement."
        ),
        "description": (
            "In 2020, the Japanese legislature unanimously approved a groundbreaking law focusing on worker "
            "co-operatives, providing for the first time a centralised legal framework for the country’s worker "
            "co-operative movement. Worker co-operatives are active in many countries, and across economic and "
            "social sectors (e.g., agriculture, education, industry, culture, services, infrastructure such as "
            "electricity and water etc.). They prioritise the provision of work/employment for their "
            "worker-members who also manage the co-operative.\n\n"
            "To explore the implications of this law and help chart the course for the future, the OECD is "
            "partnering with the Japan Institute for Labour Policy and Training (JILPT) for this international "
            "knowledge-sharing webinar. Join us to hear from policy makers and practitioners in Japan, France, "
            "Korea, Spain, and the United Kingdom, as well as other international experts such as the "
            "International Cooperative Alliance (ICA) to discuss topics such as how to increase uptake of the "
            "law and maximise the potential contributions of worker co-operatives to addressing social and "
            "economic challenges."
        ),
        # "12 March 2024 · 10:00 Paris time | 18:00 Tokyo time"; the seed gives no end time.
        "local_start": (date(2024, 3, 12), time(10, 0)),
        "timezone": "Europe/Paris",
        "display_zones": ["Europe/Paris", "Asia/Tokyo"],
        "duration_minutes": 120,
        "topics": ["cooperatives", "social-economy", "future-of-work", "worker-cooperatives"],
        "sections": [
            ("Opening remarks", []),
            ("Setting the scene", []),
            ("Panel discussion", []),
            ("International experiences", []),
        ],
        "partners": [
            (
                "About the event",
                "This webinar is organised in partnership between the OECD Local Employment and Economic "
                "Development (LEED) Programme and the Japan Institute for Labour Policy and Training as part of "
                "the Local Development Forum and contributing to LEED’s work on social economy and social "
                "innovation.",
            ),
            (
                "OECD Centre for Entrepreneurship, SMEs, Regions and Cities (CFE)",
                "The OECD’s Centre for Entrepreneurship, SMEs, Regions and Cities (CFE) provides comparative "
                "statistics, analysis and capacity building for local and national actors to work together to "
                "unleash the potential of entrepreneurs and small and medium-sized enterprises, promote inclusive "
                "and sustainable regions and cities, boost local job creation, and support sound tourism "
                "policies.",
            ),
            (LEED.name, LEED.description),
            ("Japan Institute for Labour Policy and Training (JILPT)", ""),
        ],
    },
    {
        "slug": "platform-cooperatives-good-jobs-great-places",
        "title": "Platform cooperatives: Building good jobs and great places",
        "title_fr": "Les coopératives de plateforme\u00a0: des emplois de qualité et des territoires vivants",
        "summary_fr": (
            "Les coopératives de plateforme pourraient transformer l’économie numérique en rendant le pouvoir aux "
            "utilisateurs, aux travailleurs et aux communautés locales."
        ),
        "summary": (
            "Platform cooperatives have the potential to reshape the digital economy by putting power back into "
            "the hands of users, workers and local communities."
        ),
        "description": (
            "Platform cooperatives have the potential to reshape the digital economy by putting power back into "
            "the hands of users, workers and local communities. By combining digital tools with shared ownership "
            "and democratic decision-making, they can foster better distribution of value among their members "
            "and users, provide better working conditions, and support local development. This cooperative model "
            "empowers individuals and communities to collaboratively build and benefit from the platforms they "
            "participate in, to shape a more equitable and inclusive digital ecosystem.\n\n"
            "The webinar gathered policy makers, experts and practitioners to discuss how platform cooperatives "
            "open up new possibilities for local development and quality jobs, and to present new OECD work."
        ),
        # "27 October 2023 | 16:00 - 17:15 CEST"
        "local_start": (date(2023, 10, 27), time(16, 0)),
        "timezone": "Europe/Paris",
        "display_zones": ["Europe/Paris"],
        "duration_minutes": 75,
        "topics": ["cooperatives", "digital-economy", "local-development"],
        "sections": [
            (
                "Setting the scene",
                [
                    (
                        "Amal Chevreau",
                        "Policy Analyst, Local Employment, Skills and Social Innovation Division",
                        "OECD",
                        "",
                    ),
                    ("Sarah de Heusch", "Director", "Social Economy Europe", ""),
                ],
            ),
            (
                "Panel discussion",
                [
                    ("Paul Leinster", "Councillor", "Glasgow, Scotland", "United Kingdom"),
                    (
                        "Morshed Mannan",
                        "Research Fellow",
                        "Robert Schuman Centre for Advanced Studies, European University Institute, Florence",
                        "Italy",
                    ),
                    (
                        "Coby Kalter",
                        "Executive Director",
                        "Department of Small Business Services, New York City",
                        "United States",
                    ),
                    ("Jimena Viornery", "", "Instituto Nacional de la Economir Social, INAES", "Mexico"),
                ],
            ),
        ],
        "partners": [
            (
                "OECD Local Development Forum",
                "These webinars are organised by the OECD Local Development Forum. The Local Development Forum is "
                "part of the OECD Local Employment and Economic Development (LEED) Programme.",
            ),
        ],
        "recording_url": "",
    },
]


def _upcoming_webinars(today: date) -> list[dict]:
    """Webinars in the coming weeks, each entered in a different zone."""
    return [
        {
            "slug": "social-economy-in-asia-pacific",
            "title": "The social economy in Asia-Pacific: Lessons from Japan and Korea",
            "title_fr": "L’économie sociale en Asie-Pacifique\u00a0: les leçons du Japon et de la Corée",
            "summary_fr": "Des praticiens de Tokyo et de Séoul comparent la façon dont les lois et les collectivités "
            "locales soutiennent les entreprises sociales.",
            "summary": "Practitioners from Tokyo and Seoul compare how laws and local governments support "
            "social enterprises.",
            "local_start": (today + timedelta(days=9), time(17, 0)),
            "timezone": "Asia/Tokyo",
            "display_zones": ["Asia/Tokyo", "Asia/Seoul", "Europe/Paris"],
            "duration_minutes": 90,
            "capacity": 100,
            "topics": ["social-economy", "local-development"],
            "sections": [
                ("Opening remarks", [("Keiko Tanaka", "Senior Researcher", "JILPT", "Japan")]),
                (
                    "Panel discussion",
                    [
                        ("Min-jun Park", "Director", "Korea Social Enterprise Promotion Agency", "Korea"),
                        ("Claire Dubois", "Policy Analyst", "OECD", "France"),
                    ],
                ),
            ],
        },
        {
            "slug": "community-wealth-building-in-cities",
            "title": "Community wealth building in cities: New York, Glasgow and Barcelona",
            "title_fr": "Ancrer la richesse dans les villes\u00a0: New York, Glasgow et Barcelone",
            "summary_fr": "Comment les villes se servent de la commande publique et du foncier pour garder la richesse "
            "sur place.",
            "summary": "How city governments use procurement and land to keep wealth local.",
            "local_start": (today + timedelta(days=16), time(10, 0)),
            "timezone": "America/New_York",
            "display_zones": ["America/New_York", "Europe/London", "Europe/Madrid"],
            "duration_minutes": 75,
            "capacity": 3,  # small on purpose: a newcomer can watch the waiting list work
            "topics": ["local-development", "cooperatives"],
            "sections": [
                ("Setting the scene", [("Dana Roberts", "Economist", "OECD", "United States")]),
                (
                    "International experiences",
                    [
                        ("Iain MacLeod", "Councillor", "Glasgow City Council", "United Kingdom"),
                        ("Núria Vidal", "Head of Social Economy", "Barcelona City Council", "Spain"),
                    ],
                ),
            ],
        },
        {
            "slug": "worker-buyouts-down-under",
            "title": "Worker buyouts down under: Co-operative succession in Australia",
            "title_fr": (
                "Reprises d’entreprises par les salariés aux antipodes\u00a0: la transmission coopérative en Australie"
            ),
            "summary_fr": "Quand les dirigeants partent à la retraite, les salariés peuvent-ils reprendre "
            "l’entreprise\u00a0? Expériences d’Australie et de Nouvelle-Zélande.",
            "summary": "When owners retire, can workers take over? Experiences from Australia and New Zealand.",
            "local_start": (today + timedelta(days=23), time(9, 0)),
            "timezone": "Australia/Sydney",
            "display_zones": ["Australia/Sydney", "Europe/Paris", "America/New_York"],
            "duration_minutes": 60,
            "capacity": 50,
            "topics": ["cooperatives", "future-of-work", "worker-cooperatives"],
            "sections": [("Panel discussion", [("Ruby Nguyen", "Director", "Co-operatives Australia", "Australia")])],
        },
        {
            "slug": "digital-skills-for-social-enterprises",
            "title": "Digital skills for social enterprises in South Asia",
            "title_fr": "Compétences numériques pour les entreprises sociales d’Asie du Sud",
            "summary_fr": "Des programmes de formation en Inde et au Népal qui aident les petites coopératives à "
            "passer au numérique.",
            "summary": "Training programmes from India and Nepal that help small co-operatives go online.",
            "local_start": (today + timedelta(days=30), time(15, 30)),
            "timezone": "Asia/Kolkata",
            "display_zones": ["Asia/Kolkata", "Asia/Kathmandu", "Europe/Paris"],
            "duration_minutes": 60,
            "capacity": None,
            "topics": ["digital-economy", "social-economy"],
            "sections": [
                (
                    "Opening remarks",
                    [("Anjali Mehta", "Programme Lead", "SEWA Cooperative Federation", "India")],
                ),
                ("Setting the scene", [("Bikash Shrestha", "Researcher", "Kathmandu University", "Nepal")]),
            ],
        },
    ]


def _get_topic(slug: str) -> Topic:
    topic = db.session.scalar(select(Topic).where(Topic.slug == slug))
    if topic is None:
        description, page_date = TOPIC_PAGES.get(slug, ("", None))
        topic = Topic(slug=slug, name=TOPICS[slug], description=description, page_date=page_date)
        db.session.add(topic)
    return topic


def _speaker(name: str, role: str, organisation: str, country: str) -> Speaker:
    existing = db.session.scalar(select(Speaker).where(Speaker.name == name))
    if existing is not None:
        return existing
    speaker = Speaker(name=name, role=role, organisation=organisation, country=country)
    db.session.add(speaker)
    return speaker


def build_webinar(data: dict, domain: str, status: str = "published") -> Webinar:
    """A webinar from a demo/seed dictionary; the start is the local time in the entered zone."""
    day, clock = data["local_start"]
    starts_at = localize(datetime.combine(day, clock), data["timezone"])
    webinar = Webinar(
        slug=data["slug"],
        ical_uid=new_ical_uid(domain),
        title=data["title"],
        summary=data.get("summary", ""),
        # French readers see these (content in French is the organisers' own, not a translation of the UI).
        title_fr=data.get("title_fr", ""),
        summary_fr=data.get("summary_fr", ""),
        description=data.get("description", ""),
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=data["duration_minutes"]),
        timezone=data["timezone"],
        location="Online",
        capacity=data.get("capacity"),
        status=status,
        published_at=utcnow() if status == "published" else None,
        join_url=data.get("join_url", f"https://meet.example.org/{data['slug']}"),
        recording_url=data.get("recording_url", ""),
        sequence=0,
        topics=[_get_topic(slug) for slug in data.get("topics", [])],
    )
    webinar.display_zones = data["display_zones"]
    for position, (title, speakers) in enumerate(data.get("sections", [])):
        section = AgendaSection(position=position, title=title)
        section.speakers = [_speaker(*speaker) for speaker in speakers]
        webinar.sections.append(section)
    for position, (name, description) in enumerate(data.get("partners", [])):
        webinar.partners.append(Partner(position=position, name=name, description=description))
    return webinar


def load_demo_data(only_if_empty: bool = False, today: date | None = None) -> int:
    """Add the demo webinars; returns how many were added. Commits."""
    if only_if_empty and db.session.scalar(select(func.count(Webinar.id))):
        return 0
    domain = urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"
    # "Today" in the first upcoming webinar's zone is close enough for relative demo dates.
    today = today or to_zone(utcnow(), "Europe/Paris").date()
    existing = set(db.session.scalars(select(Webinar.slug)))
    added = 0
    for data in [*SEED_WEBINARS, *_upcoming_webinars(today)]:
        if data["slug"] in existing:
            continue
        db.session.add(build_webinar(data, domain))
        added += 1
    db.session.commit()
    return added
