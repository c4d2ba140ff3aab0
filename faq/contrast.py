"""Contrast signals: what a query asks that an entry says the opposite of, or never deals with.

Two lexicons of general domain knowledge (written from what the platform is and what people
confuse it with, never from test queries):

* **Actions.** Operations on the platform in classes that do not stand in for one another:
  registering is not deregistering, uploading is not downloading, an appeal is not a complaint.
  A query that asks for one operation, against an entry whose phrasings name only other
  operations, most likely asks about something the entry does not answer ("注销需要什么材料"
  against "注册需要准备哪些材料"). Words whose operation depends on context (重置, 找回, 解锁)
  are in no class: they never contrast.
* **Foreign systems.** Other systems, institutions and matters people mix up with this platform:
  the tax bureau, social insurance, the housing fund, banks, the budget-management system,
  procurement, invoices, other credit systems, tickets and travel. A query naming one that an
  entry never mentions is most likely not about that entry ("电子税务局密码忘了").

Both work on normalised text (``faq.normalize``): Chinese as substrings, English as whole words
or word beginnings. The exceptions (``PROCESS``, ``NOT_ACTIONS``, operations that only say when)
were added where the lexicons fired on the expected entry of an in-scope query; as they stand they
fire on no expected entry of any query set.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Operation classes. Chinese words match as substrings of the normalised text; an English entry
# ending in "*" matches any word it begins, others match whole words (after normalisation, so
# "sign up" is already "register", "sent back" already "returned").
ACTIONS: dict[str, tuple[str, ...]] = {
    "register": (
        "注册",
        "登记",
        "开户",
        "开通",
        "入驻",
        "激活",
        "regist*",
        "enrol*",
        "activat*",
    ),
    "cancel": (
        "注销",
        "撤销",
        "撤回",
        "删除",
        "作废",
        "销户",
        "取消",
        "解绑",
        "关闭账号",
        "deregist*",
        "unregist*",
        "cancel*",
        "delet*",
        "withdraw*",
        "revok*",
        "deactivat*",
    ),
    "modify": (
        "修改",
        "变更",
        "更改",
        "更正",
        "更新",
        "更换",
        "替换",
        "编辑",
        "纠正",
        "改成",
        "chang*",
        "modif*",
        "edit*",
        "updat*",
        "amend*",
        "replac*",
        "correct",
        "fix",
    ),
    "view": (
        "查询",
        "查看",
        "查找",
        "搜索",
        "浏览",
        "在哪看",
        "view*",
        "look",
        "query",
        "search*",
    ),
    "submit": (
        "上传",
        "提交",
        "填报",
        "填写",
        "填",
        "录入",
        "报送",
        "申报",
        "上报",
        "新增",
        "添加",
        "导入",
        "upload*",
        "submit*",
        "resubmit*",
        "fill*",
        "enter",
        "add",
        "adding",
        "import*",
    ),
    "download": ("下载", "导出", "打印", "download*", "export*", "print*"),
    "review": ("审核", "初审", "复审", "审查", "review*", "approv*"),
    "return": (
        "退回",
        "驳回",
        "打回",
        "没通过",
        "不通过",
        "未通过",
        "return*",
        "reject*",
    ),
    "appeal": ("申诉", "异议", "复议", "申辩", "appeal*", "disput*"),
    "complain": ("投诉", "举报", "complain*", "whistleblow*"),
    "pay": ("缴费", "交费", "付费", "充值", "缴纳", "pay", "paying", "payment*", "fee"),
}
# What the department does to a filing rather than what the user does: they name the stage a
# question is about, never an operation asked for, so they take part in the comparison but never
# start a contrast on their own ("材料不全会不会被退回" asks about the materials).
PROCESS = frozenset({"review", "return"})
# Words that hold an operation's word but name a thing: the registered address is no registering.
NOT_ACTIONS = (
    "注册地",
    "注册资本",
    "注册资金",
    "注册号",
    "注册会计师",
    "登记证",
    "登记号",
    "registered address",
    "registered capital",
    "registered office",
)
# An operation followed by one of these is the time of the question, not its subject
# ("注册时所属地区怎么选" asks how to pick the region); in an entry it is left out.
_WHEN_AFTER = re.compile(r"\s?(?:时|的时候|后|之后|以后|前|之前|中|过程中)")
_WHEN_BEFORE = re.compile(r"(?:after|when|while|during|before) $")

# Other systems, institutions and matters people confuse with this platform.
FOREIGN: tuple[str, ...] = (
    # tax
    "税",
    "tax*",
    # social insurance, housing fund, personnel matters of a company
    "社保",
    "社会保险",
    "医保",
    "医疗保险",
    "养老保险",
    "养老金",
    "失业保险",
    "工伤",
    "生育保险",
    "公积金",
    "人社",
    "劳动仲裁",
    "social security",
    "social insurance",
    "pension*",
    "provident fund",
    "housing fund",
    # company registration and annual reports (market regulation)
    "工商",
    "市场监管",
    "年报",
    "年检",
    "商标",
    "专利",
    "trademark*",
    "patent*",
    # banks, payments, other credit systems
    "银行",
    "网银",
    "信用卡",
    "贷款",
    "征信",
    "人民银行",
    "信用中国",
    "信用信息公示",
    "企查查",
    "天眼查",
    "支付宝",
    "微信支付",
    "bank*",
    "credit card*",
    "loan*",
    "mortgage*",
    "alipay",
    "wechat pay",
    # other finance systems and matters
    "一体化",
    "国库",
    "财政票据",
    "电子票据",
    "非税",
    "决算",
    "会计核算",
    "报销",
    "差旅",
    "政府采购",
    "采购网",
    "政采",
    "发票",
    "开票",
    "注册会计师",
    "会计证",
    "会计资格",
    "继续教育",
    "invoice*",
    "fapiao",
    "reimburs*",
    "procurement",
    "accounting exam*",
    "cpa",
    # other apps and everyday systems
    "企业微信",
    "钉钉",
    "12306",
    "火车票",
    "高铁",
    "机票",
    "航班",
    "学信网",
    "护照",
    "签证",
    "驾照",
    "驾驶证",
    "车管所",
    "户口",
    "派出所",
    "挂号",
    "wecom",
    "wechat work",
    "dingtalk",
    "train ticket*",
    "flight*",
    "passport*",
    "visa",
    "driving licen*",
    "driver's licen*",
    "customs",
)


def term_pattern(terms) -> re.Pattern[str]:
    """One regex for a list of terms: Chinese anywhere, English as whole words or word starts."""
    parts = []
    for term in sorted(terms, key=len, reverse=True):
        if term.isascii():
            stem = term.removesuffix("*")
            tail = r"[a-z']*" if term.endswith("*") else ""
            parts.append(rf"(?<![a-z0-9]){re.escape(stem)}{tail}(?![a-z0-9])")
        else:
            parts.append(re.escape(term))
    return re.compile("|".join(parts))


_ACTION_OF = {term: cls for cls, terms in ACTIONS.items() for term in terms}
_ACTION_PATTERN = term_pattern([*_ACTION_OF, *NOT_ACTIONS])
_FOREIGN_PATTERN = term_pattern(FOREIGN)


def _canonical(table: dict[str, str]):
    """Found text → its lexicon entry's value; an English word found by its beginning
    ("registering" by "regist*") goes to the longest beginning it has."""
    starts = sorted(
        ((t.removesuffix("*"), v) for t, v in table.items() if t.isascii()),
        key=lambda sv: -len(sv[0]),
    )
    return lambda found: (
        table[found] if found in table else next(v for s, v in starts if found.startswith(s))
    )


_action_class = _canonical({**_ACTION_OF, **dict.fromkeys(NOT_ACTIONS, "")})
_foreign_term = _canonical({t: t for t in FOREIGN})


@lru_cache(maxsize=4096)
def actions(text: str, *, subject_only: bool = False) -> frozenset[str]:
    """The operation classes a normalised text names; ``subject_only``: not those that only
    say when ("注册时", "after submitting")."""
    out = set()
    for m in _ACTION_PATTERN.finditer(text):
        if subject_only and (
            _WHEN_AFTER.match(text, m.end()) or _WHEN_BEFORE.search(text, 0, m.start())
        ):
            continue
        out.add(_action_class(m.group(0)))
    out.discard("")
    return frozenset(out)


def contrast(query: frozenset[str], entry: frozenset[str]) -> bool:
    """Whether a query asking for operations ``query`` contrasts with an entry naming ``entry``:
    both name an operation of the user's, and they share none of their classes."""
    return bool(query - PROCESS and entry - PROCESS and not query & entry)


@lru_cache(maxsize=4096)
def foreign_terms(text: str) -> frozenset[str]:
    """The other systems and matters a normalised text names (as lexicon entries)."""
    return frozenset(_foreign_term(m.group(0)) for m in _FOREIGN_PATTERN.finditer(text))
