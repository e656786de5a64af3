"""Proper-noun chunks and the word lists that type them, for the WikiGold rules.

A *chunk* is a maximal run of capitalised tokens, which may be joined by

* name connectors (``University of Oxford``, ``Alexander von Humboldt``,
  ``Lineman of the Year``),
* the full stop of an initial (``George F. Hauser``, ``U.S.``),
* a hyphen written without spaces (``Saxony-Anhalt``, ``German-American``).

At the start of a sentence, capitalised function words (``The``, ``In``,
``However``) are stripped; personal titles before a name (``Brigadier General``)
are stripped everywhere; chunks made only of month or weekday names are dropped.

The word lists are cues written from general knowledge: head nouns that end
names of organisations, places and events, personal titles and role nouns,
nationality adjectives. They are short and typical rather than exhaustive: the
trained model is meant to generalise beyond them.
"""

from __future__ import annotations

from dataclasses import dataclass

from spacy.tokens import Doc


def _wordset(text: str) -> frozenset[str]:
    """A frozen set of the whitespace-separated words of ``text``."""
    return frozenset(text.split())


#: Capitalised words that start sentences or headings without being (part of) names.
SENTENCE_STARTERS = _wordset(
    """
    The A An This That These Those There Here It Its He She His Her Him They Their
    Them We Our Us You Your I My Me In On At By For From With Without Within Into
    Of To As After Before During Since Until Upon Under Over About Above Below
    Between Among Through Throughout Although Though While When Whilst Where Which
    Who Whom Whose What Why How If Unlike Like Despite However Moreover Also Then
    Thus Therefore Meanwhile Currently Today Later Finally Initially Eventually
    Originally Subsequently Additionally Furthermore Nevertheless Instead Both
    Each Every Some Many Most Several All Few Other Another Such One Two Three
    Four Five Six Seven Eight Nine Ten First Second Third Last Next Following
    And But Or Nor So Yet Because Once Only Even Still Not No Yes Now Soon Early
    Late Recently Several Together Like Following According Along Around Against
    Towards Toward Near Beyond Besides Apart Having Being Born Located Based Known
    Named Called Founded During
    """
)

#: Month and weekday names: capitalised but not entities on their own.
CALENDAR = _wordset(
    """
    January February March April May June July August September October November
    December Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec Monday Tuesday
    Wednesday Thursday Friday Saturday Sunday
    """
)

#: Capitalised words that start titles of works and foreign names rather than a
#: person's name, although the first-name list holds them (``The Used``, ``Les Bains``).
NOT_FIRST_WORDS = _wordset("The A An Le Les La El Los Las Den Der Die Das De Du Di Da Al")

#: Lower-case nouns for a kind of work; a capitalised phrase right after is its title.
WORK_NOUNS = _wordset(
    """
    album albums single song songs track film movie novel book poem poems play opera
    musical game video anthem hymn painting magazine sitcom episode
    """
)

#: Prepositions after which a capitalised word is usually a place.
PLACE_PREPOSITIONS = _wordset("in near at from to across outside into via")

#: Lower-case words that may join the capitalised words of one name.
CONNECTORS = _wordset("of de del della di da du la le von van der den des am y e")

#: Words that, last in a capitalised phrase, make it an organisation.
ORG_HEADS = _wordset(
    """
    Inc Inc. Ltd Ltd. Limited Corp Corp. Corporation Company Co Co. Group Holdings
    GmbH AG S.A. PLC plc LLC Bank Airlines Airways Motors Industries Records
    Entertainment Studios Pictures Publishing Press Media Networks Broadcasting
    Television Radio Newspaper Times Post Chronicle Herald Gazette Journal Tribune
    University College Academy Institute Institution School Seminary Conservatory
    Society Association Federation Union League Council Committee Commission
    Foundation Trust Fund Agency Authority Bureau Board Office Department Ministry
    Service Services Party Congress Parliament Assembly Senate Government Court
    Army Navy Corps Regiment Brigade Battalion Division Squadron Fleet Command
    Club F.C. FC Team Orchestra Band Choir Ensemble Quartet Trio Brothers Sisters
    Hospital Church Cathedral Diocese Abbey Order Lottery Railway Airline Casino
    Hotel Mall Restaurant Cafe Theatre Theater Guild Alliance Coalition Movement
    Front Organization Organisation Network Systems Technologies Software Labs
    Laboratories Electronics Communications Partners Associates Enterprises Force
    Forces Hall Reich Affiliation Museum Library Gallery Boys Girls Singers Base
    """
)

#: Words that, first in a capitalised phrase, make it an organisation.
ORG_STARTS = _wordset("University Bank Institute Academy Ministry Department Council Society Church")

#: Words that, last in a capitalised phrase, make it a location.
LOC_HEADS = _wordset(
    """
    River Rivers Creek Brook Lake Lakes Pond Reservoir Sea Ocean Bay Gulf Strait
    Channel Canal Falls Mountain Mountains Mount Hill Hills Peak Ridge Range
    Valley Canyon Desert Forest Park Island Islands Isle Peninsula Cape Coast
    Beach Harbour Harbor Port County Province Prefecture District Parish Region
    Territory State Municipality Township Borough Village Town City Shire Kingdom
    Republic Street St. Road Avenue Boulevard Lane Square Bridge Highway Motorway
    Railroad Line Station Airport Estate Palace Castle Tower Stadium Arena Center
    Centre Rink Penitentiary Prison Cemetery Square Plaza Heights Springs Fields
    """
)

#: Words that, first in a capitalised phrase, make it a location.
LOC_STARTS = _wordset("Mount Lake Cape Isle Fort Port Saint San Santa Sankt")

#: Words that, last in a capitalised phrase, make it an event, award or other MISC name.
MISC_HEADS = _wordset(
    """
    War Wars Revolution Rebellion Uprising Crisis Battle Siege Campaign Cup
    Championship Championships Tournament Olympics Games Prix Open Bowl Series
    Festival Fest Awards Award Prize Trophy Medal Day Week Convention Expo
    Act Laws Law Treaty Agreement Accord Declaration Doctrine Album Tour
    """
)

#: Words that, first in a capitalised phrase, make it an event (``Battle of ...``).
MISC_STARTS = _wordset("Battle Siege Treaty War Operation")

#: Heads of military and sports units that may follow a number (``65 Air Division``).
NUMBERED_HEADS = _wordset("Division Squadron Regiment Brigade Battalion Wing Group Corps Army Fleet Command")

#: Countries, continents, US states and other large regions often missing from the
#: GPE gazetteer (which is mostly cities); common short forms included.
PLACES = _wordset(
    """
    Afghanistan Albania Algeria Andorra Angola Argentina Armenia Australia Austria
    Azerbaijan Bahamas Bahrain Bangladesh Barbados Belarus Belgium Belize Benin
    Bhutan Bolivia Bosnia Botswana Brazil Brunei Bulgaria Burma Burundi Cambodia
    Cameroon Canada Chad Chile China Colombia Congo Croatia Cuba Cyprus Czechoslovakia
    Denmark Ecuador Egypt England Eritrea Estonia Ethiopia Fiji Finland France Gabon
    Gambia Georgia Germany Ghana Greece Grenada Guatemala Guinea Guyana Haiti
    Honduras Hungary Iceland India Indonesia Iran Iraq Ireland Israel Italy Jamaica
    Japan Jordan Kazakhstan Kenya Korea Kosovo Kuwait Laos Latvia Lebanon Lesotho
    Liberia Libya Liechtenstein Lithuania Luxembourg Macedonia Madagascar Malawi
    Malaysia Maldives Mali Malta Mauritania Mauritius Mexico Moldova Monaco Mongolia
    Montenegro Morocco Mozambique Myanmar Namibia Nepal Netherlands Nicaragua Niger
    Nigeria Norway Oman Pakistan Palestine Panama Paraguay Persia Peru Philippines
    Poland Portugal Prussia Qatar Romania Russia Rwanda Samoa Scotland Senegal Serbia
    Sierra Singapore Slovakia Slovenia Somalia Spain Sudan Suriname Swaziland Sweden
    Switzerland Syria Taiwan Tajikistan Tanzania Thailand Tibet Togo Tonga Tunisia
    Turkey Turkmenistan Uganda Ukraine Uruguay Uzbekistan Venezuela Vietnam Wales
    Yemen Yugoslavia Zambia Zimbabwe UK U.K. U.K US U.S. U.S USA USSR UAE
    Africa America Americas Antarctica Arctic Asia Australasia Europe Eurasia
    Oceania Scandinavia Balkans Caribbean Siberia Caucasus Mediterranean Atlantic
    Pacific Antarctic Alabama Alaska Arizona Arkansas California Colorado
    Connecticut Delaware Florida Hawaii Idaho Illinois Indiana Iowa Kansas Kentucky
    Louisiana Maine Maryland Massachusetts Michigan Minnesota Mississippi Missouri
    Montana Nebraska Nevada Ohio Oklahoma Oregon Pennsylvania Tennessee Texas Utah
    Vermont Virginia Washington Wisconsin Wyoming Ontario Quebec Manitoba Alberta
    Saskatchewan Yukon Bavaria Saxony Tuscany Sicily Sardinia Catalonia Andalusia
    Flanders Normandy Brittany Provence Yorkshire Lancashire Kent Essex Sussex
    Cornwall Devon Ulster Munster Leinster Connacht Bengal Punjab Kashmir Goa
    Java Sumatra Borneo Bali Luzon Mindanao Hokkaido Honshu Kyushu Tasmania
    Queensland Manchuria Mesopotamia Anatolia Crimea Hollywood Manhattan Brooklyn
    """
)

#: Multi-word places of the same kind (matched as whole chunks).
PLACE_PHRASES = frozenset(
    [
        "United States", "United Kingdom", "Great Britain", "Soviet Union", "New Zealand",
        "South Africa", "North Korea", "South Korea", "East Germany", "West Germany",
        "Saudi Arabia", "Sri Lanka", "Costa Rica", "Puerto Rico", "El Salvador",
        "Czech Republic", "Dominican Republic", "Ivory Coast", "Hong Kong", "New Guinea",
        "Papua New Guinea", "North America", "South America", "Latin America",
        "Central America", "Middle East", "Far East", "Southeast Asia", "East Asia",
        "Western Europe", "Eastern Europe", "Central Europe", "New England", "New York",
        "New Jersey", "New Mexico", "New Hampshire", "North Carolina", "South Carolina",
        "North Dakota", "South Dakota", "West Virginia", "Rhode Island", "British Columbia",
        "Nova Scotia", "New Brunswick", "Northern Ireland", "Pacific Northwest",
        "Bosnia and Herzegovina", "Trinidad and Tobago", "the Netherlands",
    ]
)

#: Personal titles that come before a name (not part of the CoNLL entity).
TITLES = _wordset(
    """
    Mr Mr. Mrs Mrs. Ms Ms. Miss Dr Dr. Prof Prof. Professor Sir Dame Lord Lady
    King Queen Prince Princess Duke Duchess Earl Count Countess Baron Emperor
    Empress Pope Saint St Bishop Archbishop Cardinal Father Rev Rev. Reverend
    President Senator Governor Mayor Chancellor Minister Judge Justice Captain
    Capt. Colonel Col. General Gen. Lieutenant Lt. Major Maj. Sergeant Sgt.
    Admiral Commander Brigadier Coach Uncle Aunt Brother Sister
    """
)

#: Lower-case nouns for a person's role; a capitalised phrase right after is a name.
PERSON_ROLES = _wordset(
    """
    singer songwriter guitarist bassist drummer keyboardist pianist violinist
    vocalist rapper musician composer conductor producer actor actress director
    writer author poet novelist playwright journalist editor painter artist
    sculptor photographer architect designer player striker goalkeeper coach
    manager captain owner founder chairman president vice-president senator
    governor mayor minister king queen prince princess emperor father mother son
    daughter brother sister wife husband uncle aunt nephew niece cousin friend
    engineer scientist professor teacher student lawyer judge bishop priest
    presenter host announcer commentator brothers
    """
)

#: Verbs after which a capitalised phrase of two or three words is usually a person.
PERSON_VERBS = _wordset("said says told stated wrote married died resigned announced argued claimed")

#: Nationality, ethnic, religious and language adjectives and plural nouns (MISC).
DEMONYMS = _wordset(
    """
    American Americans British Briton Britons English Scottish Scots Welsh Irish
    French German Germans Italian Italians Spanish Spaniard Portuguese Dutch
    Belgian Swiss Austrian Danish Swedish Norwegian Finnish Icelandic Polish
    Czech Slovak Hungarian Romanian Bulgarian Serbian Croatian Bosnian Slovenian
    Greek Greeks Turkish Turks Russian Russians Ukrainian Belarusian Lithuanian
    Latvian Estonian Georgian Armenian Azerbaijani Albanian Macedonian Prussian
    Bavarian Saxon Nordic Scandinavian European Europeans Asian Asians African
    Africans Latin Arab Arabs Arabic Persian Iranian Iraqi Syrian Lebanese
    Israeli Jewish Jews Jew Hebrew Egyptian Moroccan Algerian Tunisian Libyan
    Ethiopian Nigerian Kenyan Somali Ghanaian Chinese Japanese Korean
    Vietnamese Thai Malaysian Indonesian Filipino Philippine Indian Indians
    Pakistani Bangladeshi Bengali Sri Nepali Tibetan Mongolian Afghan Kazakh
    Uzbek Canadian Canadians Mexican Mexicans Cuban Brazilian Argentine
    Argentinian Chilean Peruvian Colombian Venezuelan Australian Australians
    Zealander Hawaiian Californian Texan Soviet Yugoslav Ottoman Byzantine Roman
    Romans Celtic Gaelic Anglo Christian Christians Catholic Catholics
    Protestant Protestants Lutheran Anglican Methodist Baptist Orthodox Muslim
    Muslims Islamic Hindu Hindus Buddhist Buddhists Sikh Sikhs Mormon Quaker
    Nazi Nazis Communist Communists Republican Republicans Democrat Democrats
    Tamil Telugu Hindi Urdu Punjabi Gujarati Marathi Kannada Malayalam Sanskrit
    Swahili Yiddish Catalan Basque Galician Flemish Walloon Frisian Goan
    Konkani Cantonese Mandarin Maori Inuit Cherokee Sioux Navajo Apache
    Victorian Edwardian Elizabethan Gothic Baroque Renaissance Olympic
    """
)

#: Roman numerals and other all-capital tokens that are not acronyms of names.
NOT_ACRONYMS = _wordset(
    """
    I II III IV V VI VII VIII IX X XI XII XIII XIV XV XX OK TV AM PM BC AD BCE CE CD
    DVD EP LP DJ MC KO TKO MVP ERA RPM SUV AIDS HIV DNA RNA CEO CFO GPS PC CPU USB
    SWAT OST MP ID IQ PhD MBA UFO HQ AKA FAQ
    """
)

#: Lower-case nouns for a kind of organisation; a capitalised phrase right after
#: is its name (``the band [30 Seconds to Mars]``).
ORG_NOUNS = _wordset(
    """
    band group company firm label club team franchise station channel network
    newspaper magazine publisher retailer chain brand manufacturer studio party
    organisation organization agency airline university college school
    """
)

_SENTENCE_END = {".", "!", "?"}


@dataclass(frozen=True)
class Chunk:
    """A candidate name: tokens ``start``..``end`` (exclusive) of a document."""

    start: int
    end: int
    words: tuple[str, ...]
    sentence_start: bool

    @property
    def first(self) -> str:
        return self.words[0]

    @property
    def last(self) -> str:
        return self.words[-1]

    @property
    def text(self) -> str:
        return " ".join(self.words)

    def __len__(self) -> int:
        return self.end - self.start


def is_capitalised(text: str) -> bool:
    """A token that can belong to a name: an upper-case first letter, or digits and capitals (``6PR``)."""
    if not text:
        return False
    if text[0].isupper():
        return True
    return text[0].isdigit() and any(ch.isupper() for ch in text)


def is_initial(doc: Doc, i: int) -> bool:
    """Whether token ``i`` is a single capital letter (an initial or part of an acronym)."""
    text = doc[i].text
    return len(text) == 1 and text.isupper()


def starts_sentence(doc: Doc, i: int) -> bool:
    """Whether token ``i`` starts the document or follows a sentence-final mark.

    A full stop after a single capital letter is an initial's, not a sentence end.
    """
    if i == 0:
        return True
    prev = doc[i - 1].text
    if prev in _SENTENCE_END:
        return not (i >= 2 and is_initial(doc, i - 2) and not doc[i - 2].whitespace_)
    return prev in {'"', "``", "''"} and (i == 1 or doc[i - 2].text in _SENTENCE_END)


def _joins(doc: Doc, i: int, end: int) -> int:
    """How many tokens from ``i`` join the chunk that ends at ``i`` (0 if none).

    ``end`` bounds the search. A joiner counts only when a capitalised token follows.
    """
    tok = doc[i]
    prev = doc[i - 1]
    if tok.text == "." and is_initial(doc, i - 1) and not prev.whitespace_:
        # an initial's stop: "F." in "George F. Hauser", the stops of "U.S."
        return 1
    if tok.text == "." and not prev.whitespace_ and prev.text in {"Jr", "St", "Dr", "Mr", "Mrs"}:
        return 1
    if tok.text == "-" and not prev.whitespace_ and not tok.whitespace_:
        nxt = i + 1
        return 2 if nxt < end and is_capitalised(doc[nxt].text) else 0
    if tok.text in CONNECTORS:
        nxt = i + 1
        if nxt < end and doc[nxt].text == "the":
            nxt += 1
        if nxt < end and is_capitalised(doc[nxt].text):
            return nxt - i + 1
    return 0


def _raw_chunks(doc: Doc) -> list[tuple[int, int]]:
    """Maximal runs of capitalised tokens and their joiners."""
    runs: list[tuple[int, int]] = []
    n = len(doc)
    i = 0
    while i < n:
        if not is_capitalised(doc[i].text):
            i += 1
            continue
        start = i
        i += 1
        while i < n:
            if is_capitalised(doc[i].text):
                i += 1
                continue
            step = _joins(doc, i, n)
            if step == 0:
                break
            i += step
        runs.append((start, i))
    return runs


def _trim(doc: Doc, start: int, end: int) -> tuple[int, int]:
    """Strip what surrounds a name inside a run: sentence-initial function words,
    leading titles and role nouns (``Brigadier General``, ``Engineer``), and
    trailing connectors."""
    if starts_sentence(doc, start):
        while start < end and (doc[start].text in SENTENCE_STARTERS or doc[start].is_stop):
            start += 1
        while start < end and not is_capitalised(doc[start].text):
            start += 1
    while end - start > 1 and (
        doc[start].text in TITLES or doc[start].text.lower() in PERSON_ROLES
    ):
        start += 1
    while start < end and not is_capitalised(doc[start].text):
        start += 1  # "Professor [of] Mathematics" after stripping the title
    while end > start and doc[end - 1].text in CONNECTORS | {"the", "-", "&", "and"}:
        end -= 1
    return start, end


def _split_of_the(doc: Doc, start: int, end: int) -> list[tuple[int, int]]:
    """Split a run at ``of the``: ``[Farr] of the [Atlantic City Railroad]``.

    ``of`` alone stays inside names (``University of Oxford``), but ``of the``
    usually links two names; ``Lineman of the Year`` (a one-word rest) is kept.
    """
    parts = []
    i = start
    for k in range(start + 1, end - 2):
        if doc[k].text == "of" and doc[k + 1].text == "the" and end - (k + 2) > 1:
            parts.append((i, k))
            i = k + 2
    parts.append((i, end))
    return parts


def _join_coordinated(doc: Doc, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join ``A & B`` and ``A and B`` when the result is one name.

    ``&`` joins unless the right side starts with a first name-like pair of
    words (``David Christison & Lee Tate`` stays two people: both sides have two
    words and no organisation head); ``and`` joins only when the right side ends with an organisation or
    event head (``Fairmont State Community and Technical College``).
    """
    out: list[tuple[int, int]] = []
    for span in spans:
        if out:
            left = out[-1]
            gap = [t.text for t in doc[left[1] : span[0]]]
            if gap in (["&"], ["and"], ["&", "the"]):
                word = gap[0]
                right_head = doc[span[1] - 1].text
                two_people = (
                    left[1] - left[0] == 2 and span[1] - span[0] == 2 and right_head not in ORG_HEADS
                )
                if (word == "&" and not two_people) or (
                    word == "and" and (right_head in ORG_HEADS or right_head in MISC_HEADS)
                    and doc[left[1] - 1].text not in ORG_HEADS
                ):
                    out[-1] = (left[0], span[1])
                    continue
        out.append(span)
    return out


def _extend_number(doc: Doc, start: int, end: int) -> int:
    """Take a number or ordinal before a unit or event name: ``65 Air Division``, ``2nd Battle of ...``."""
    if start > 0 and doc[end - 1].text in NUMBERED_HEADS | {"Battle"} | MISC_HEADS:
        prev = doc[start - 1].text
        if prev[:1].isdigit() and (prev.isdigit() or prev[-2:] in {"st", "nd", "rd", "th", "d"}):
            return start - 1
    if start > 0 and end - start == 1 and doc[start].text.isupper():
        # a numbered unit: "62d NY", "98th PVI"
        prev = doc[start - 1].text
        if prev[:1].isdigit() and prev[-2:] in {"st", "nd", "rd", "th", "2d", "3d"}:
            return start - 1
    if start > 0 and doc[start].text in {"Battle"}:
        prev = doc[start - 1].text
        if prev[:1].isdigit() and prev[-2:] in {"st", "nd", "rd", "th"}:
            return start - 1
    return start


def chunks(doc: Doc) -> list[Chunk]:
    """The proper-noun chunks of ``doc``, left to right."""
    spans: list[tuple[int, int]] = []
    for run in _raw_chunks(doc):
        for part in _split_of_the(doc, *run):
            start, end = _trim(doc, *part)
            if start < end:
                spans.append((start, end))
    found: list[Chunk] = []
    for start, end in _join_coordinated(doc, spans):
        start = _extend_number(doc, start, end)
        words = tuple(t.text for t in doc[start:end])
        if all(w in CALENDAR for w in words):
            continue
        found.append(Chunk(start, end, words, starts_sentence(doc, start)))
    return found
