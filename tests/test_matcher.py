"""Decisions of the FAQ matcher, on a small handmade catalogue and on the bundled one."""

from __future__ import annotations

from pathlib import Path

import pytest

import faq.matcher
from faq.asks import asked, given
from faq.contrast import actions, contrast, foreign_terms
from faq.evaluate import evaluate, read_cases
from faq.io import BUNDLED_CATALOGUE, read_rows, validate
from faq.matcher import FaqDoc, Matcher, Thresholds
from faq.models import split_alternatives
from faq.normalize import normalize, question_part
from faq.synonyms import concepts

DEV_QUERIES = Path(__file__).parent / "data" / "dev_queries.csv"
OWN_QUERIES = Path(__file__).parent.parent / "bench" / "own_queries.csv"
OWN_QUERIES_2 = Path(__file__).parent.parent / "bench" / "own_queries_2.csv"
OWN_QUERIES_3 = Path(__file__).parent.parent / "bench" / "own_queries_3.csv"
OWN_QUERIES_4 = Path(__file__).parent.parent / "bench" / "own_queries_4.csv"
OWN_QUERIES_5 = Path(__file__).parent.parent / "bench" / "own_queries_5.csv"
OWN_QUERIES_6 = Path(__file__).parent.parent / "bench" / "own_queries_6.csv"
TRAIN_QUERIES = Path(__file__).parent.parent / "bench" / "train_queries_{}.csv"

DOCS = [
    FaqDoc(
        "pwd",
        "zh",
        "忘记登录密码了怎么办？",
        ("如何重置密码", "密码找回"),
        "在登录页点击“忘记密码”，用绑定的手机号接收验证码后设置新密码。",
    ),
    FaqDoc(
        "lock",
        "zh",
        "账号被锁定了怎么办？",
        ("密码输错太多次被锁",),
        "连续输错密码5次，账号锁定30分钟后自动解锁。",
    ),
    FaqDoc(
        "format",
        "zh",
        "附件支持哪些格式？",
        ("能传Word吗", "上传文件格式要求"),
        "附件支持PDF、JPG、PNG格式，不支持Word和压缩包。",
    ),
    FaqDoc(
        "size",
        "zh",
        "附件大小有什么限制？",
        ("文件太大传不上去",),
        "单个附件不超过10MB。",
    ),
    FaqDoc(
        "review",
        "zh",
        "初审需要多长时间？",
        ("初审时限",),
        "市县财政局在收到填报后2个工作日内完成初审。",
    ),
    FaqDoc(
        "blacklist",
        "zh",
        "被列入黑名单会有什么后果？",
        ("黑名单有什么影响",),
        "列入黑名单的机构在一定期限内不得参与绩效评价工作。",
    ),
    FaqDoc(
        "human",
        "zh",
        "怎么联系人工客服？",
        ("转人工",),
        "发送“转人工”，工作人员会尽快回复。",
    ),
    FaqDoc(
        "reset-en",
        "en",
        "How do I reset my password?",
        ("forgot password",),
        'Click "Forgot password" on the login page and confirm with the SMS code.',
    ),
    FaqDoc(
        "size-en",
        "en",
        "What is the maximum attachment size?",
        ("file too large",),
        "Each attachment may be at most 10 MB.",
    ),
    FaqDoc(
        "formats-en",
        "en",
        "Which file formats can I upload?",
        ("can I upload Word files",),
        "PDF, JPG and PNG are accepted.",
    ),
]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(DOCS)


def test_the_exact_question_is_answered_with_full_confidence(matcher: Matcher):
    match = matcher.match("附件支持哪些格式？")
    assert (match.decision, match.entry_id, match.score) == ("answer", "format", 100.0)


def test_an_alternative_phrasing_with_greeting_and_particles_is_answered(matcher: Matcher):
    match = matcher.match("老师您好，请问转人工呢")
    assert (match.decision, match.entry_id) == ("answer", "human")


def test_a_homophone_typo_is_answered(matcher: Matcher):
    match = matcher.match("付件支持哪些格式")  # 付件 for 附件, same pinyin
    assert (match.decision, match.entry_id) == ("answer", "format")


def test_a_traditional_character_query_is_answered(matcher: Matcher):
    match = matcher.match("忘記登錄密碼了怎麼辦")
    assert (match.decision, match.entry_id) == ("answer", "pwd")


def test_a_colloquial_rewording_is_answered(matcher: Matcher):
    match = matcher.match("初审一般要几天啊")
    assert (match.decision, match.entry_id) == ("answer", "review")


def test_an_english_typo_is_answered(matcher: Matcher):
    match = matcher.match("how do i reset my pasword")
    assert (match.lang, match.decision, match.entry_id) == ("en", "answer", "reset-en")


def test_an_english_word_form_meets_the_faq_word():
    index = Matcher(DOCS).indexes["en"]
    assert index.correct_words("can i attach a pdf") == {"attach": "attachment"}


def test_a_question_about_something_else_leaves_its_telling_word_unexplained():
    index = Matcher(DOCS).indexes["zh"]
    [about_it, *_] = index.evidence("忘了登录密码怎么办")
    [other, *_] = index.evidence("忘了网银密码怎么办")  # online banking: not this platform
    assert about_it.doc == other.doc and index.docs[other.doc].id == "pwd"
    assert other.explained < about_it.explained - 0.3
    assert other.asked < about_it.asked - 0.3


@pytest.mark.parametrize(
    ("text", "classes"),
    [
        ("撤销已经提交的申请", {"cancel", "submit"}),
        ("登记信息改成新的", {"register", "modify"}),
        ("报告能不能导出打印", {"download"}),
        ("对考核结果有异议", {"appeal"}),
        ("营业执照上的注册资金和注册号", set()),  # things named after registering
        ("how do i deregister our firm", {"cancel"}),
        ("registering and uploading", {"register", "submit"}),
    ],
)
def test_operations_fall_into_classes_that_do_not_stand_in_for_one_another(text, classes):
    assert actions(normalize(text).text) == classes


def test_an_operation_that_only_says_when_is_not_what_an_entry_answers():
    assert actions("注册时所属地区怎么选", subject_only=True) == set()
    assert actions("what to upload when registering", subject_only=True) == {"submit"}
    assert contrast(frozenset({"cancel"}), frozenset({"register", "submit"}))
    assert not contrast(frozenset({"cancel", "modify"}), frozenset({"modify"}))
    # the department's side (returned, reviewed) never starts a contrast on its own
    assert not contrast(frozenset({"return"}), frozenset({"submit"}))


def test_other_systems_are_recognised_in_either_language():
    assert foreign_terms(normalize("住房公积金的账号密码忘了").text) == {"公积金"}
    assert foreign_terms("our bank login and the tax office") == {"bank*", "tax*"}
    assert foreign_terms(normalize("附件大小有什么限制").text) == set()


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("绩效费什么时候打款", {"when"}),
        ("注册要交钱吗", {"how_much"}),
        ("when will the fee be paid", {"when"}),
        ("how much does it cost to register", {"how_much"}),
        ("注册需要准备哪些材料", set()),
        # an English "when" or "how much" that asks for neither
        ("when the phone number changed we could not log in", set()),
        ("how much time do we have to appeal", set()),
        # 几个 is mostly not a count: no kind for it
        ("信息填报有几个模块", set()),
    ],
)
def test_a_question_asks_for_a_date_or_an_amount_only_in_so_many_words(text, kinds):
    assert asked(normalize(text).text) == kinds


def test_an_answer_gives_a_date_or_an_amount_by_its_marks():
    assert "when" in given(normalize("请在收到通知后10个工作日内修改").text)
    assert "how_much" in given(normalize("平台注册不收取任何费用").text)
    assert given(normalize("按评价报告质量等次核定，以委托合同约定为准").text) == set()


CONTRAST_DOCS = [
    FaqDoc(
        "reg",
        "zh",
        "注册需要准备哪些材料？",
        ("注册要什么资料",),
        "营业执照副本扫描件、法定代表人身份证明、机构基本情况表。",
    ),
    *DOCS,
]


def test_an_opposite_operation_or_another_system_is_not_answered():
    matcher = Matcher(CONTRAST_DOCS)
    assert matcher.match("注册要准备什么资料").entry_id == "reg"
    closing = matcher.match("账号注销要准备哪些材料")  # without the veto: reg, answered at 94
    assert closing.decision == "suggest" and closing.candidates[0].entry_id == "reg"
    assert matcher.match("忘记登录密码了怎么办呀").entry_id == "pwd"
    elsewhere = matcher.match("忘记公积金登录密码了怎么办")  # without: pwd, answered at 100
    assert elsewhere.decision == "suggest" and elsewhere.candidates[0].entry_id == "pwd"


def test_a_question_for_a_date_the_entry_never_gives_is_not_answered():
    fee = FaqDoc(
        "fee",
        "zh",
        "绩效费用怎么核定？",
        ("绩效费怎么算",),
        "绩效费用根据评价报告质量考核等次核定，具体以委托合同约定为准。",
    )
    matcher = Matcher([fee, *DOCS])
    assert matcher.match("绩效费怎么核定的").entry_id == "fee"
    when = matcher.match("绩效费什么时候核定")
    assert when.decision == "suggest" and when.candidates[0].entry_id == "fee"
    dated = FaqDoc(
        fee.id, fee.lang, fee.question, fee.alternatives, fee.answer + "每年年底前核定。"
    )
    assert Matcher([dated, *DOCS]).match("绩效费什么时候核定").entry_id == "fee"


THESAURUS_DOCS = [
    FaqDoc(
        "staff",
        "zh",
        "员工信息怎么填写？",
        ("人员名单要求",),
        "逐人填写姓名、身份证号和职称。",
    ),
    FaqDoc(
        "papers",
        "zh",
        "注册需要准备哪些材料？",
        (),
        "营业执照扫描件和法定代表人身份证。",
    ),
    *DOCS,
]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("需要哪些证件", "要准备什么资料"),
        ("职工名单", "同事信息"),
        ("在哪里录入", "怎么填写"),
        ("要不要插ukey", "需要电子签章吗"),
        ("平台网址是多少", "从哪进"),
        ("分所怎么注册", "分支机构"),
        ("周末有人吗", "人工服务时间"),
        ("浙江的会计师事务所", "外地机构"),
    ],
)
def test_words_that_stand_in_for_one_another_share_a_concept(a: str, b: str):
    assert concepts(normalize(a).text) & concepts(normalize(b).text)


def test_opposite_operations_do_not_share_a_concept():
    assert not concepts(normalize("撤回申请").text) & concepts(normalize("被退回的申请").text)
    assert not concepts("upload") & concepts("download")


def test_a_query_word_the_entry_says_otherwise_is_explained_by_its_concept(monkeypatch):
    query = normalize("注册要交哪些证件").text  # the entry says 材料
    assert Matcher(THESAURUS_DOCS).match(query).entry_id == "papers"
    index = Matcher(THESAURUS_DOCS).indexes["zh"]
    [with_thesaurus, *_] = index.evidence(query)
    monkeypatch.setattr(faq.matcher, "SYNONYM_CREDIT", 0.0)
    [without, *_] = index.evidence(query)
    assert index.docs[with_thesaurus.doc].id == index.docs[without.doc].id == "papers"
    assert with_thesaurus.explained > without.explained + 0.2


def test_a_synonym_lifts_the_right_entry_over_one_sharing_only_filler():
    match = Matcher(THESAURUS_DOCS).match("职工资料在哪录入")  # 员工 / 填写 in the entry
    assert match.candidates[0].entry_id == "staff"


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("我们单位去年换了办公室，电话也换了，新的座机要在哪里填？", "新的座机要在哪里填"),
        ("系统一直转圈，等了十几分钟，所以想问下是不是网络的问题", "想问下是不是网络的问题"),
        ("报表昨天交上去了，今天显示已退回，但没写原因", "但没写原因"),
        (
            "We moved offices last spring. Where do we enter the new address?",
            "where do we enter the new address",
        ),
    ],
)
def test_the_question_clause_of_a_long_message_is_found(text: str, part: str):
    got, n = question_part(text)
    assert n > 1
    assert got == part


def test_a_long_message_is_also_scored_by_its_question_clause(matcher: Matcher):
    text = "我们的业绩合同扫描出来文件太大了，压缩以后还有八九兆，另外想问一下能不能传Word版本"
    _, evidence = matcher.evidence(text)
    by_id = {matcher.indexes["zh"].docs[ev.doc].id: ev for ev in evidence}
    assert evidence[0].clause != 0.0
    # The question clause asks about the format; the context is about the size.
    assert by_id["format"].clause > by_id["size"].clause
    assert matcher.match(text).candidates[0].entry_id == "format"
    _, short = matcher.evidence("附件能传Word吗")
    assert all(ev.clause == 0.0 for ev in short)


def test_small_talk_is_recognised_and_not_matched(matcher: Matcher):
    match = matcher.match("谢谢老师！")
    assert (match.decision, match.smalltalk, match.candidates) == ("smalltalk", "thanks", ())


@pytest.mark.parametrize(
    "text", ["明天会下雨吗", "股票推荐", "what is the weather like today", "。。。", ""]
)
def test_an_out_of_topic_message_gets_no_answer(matcher: Matcher, text: str):
    match = matcher.match(text)
    assert match.decision == "none"
    assert match.entry_id is None


def test_a_bare_topic_word_is_suggested_not_answered(matcher: Matcher):
    match = matcher.match("密码")
    assert match.decision == "suggest"
    assert {c.entry_id for c in match.suggestions} >= {"pwd", "lock"}


def test_an_answer_offers_runners_up_at_or_above_the_suggest_threshold_as_related():
    text = "忘记密码账号被锁"  # about the lock, but the forgotten password is plausible too
    cands = Matcher(DOCS, Thresholds(suggest=0.0)).match(text).candidates
    assert cands[1].score > cands[2].score  # a threshold between them: only the first is related
    match = Matcher(DOCS, Thresholds(suggest=cands[1].score)).match(text)

    assert (match.decision, match.entry_id) == ("answer", "lock")
    assert match.related == (cands[1],) and cands[1].entry_id == "pwd"
    assert match.suggestions == match.related
    # Just above the runner-up's confidence, nothing is related.
    above = Matcher(DOCS, Thresholds(suggest=cands[1].score + 0.1)).match(text)
    assert (above.decision, above.related, above.suggestions) == ("answer", (), ())


def test_an_answer_offers_at_most_two_related_entries_never_the_answered_one():
    match = Matcher(DOCS, Thresholds(suggest=0.0)).match("密码忘了怎么办")
    assert (match.decision, match.entry_id) == ("answer", "pwd")
    assert len(match.candidates) > 3
    assert match.related == match.candidates[1:3]
    assert "pwd" not in {c.entry_id for c in match.related}


def test_an_exact_match_has_no_related_entries():
    match = Matcher(DOCS, Thresholds(suggest=0.0)).match("附件支持哪些格式？")
    assert (match.decision, match.entry_id, match.score) == ("answer", "format", 100.0)
    assert len(match.candidates) > 1  # other entries were scored, at 0
    assert match.related == match.suggestions == ()


def test_a_bare_word_still_gets_suggestions_not_related_entries(matcher: Matcher):
    match = matcher.match("黑名单")
    assert match.decision == "suggest"
    assert match.related == ()
    assert match.suggestions == match.candidates[:3]


def test_two_near_identical_entries_are_both_suggested():
    docs = [
        *DOCS,
        FaqDoc("invoice-a", "zh", "电子发票怎么开具？", (), "在票据管理中申请电子发票。"),
        FaqDoc("invoice-b", "zh", "电子发票怎么开具？", (), "联系所在地财政局开具电子发票。"),
    ]
    match = Matcher(docs).match("请问电子发票怎么开具")
    assert match.decision == "suggest"
    assert {c.entry_id for c in match.suggestions[:2]} == {"invoice-a", "invoice-b"}


def test_candidates_are_best_first_and_at_most_five(matcher: Matcher):
    match = matcher.match("附件上传")
    scores = [c.score for c in match.candidates]
    assert scores == sorted(scores, reverse=True)
    assert 0 < len(match.candidates) <= 5
    assert all(0 <= s <= 100 for s in scores)


def test_thresholds_decide_between_answer_and_suggest(matcher: Matcher):
    strict = Matcher(DOCS, Thresholds(answer=100.1, margin=0, suggest=1))
    assert strict.match("附件支持哪些格式？").decision == "suggest"
    assert matcher.match("附件支持哪些格式？").decision == "answer"


def test_a_query_goes_to_the_index_of_its_language(matcher: Matcher):
    assert matcher.match("maximum attachment size").entry_id == "size-en"
    assert matcher.match("附件最大多大").candidates[0].entry_id == "size"


def test_an_empty_catalogue_answers_nothing():
    match = Matcher([]).match("忘记密码怎么办")
    assert (match.decision, match.candidates) == ("none", ())


def test_the_index_is_built_once_and_a_query_normalises_only_itself(monkeypatch):
    seen: list[str] = []
    real = faq.matcher.normalize

    def counting(text: str):
        seen.append(text)
        return real(text)

    monkeypatch.setattr(faq.matcher, "normalize", counting)
    matcher = Matcher(DOCS)
    assert len(seen) > len(DOCS)  # every question, alternative and answer, once
    seen.clear()
    matcher.match("附件大小有什么限制")
    matcher.match("how do I reset my password")
    assert seen == ["附件大小有什么限制", "how do I reset my password"]


def test_a_100_kb_message_is_matched_without_blowing_up(matcher: Matcher):
    match = matcher.match(("附件上传失败怎么办？文件太大传不上去。" * 6000)[:100_000])
    assert match.decision in ("answer", "suggest", "none")


# The figures reached with the bundled catalogue on the dev set, on bench/own_queries.csv and on
# bench/own_queries_2.csv and _3.csv (sets written from the catalogue alone, in other voices; the
# last two took no part in fitting the weights): a change to normalisation, features or weights
# must not make them worse beyond a query or so. (top-1 and answered-or-suggested floors, then the
# most wrong answers and out-of-scope answers.)
QUERY_SETS = {
    # name: (file, floors, most wrong answers, most out-of-scope answered); figures at the
    # shipped weights and thresholds (answer 50, margin 10), see bench/RESULTS.md.
    "dev": (DEV_QUERIES, {"top1": 0.869, "answered_or_suggested": 0.99}, 0.029, 0.0),
    "own": (OWN_QUERIES, {"top1": 0.97, "answered_or_suggested": 0.99}, 0.01, 0.10),
    # Harder out-of-scope questions (sharing a word with an entry) and confusable paraphrases.
    "own2": (OWN_QUERIES_2, {"top1": 0.944, "answered_or_suggested": 0.958}, 0.028, 0.167),
    # Terse, rambling, typo, traditional, mixed and English voices, near-domain out of scope.
    "own3": (OWN_QUERIES_3, {"top1": 0.934, "answered_or_suggested": 0.988}, 0.0, 0.133),
    # Written from the catalogue alone by someone who saw no other set and no matcher code.
    "own4": (OWN_QUERIES_4, {"top1": 0.79, "answered_or_suggested": 0.92}, 0.036, 0.214),
    # Never fitted on: ten personas by a third author (slow pinyin typist, fragments, Cantonese,
    # pasted errors…), and an ordinary sample by a fourth.
    "own5": (OWN_QUERIES_5, {"top1": 0.603, "answered_or_suggested": 0.888}, 0.052, 0.083),
    "own6": (OWN_QUERIES_6, {"top1": 0.821, "answered_or_suggested": 0.972}, 0.055, 0.0),
    # Written from the catalogue alone in other voices (fast phone typists; long, polite and
    # pasted messages; personas using other words); fitted on, with the sets above but 5 and 6.
    "train_a": (
        Path(str(TRAIN_QUERIES).format("a")),
        {"top1": 0.842, "answered_or_suggested": 0.967},
        0.027,
        0.083,
    ),
    "train_b": (
        Path(str(TRAIN_QUERIES).format("b")),
        {"top1": 0.784, "answered_or_suggested": 0.926},
        0.042,
        0.133,
    ),
    "train_c": (
        Path(str(TRAIN_QUERIES).format("c")),
        {"top1": 0.734, "answered_or_suggested": 0.918},
        0.065,
        0.119,
    ),
}


@pytest.fixture(scope="module")
def bundled() -> Matcher:
    rows = validate(read_rows(BUNDLED_CATALOGUE))
    return Matcher(
        FaqDoc(r.id, r.lang, r.question, tuple(split_alternatives(r.alternatives)), r.answer)
        for r in rows
    )


@pytest.mark.parametrize("name", QUERY_SETS)
def test_answer_quality_on_the_bundled_catalogue_does_not_regress(bundled: Matcher, name: str):
    path, floors, max_wrong, max_out_of_scope = QUERY_SETS[name]
    report = evaluate(bundled, read_cases(path))
    summary = report.render(failures=False)
    for figure, floor in floors.items():
        assert getattr(report, figure) >= floor - 0.01, (figure, summary)
    assert report.wrong_answer <= max_wrong + 0.01, summary
    assert report.out_of_scope_answered <= max_out_of_scope + 0.01, summary
    if report.smalltalk:
        assert report.smalltalk_accuracy == 1.0, summary
