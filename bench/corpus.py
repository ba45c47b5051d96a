"""A synthetic, deterministic archive of Central Asian news for the search benchmark.

:class:`Corpus` generates any number of articles in batches, each batch one outlet's
worth of consecutive publications, so the loader can hand a batch to
:meth:`storage.store.Store.save_articles` as the collector would. Every batch has its
own seeded random stream: a batch can be regenerated on its own (the query builder
samples articles that way) and two runs with the same seed produce the same archive.

What makes it realistic enough to measure a full-text index with:

* lengths of feed items: a title of 6-14 words, a summary of 35-80 words in sentences,
  no full text (most feeds carry none);
* about 60 % English and 40 % Russian articles; Russian texts carry Latin names
  (Kaspi, Astana Hub, IT-хаб) as real ones do;
* word frequencies following Zipf's law (exponent 1) over a vocabulary of a few
  hundred real words per language, ordered roughly by frequency (function words
  first, then the region's names and subjects), followed by a long tail of generated
  pseudo-words with real English and Russian endings, so the stemmers act on them as on
  real words and rare words are as rare as in a real archive;
* topics and countries from a plausible distribution, their evidence words put into
  the text (a ``topic:energy`` article mentions oil or electricity);
* URLs of about 80 characters in the outlets' styles, publication times over two
  years in id order, and about 5 % of articles joining the story of a recent article
  of another outlet (with a similar title).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Final

from storage import ArticleInput, Classification, FeedSpec

#: The archive's first publication time; the last is :data:`SPAN` later.
START: Final = datetime(2024, 11, 1, tzinfo=UTC)
SPAN: Final = timedelta(days=730)
#: Share of English articles (the rest are Russian).
ENGLISH_SHARE: Final = 0.6
#: Generated pseudo-words per language after the real vocabulary.
TAIL_WORDS: Final = 400_000
#: Zipf exponent: 1 is the classic value for running text.
ZIPF_EXPONENT: Final = 1.0
#: Share of articles that join an existing story instead of starting one.
STORY_JOIN_SHARE: Final = 0.05

# Real vocabulary, most frequent first. Entries with a space are collocations that
# occur as a unit ("Central Asia"), which is what phrase queries look for; hyphenated
# ones are compounds the analyser indexes whole and by part.
_ENGLISH: Final = """
the|of|and|to|in|a|for|on|said|is|that|with|by|as|at|from|was|its|will|has|Kazakhstan|be|it|
are|have|an|which|this|were|not|been|also|government|more|Uzbekistan|than|their|would|after|
new|over|about|year|country|or|but|up|they|two|first|president|into|million|billion|percent|
Central Asia|company|ministry|energy|project|minister|can|had|region|development|market|
projects|could|other|last|people|investment|international|Tashkent|Astana|national|state|
according|economic|under|while|economy|including|between|foreign|business|digital|support|
during|one|three|such|oil|gas|capital|public|since|within|power|through|program|plan|
Kyrgyzstan|price|report|growth|years|data|production|work|bank|cooperation|Tajikistan|system|
water|sector|services|startup|agreement|Almaty|trade|largest|policy|law|local|financial|
technology|infrastructure|construction|regional|agency|announced|electricity|exports|tax|
Azerbaijan|companies|startups|IT park|Astana Hub|parliament|Tokayev|Mirziyoyev|Bishkek|Dushanbe|
Baku|Samarkand|Turkmenistan|Ashgabat|Shymkent|Karaganda|Bukhara|Fergana Valley|Caspian Sea|
China|Russia|Turkey|European Union|United States|Japan|South Korea|India|Iran|Afghanistan|Moscow|
Beijing|Washington|tenge|soums|dollars|euros|rate|inflation|budget|revenue|prices|tariffs|loan|
fund|funds|investors|venture capital|fintech|platform|software|developers|engineers|
artificial intelligence|AI|data center|cloud|internet|mobile|telecom|5G|satellite|e-government|
e-commerce|marketplace|payments|Kaspi|Uzum|Halyk Bank|Samruk-Kazyna|KazMunayGas|Kazatomprom|
uranium|coal|solar|wind farm|solar plant|power plant|hydropower|renewable energy|pipeline|
refinery|grid|nuclear|green hydrogen|emissions|climate|drought|irrigation|Aral Sea|agriculture|
wheat|cotton|farmers|railway|highway|logistics|transit|Middle Corridor|port|airport|flights|
airline|tourism|tourists|visa|border|migrants|migration|labor|workers|wages|pensions|students|
schools|universities|teachers|hospital|healthcare|doctors|residents|citizens|women|youth|
children|protest|court|prosecutor|corruption|police|security|military|election|elections|
referendum|Senate|Mazhilis|decree|reform|reforms|regulation|license|privatization|exchange|
stock|bonds|shares|IPO|Astana International Financial Centre|AIFC|KASE|summit|talks|delegation|
visit|memorandum|partnership|joint venture|SCO|EAEU|CIS|UN|World Bank|ADB|EBRD|IMF|sanctions|
Chinese|Russian|Kazakh|Uzbek|Kyrgyz|Tajik|Turkmen|Azerbaijani|Turkish|American|European|week|
month|today|Monday|Tuesday|Wednesday|Thursday|Friday|January|March|June|September|December|
increase|increased|decrease|rose|fell|reached|plans|launched|signed|opened|approved|expected|
reported|told|noted|added|billion tenge|per year|square meters|hectares|kilometers|tons|
megawatts|units|jobs|local authorities|akimat|governor|mayor|city|district|village|region's|
nationwide|further|however|already|still|only|well|because|where|when|how|many|most|some|all|
major|key|main|high|large|small|second|third|next|recent|current|future|global|domestic|
private|joint|total|annual|average|strong|significant|energies|Qazaqstan|Oʻzbekiston
"""

_RUSSIAN: Final = """
в|и|на|с|по|не|что|о|для|из|к|от|года|а|Казахстан|за|как|также|это|будет|до|его|при|более|
было|млрд|млн|компании|страны|Узбекистан|году|тенге|Казахстана|РК|глава|президент|
правительство|был|они|их|были|который|которые|после|так|уже|но|только|может|однако|проекта|
проект|развития|министр|министерство|энергетики|Центральной Азии|рынка|экономики|Ташкент|
Астана|Алматы|Ташкенте|Астане|области|республики|компания|нефть|нефти|газа|электроэнергии|
стартап|стартапов|хаб|IT-хаб|IT-парк|Astana Hub|IT|Kaspi|Uzum|Google|Microsoft|Huawei|Yandex|
Chevron|Tesla|ChatGPT|Beeline|Kcell|USD|AIFC|KASE|цифровой|цифровизации|технологий|инвестиций|
инвесторов|инвестиции|бизнеса|банка|банк|Нацбанк|ставка|инфляция|бюджета|цены|цен|тарифы|
тарифов|кредит|фонда|венчурного|финтех|платформы|разработчиков|искусственного интеллекта|
дата-центр|интернета|связи|спутник|электронного правительства|маркетплейс|платежей|Халык|
Самрук-Казына|КазМунайГаз|Казатомпром|урана|угля|солнечной|электростанции|ветровой|ГЭС|
возобновляемой энергетики|газопровод|трубопровода|НПЗ|энергосистемы|атомной|водорода|выбросов|
климата|засухи|воды|орошения|Аральского моря|сельского хозяйства|пшеницы|хлопка|фермеров|
железной дороги|трассы|логистики|транзита|Среднего коридора|порта|аэропорта|рейсов|
авиакомпании|туризма|туристов|визы|границы|мигрантов|миграции|работников|зарплаты|пенсии|
студентов|школ|вузов|учителей|больницы|здравоохранения|врачей|жителей|граждан|женщин|молодежи|
детей|суд|суда|прокуратуры|коррупции|полиции|безопасности|выборов|референдума|Сенат|мажилис|
мажилиса|указ|реформы|закон|закона|законопроект|лицензии|приватизации|биржи|акций|облигаций|
IPO|саммит|переговоры|делегации|визит|меморандум|партнерства|совместного предприятия|ШОС|ЕАЭС|
СНГ|ООН|Всемирного банка|АБР|ЕБРР|МВФ|санкций|Китая|России|Турции|Евросоюза|США|Японии|Кореи|
Индии|Ирана|Афганистана|Москве|Пекине|Кыргызстан|Кыргызстана|Таджикистан|Таджикистана|
Туркменистан|Туркменистана|Азербайджан|Азербайджана|Узбекистана|Узбекистане|Казахстане|
Бишкек|Бишкеке|Душанбе|Баку|Ашхабад|Самарканд|Шымкент|Караганды|Бухары|Ферганской долины|
Каспийского моря|Токаев|Токаева|Мирзиёев|Мирзиёева|Жапаров|Рахмон|Алиев|Бердымухамедов|
акимат|аким|акима|хокимият|города|района|села|страна|стране|стран|регионе|регионов|время|
рамках|сообщает|сообщили|заявил|отметил|отметила|рассказал|по данным|составил|составила|
выросла|вырос|снизилась|увеличился|планирует|запустили|подписали|открыли|утвердил|одобрил|
ожидается|сумов|сомов|манатов|долларов|евро|процентов|тонн|гектаров|километров|мегаватт|
рабочих мест|новых|новый|новая|первый|крупнейший|крупнейших|ключевых|основных|высокий|
частного|государственного|иностранных|местных|национального|международного|регионального|
общий|годовой|среднем|значительно|еще|всего|около|более чем|почти|сейчас|сегодня|неделе|месяц|
января|марта|июня|сентября|декабря|понедельник|вторник|среду|четверг|пятницу|ИИ|e-commerce|
Wildberries|Ozon|Telegram|TikTok|Instagram|WhatsApp|Starlink|SpaceX|Boeing|Airbus|Samsung|
Toyota|BYD|Kia|Hyundai|Zoom|Visa|Mastercard|Apple|IT-хабы|IT-хабов|Қазақстан
"""


def _entries(text: str) -> list[str]:
    """The ``|``-separated entries of a vocabulary block, each once, in order."""
    return list(dict.fromkeys(entry.strip() for entry in text.split("|") if entry.strip()))


# The tails: syllables and endings of each language, so the stemmers see the suffixes
# they strip ("-ations", "-ости") and the index holds as many distinct stems as a real
# archive does. A share of the tail is capitalised: people, companies, villages.
_EN_ONSETS: Final = (
    "b", "br", "c", "ch", "cl", "d", "dr", "f", "g", "gr", "h", "j", "k", "kh", "l", "m", "n",
    "p", "pr", "r", "s", "sh", "st", "t", "tr", "v", "w", "z", "zh",
)  # fmt: skip
_EN_VOWELS: Final = ("a", "e", "i", "o", "u", "ai", "ea", "ou")
_EN_CODAS: Final = ("", "", "", "n", "r", "l", "s", "t", "m", "nd", "rk", "st")
_EN_ENDINGS: Final = (
    "", "", "", "s", "s", "ing", "ed", "er", "ers", "ation", "ations", "ment", "ies", "ly",
    "ness", "al", "ity", "ov", "bek", "stan",
)  # fmt: skip
_RU_ONSETS: Final = (
    "б", "в", "г", "д", "ж", "з", "к", "л", "м", "н", "п", "р", "с", "т", "ф", "х", "ц", "ч",
    "ш", "бр", "гр", "др", "кр", "пр", "ст", "тр", "сл", "зв", "шк",
)  # fmt: skip
_RU_VOWELS: Final = ("а", "о", "у", "е", "и", "ы", "я")
_RU_CODAS: Final = ("", "", "", "н", "р", "л", "с", "т", "к", "м", "ст", "нк")
_RU_ENDINGS: Final = (
    "", "а", "ы", "ов", "ами", "ость", "ости", "ение", "ения", "ный", "ная", "ного", "ских",
    "ать", "ил", "ила", "ых", "ой", "е", "у", "ям", "ский", "ская", "ство", "ства", "баев",
    "улы", "ова",
)  # fmt: skip

_TRANSLIT: Final = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
        "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
        "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
        "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
        "я": "ya", "қ": "k", "ә": "a", "ʻ": "",
    }
)  # fmt: skip

#: Evidence words of each topic, per language: put into the text of articles with it.
TOPIC_WORDS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "en": {
        "energy": ("energy", "oil", "gas", "electricity", "solar", "power plant", "pipeline",
                   "renewable energy", "wind farm", "coal", "uranium", "hydropower"),
        "it_hubs": ("startup", "startups", "IT park", "Astana Hub", "developers", "software",
                    "digital", "venture capital", "fintech", "artificial intelligence"),
        "policy": ("parliament", "law", "president", "decree", "minister", "government",
                   "reform", "Senate"),
        "society": ("students", "schools", "hospital", "migrants", "pensions", "teachers",
                    "residents", "citizens"),
    },
    "ru": {
        "energy": ("энергетики", "нефть", "нефти", "газа", "электроэнергии", "солнечной",
                   "электростанции", "газопровод", "ветровой", "угля", "урана", "ГЭС"),
        "it_hubs": ("стартапов", "стартап", "IT-парк", "Astana Hub", "IT-хаб", "разработчиков",
                    "цифровой", "венчурного", "финтех", "искусственного интеллекта"),
        "policy": ("парламент", "закон", "президент", "указ", "министр", "правительство",
                   "реформы", "мажилис"),
        "society": ("студентов", "школ", "больницы", "мигрантов", "пенсии", "учителей",
                    "жителей", "граждан"),
    },
}  # fmt: skip
#: Names of each country, per language (the evidence of a country).
COUNTRY_WORDS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "en": {
        "kz": ("Kazakhstan", "Astana", "Almaty"),
        "uz": ("Uzbekistan", "Tashkent", "Samarkand"),
        "kg": ("Kyrgyzstan", "Bishkek"),
        "tj": ("Tajikistan", "Dushanbe"),
        "tm": ("Turkmenistan", "Ashgabat"),
        "az": ("Azerbaijan", "Baku"),
    },
    "ru": {
        "kz": ("Казахстан", "Казахстана", "Казахстане", "Астане"),
        "uz": ("Узбекистан", "Узбекистана", "Ташкенте"),
        "kg": ("Кыргызстан", "Кыргызстана", "Бишкеке"),
        "tj": ("Таджикистан", "Таджикистана", "Душанбе"),
        "tm": ("Туркменистан", "Туркменистана", "Ашхабад"),
        "az": ("Азербайджан", "Азербайджана", "Баку"),
    },
}
_TOPIC_WEIGHTS: Final = {"energy": 0.25, "it_hubs": 0.2, "policy": 0.33, "society": 0.22}
_SECTIONS: Final = ("news", "economy", "business", "politics", "tech", "society", "energy")


@dataclass(frozen=True, slots=True)
class Outlet:
    """One synthetic feed: its identity, language, home country and URL style."""

    key: str
    name: str
    domain: str
    language: str
    country: str
    weight: float
    """Relative number of articles it publishes."""
    url_style: int
    guid_is_url: bool


# (name, domain, language, country): forty outlets, 24 English and 16 Russian.
_OUTLETS: Final = (
    ("The Astana Times", "astanatimes.example", "en", "kz"),
    ("Kazinform", "inform.example.kz", "en", "kz"),
    ("Tengri News", "en.tengrinews.example", "en", "kz"),
    ("Kursiv Media", "kursiv.example.media", "en", "kz"),
    ("Forbes Kazakhstan", "forbes.example.kz", "en", "kz"),
    ("Digital Business", "digitalbusiness.example.kz", "en", "kz"),
    ("Gazeta.uz", "gazeta.example.uz", "en", "uz"),
    ("Kun.uz", "kun.example.uz", "en", "uz"),
    ("Daryo", "daryo.example.uz", "en", "uz"),
    ("UzDaily", "uzdaily.example.uz", "en", "uz"),
    ("Spot", "spot.example.uz", "en", "uz"),
    ("Tashkent Times", "tashkenttimes.example.uz", "en", "uz"),
    ("24.kg", "24.example.kg", "en", "kg"),
    ("AKIpress", "akipress.example.com", "en", "kg"),
    ("Kloop", "kloop.example.kg", "en", "kg"),
    ("Asia-Plus", "asiaplus.example.tj", "en", "tj"),
    ("Avesta", "avesta.example.tj", "en", "tj"),
    ("Turkmen Portal", "turkmenportal.example.com", "en", "tm"),
    ("Trend", "en.trend.example.az", "en", "az"),
    ("Report.az", "report.example.az", "en", "az"),
    ("Caspian News", "caspiannews.example.com", "en", "az"),
    ("Eurasianet", "eurasianet.example.org", "en", "kz"),
    ("The Times of Central Asia", "timesca.example.com", "en", "kz"),
    ("Novastan", "novastan.example.org", "en", "uz"),
    ("Капитал", "kapital.example.kz", "ru", "kz"),
    ("Курсив", "ru.kursiv.example.media", "ru", "kz"),
    ("Власть", "vlast.example.kz", "ru", "kz"),
    ("Orda.kz", "orda.example.kz", "ru", "kz"),
    ("Profit.kz", "profit.example.kz", "ru", "kz"),
    ("Tengrinews", "tengrinews.example.kz", "ru", "kz"),
    ("Газета.uz", "www.gazeta.example.uz", "ru", "uz"),
    ("Подробно.uz", "podrobno.example.uz", "ru", "uz"),
    ("Spot.uz", "ru.spot.example.uz", "ru", "uz"),
    ("Kun.uz (рус)", "ru.kun.example.uz", "ru", "uz"),
    ("Kaktus.media", "kaktus.example.media", "ru", "kg"),
    ("24.kg (рус)", "ru.24.example.kg", "ru", "kg"),
    ("Азия-Плюс", "ru.asiaplus.example.tj", "ru", "tj"),
    ("Туркменистан сегодня", "tdh.example.gov.tm", "ru", "tm"),
    ("Trend (рус)", "www.trend.example.az", "ru", "az"),
    ("Report (рус)", "ru.report.example.az", "ru", "az"),
)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """One language's words, most frequent first, with their Zipf weights."""

    entries: tuple[str, ...]
    cumulative: tuple[float, ...]
    """Running sum of the weights (for :func:`random.Random.choices`)."""
    head: int
    """How many entries are real words (the rest is the generated tail)."""

    def probability(self, rank: int) -> float:
        """Chance that one drawn entry is the entry at ``rank`` (0-based)."""
        return float((rank + 1) ** -ZIPF_EXPONENT) / self.cumulative[-1]


@dataclass(frozen=True, slots=True)
class SyntheticArticle:
    """A generated article, and its words in text order (for drawing queries)."""

    article: ArticleInput
    joins: int | None
    """Index in the previous batch of the article whose story this one joins."""
    title_words: tuple[str, ...]
    summary_words: tuple[str, ...]
    """The summary's words as written (collocations split), without punctuation."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Consecutive articles of one outlet: one ``save_articles`` call."""

    number: int
    outlet: Outlet
    articles: tuple[SyntheticArticle, ...]


class Corpus:
    """``size`` synthetic articles in batches of ``batch_size`` (see the module docstring)."""

    def __init__(self, size: int, *, seed: int = 1, batch_size: int = 1000) -> None:
        if size < 1 or batch_size < 1:
            raise ValueError("size and batch_size must be positive")
        self.size = size
        self.seed = seed
        self.batch_size = batch_size
        self.outlets = _outlets(seed)
        self.vocabularies = {
            "en": _vocabulary(_entries(_ENGLISH), _EnglishTail, seed, "en"),
            "ru": _vocabulary(_entries(_RUSSIAN), _RussianTail, seed, "ru"),
        }
        self._by_language = {
            language: [outlet for outlet in self.outlets if outlet.language == language]
            for language in ("en", "ru")
        }
        self._step = SPAN / size

    @property
    def batch_count(self) -> int:
        """How many batches make up the archive."""
        return math.ceil(self.size / self.batch_size)

    @property
    def end(self) -> datetime:
        """The publication time of the newest article (at most)."""
        return START + SPAN

    def feed_specs(self) -> list[FeedSpec]:
        """The outlets as the operator would configure them."""
        return [
            FeedSpec(
                key=outlet.key,
                name=outlet.name,
                url=f"https://{outlet.domain}/rss",
                language=outlet.language,
                country=outlet.country,
            )
            for outlet in self.outlets
        ]

    def outlet_of(self, number: int) -> Outlet:
        """The outlet that publishes batch ``number`` (cheap: no text is generated)."""
        rng = random.Random(f"{self.seed}:outlet:{number}")
        language = "en" if rng.random() < ENGLISH_SHARE else "ru"
        candidates = self._by_language[language]
        return rng.choices(candidates, weights=[outlet.weight for outlet in candidates])[0]

    def language_counts(self) -> dict[str, int]:
        """Articles per language in the whole archive."""
        counts = {"en": 0, "ru": 0}
        for number in range(self.batch_count):
            counts[self.outlet_of(number).language] += self._batch_length(number)
        return counts

    def __iter__(self) -> Iterator[Batch]:
        return (self.batch(number) for number in range(self.batch_count))

    def batch(self, number: int) -> Batch:
        """Batch ``number``, the same every time."""
        outlet = self.outlet_of(number)
        language = outlet.language
        rng = random.Random(f"{self.seed}:batch:{number}")
        titles = self._titles(number)
        previous: list[tuple[str, ...]] = []
        if number > 0 and self.outlet_of(number - 1).language == language:
            previous = self._titles(number - 1)
        vocabulary = self.vocabularies[language]
        first = number * self.batch_size
        articles: list[SyntheticArticle] = []
        for offset, own_title in enumerate(titles):
            serial = first + offset
            title_words = own_title
            joins: int | None = None
            if previous and rng.random() < STORY_JOIN_SHARE:
                # Another outlet's report of the same event: most of its title, reworded.
                joins = rng.randrange(len(previous))
                words = list(previous[joins])
                for _ in range(2):
                    words[rng.randrange(len(words))] = _draw(rng, vocabulary, 1)[0]
                title_words = tuple(words)
            articles.append(self._article(rng, outlet, serial, title_words, joins))
        return Batch(number, outlet, tuple(articles))

    def _batch_length(self, number: int) -> int:
        return min(self.batch_size, self.size - number * self.batch_size)

    def _titles(self, number: int) -> list[tuple[str, ...]]:
        """The batch's titles, from a stream of their own (the next batch rewords some)."""
        rng = random.Random(f"{self.seed}:titles:{number}")
        vocabulary = self.vocabularies[self.outlet_of(number).language]
        return [
            tuple(_draw(rng, vocabulary, rng.randint(6, 14)))
            for _ in range(self._batch_length(number))
        ]

    def _article(
        self,
        rng: random.Random,
        outlet: Outlet,
        serial: int,
        title_words: tuple[str, ...],
        joins: int | None,
    ) -> SyntheticArticle:
        language = outlet.language
        words = _draw(rng, self.vocabularies[language], rng.randint(35, 80))
        classification = _classification(rng, outlet)
        # The classifier found its evidence in the text, so the text must hold it.
        for terms in classification.evidence.values():
            for term in terms:
                words.insert(rng.randrange(len(words) + 1), term)
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            words.insert(rng.randrange(len(words) + 1), _number(rng))
        summary = _sentences(rng, words)
        title = " ".join(title_words)
        title = title[0].upper() + title[1:]
        published = START + self._step * (serial + rng.random())
        url = _url(rng, outlet, serial, title_words, published)
        guid = url if outlet.guid_is_url else f"https://{outlet.domain}/?p={1_000_000 + serial}"
        article = ArticleInput(
            guid=guid,
            url=url,
            title=title,
            summary=summary,
            content="",
            language=language,
            published_at=published.replace(microsecond=0),
            content_hash=hashlib.sha256(f"{title}\n{summary}\n".encode()).hexdigest(),
            classification=classification,
        )
        return SyntheticArticle(
            article=article,
            joins=joins,
            title_words=tuple(word for entry in title_words for word in entry.split()),
            summary_words=tuple(word for entry in words for word in entry.split()),
        )


def _outlets(seed: int) -> tuple[Outlet, ...]:
    rng = random.Random(f"{seed}:outlets")
    outlets = []
    for index, (name, domain, language, country) in enumerate(_OUTLETS):
        key = domain.replace(".example", "").replace(".", "-")
        outlets.append(
            Outlet(
                key=key[:32],
                name=name,
                domain=domain,
                language=language,
                country=country,
                # A few big outlets and many small ones, as in any news market.
                weight=1.0 / (1 + rng.random() * 4) ** 1.5,
                url_style=index % 3,
                guid_is_url=index % 2 == 0,
            )
        )
    return tuple(outlets)


def _vocabulary(
    head: list[str],
    tail: type[_Tail],
    seed: int,
    language: str,
) -> Vocabulary:
    known = {entry.lower() for entry in head}
    entries = head + tail(random.Random(f"{seed}:tail:{language}"), known).words(TAIL_WORDS)
    weights = (1.0 / rank**ZIPF_EXPONENT for rank in range(1, len(entries) + 1))
    return Vocabulary(tuple(entries), tuple(accumulate(weights)), len(head))


class _Tail:
    """Generator of unique pseudo-words from a language's syllables and endings."""

    onsets: tuple[str, ...] = ()
    vowels: tuple[str, ...] = ()
    codas: tuple[str, ...] = ()
    endings: tuple[str, ...] = ()
    name_share = 0.2

    def __init__(self, rng: random.Random, known: set[str]) -> None:
        self._rng = rng
        self._seen = set(known)

    def words(self, count: int) -> list[str]:
        """``count`` distinct new words, some capitalised as names."""
        words: list[str] = []
        while len(words) < count:
            word = self.word()
            if len(word) < 4 or word in self._seen:
                continue
            self._seen.add(word)
            if self._rng.random() < self.name_share:
                word = word[0].upper() + word[1:]
            words.append(word)
        return words

    def word(self) -> str:
        """One pseudo-word (possibly already made)."""
        rng = self._rng
        # Mostly two syllables and an ending: about as long as the real words.
        syllables = rng.choice((1, 2, 2, 2, 3))
        stem = "".join(
            rng.choice(self.onsets) + rng.choice(self.vowels) + rng.choice(self.codas)
            for _ in range(syllables)
        )
        return stem + rng.choice(self.endings)


class _EnglishTail(_Tail):
    onsets = _EN_ONSETS
    vowels = _EN_VOWELS
    codas = _EN_CODAS
    endings = _EN_ENDINGS


class _RussianTail(_Tail):
    onsets = _RU_ONSETS
    vowels = _RU_VOWELS
    codas = _RU_CODAS
    endings = _RU_ENDINGS

    def word(self) -> str:
        # Russian texts name Latin-script brands and people now and then.
        if self._rng.random() < 0.03:
            latin = "".join(
                self._rng.choice(_EN_ONSETS) + self._rng.choice(_EN_VOWELS)
                for _ in range(self._rng.choice((2, 3)))
            )
            return latin[0].upper() + latin[1:]
        return super().word()


def _draw(rng: random.Random, vocabulary: Vocabulary, count: int) -> list[str]:
    return rng.choices(vocabulary.entries, cum_weights=vocabulary.cumulative, k=count)


def _classification(rng: random.Random, outlet: Outlet) -> Classification:
    """Topics (none to two) and countries (mostly the outlet's own), with evidence."""
    language = outlet.language
    topics: dict[str, float] = {}
    for _ in range(rng.choice((0, 1, 1, 1, 2))):
        topic = rng.choices(list(_TOPIC_WEIGHTS), weights=list(_TOPIC_WEIGHTS.values()))[0]
        topics[topic] = round(rng.uniform(0.35, 1.0), 2)
    countries: list[str] = []
    if rng.random() < 0.8:
        countries.append(outlet.country)
    if rng.random() < 0.2:
        other = rng.choice(list(COUNTRY_WORDS[language]))
        if other not in countries:
            countries.append(other)
    evidence: dict[str, list[str]] = {}
    for topic in topics:
        evidence[topic] = rng.sample(TOPIC_WORDS[language][topic], rng.choice((1, 2)))
    for country in countries:
        evidence[country] = [rng.choice(COUNTRY_WORDS[language][country])]
    return Classification(topics=topics, countries=countries, evidence=evidence)


def _number(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return str(rng.choice((2023, 2024, 2025, 2026, 2030)))
    if kind == 1:
        return str(rng.randint(2, 999))
    if kind == 2:
        return f"{rng.randint(1, 99)}%"
    return f"{rng.randint(1, 99)},{rng.randint(1, 9)}"


def _sentences(rng: random.Random, words: Sequence[str]) -> str:
    """The words as sentences of 8-20 words, with commas now and then."""
    parts: list[str] = []
    position = 0
    while position < len(words):
        length = rng.randint(8, 20)
        sentence = list(words[position : position + length])
        position += length
        for _ in range(len(sentence) // 9):
            where = rng.randrange(len(sentence) - 1) if len(sentence) > 1 else 0
            sentence[where] += ","
        text = " ".join(sentence)
        parts.append(text[0].upper() + text[1:].rstrip(",") + ".")
    return " ".join(parts)


def _slug(words: Sequence[str], length: int) -> str:
    slug = ""
    for word in words:
        part = "".join(
            ch for ch in word.lower().translate(_TRANSLIT) if ch.isascii() and ch.isalnum()
        )
        if not part:
            continue
        if slug and len(slug) + len(part) + 1 > length:
            break
        slug = f"{slug}-{part}" if slug else part
    return slug[:length]


def _url(
    rng: random.Random,
    outlet: Outlet,
    serial: int,
    title_words: Sequence[str],
    published: datetime,
) -> str:
    """A canonical URL of about 80 characters in the outlet's style; unique by ``serial``."""
    target = rng.randint(65, 100)
    if outlet.url_style == 0:
        prefix = f"https://{outlet.domain}/{published:%Y/%m}/"
        suffix = f"-{serial}.html"
    elif outlet.url_style == 1:
        prefix = f"https://{outlet.domain}/news/{serial}-"
        suffix = "/"
    else:
        prefix = f"https://{outlet.domain}/{rng.choice(_SECTIONS)}/"
        suffix = f"-{serial}"
    slug = _slug(title_words, max(10, target - len(prefix) - len(suffix))) or "article"
    return f"{prefix}{slug}{suffix}"


def document_rate(vocabulary: Vocabulary, rank: int, words_per_article: float) -> float:
    """Expected share of a language's articles in which the entry at ``rank`` occurs."""
    return 1.0 - math.exp(-words_per_article * vocabulary.probability(rank))


#: Mean entries drawn per article (title 6-14, summary 35-80), for the rates above.
WORDS_PER_ARTICLE: Final = 10.0 + 57.5
