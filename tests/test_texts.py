"""The two catalogues say the same things, and users get the language they expect."""

from __future__ import annotations

import string

import pytest

from bot.texts import CATALOGUES, t, user_lang


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def test_both_catalogues_have_the_same_keys():
    assert set(CATALOGUES["zh"]) == set(CATALOGUES["en"])


@pytest.mark.parametrize("key", sorted(CATALOGUES["zh"]))
def test_both_catalogues_have_the_same_placeholders(key):
    assert placeholders(CATALOGUES["zh"][key]) == placeholders(CATALOGUES["en"][key])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_text_is_filled_without_error(lang):
    for key, template in CATALOGUES[lang].items():
        filled = t(lang, key, **dict.fromkeys(placeholders(template), "x"))
        assert filled.strip()
        assert "{" not in filled


def test_values_are_html_escaped_but_markup_in_templates_is_kept():
    text = t("zh", "answer", question="<b>&", answer="a < b")
    assert text == "<b>&lt;b&gt;&amp;</b>\n\na &lt; b"


def test_chinese_texts_address_the_user_politely():
    zh = CATALOGUES["zh"]
    assert "您" in zh["welcome"]
    assert "你" not in "".join(zh.values()).replace("您", "")


@pytest.mark.parametrize(
    ("chosen", "telegram", "expected"),
    [
        (None, "zh-hans", "zh"),
        (None, "zh-TW", "zh"),
        (None, "zh", "zh"),
        (None, "en", "en"),
        (None, "ru", "en"),
        (None, None, "zh"),  # the default
        ("en", "zh-hans", "en"),  # /lang wins
        ("zh", "en", "zh"),
    ],
)
def test_user_language(chosen, telegram, expected):
    assert user_lang(chosen, telegram, "zh") == expected
