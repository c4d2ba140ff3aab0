"""What normalisation does to what people type, before matching."""

from __future__ import annotations

import time

import pytest

from faq.normalize import normalize


def test_full_width_letters_and_digits_become_half_width():
    assert normalize("附件１０ＭＢ，ＰＤＦ格式").text == "附件10mb pdf格式"


def test_traditional_characters_become_simplified():
    assert normalize("忘記密碼").text == "忘记密码"
    assert normalize("審核進度").text == "审核进度"


def test_upper_case_becomes_lower_case():
    assert normalize("Forgot PASSWORD").text == "forgot password"


def test_greetings_politeness_and_particles_are_removed():
    assert normalize("老师您好，请问附件大小有什么限制呢？").text == "附件大小有什么限制"
    assert normalize("Hi, please: how do I reset my password? Thanks").text == (
        "how do i reset my password"
    )


def test_punctuation_becomes_single_spaces():
    assert normalize("密码忘了！！账号、锁了。。。").text == "密码忘了 账号 锁了"
    assert normalize("file-name  rules,please").text == "file name rules"


def test_colloquial_words_become_the_catalogue_words():
    assert normalize("咋整").text == "怎么办"
    assert normalize("密码忘了咋办").text == "密码忘了怎么办"
    assert normalize("初审要几天").text == "初审要多久"
    assert normalize("被驳回了").text == normalize("被退回了").text
    assert normalize("已经上报了").text == "已经提交了"


def test_a_lone_chat_verb_becomes_the_full_verb_but_not_inside_other_words():
    assert normalize("文件传不上去").text == "文件上传不上去"
    assert normalize("改好了再交").text == "修改好了再提交"
    assert normalize("已经提交了 上传了附件").text == "已经提交了 上传了附件"
    assert normalize("在平台注册要交钱吗").text == "在平台注册要交钱吗"


def test_english_words_inside_chinese_become_chinese():
    assert normalize("密码reset怎么弄").text == "密码重置怎么办"
    assert normalize("审核status在哪看").text == "审核状态在哪查看"


def test_english_only_text_keeps_its_english():
    result = normalize("how do I reset my password")
    assert result.lang == "en"
    assert result.text == "how do i reset my password"


def test_language_is_chinese_when_any_chinese_character_is_there():
    assert normalize("word文档能传吗").lang == "zh"
    assert normalize("can I upload word").lang == "en"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("你好", "greeting"),
        ("老师好！", "greeting"),
        ("在吗？", "greeting"),
        ("hi there", "greeting"),
        ("谢谢老师", "thanks"),
        ("辛苦了，谢谢", "thanks"),
        ("thanks a lot", "thanks"),
        ("好的收到", "ack"),
        ("OK", "ack"),
        ("拜拜", "bye"),
        ("bye", "bye"),
    ],
)
def test_small_talk_is_recognised_by_kind(text, kind):
    result = normalize(text)
    assert result.smalltalk == kind
    assert result.text == ""


def test_small_talk_followed_by_a_question_is_a_question():
    result = normalize("你好，密码忘了怎么办")
    assert result.smalltalk is None
    assert result.text == "密码忘了怎么办"


@pytest.mark.parametrize("text", ["", "   ", "。。。。", "？！，", "...", "\n\t"])
def test_empty_or_punctuation_only_input_gives_empty_text(text):
    result = normalize(text)
    assert result.text == ""
    assert result.smalltalk is None


def test_control_and_invisible_characters_are_dropped():
    assert normalize("密码\x00忘\u200b了\x07").text == "密码忘了"
    assert normalize("pass\x1bword").text == "password"


def test_a_100_kb_message_is_normalised_quickly():
    text = ("附件上传失败怎么办？" * 10_000)[:100_000]
    start = time.perf_counter()
    result = normalize(text)
    assert time.perf_counter() - start < 5
    assert result.text.startswith("附件上传失败怎么办")
