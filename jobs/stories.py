"""Group articles from different outlets about the same event into stories.

Pure code, no I/O. Two layers:

* **Title signature** — :func:`title_tokens` turns a headline into a set of comparison keys
  that are the same for the same event across outlets, and across English and Russian
  (also Kazakh and Uzbek, more roughly). Steps: Unicode NFKC; numbers pulled out first and
  normalised (``1,2`` / ``1.2``; ``1 200`` / ``1,200``) into ``#``-keys; words casefolded,
  stop words (en, ru, some kk/uz, and news filler such as "digest") dropped; Snowball
  stemming (English for Latin words, Russian for Cyrillic ones); Cyrillic romanised and
  both scripts folded to a spelling skeleton (:mod:`jobs.translit`); a small bilingual gloss
  maps very common news words to shared ``~``-concepts (``solar``/``солнечн`` -> ``~solar``)
  and countries and main cities to ``@``-keys (``Kazakhstan``/``Казахстан`` -> ``@kz``,
  ``Samarkand`` -> ``@uz/samarkand``);
  every other word is cut to its first :data:`PREFIX_LEN` letters, a prefix rule that lets
  ``Tokayev``/``Токаева`` or ``Almaty``/``Алматы`` meet despite different inflection.
* **Similarity** — :func:`similarity` is a weighted cosine over two key sets (numbers weigh
  most, concepts least), with two vetoes for the classic near misses: titles naming
  countries (or cities) each of its own (Kazakhstan vs Kyrgyzstan raising tariffs; gas
  to China vs to Russia) score 0, and titles whose figures disagree (500 MW vs 1 GW) are
  halved.
  :class:`StoryIndex` adds IDF weights learnt from the titles it holds and the story rules.

Story rules of :meth:`StoryIndex.match`:

1. Only articles published within ``window`` (either side) of the new one count.
2. A story that already holds an article from the same feed is never a candidate: one
   outlet publishing two pieces on a topic is two stories, not one.
3. The pair must share at least :data:`MIN_SHARED_KEYS` keys, at least one of which is
   not among the index's most widespread keys (found in more stories than
   :meth:`StoryIndex.common_df`); with the news-filler stop words this keeps "News in
   brief"-style titles apart, and keeps ``match`` from walking the posting lists of
   words like "Kazakhstan". Keys too light to reach the threshold on their own are not
   walked either (an exact bound, see :meth:`StoryIndex.match`).
4. The best-scoring article decides; its score must reach ``threshold``. Ties go to the
   smaller story id, so results do not depend on dictionary order.
"""

from __future__ import annotations

import functools
import math
import operator
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import Stemmer

from jobs.errors import JobsError
from jobs.translit import fold, has_cyrillic, romanise
from storage.records import StoryCandidate

__all__ = [
    "DEFAULT_THRESHOLD",
    "MIN_SHARED_KEYS",
    "PREFIX_LEN",
    "StoryIndex",
    "StoryInputError",
    "TitleKeys",
    "key_weight",
    "similarity",
    "title_keys",
    "title_tokens",
]

#: Letters kept of a word that is neither a number nor a gloss concept.
PREFIX_LEN = 6
#: Keys two titles must share at all: fewer is a theme ("Central Asia", a name), not an event.
MIN_SHARED_KEYS = 3
#: Default score a pair of titles must reach to be one story (see module docs).
DEFAULT_THRESHOLD = 0.55

# --------------------------------------------------------------------------- stop words

_STOP_EN = """
a about above after again against all also am an and any are as at be been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers him his how i if in into is it its itself just me more
most my no nor not now of off on once only or other our out over own same she should so some
such than that the their them then there these they this those through to too under until up
upon very was we were what when where which while who whom why will with would you your via
amid says said say new over vs per us
"""
_STOP_RU = """
а без более бы был была были было быть в вам вас весь во вот все всего всех вы где да даже
для до его ее её если есть еще ещё же за здесь и из или им их к как ко когда кто ли либо между
меня мне может мы на над надо наш не него нее неё нет ни них но ну о об однако он она они оно
от очень по под при про с со так также такой там те тем то того тоже той только том ты у уже
хотя чего чей чем что чтобы чье чья эта эти это этот я будет будут заявил заявила заявили
сообщил сообщили стало стал станет новый новая новое новые нового новую новых около почти
"""
_STOP_KK = "және мен бен пен үшін бойынша туралы жаңа бұл осы да де та те ма ме ба бе па пе"
_STOP_UZ = "va bilan uchun boʻyicha bo'yicha haqida yangi ham bu shu esa deb emas"
# Filler of round-ups and columns: a digest title shares these with every other digest.
_STOP_NEWS = """
news brief briefs digest roundup round-up update updates live today week weekly daily morning
evening headlines briefing newsletter recap wrap top main key latest breaking review column
opinion editorial podcast video
photo photos interview exclusive
новости новость дайджест коротко кратко обзор итоги главное главные неделя недели сегодня
вчера видео фото интервью мнение колонка подкаст год года году годы годов лет
year years
жаңалықтар yangiliklar
"""
_STOP_WORDS: frozenset[str] = frozenset(
    (_STOP_EN + _STOP_RU + _STOP_KK + _STOP_UZ + _STOP_NEWS).split()
)

# ------------------------------------------------------------------------------ gloss

# concept -> terms in any script. A term ending in "*" is a prefix matched against the
# romanised, folded, unstemmed word; any other term is stemmed by its script's stemmer and
# matched exactly. Keep entries specific: a loose prefix silently glues unrelated words.
_GLOSS: dict[str, str] = {
    # The followed countries (ISO codes): also the basis of the country veto.
    "@kz": "kazakh* казах* қазақ* kazak* qozog*",
    "@uz": "uzbek* узбек* ozbek* ўзбек*",
    "@kg": "kyrgyz* кыргыз* киргиз* kirgiz* qirg*",
    "@tj": "tajik* таджик* тоҷик* tojik*",
    "@tm": "turkmen* туркмен*",
    "@az": "azerbaij* азербайдж* azeri* ozarbay*",
    # Other countries: they take part in the same veto ("Chinese investors" vs "German").
    "@ru": "russia russian росси*",
    "@cn": "china chinese китай* китая китае китаем китайск*",
    "@us": "us usa американ* сша",
    "@eu": "eu евросоюз* ес",
    "@ae": "uae emirates emirati оаэ эмират*",
    "@tr": "turkey turkiye turkish турци* турецк*",
    "@kr": "korea korean коре*",
    "@jp": "japan japanese япони* японск*",
    "@de": "germany german герман* немецк*",
    "@in": "india indian инди*",
    "@ir": "iran iranian иран*",
    "@af": "afghanistan afghan афган*",
    "@pk": "pakistan pakistani пакистан*",
    # Cities and regions: "@<country>/<place>", so a city also implies its country.
    "@kz/astana": "astana астан*",
    "@kz/almaty": "almaty алматы",
    "@kz/shymkent": "shymkent* шымкент*",
    "@kz/karaganda": "karaganda* караганд* qaragand*",
    "@kz/aktau": "aktau актау",
    "@kz/atyrau": "atyrau атырау",
    "@kz/aktobe": "aktobe актобе",
    "@kz/pavlodar": "pavlodar* павлодар*",
    "@kz/turkestan": "turkestan* туркестан* turkistan*",
    "@kz/jambyl": "jambyl* zhambyl* жамбыл*",
    "@kz/mangystau": "mangystau* мангистау* мангыстау*",
    "@kz/kostanay": "kostanay* костанай*",
    "@kz/semey": "semey семей",
    "@kz/oskemen": "oskemen* өскемен* kamenogorsk* каменогорск*",
    "@uz/tashkent": "tashkent* ташкент* toshkent*",
    "@uz/samarkand": "samarkand* самарканд* samarqand*",
    "@uz/bukhara": "bukhara* бухар* buxoro*",
    "@uz/andijan": "andijan* андижан* andijon*",
    "@uz/namangan": "namangan* наманган*",
    "@uz/fergana": "fergana* фергана* ферган* fargona*",
    "@uz/khorezm": "khorezm* хорезм* xorazm* khiva хива хиве",
    "@uz/karakalpakstan": "karakalpak* каракалпак* qoraqalpog* nukus нукус*",
    "@uz/navoi": "navoi* навои navoiy*",
    "@uz/jizzakh": "jizzakh* джизак* jizzax*",
    "@uz/kashkadarya": "kashkadar* кашкадар* qashqadar* karshi карши qarshi",
    "@uz/surkhandarya": "surkhandar* сурхандар* surxondar* termez термез*",
    "@kg/bishkek": "bishkek* бишкек*",
    "@kg/osh": "osh ош оше оша",
    "@kg/issykkul": "issyk* иссык* ysyk*",
    "@kg/jalalabad": "jalal* джалал*",
    "@kg/naryn": "naryn нарын*",
    "@tj/dushanbe": "dushanbe* душанбе",
    "@tj/khujand": "khujand* худжанд* sughd* согд*",
    "@tj/khatlon": "khatlon* хатлон* bokhtar бохтар*",
    "@tj/gbao": "gbao badakhshan* бадахшан* pamir* памир*",
    "@tm/ashgabat": "ashgabat* ashkhabad* ашхабад*",
    "@tm/turkmenbashi": "turkmenbashi* туркменбаши*",
    "@tm/balkan": "balkanabat* балканабат* awaza аваза",
    "@az/baku": "baku баку",
    "@az/ganja": "ganja* гянджа* гяндж*",
    "@az/sumgait": "sumgait* сумгаит*",
    "@az/karabakh": "karabakh* карабах* shusha* шуша*",
    "@az/nakhchivan": "nakhchivan* нахчыван* нахичеван*",
    # Common news words, English <-> Russian.
    "~build": "build construct erect построит построят построить строит строят строительств* "
    "возвед* сооруд* qurish*",
    "~plant": "plant station powerplant станц* электростанц*",
    "~solar": "solar sun photovoltaic pv солнечн* фотоэлектр* сэс quyosh*",
    "~wind": "wind windfarm ветров* ветрян* ветроэлектр* вэс",
    "~hydro": "hydro hydropower hydroelectric hpp гидро* гэс",
    "~nuclear": "nuclear npp atomic атомн* аэс",
    "~power": "power electricity electric grid электроэнерг* электричеств* энергосистем* "
    "электросет*",
    "~energy": "energy энерг*",
    "~gas": "gas газ газа газу газом газов газовый газовой газового газовых",
    "~pipeline": "pipeline газопровод* нефтепровод* трубопровод*",
    "~oil": "oil petroleum нефт* neft*",
    "~coal": "coal угол угля углем угольн*",
    "~uranium": "uranium уран урана урановый",
    "~fuel": "fuel petrol gasoline топлив* бензин*",
    "~mine": "mine mining miner добыч* горнодобыв* рудник*",
    "~hub": "hub хаб хаба",
    "~startup": "startup start-up стартап*",
    "~bank": "bank банк*",
    "~president": "president президент*",
    "~government": "government cabinet правительств* кабмин*",
    "~minister": "minister ministry министр* министерств*",
    "~parliament": "parliament majilis mazhilis senate парламент* мажилис* сенат*",
    "~billion": "billion bn bln млрд миллиард*",
    "~million": "million mln mn млн миллион*",
    "~thousand": "thousand тыс тысяч*",
    "~trillion": "trillion трлн триллион*",
    "~usd": "dollar usd доллар*",
    "~eur": "euro eur евро",
    "~mw": "mw mwt megawatt мвт мегаватт*",
    "~gw": "gw gwt gigawatt гвт гигаватт*",
    "~kwh": "kwh kw квт* киловатт*",
    "~law": "law bill закон*",
    "~sign": "sign signs signed signing подпис*",
    "~decree": "decree указ указом указа постановлен*",
    "~tariff": "tariff тариф*",
    "~price": "price prices цен цена цены ценам ценах",
    "~raise": "raise increase hike rise grow boost повыс* повыш* увелич* рост* растут вырос* "
    "выраст* подним* привлек*",
    "~cut": "cut reduce lower decrease fall drop сниз* сниж* сократ* сокращ* уменьш* упал* пада*",
    "~launch": "launch start begin commission запуст* запуск* старт* начал* начнет*",
    "~open": "open opening откры* открое* откроет*",
    "~invest": "invest investment investor инвест* влож* влаг*",
    "~agreement": "agreement deal memorandum mou accord contract соглашен* договор* "
    "меморандум* контракт*",
    "~project": "project проект*",
    "~company": "company firm компани*",
    "~digital": "digital* цифров* raqamli*",
    "~ai": "ai artificial intelligence ии искусствен* интеллект*",
    "~center": "center centre центр*",
    "~data": "data данных данные",
    "~water": "water вод вода воды водой водн* водоснабжен*",
    "~rail": "rail railway railroad railways железнодорожн* железн* жд",
    "~road": "road highway motorway дорог* трасс* автодорог*",
    "~airport": "airport аэропорт*",
    "~flight": "flight flights airline airlines рейс* авиакомпан* авиасообщ*",
    "~export": "export exports экспорт*",
    "~import": "import imports импорт*",
    "~loan": "loan credit кредит* займ* заем*",
    "~fund": "fund фонд*",
    "~tax": "tax taxes налог*",
    "~meet": "meet meets meeting talks visit встреч* встрет* переговор* визит*",
    "~head": "ceo head chief chairman глав* руководител* председател*",
    "~cooperation": "cooperation cooperate partnership partner сотруднич* партнерств* "
    "партнер* кооперац*",
    "~country": "country countries стран* davlat*",
    "~region": "region regional регион* област*",
    "~city": "city town город*",
    "~capital": "capital столиц* poytaxt*",
    "~cotton": "cotton хлоп*",
    "~grain": "grain wheat зерн* пшениц*",
    "~internet": "internet интернет*",
    "~mobile": "mobile cellular мобильн* сотов*",
    "~satellite": "satellite спутник*",
    "~tech": "tech technology technologies технолог* texnolog*",
    "~it": "it айти",
    "~park": "park парк*",
    "~crypto": "crypto cryptocurrency bitcoin криптовалют* крипто* биткоин*",
    "~payment": "payment payments платеж* плат*",
    "~license": "license licence licenses лиценз*",
    "~ban": "ban bans banned запрет*",
    "~record": "record рекорд*",
    "~month": "month months месяц*",
    "~percent": "percent pct процент*",
    "~first": "first перв*",
    "~plan": "plan plans план*",
    "~bus": "bus buses автобус* электробус*",
    "~metro": "metro subway метро метрополитен*",
    "~receive": "receive receives get gets получ*",
    "~section": "section segment stretch участок участк*",
    "~second": "second втор*",
    "~third": "third трет*",
    "~fourth": "fourth четверт*",
    "~asset": "asset assets актив*",
    "~media": "media сми медиа",
    "~election": "election elections vote выбор* голосован*",
    "~rate": "rate ставк*",
    "~profit": "profit income earnings прибыл* доход*",
    "~train": "train trains поезд* электрич*",
    "~car": "car cars vehicle vehicles автомобил* машин*",
    "~electric_car": "ev evs электромобил*",
    "~factory": "factory завод* фабрик*",
    "~field": "field месторожден*",
    "~expand": "expand expansion расшир*",
    "~trade": "trade торгов* товарооборот*",
    "~house": "house дом дома",
    "~unit": "unit агрегат* блок* энергоблок*",
    "~supercomputer": "supercomputer суперкомпьютер*",
    "~national": "national национальн* нацбанк*",
    "~joint": "joint совместн*",
    "~create": "create creation establish establishment созда* учред*",
    "~approve": "approve approves approved утверд* одобр*",
    "~register": "register registers registered регистр* зарегистр*",
    "~jan": "january январ*",
    "~feb": "february феврал*",
    "~mar": "march март марта марте",
    "~apr": "april апрел*",
    "~may": "мая мае",  # English "may" is mostly the modal verb
    "~jun": "june июн*",
    "~jul": "july июл*",
    "~aug": "august август*",
    "~sep": "september сентябр*",
    "~oct": "october октябр*",
    "~nov": "november ноябр*",
    "~dec": "december декабр*",
    "~adb": "adb абр",
    "~ebrd": "ebrd ебрр",
    "~worldbank": "worldbank всемирн*",
}

# ---------------------------------------------------------------------------- stemming

_LOCAL = threading.local()


def _stemmer(language: str) -> Callable[[str], str]:
    """A per-thread Snowball stemmer (PyStemmer objects must not be shared across threads)."""
    cache: dict[str, Callable[[str], str]] | None = getattr(_LOCAL, "stemmers", None)
    if cache is None:
        cache = {}
        _LOCAL.stemmers = cache
    stem = cache.get(language)
    if stem is None:
        stem = Stemmer.Stemmer(language).stemWord
        cache[language] = stem
    return stem


# Surnames such as Токаев, Жапаров, Мирзиёев: the Russian stemmer reads "-ев"/"-ов" as a
# plural ending and cuts the name ("токаев" -> "тока"). For a capitalised word shaped like
# a surname only the case ending is removed.
_SURNAME_RE = re.compile(r"^(.{2,}(?:ов|ев|ёв|ин|ын))(?:а|у|ым|ом|е|ой|ы|ых)?$")
_UZ_SUFFIXES = (
    "larining",
    "laridagi",
    "larning",
    "laridan",
    "larini",
    "lardan",
    "larga",
    "larda",
    "lari",
    "ning",
    "dagi",
    "dan",
    "lar",
    "ga",
    "ka",
    "qa",
    "da",
    "ni",
)


def _uz_stem(word: str) -> str:
    """Drop one common Uzbek (Latin) case or plural suffix, keeping at least 4 letters."""
    for suffix in _UZ_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _stem_word(raw: str, word: str, language: str) -> str:
    """Stem casefolded ``word`` (``raw`` is its original spelling) for its script."""
    if has_cyrillic(word):
        if len(raw) >= 2 and raw.isupper():
            return word  # an acronym (ТАПИ, АБР): the stemmer would eat its last letter
        if raw[:1].isupper():
            name = _SURNAME_RE.match(word)
            if name is not None:
                return name.group(1)
        return str(_stemmer("russian")(word))
    if language == "uz":
        return _uz_stem(word)
    return str(_stemmer("english")(word))


def _skeleton(word: str) -> str:
    """The romanised, folded spelling skeleton of a (casefolded) word in any script."""
    return romanise(word) if has_cyrillic(word) else fold(word)


# --------------------------------------------------------------------- gloss compiled


def _compile_gloss() -> tuple[dict[str, str], dict[str, str]]:
    exact: dict[str, str] = {}
    prefix: dict[str, str] = {}
    for concept, terms in _GLOSS.items():
        for term in terms.split():
            if term.endswith("*"):
                prefix[_skeleton(term[:-1].replace("-", ""))] = concept
            else:
                word = term.replace("-", "")
                language = "uz" if "'" in word else "en"
                exact[_skeleton(_stem_word(word, word, language))] = concept
                # Also the unstemmed form, for words the stemmer leaves oddly cut.
                exact.setdefault(_skeleton(word), concept)
    return exact, prefix


_GLOSS_EXACT, _GLOSS_PREFIX = _compile_gloss()
_GLOSS_MAX_PREFIX = max(len(key) for key in _GLOSS_PREFIX)
# Every start (2 letters or more) of a prefix term: lets _concept stop at the first
# letters of a word that no term begins with, instead of trying every length.
_GLOSS_PREFIX_STARTS = frozenset(
    key[:length] for key in _GLOSS_PREFIX for length in range(2, len(key) + 1)
)


def _concept(stem_skeleton: str, surface_skeleton: str) -> str | None:
    concept = _GLOSS_EXACT.get(stem_skeleton) or _GLOSS_EXACT.get(surface_skeleton)
    if concept is not None:
        return concept
    # The longest prefix term the word starts with. Every shorter start of that term is
    # in _GLOSS_PREFIX_STARTS, so the walk up from 2 letters cannot stop before it.
    for length in range(2, min(len(surface_skeleton), _GLOSS_MAX_PREFIX) + 1):
        start = surface_skeleton[:length]
        if start not in _GLOSS_PREFIX_STARTS:
            break
        concept = _GLOSS_PREFIX.get(start) or concept
    return concept


# ---------------------------------------------------------------------------- numbers

# A number is either digit groups separated by spaces ("1 200 000", Russian style) or
# digits with "." / "," separators ("1,200", "1.2", "0,5").
_NUMBER_RE = re.compile(r"\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+(?!\d)|\d+(?:[.,]\d+)*")
_YEAR_RE = re.compile(r"#(?:19|20)\d\d")
_WORD_RE = re.compile(r"[^\W\d_]+(?:['’ʻʼ`][^\W\d_]+)*")
# One pass over a title: group 1 a number, group 2 a word.
_TOKEN_RE = re.compile(f"({_NUMBER_RE.pattern})|({_WORD_RE.pattern})")
_APOSTROPHES_RE = re.compile(r"['’ʻʼ`]")
_POSSESSIVE_RE = re.compile(r"['’ʼ]s$")


def _normalise_number(text: str) -> str:
    """Canonical spelling of a number: thousands separators dropped, decimals with ".",
    trailing decimal zeros removed (``"1,20"`` -> ``"1.2"``, ``"1 200"`` -> ``"1200"``)."""
    digits = re.sub(r"[ \u00a0\u202f\u2009]", "", text)
    if "," in digits and "." in digits:
        digits = digits.replace(",", "")
    elif "," in digits:
        parts = digits.split(",")
        if len(parts) > 2 or len(parts[1]) == 3:
            digits = "".join(parts)
        else:
            digits = f"{parts[0]}.{parts[1]}"
    elif digits.count(".") > 1:
        parts = digits.split(".")
        if all(len(part) == 3 for part in parts[1:]):
            digits = "".join(parts)
    if digits.count(".") == 1:
        whole, fraction = digits.split(".")
        fraction = fraction.rstrip("0")
        digits = f"{whole}.{fraction}" if fraction else whole
    head, dot, tail = digits.partition(".")
    head = head.lstrip("0") or "0"
    return f"{head}{dot}{tail}"


# ----------------------------------------------------------------------- title tokens


@functools.lru_cache(maxsize=1 << 16)
def _word_key(raw: str, stemming: str) -> str | None:
    """The key of one word as written (case matters: acronyms, surnames), or ``None`` for
    a stop word. Cached: headline vocabulary repeats, and this is most of the cost."""
    word = _POSSESSIVE_RE.sub("", raw.casefold())
    acronym = len(raw) >= 2 and raw.isupper()
    if word in _STOP_WORDS and not acronym:
        return None
    word = _APOSTROPHES_RE.sub("", word)
    if len(word) < 2 or (word in _STOP_WORDS and not acronym):
        return None
    stem_skeleton = _skeleton(_stem_word(raw, word, stemming))
    concept = _concept(stem_skeleton, _skeleton(word))
    if concept is not None:
        return concept
    return stem_skeleton[:PREFIX_LEN] if len(stem_skeleton) >= 2 else None


def _token_keys(text: str, stemming: str) -> list[str]:
    """Keys of every number and word of ``text`` in order, duplicates kept."""
    keys: list[str] = []
    for number, raw in _TOKEN_RE.findall(text):
        if number:
            keys.append("#" + _normalise_number(number))
        else:
            key = _word_key(raw, stemming)
            if key is not None:
                keys.append(key)
    return keys


# Keys with their prior weights of one whitespace-free piece of a title, and whether the
# piece starts / ends with a digit.
_Piece = tuple[tuple[tuple[str, float], ...], bool, bool]

# The caches below are plain dicts rather than functools.lru_cache: they are consulted for
# every piece of every title, and a dict lookup costs a fraction of an lru_cache call.
# One dict per stemming mode (the only thing the language changes), so the title alone is
# the key. A cache that outgrows its bound is emptied: the next titles refill it at once.
_PIECE_CACHE_SIZE = 1 << 16
_SIGNATURE_CACHE_SIZE = 1 << 13
_PIECES: dict[str, dict[str, _Piece]] = {"en": {}, "uz": {}}
_SIGNATURES: dict[str, dict[str, _Signature]] = {"en": {}, "uz": {}}


def _piece(piece: str, stemming: str) -> _Piece:
    keys = _token_keys(piece, stemming)
    return tuple((key, key_weight(key)) for key in keys), piece[:1].isdigit(), piece[-1:].isdigit()


def _title_priors(text: str, stemming: str) -> dict[str, float]:
    """Each key of NFKC-normalised ``text`` with its prior weight (:func:`key_weight`).

    The keys are those :data:`_TOKEN_RE` finds in the whole text, but looked up per
    whitespace-separated piece: headlines are made of a few thousand recurring pieces,
    and running the token regex over each whole title costs more than the lookups. A
    word never spans whitespace and a number only as digit groups ("1 200"), so only a
    piece ending in a digit followed by one starting with a digit needs the whole text.
    """
    cache = _PIECES[stemming]
    priors: dict[str, float] = {}
    after_digit = False
    for piece in text.split():
        found = cache.get(piece)
        if found is None:
            if len(cache) >= _PIECE_CACHE_SIZE:
                cache.clear()
            found = cache[piece] = _piece(piece, stemming)
        pairs, starts_digit, ends_digit = found
        if after_digit and starts_digit:
            return {key: key_weight(key) for key in _token_keys(text, stemming)}
        priors.update(pairs)
        after_digit = ends_digit
    return priors


#: A headline's comparison keys with their prior weights, as :func:`title_keys` gives
#: them. Treat as read-only once handed to a :class:`StoryIndex`: it keeps the mapping.
TitleKeys = dict[str, float]


def _priors(title: str, stemming: str) -> dict[str, float]:
    """Each key of a headline with its prior weight (uncached)."""
    text = unicodedata.normalize("NFKC", title)
    priors = _title_priors(text, stemming)
    if "$" in text:
        priors["~usd"] = key_weight("~usd")
    if "€" in text:
        priors["~eur"] = key_weight("~eur")
    return priors


def _signature(title: str, language: str) -> _Signature:
    """The (cached) signature of a headline; the collector matches then adds each title."""
    stemming = "uz" if language == "uz" else "en"
    cache = _SIGNATURES[stemming]
    signature = cache.get(title)
    if signature is None:
        priors = _priors(title, stemming)
        if len(cache) >= _SIGNATURE_CACHE_SIZE:
            cache.clear()
        signature = cache[title] = _Signature(frozenset(priors), priors)
    return signature


def _signature_given(title: str, language: str, keys: TitleKeys | None) -> _Signature:
    """The signature from keys computed ahead (:func:`title_keys`), else from the title."""
    if keys is None:
        return _signature(title, language)
    return _Signature(frozenset(keys), keys)


def title_keys(title: str, language: str) -> TitleKeys:
    """What :class:`StoryIndex` reads of a headline: its keys (:func:`title_tokens`)
    with their prior weights (:func:`key_weight`).

    Pure and uncached: computed ahead (the collector does it in its parse worker
    processes) and passed to :meth:`StoryIndex.match` and :meth:`StoryIndex.add` as
    ``keys``, it spares the index analysing the title, with the same result.
    """
    return _priors(title, "uz" if language == "uz" else "en")


def title_tokens(title: str, language: str) -> frozenset[str]:
    """The comparison keys of a headline.

    Keys are of four kinds: ``"#1.2"`` numbers, ``"@kz"`` followed countries, ``"~solar"``
    gloss concepts and plain word prefixes (romanised, folded, at most :data:`PREFIX_LEN`
    letters). ``language`` is the article's ISO 639-1 code; it only chooses how Latin
    words are stemmed (``"uz"``: Uzbek suffixes; anything else: English), Cyrillic words
    always get the Russian stemmer. Never raises; an empty or wordless title gives an
    empty set.
    """
    return _signature(title, language).keys


# ------------------------------------------------------------------------ similarity


# Verbs and frame words that say what kind of thing happened, not which thing: "Tokayev
# signs law on X" must be told apart by X, so these weigh less than other concepts.
_LIGHT_CONCEPTS = frozenset(
    (
        *("~build", "~sign", "~launch", "~open", "~meet", "~agreement", "~raise", "~cut"),
        *("~create", "~approve", "~register", "~receive", "~expand", "~plan", "~first"),
        *("~second", "~third", "~fourth", "~project", "~company", "~country", "~region"),
        *("~city", "~law", "~decree"),
    )
)


@functools.lru_cache(maxsize=1 << 16)
def key_weight(key: str) -> float:
    """Prior weight of a key by kind: figures identify an event best, concepts least."""
    first = key[:1]
    if first == "#":
        return 1.0 if _YEAR_RE.fullmatch(key) else 2.5
    if first == "~":
        return 0.4 if key in _LIGHT_CONCEPTS else 0.6
    return 1.0


_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class _Places:
    """The keys of a title that the near-miss rules compare."""

    countries: frozenset[str]
    cities: frozenset[str]
    figures: frozenset[str]
    years: frozenset[str]

    @classmethod
    def of(cls, keys: frozenset[str]) -> _Places:
        places = [key for key in keys if key[:1] == "@"]
        numbers = [key for key in keys if key[:1] == "#"]
        if not places and not numbers:
            return _NO_PLACES
        years = frozenset(key for key in numbers if _YEAR_RE.fullmatch(key))
        return cls(
            countries=frozenset(key[:3] for key in places),
            cities=frozenset(key for key in places if "/" in key),
            figures=frozenset(numbers) - years,
            years=years,
        )


# Without places or numbers no rule applies; shared so most titles build no sets at all.
_NO_PLACES = _Places(_NONE, _NONE, _NONE, _NONE)


class _Signature:
    """A title's keys with each key's prior weight (:func:`key_weight`), so that IDF
    weighting is one multiplication per key. Shared through the cache: never mutated,
    except that :func:`_places_of` fills ``places`` in on first use.

    A plain slotted class: one is built per title, and a frozen dataclass's ``__init__``
    goes through ``object.__setattr__`` for every field.
    """

    __slots__ = ("keys", "places", "priors")

    def __init__(self, keys: frozenset[str], priors: dict[str, float]) -> None:
        self.keys = keys
        self.priors = priors
        # Computed lazily: only the few pairs that get scored need it.
        self.places: _Places | None = None

    @classmethod
    def of(cls, keys: frozenset[str]) -> _Signature:
        return cls(keys, {key: key_weight(key) for key in keys})


def _places_of(signature: _Signature) -> _Places:
    places = signature.places
    if places is None:
        places = signature.places = _Places.of(signature.keys)
    return places


def _disagree(a: frozenset[str], b: frozenset[str]) -> bool:
    """Both sides name something of a kind, and nothing in common."""
    return bool(a) and bool(b) and a.isdisjoint(b)


def _each_has_own(a: frozenset[str], b: frozenset[str]) -> bool:
    """Each side names something of a kind that the other does not ("gas exports to
    China" vs "to Russia"); one side naming *more* places is no conflict."""
    return not a <= b and not b <= a


def _rule_factor(sig_a: _Signature, sig_b: _Signature) -> float:
    """Multiplier of the near-miss rules: 0 for a place conflict, < 1 for figure conflicts."""
    a = _places_of(sig_a)
    if a is _NO_PLACES:
        return 1.0
    b = _places_of(sig_b)
    if b is _NO_PLACES:
        return 1.0
    if _each_has_own(a.countries, b.countries) or _each_has_own(a.cities, b.cities):
        return 0.0
    factor = 1.0
    if _disagree(a.figures, b.figures):
        factor *= 0.5
    if _disagree(a.years, b.years):
        factor *= 0.7
    return factor


def similarity(
    a: frozenset[str],
    b: frozenset[str],
    weight: Callable[[str], float] = key_weight,
) -> float:
    """Weighted cosine of two key sets (from :func:`title_tokens`) in ``[0, 1]``, after
    the near-miss rules:

    * fewer than :data:`MIN_SHARED_KEYS` shared keys: 0 (a name is a theme, not an event);
    * each names a country (``@``-key) the other does not, or each a city the other does
      not: 0 ("Kazakhstan raises tariffs" vs "Kyrgyzstan ..."; "exports to China" vs
      "exports to Russia"); one side naming more places is fine;
    * both carry figures other than years and share none: halved (500 MW vs 1 GW);
      both carry years and share none: x 0.7.

    ``weight`` gives each key's weight (default :func:`key_weight`; the index passes
    IDF-scaled weights). Symmetric.
    """
    shared = a & b
    if len(shared) < MIN_SHARED_KEYS:
        return 0.0
    factor = _rule_factor(_Signature.of(a), _Signature.of(b))
    if factor == 0.0:
        return 0.0
    cosine = sum(map(weight, shared)) / math.sqrt(sum(map(weight, a)) * sum(map(weight, b)))
    return min(cosine * factor, 1.0)


# ------------------------------------------------------------------------- the index


class StoryInputError(JobsError, ValueError):
    """:class:`StoryIndex` was given a naive datetime or an impossible setting."""


class _Entry:
    """One held article. A plain slotted class for the same reason as :class:`_Signature`."""

    __slots__ = ("feed_id", "published_at", "signature", "story_id")

    def __init__(
        self, story_id: int, feed_id: int, published_at: datetime, signature: _Signature
    ) -> None:
        self.story_id = story_id
        self.feed_id = feed_id
        self.published_at = published_at
        self.signature = signature


# A key is too common to anchor a match when it is found in more stories than
# max(_COMMON_MIN, articles held // _COMMON_SHARE); see StoryIndex.common_df.
_COMMON_MIN = 32
_COMMON_SHARE = 200
# Bounds in match() that are exact in real arithmetic are applied with this much slack,
# so that float rounding can never drop a pair the full score would accept.
_SLACK = 1.0 - 1e-9
_by_weight = operator.itemgetter(1)
_NO_ARTICLES: dict[int, int] = {}  # never written to


class StoryIndex:
    """Recent articles by title signature, answering "which story does this one join?".

    Build it from the store's recent :class:`~storage.records.StoryCandidate` rows with
    :meth:`from_candidates`, then for each new article call :meth:`match` and, once the
    article has its story id, :meth:`add` (also for an article that starts a new story,
    so later ones can join it). Keys are held in an inverted index (key -> article ids)
    whose sizes are the document frequencies behind the IDF weights. Not thread-safe; one
    index per collection run. Raises :class:`StoryInputError` for naive datetimes.
    """

    def __init__(
        self,
        *,
        window: timedelta = timedelta(hours=48),
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        if window <= timedelta(0):
            raise StoryInputError(f"window must be positive, got {window}")
        if not 0.0 < threshold <= 1.0:
            raise StoryInputError(f"threshold must be in (0, 1], got {threshold}")
        self.window = window
        self.threshold = threshold
        self._entries: dict[int, _Entry] = {}
        # Both maps below hold only ints: CPython's garbage collector does not track such
        # dicts, whereas a set per (key, story) made collections a third of the cost of
        # building an index.
        # key -> id of each article whose title has the key -> its story id; the size of
        # an entry is the key's document frequency
        self._postings: dict[str, dict[int, int]] = {}
        # key -> story id -> how many of the story's articles have the key
        self._key_stories: dict[str, dict[int, int]] = {}
        # story id -> feed id -> how many of the story's articles come from that feed
        self._story_feeds: dict[int, dict[int, int]] = {}

    @classmethod
    def from_candidates(
        cls,
        candidates: Iterable[StoryCandidate],
        *,
        window: timedelta = timedelta(hours=48),
        threshold: float = DEFAULT_THRESHOLD,
    ) -> StoryIndex:
        """An index holding ``candidates`` (typically the store's last ~72 h)."""
        index = cls(window=window, threshold=threshold)
        for candidate in candidates:
            published_at = candidate.published_at
            if published_at.tzinfo is not UTC:
                _require_aware(published_at)
            index._hold(
                candidate.article_id,
                candidate.story_id,
                candidate.feed_id,
                published_at,
                _signature(candidate.title, candidate.language),
            )
        return index

    def __len__(self) -> int:
        return len(self._entries)

    def add(
        self,
        *,
        article_id: int,
        story_id: int,
        feed_id: int,
        title: str,
        language: str,
        published_at: datetime,
        keys: TitleKeys | None = None,
    ) -> None:
        """Hold an article as part of ``story_id``. Adding an id again replaces it.

        ``keys``: the title's :func:`title_keys`, when computed ahead."""
        # The UTC test first: it settles nearly every call without a function call.
        if published_at.tzinfo is not UTC:
            _require_aware(published_at)
        signature = _signature_given(title, language, keys)
        self._hold(article_id, story_id, feed_id, published_at, signature)

    def _hold(
        self,
        article_id: int,
        story_id: int,
        feed_id: int,
        published_at: datetime,
        signature: _Signature,
    ) -> None:
        if article_id in self._entries:
            self._remove(article_id)
        self._entries[article_id] = _Entry(story_id, feed_id, published_at, signature)
        # get-then-insert rather than setdefault(key, {}): setdefault builds the empty
        # container on every call, and most keys already have a posting list.
        postings = self._postings
        key_stories = self._key_stories
        for key in signature.keys:
            articles = postings.get(key)
            if articles is None:
                postings[key] = {article_id: story_id}
                key_stories[key] = {story_id: 1}
            else:
                articles[article_id] = story_id
                stories = key_stories[key]
                stories[story_id] = stories.get(story_id, 0) + 1
        feeds = self._story_feeds.get(story_id)
        if feeds is None:
            self._story_feeds[story_id] = {feed_id: 1}
        else:
            feeds[feed_id] = feeds.get(feed_id, 0) + 1

    def discard_before(self, cutoff: datetime) -> int:
        """Forget articles published before ``cutoff``; returns how many were dropped.

        For a long-lived index; a per-run index built from the store needs no pruning.
        """
        _require_aware(cutoff)
        old = [aid for aid, entry in self._entries.items() if entry.published_at < cutoff]
        for article_id in old:
            self._remove(article_id)
        return len(old)

    def common_df(self) -> int:
        """Number of stories above which a key is too common to anchor a match.

        Counted in stories, not articles, so that a big story covered by dozens of
        outlets stays reachable through its own keys.
        """
        return max(_COMMON_MIN, len(self._entries) // _COMMON_SHARE)

    def weight(self, key: str) -> float:
        """IDF-scaled weight of ``key``: :func:`key_weight` x ``1 + ln((N+1)/(df+1))``."""
        df = len(self._postings.get(key, _NO_ARTICLES))
        return key_weight(key) * (1.0 + math.log((len(self._entries) + 1) / (df + 1)))

    def match(
        self,
        *,
        feed_id: int,
        title: str,
        language: str,
        published_at: datetime,
        keys: TitleKeys | None = None,
    ) -> int | None:
        """The story id the article joins under the module's rules, or ``None``.

        ``keys``: the title's :func:`title_keys`, when computed ahead."""
        if published_at.tzinfo is not UTC:
            _require_aware(published_at)
        signature = _signature_given(title, language, keys)
        query_keys = signature.keys
        if len(query_keys) < MIN_SHARED_KEYS:
            return None
        # IDF weights do not change during one match: each query key's once, as
        # prior x (1 + ln(N+1) - ln(df+1)), the value weight() gives with fewer divisions.
        log = math.log
        postings = self._postings
        entries = self._entries
        base = 1.0 + log(len(entries) + 1)
        weights = {
            key: prior * (base - log(len(postings.get(key, _NO_ARTICLES)) + 1))
            for key, prior in signature.priors.items()
        }
        total = sum(weights.values())
        # Candidate generation with an exact bound. Since the shared keys are a subset of
        # the candidate's keys, score <= sqrt(shared / total), so a match shares at least
        # need = threshold**2 * total. The lightest (most common) query keys whose weights
        # add up to less than that can be skipped: an article sharing only those cannot
        # match. Each candidate's shared weight over the visited keys is accumulated in
        # the same pass, and one that cannot reach ``need`` even with every skipped key is
        # dropped before scoring.
        threshold = self.threshold
        need = threshold**2 * total
        common = max(_COMMON_MIN, len(entries) // _COMMON_SHARE)  # common_df(), inlined
        key_stories = self._key_stories
        skipped = 0.0
        accumulated: dict[int, float] = {}
        for key, key_w in sorted(weights.items(), key=_by_weight):
            stories = key_stories.get(key)
            if stories is None:
                continue
            if skipped + key_w < need or len(stories) > common:
                skipped += key_w
                continue
            for article_id in postings[key]:
                accumulated[article_id] = accumulated.get(article_id, 0.0) + key_w
        floor = need - skipped
        min_shared = need * _SLACK
        story_feeds = self._story_feeds
        window = self.window
        best_score = 0.0
        best_story: int | None = None
        for article_id, partial in accumulated.items():
            if partial < floor:
                continue
            entry = entries[article_id]
            other = entry.signature
            shared = query_keys & other.keys
            if len(shared) < MIN_SHARED_KEYS:
                continue
            if abs(entry.published_at - published_at) > window:
                continue
            if feed_id in story_feeds[entry.story_id]:
                continue
            # The exact bound again, on the whole shared weight: it needs only the query's
            # weights, whereas the candidate's total needs the frequency of all its keys.
            shared_w = sum(map(weights.__getitem__, shared))
            if shared_w < min_shared:
                continue
            factor = _rule_factor(signature, other)
            if factor == 0.0:
                continue
            total_other = shared_w
            for key, prior in other.priors.items():
                if key not in query_keys:
                    total_other += prior * (base - log(len(postings[key]) + 1))
            score = min(shared_w / math.sqrt(total * total_other) * factor, 1.0)
            if score < threshold or score < best_score:
                continue
            if best_story is None or score > best_score or entry.story_id < best_story:
                best_score, best_story = score, entry.story_id
        return best_story

    def _remove(self, article_id: int) -> None:
        entry = self._entries.pop(article_id)
        story_id = entry.story_id
        for key in entry.signature.keys:
            articles = self._postings[key]
            del articles[article_id]
            if not articles:
                del self._postings[key]
                del self._key_stories[key]
                continue
            stories = self._key_stories[key]
            if stories[story_id] == 1:
                del stories[story_id]
            else:
                stories[story_id] -= 1
        feeds = self._story_feeds[entry.story_id]
        feeds[entry.feed_id] -= 1
        if feeds[entry.feed_id] == 0:
            del feeds[entry.feed_id]
        if not feeds:
            del self._story_feeds[entry.story_id]


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise StoryInputError(f"datetime must be timezone-aware, got {moment.isoformat()}")
