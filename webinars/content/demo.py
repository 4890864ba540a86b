"""Demo content: the items of the seed pages, verbatim.

Seed 002 is the ILO's thematic page "SSE: Worker cooperatives" (its description and date belong to
the topic, see catalogue/demo.py) with its "Related content" list; seeds 003 and 004 are two ILO
listings. Titles, types, dates and summaries are copied as the seeds give them; where a seed gives
no date or summary the field stays empty. A seed's own label that is not one of our types
("Spotlight Interviews with Co-operators", "Decent work"...) is kept as the item's label beside a
type from the closed list. Two items appear both on the thematic page and in a listing: they are
one item each, with the listing's date, summary and label.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from ..catalogue.models import Topic, Webinar
from ..catalogue.operations import slugify
from ..database import utcnow
from ..extensions import db
from .models import ContentItem, webinar_items
from .operations import unique_slug

SPOTLIGHT = "Spotlight Interviews with Co-operators"
SPOTLIGHT_NO_HYPHEN = "Spotlight Interviews with Cooperators"
WORKER = ["worker-cooperatives", "cooperatives"]
COOP = ["cooperatives"]

# (type, label, title, date, summary, topic slugs), in each seed's order.
SEED_002_RELATED = [
    ("interview", SPOTLIGHT, "Juan Antonio Pedreño, the President of the Spanish Confederation of Social Economy "
     "Enterprises (CEPES), the President of Social Economy Europe (SEE), and the General Coordinator of the "
     "Euro-Mediterranean Social Economy (ESMED) Network", None, "", [*WORKER, "social-economy"]),
    ("publication", "", "Cooperatives and the World of Work No. 15 - Partnerships between trade unions and the "
     "social and solidarity economy to support informal economy workers", None, "", [*WORKER, "social-economy"]),
    ("news", "", "The relationship between workers’ organizations and cooperatives explored at the World "
     "Cooperative Congress", None, "", WORKER),
    ("interview", SPOTLIGHT, "Antony McMullen, Cooperative Development Expert", None, "", WORKER),
    ("news", "", "The passage of the worker cooperative bill in Japan is celebrated around the word", None, "", WORKER),
    ("news", "", "ILO COOP participates in two sessions during a labour week organized by OSF for staff and a group "
     "of philanthropic donors", None, "", WORKER),
    ("interview", SPOTLIGHT, "Brightly® – Scaling up worker cooperatives through the franchise model", None, "",
     [*WORKER, "future-of-work"]),
    ("news", "", "ILO contributes to the deliberation on the alliance between unions and cooperatives in the US",
     None, "", WORKER),
    ("news", "", "ILO presents international trends on worker cooperative development at the 2019 Co-op IMPACT "
     "Conference in Washington", None, "", WORKER),
    ("interview", SPOTLIGHT, "Siôn Whellens: Incubating worker cooperatives in the changing world of work", None, "",
     [*WORKER, "future-of-work"]),
    ("interview", SPOTLIGHT, "Centre for Co-operative Studies: Building a solid knowledge base on the cooperative "
     "business model", None, "", WORKER),
    ("news", "", "ILO’s participation in a public seminar on economic democracy and worker cooperatives in Ireland",
     None, "", WORKER),
    ("news", "", "Cooperatives can play key role in future of work", None, "", [*WORKER, "future-of-work"]),
    ("publication", "", "Advancing cooperation among women workers in the informal economy: The SEWA way", None, "",
     WORKER),
    ("publication", "", "Advancing domestic workers’ rights through cooperatives in Trinidad and Tobago: An ILO, NUDE "
     "and SWCC initiative", None, "", WORKER),
    ("article", "", "A Zimbabwean trade union takes a first step towards establishing a worker cooperative for its "
     "unemployed members", None, "", WORKER),
    # Also item 1 of seed 004 and item 8 of seed 003: declared there, with their dates and summaries.
    ("see", "", "Japan Workers’ Co-operative Union: Contributing to job creation and local community development "
     "through associated work", None, "", WORKER),
    ("see", "", "SEWA Cooperative Federation in India: Towards self-reliance", None, "", WORKER),
    ("publication", "", "Job preservation through worker cooperatives: An overview of international experiences and "
     "strategies", None, "", WORKER),
    ("publication", "International Journal of Labour Research", "Trade unions and worker cooperatives: Where are we "
     "at?", None, "", WORKER),
    ("publication", "", "The experience of SYNDICOOP in Africa: A model for trade union action?", None, "", WORKER),
    ("publication", "", "Workers' cooperatives", None, "", WORKER),
    ("publication", "", "Cooperatives today: Challenges and opportunities", None, "", WORKER),
    ("article", "", "Trade unions and worker cooperatives: Where are we at?", None, "", WORKER),
    ("article", "", "Worker Cooperatives as a Response to the Crisis: by Pierre Laliberté", None, "", WORKER),
    ("publication", "", "Social Finance Working Paper #55: ROKIN Bank", None, "", [*WORKER, "social-economy"]),
    ("publication", "", "Let’s organize! : a SYNDICOOP handbook for trade unions and cooperatives about organizing "
     "workers in the informal economy", None, "", WORKER),
]  # fmt: skip

# "ILO's work on cooperatives in Asia and the Pacific"
SEED_003_ASIA_PACIFIC = [
    ("article", "", "African cooperative leaders share their observations on the 2017 ILO/JCCU study tour in Japan",
     date(2017, 9, 28),
     "The 8th edition of the ILO/Japanese Consumers' Cooperative Union (JCCU) Study Tour for African Cooperative "
     "Leaders took place in Japan from 29 August to 6 September 2017 with participants from Ghana, Kenya, Nigeria "
     "and Swaziland and representatives from ICA Africa and ILO COOP Unit. ILO COOP interviewed the participants on "
     "their observations of the study tour and the next steps they would like to take in applying these "
     "observations. The managers of ILO-Tokyo, ILO COOP and JCCU also share their reflections on the study tour.",
     COOP),
    ("news", "", "Improving livelihoods through cooperatives - ILO LEED project in Northern Sri Lanka",
     date(2017, 9, 27), "", [*COOP, "local-development"]),
    ("news", "", "Emerging cooperative responses to gig economy in Asia", date(2017, 9, 27), "",
     [*COOP, "future-of-work", "digital-economy"]),
    ("news", "", "African cooperative leaders explore the diverse businesses of Japanese cooperatives",
     date(2017, 9, 21),
     "From 29 August to 6 September, The 8th ILO/JCCU study tour was organized in Tokyo and Shizuoka, Japan. This "
     "year four participants from Kenya, Ghana, Nigeria and Swaziland and representatives of ICA Africa and ILO COOP "
     "Unit joined the tour to explore the Japanese cooperatives’ activities across a range of sectors.", COOP),
    ("news", "", "ILO pilots an orientation tool on cooperation in Cambodia", date(2017, 9, 19), "", COOP),
    ("presentation", "", "Cooperatives and the SDGs - Presentation at JJC/ILO-Tokyo public seminar", date(2017, 9, 13),
     "On 7 September 2017, the ILO COOP participated in a public seminar: \"Cooperative Activities and the "
     "Sustainable Development Goals (SDGs)\" co-organized by ILO and Japan Joint Committee of Co-operatives (JJC) in "
     "Tokyo, Japan and presented on the institution's ongoing work on cooperatives and roles of cooperatives in "
     "achieving SDGs.", [*COOP, "local-development"]),
    ("publication", "Countries in Focus on Statistics of Cooperatives",
     "Statistics on Cooperatives Country in Focus: The Philippines", date(2017, 8, 17),
     "Countries in Focus on Statistics of Cooperatives is a series produced by the International Labour Organization "
     "(ILO) and the Committee for the Promotion and Advancement of Cooperatives (COPAC) as part of a larger "
     "initiative to increase understanding of the ways in which countries around the world are producing and using "
     "statistics on cooperatives. Currently reliable and comparable statistics on cooperatives are missing in most "
     "countries of the world. These statistics are essential to measure the impact of cooperatives on their members "
     "and the economy as a whole.", COOP),
    ("interview", SPOTLIGHT_NO_HYPHEN, "SEWA Cooperative Federation in India: Towards self-reliance",
     date(2017, 8, 16),
     "\"Spotlight Interviews with Cooperators\" is a series of interviews with cooperative leaders from around the "
     "world with whom ILO officials have crossed paths during the course of their work with cooperatives. For this "
     "issue ILO interviewed Ms Mirai Chatterjee, Chairperson of the SEWA Cooperative Federation and Director of the "
     "SEWA Social Security Team, who has been working at SEWA for 33 years.", WORKER),
    ("news", "", "ILO SSE Academy in Seoul concluded successfully", date(2017, 7, 10),
     "The 8th edition of the ILO SSE Academy took place in Seoul, the Republic of Korea from 26 to 30 June. Over 150 "
     "participants from more than 30 countries exchanged their experiences, best practices and challenges under the "
     "theme “Innovative ecosystems for SSE public policies: A contribution to the future of work”.",
     [*COOP, "social-economy"]),
    ("news", "International Day of Cooperatives", "Cooperatives help to build inclusive economies and societies",
     date(2017, 7, 1),
     "\"Let us draw on the strengths of cooperatives as we pool efforts to implement the 2030 Agenda and make sure "
     "that no one is left behind,\" says ILO Director-General Guy Ryder.", [*COOP, "social-economy"]),
]  # fmt: skip

# "News, stories and statements on cooperatives"
SEED_004_NEWS = [
    ("interview", SPOTLIGHT_NO_HYPHEN, "Japan Workers’ Co-operative Union: Contributing to job creation and local "
     "community development through associated work", date(2017, 11, 28),
     "\"Spotlight Interviews with Co-operators\" is a series of interviews with cooperative leaders from around the "
     "world with whom ILO officials have crossed paths during the course of their work with cooperatives. For this "
     "issue ILO interviewed Mr Osamu Nakano, a board member and Chief of International Relation Unit of Japan "
     "Workers’ Co-operative Union (JWCU).", [*WORKER, "local-development"]),
    ("news", "", "The 2017 edition of the ITC ILO Gender Academy includes an elective and a master course touching "
     "upon cooperatives", date(2017, 11, 27), "", COOP),
    ("news", "", "ILO participation in the ICA Global Conference on “Cooperatives: Putting People at the Centre of "
     "Development”", date(2017, 11, 24),
     "Two ILO representatives participated in the Global Conference of the International Cooperative Alliance (ICA) "
     "in Kuala Lumpur, Malaysia on 14-16 November 2017.", COOP),
    ("news", "", "The ILO presents the contribution of cooperative enterprises to the future of work at a side event "
     "to the European Social Summit", date(2017, 11, 23), "", [*COOP, "future-of-work"]),
    ("news", "", "COPAC highlights progress on improved cooperative statistics at ICA Global Conference",
     date(2017, 11, 23), "", COOP),
    ("news", "", "Reflections on the role of SSE in job creation in Southern Neighbourhood Countries of the EU",
     date(2017, 11, 22), "", [*COOP, "social-economy"]),
    ("news", "Cooperatives", "Myanmar: ILO pilots self-learning approach to promote the cooperative business model",
     date(2017, 11, 15),
     "ILO conducted the first Myanmar pilot of the Think.Coop training module on cooperative business, where over 40 "
     "participants from trade unions, including farmers, were provided with a basic introduction to cooperation and "
     "collective action.", COOP),
    ("article", "Decent work", "How decent work can transform cotton production", date(2017, 11, 3),
     "South-South Project uses good practices in Brazil to promote decent work in cotton production in African and "
     "Latin American countries.", [*COOP, "future-of-work"]),
    ("article", "Our impact, Their voices", "Free from debt and bonded labour in Sri Lanka’s fisheries",
     date(2017, 11, 1), "ILO's project helps free fishermen from debt bondage and supports livelihoods.",
     [*COOP, "local-development"]),
    ("news", "", "The ILO participates in the 4th World Forum on Local Economic Development to discuss roles of SSE "
     "in achieving SDGs at local level", date(2017, 10, 31), "", [*COOP, "local-development", "social-economy"]),
]  # fmt: skip

THEMATIC_PAGE = "Thematic page on the cooperative, social and solidarity economy"
# The seed webinars' related documents, as items attached to them (seed 002 is the thematic page the
# first one points to; seed 001 names the OECD Global Action among its "Other publications").
SEED_WEBINAR_ITEMS = {
    "worker-co-operatives-across-continents": [
        ("publication", THEMATIC_PAGE, "SSE: Worker cooperatives", date(2021, 7, 2), "", WORKER),
        "The passage of the worker cooperative bill in Japan is celebrated around the word",
        "Japan Workers’ Co-operative Union: Contributing to job creation and local community development through "
        "associated work",
    ],
    "platform-cooperatives-good-jobs-great-places": [
        ("publication", "", "OECD Global Action “Promoting Social and Solidarity Economy Ecosystems”", None, "",
         ["social-economy"]),
        "SSE: Worker cooperatives",
    ],
}  # fmt: skip


def seed_items() -> list[tuple]:
    """Every demo item once, in the order the seeds list them (the thematic page's first)."""
    rows = [row for row in SEED_002_RELATED if row[0] != "see"] + SEED_003_ASIA_PACIFIC + SEED_004_NEWS
    for attached in SEED_WEBINAR_ITEMS.values():
        rows += [row for row in attached if isinstance(row, tuple)]
    return rows


def _topics(slugs: list[str]) -> list[Topic]:
    return list(db.session.scalars(select(Topic).where(Topic.slug.in_(slugs))))


def load_demo_content() -> int:
    """Add the seed items that are not there yet (by title) and attach the seed webinars' related
    content; returns how many items were added. Commits."""
    now = utcnow()
    rows = seed_items()
    by_title = {
        item.title: item
        for item in db.session.scalars(select(ContentItem).where(ContentItem.title.in_([row[2] for row in rows])))
    }
    existing = set(by_title)
    added = 0
    # Added from the last to the first: among items of the same date (or undated), the newest-first
    # listings break ties by id, newest id first, which then keeps each seed's own order.
    for item_type, label, title, day, summary, topics in reversed(rows):
        if title in existing:
            continue
        item = ContentItem(
            slug=unique_slug(slugify(title, 150)),
            type=item_type,
            label=label,
            title=title,
            published_on=day,
            summary=summary,
            status="published",
            published_at=now,
            created_at=now,
            updated_at=now,
            topics=_topics(topics),
        )
        db.session.add(item)
        db.session.flush()  # the next slug check sees this one
        by_title.setdefault(title, item)
        added += 1
    for webinar_slug, attached in SEED_WEBINAR_ITEMS.items():
        webinar_id = db.session.scalar(select(Webinar.id).where(Webinar.slug == webinar_slug))
        if webinar_id is None:
            continue
        already = set(
            db.session.scalars(select(webinar_items.c.item_id).where(webinar_items.c.webinar_id == webinar_id))
        )
        titles = [row[2] if isinstance(row, tuple) else row for row in attached]
        rows_to_add = [
            {"webinar_id": webinar_id, "item_id": by_title[t].id, "position": n}
            for n, t in enumerate(titles)
            if by_title[t].id not in already
        ]
        if rows_to_add:
            db.session.execute(webinar_items.insert(), rows_to_add)
    db.session.commit()
    return added
