"""Behaviour of the default classifier on short articles written for these tests."""

from __future__ import annotations

import pytest

from jobs.classify import Classifier


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


def test_it_hubs_in_english(classifier: Classifier) -> None:
    result = classifier.classify(
        "Astana Hub admits 40 new startups",
        "The international technopark Astana Hub has accepted 40 startups into its "
        "accelerator programme, offering venture funding, mentoring and visas for "
        "foreign IT specialists.",
        "en",
    )
    assert list(result.topics) == ["it_hubs"]
    assert list(result.countries) == ["kz"]
    assert "Astana Hub" in result.evidence["kz"]
    assert {"technopark", "accelerator"} <= set(result.evidence["it_hubs"])


def test_energy_in_english(classifier: Classifier) -> None:
    result = classifier.classify(
        "Bukhara solar plant starts feeding the grid",
        "A 500 MW photovoltaic plant near Bukhara has been connected to the national power "
        "grid and will supply electricity to 300,000 households, Uzbekistan's energy "
        "company said.",
        "en",
    )
    assert list(result.topics) == ["energy"]
    assert result.countries[0] == "uz"


def test_policy_and_society(classifier: Classifier) -> None:
    policy = classifier.classify(
        "Tokayev signs constitutional law after referendum",
        "President Kassym-Jomart Tokayev signed the constitutional law passed by the "
        "Mazhilis and the Senate, completing the parliamentary reform approved in the "
        "referendum.",
    )
    assert list(policy.topics) == ["policy"]
    society = classifier.classify(
        "Dushanbe court jails blogger for seven years",
        "A court in Dushanbe sentenced an independent blogger to seven years in prison. "
        "Human rights groups and press freedom watchdogs condemned the verdict and called "
        "for the journalist's release from detention.",
        "en",
    )
    assert list(society.topics) == ["society"]
    assert society.countries == ("tj",)
    assert "human rights" in society.evidence["society"]


def test_multi_label_energy_and_policy_in_russian(classifier: Classifier) -> None:
    result = classifier.classify(
        "Правительство Казахстана одобрило повышение тарифов на электроэнергию",
        "Министр энергетики доложил на заседании правительства, что тарифы на "
        "электроэнергию и тепло вырастут на 15 процентов. Президент поручил направить "
        "средства на модернизацию ТЭЦ и электросетей к отопительному сезону.",
        "ru",
    )
    assert set(result.topics) == {"energy", "policy"}
    assert result.countries == ("kz",)
    assert "ТЭЦ" in result.evidence["energy"]


def test_kazakh_article(classifier: Classifier) -> None:
    result = classifier.classify(
        "Алматыда жасанды интеллект орталығы ашылды",
        "Қазақстанда цифрландыру бағдарламасы аясында жасанды интеллект орталығы ашылды. "
        "Орталықта IT мамандар мен стартаптар жұмыс істейді.",
        "kk",
    )
    assert "it_hubs" in result.topics
    assert result.countries[0] == "kz"


@pytest.mark.parametrize("apostrophe", ["ʻ", "’", "'", "`", "‘"])
def test_uzbek_latin_article_with_any_apostrophe(classifier: Classifier, apostrophe: str) -> None:
    o = f"o{apostrophe}"
    result = classifier.classify(
        f"{o.upper()}zbekistonda IT park rezidentlari soni oshdi",
        f"Toshkentdagi IT park rezidentlari soni bir yilda ikki barobar oshdi. "
        f"Startaplar va dasturiy mahsulotlar eksporti {o}sib bormoqda, raqamlashtirish "
        f"dasturi davom etadi.",
        "uz",
    )
    assert list(result.topics) == ["it_hubs"]
    assert result.countries[0] == "uz"


def test_uzbek_cyrillic_article(classifier: Classifier) -> None:
    result = classifier.classify(
        "Ўзбекистонда янги қуёш электр станцияси ишга туширилди",
        "Энергетика вазирлиги маълумотига кўра, Навоий вилоятида қуввати 200 МВт бўлган "
        "қуёш электр станцияси электр энергияси ишлаб чиқаришни бошлади.",
        "uz",
    )
    assert "energy" in result.topics
    assert result.countries[0] == "uz"


def test_football_report_with_astana_gets_no_topic(classifier: Classifier) -> None:
    result = classifier.classify(
        "Astana beat Kairat to go top of the Premier League",
        "FC Astana scored twice in the second half to beat Kairat 2-1 at the Astana Arena. "
        "The club's president praised the team and the coach after the match; the fans "
        "will travel to Almaty for the cup final.",
        "en",
    )
    assert result.topics == {}
    assert result.countries[0] == "kz"


def test_weather_forecast_for_tashkent_gets_no_topic(classifier: Classifier) -> None:
    result = classifier.classify(
        "Weather in Tashkent: rain and snow expected",
        "According to Uzhydromet, precipitation is expected in Tashkent and the Tashkent "
        "region tomorrow. The air temperature will drop to 2 degrees at night, the wind "
        "will reach 15 m/s, and snow is possible in the mountains.",
        "en",
    )
    assert result.topics == {}
    assert result.countries == ("uz",)


def test_sport_in_russian_gets_no_topic(classifier: Classifier) -> None:
    result = classifier.classify(
        "Сборная Казахстана завоевала две медали чемпионата Азии по боксу",
        "Казахстанские боксеры выиграли золото и серебро турнира в Ташкенте. Тренер "
        "сборной поблагодарил министерство спорта и болельщиков.",
        "ru",
    )
    assert result.topics == {}


def test_common_words_do_not_mislead(classifier: Classifier) -> None:
    soft_power = classifier.classify(
        "Kazakhstan's soft power grows through cinema",
        "Kazakh films are winning festival prizes abroad, extending the country's soft "
        "power across the region.",
        "en",
    )
    assert "energy" not in soft_power.topics
    apples = classifier.classify(
        "Almaty apple growers expect record harvest",
        "Orchards around Almaty expect to pick 90,000 tonnes of apples this autumn.",
        "en",
    )
    assert apples.topics == {}
    assert apples.countries == ("kz",)


def test_it_acronym_is_not_the_pronoun(classifier: Classifier) -> None:
    result = classifier.classify(
        "It rained in Bishkek",
        "It was a quiet day; it is what it is, and it will pass.",
        "en",
    )
    assert "it_hubs" not in result.topics


def test_countries_come_from_the_text_not_the_language(classifier: Classifier) -> None:
    russian_about_azerbaijan = classifier.classify(
        "SOCAR расширяет добычу газа на Шах-Дениз",
        "Государственная нефтяная компания Азербайджана увеличит добычу газа в Баку.",
        "ru",
    )
    assert russian_about_azerbaijan.countries[0] == "az"
    assert "energy" in russian_about_azerbaijan.topics
    english_about_kyrgyzstan = classifier.classify(
        "Bishkek opens a new IT park",
        "Kyrgyzstan's High Technology Park opened an office in Osh for startups.",
        "en",
    )
    assert english_about_kyrgyzstan.countries[0] == "kg"


def test_turkmen_and_azerbaijani_manat_are_told_apart(classifier: Classifier) -> None:
    tm = classifier.classify("Exchange rates", "The Turkmen manat held steady at 3.5 per dollar.")
    az = classifier.classify(
        "Exchange rates", "The Azerbaijani manat held steady at 1.7 per dollar."
    )
    assert tm.countries == ("tm",)
    assert az.countries == ("az",)
    bare = classifier.classify("Exchange rates", "The manat held steady against the dollar.")
    assert bare.countries == ()


def test_central_asia_headline_names_several_countries(classifier: Classifier) -> None:
    summit = classifier.classify(
        "Central Asian leaders meet for a regional summit",
        "The heads of state of Central Asia discussed water, energy and transit.",
        "en",
    )
    assert len(summit.countries) >= 2
    assert "Central Asia" in summit.evidence[summit.countries[0]] or any(
        "Central Asia" in summit.evidence[c] for c in summit.countries
    )
    passing = classifier.classify(
        "Kazakhstan opens a data centre",
        "Kazakhstan opened a new data centre in Almaty, one of the largest in Central Asia.",
        "en",
    )
    assert passing.countries == ("kz",)


def test_countries_are_ranked_by_prominence(classifier: Classifier) -> None:
    result = classifier.classify(
        "Uzbekistan and Kazakhstan sign a power deal",
        "Uzbekistan will import electricity from Kazakhstan. Tashkent and Samarkand will "
        "get extra supply, Uzbekistan's energy ministry said.",
        "en",
    )
    assert result.countries[:2] == ("uz", "kz")


def test_title_weighs_more_than_body(classifier: Classifier) -> None:
    in_title = classifier.analyse("Startup news", "A short note.")
    in_body = classifier.analyse("News", "A short note about a startup.")
    assert in_title.topic_scores["it_hubs"] > in_body.topic_scores["it_hubs"]


def test_only_the_first_4000_characters_are_read(classifier: Classifier) -> None:
    filler = "word " * 900  # 4,500 characters with no term in them
    late = classifier.analyse("News", filler + "electricity tariffs power plant refinery")
    assert late.topic_scores["energy"] == 0.0


def test_classifying_is_deterministic_and_scores_are_bounded(classifier: Classifier) -> None:
    args = ("Kazakhstan oil and gas", "Oil, gas, oil, gas, refinery, pipeline. " * 40, "en")
    first = classifier.analyse(*args)
    assert first == Classifier().analyse(*args)
    assert all(0.0 <= s <= 1.0 for s in first.topic_scores.values())
    assert 0.8 < first.topic_scores["energy"] < 1.0  # repetition saturates


def test_empty_and_odd_input_never_crash(classifier: Classifier) -> None:
    assert classifier.classify("", "").topics == {}
    result = classifier.classify("\u200b\ufeff", "!!! ??? ₸ 123 \x00", "xx")
    assert result.topics == {}
    assert result.countries == ()


def test_fingerprint_is_stable(classifier: Classifier) -> None:
    assert classifier.fingerprint == Classifier().fingerprint
    assert len(classifier.fingerprint) == 16
