"""What kind of answer a question asks for, and whether an entry gives that kind at all.

A question can name an entry's topic and still ask something the entry does not say: "绩效费啥时候
打款" names the performance fee, whose entry says how it is calculated and never when it is paid;
"注册要交钱吗" names registration, whose entries say how to register and never what it costs.
Such questions share most of their words with the entry, so a lexical matcher is confident about
them. Two kinds of answer leave marks an answer text can hardly avoid: a point in time (a date,
working days, "before", "每年") for "when", an amount (元, %, a fee, "free") for "how much". An
entry none of whose texts (answer and phrasings) carries a single mark of the kind the question
asks for is vetoed like a contrast (``faq.contrast``): suggested, never answered outright.

Kept to those two on purpose. "几个/how many" is mostly not a count ("好几个栏目", "哪几个
步骤" is answered by a list), "who" and "where" are answered in too many ways, and an English
"when" or "how much" is often a conjunction or about time ("when the number changed", "how much
time do we have"): English asks only in the phrasings listed. As it stands it vetoes no expected
entry of any query set.

General language knowledge, written from how Chinese and English ask and answer these questions
(never from test queries). Works on normalised text (``faq.normalize``).
"""

from __future__ import annotations

from functools import lru_cache

from faq.contrast import term_pattern

# A kind of answer: the words that ask for it, and the marks an answer of that kind carries.
ASKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # a point in time (not a duration: 多久 is answered by 工作日 in every time-limit entry)
    "when": (
        (
            "什么时候",
            "啥时候",
            "何时",
            "哪天",
            "几号",
            "几月",
            "几点",
            "什么时间",
            "when will",
            "when is",
            "when are",
            "when do",
            "when does",
            "when can",
            "what time",
            "which day",
            "what date",
        ),
        (
            "时间",
            "日期",
            "工作日",
            "日内",
            "天内",
            "月底",
            "月初",
            "年底",
            "年初",
            "每年",
            "之前",
            "以前",
            "之后",
            "以后",
            "期间",
            "当天",
            "及时",
            "随时",
            "季度",
            "time",
            "date*",
            "day*",
            "month*",
            "year*",
            "before",
            "after",
            "until",
            "within",
            "during",
        ),
    ),
    # an amount of money
    "how_much": (
        (
            "多少钱",
            "几块钱",
            "交钱",
            "要钱",
            "收钱",
            "花钱",
            "收费吗",
            "how much money",
            "how much is it",
            "how much is the",
            "how much do we pay",
            "how much does it cost",
            "is it free",
            "cost*",
            "price*",
        ),
        (
            "元",
            "%",
            "费",
            "钱",
            "免费",
            "收取",
            "支付",
            "比例",
            "金额",
            "全额",
            "free",
            "fee*",
            "charg*",
            "pay*",
            "paid",
            "yuan",
            "rmb",
            "percent",
        ),
    ),
}

_PATTERNS = {
    kind: (term_pattern(asking), term_pattern(marks)) for kind, (asking, marks) in ASKS.items()
}


@lru_cache(maxsize=8192)
def asked(text: str) -> frozenset[str]:
    """The kinds of answer a normalised question asks for."""
    return frozenset(kind for kind, (asking, _) in _PATTERNS.items() if asking.search(text))


def given(text: str) -> frozenset[str]:
    """The kinds of answer a normalised text (an entry's answer and phrasings) can give."""
    return frozenset(kind for kind, (_, marks) in _PATTERNS.items() if marks.search(text))
