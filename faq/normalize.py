"""Normalisation of what people type, before matching.

Steps, in order: NFKC (full-width letters, digits and punctuation become half-width), lower
case, control and invisible characters dropped, traditional → simplified characters; then, for a
Chinese message, English words typed inside it → Chinese ("密码reset" → "密码重置"); colloquial and
variant words → the catalogue's words ("咋" → "怎么", "几天" → "多久", "省厅" → "省财政厅"); a chat
verb standing alone → the full verb ("传" → "上传", "改" → "修改", but not inside 流传 or 整改);
hedges dropped ("一般", "大概"); English synonyms and separable phrasal verbs ("sent it back" →
"returned it"); greeting and politeness fillers removed; punctuation → spaces.

Every table here is general chat usage or the platform's general vocabulary, written without
looking at any test queries; each entry must make sense to anyone who reads it. Small talk ("谢谢",
"ok thx", "在吗") is recognised here because it is exactly what is left when a message holds
nothing but fillers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from faq.lexicon import T2S

_T2S = T2S()  # OpenCC("t2s") from compact tables, loaded on first use (see faq.lexicon)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_PUNCT = re.compile(r"[^\w\u3400-\u4dbf\u4e00-\u9fff]+")

# Small talk by kind. A message made only of these (and fillers) is small talk, not a question.
SMALLTALK: dict[str, tuple[str, ...]] = {
    "greeting": (
        "你好",
        "您好",
        "老师好",
        "大家好",
        "在吗",
        "在不在",
        "有人吗",
        "哈喽",
        "嗨",
        "早上好",
        "上午好",
        "下午好",
        "晚上好",
        "早",
        "hi",
        "hello",
        "hey",
        "good morning",
        "good afternoon",
        "good evening",
    ),
    "thanks": (
        "谢谢",
        "多谢",
        "感谢",
        "谢啦",
        "辛苦了",
        "辛苦",
        "麻烦了",
        "thanks",
        "thank you",
        "thx",
        "ty",
        "many thanks",
        "cheers",
    ),
    "ack": (
        "好的",
        "好",
        "嗯",
        "嗯嗯",
        "收到",
        "明白",
        "明白了",
        "知道了",
        "懂了",
        "了解",
        "行",
        "可以",
        "没问题",
        "ok",
        "okay",
        "got it",
        "noted",
        "sure",
        "fine",
        "great",
        "👍",
    ),
    "bye": ("再见", "拜拜", "bye", "goodbye", "see you", "88"),
}

# Fillers carry no meaning for matching: greetings, politeness, address forms, sentence particles.
_ZH_FILLERS = (
    "麻烦问一下",
    "麻烦问下",
    "想请问一下",
    "请问一下",
    "请问下",
    "想问一下",
    "想问下",
    "(?<![想请])问一?下",  # not inside 想问一下 / 请问下
    "咨询一下",
    "咨询下",
    "打扰一下",
    "打扰了",
    "打扰您",
    "不好意思",
    "麻烦您",
    "麻烦了",
    "谢谢老师",
    "谢谢您",
    "老师您好",
    "老师好",
    "您好",
    "你好",
    "请问",
    "老师",
    "谢谢",
    "多谢",
    "感谢",
    "辛苦了",
    "在吗",
    "麻烦",
    "您",
)
_ZH_PARTICLES = "啊呀呢吧哦嘛啦哇噢嗯额呃哈捏咧"
_EN_FILLERS = (
    "excuse me",
    "thank you",
    "thanks a lot",
    "thanks",
    "thx",
    "please",
    "pls",
    "plz",
    "hello",
    "hi",
    "hey",
    "dear",
    "sorry",
    "sir",
    "madam",
)

# Colloquial or variant words → the words the catalogue uses. General chat Chinese, not tuned
# to any test set: variants people type for the same thing.
_ZH_SYNONYMS = (
    ("咋整", "怎么办"),
    ("咋办", "怎么办"),
    ("咋", "怎么"),
    ("怎样", "怎么"),
    ("如何", "怎么"),
    ("啥", "什么"),
    ("神马", "什么"),
    ("甚么", "什么"),
    ("木有", "没有"),
    ("没得", "没有"),
    ("多长时间", "多久"),
    ("多少天", "多久"),
    ("多少时间", "多久"),
    ("几个工作日", "多久"),
    ("几天", "多久"),
    ("帐号", "账号"),
    ("账户", "账号"),
    ("帐户", "账号"),
    ("手机号码", "手机号"),
    ("电话号码", "手机号"),
    ("拉黑", "列入黑名单"),
    ("网站", "网址"),
    ("链接", "网址"),
    ("盖章", "盖公章"),
    ("真人", "人工"),
    ("客服", "人工"),
    ("u盾", "ukey"),
    ("u key", "ukey"),
    ("登陆", "登录"),
    ("上不去", "登录不了"),
    ("登不上", "登录不了"),
    ("审批", "审核"),
    ("审完", "审核"),
    ("pdf文件", "pdf"),
    # How-to verbs of chat: "怎么弄/搞/整" mean "what do I do".
    ("怎么弄", "怎么办"),
    ("怎么搞", "怎么办"),
    ("怎么整", "怎么办"),
    ("哪儿", "哪里"),
    ("哪块", "哪里"),
    ("没过", "没通过"),
    ("辞职", "离职"),
    ("网页", "页面"),
    ("进不去", "登录不了"),
    ("删掉", "删"),
    ("存着", "存"),
    ("驳回", "退回"),
    ("打回", "退回"),
    ("上报", "提交"),
    ("报送", "提交"),
    ("递交", "提交"),
    ("撤回来", "撤回"),
    ("证照", "证件"),
    ("项目经历", "项目业绩"),
    ("上班时间", "工作时间"),
    ("上班", "工作时间"),
    ("下班", "工作时间"),
    # Domain shorthand: the provincial department and the local bureaus by their short names.
    ("省厅", "省财政厅"),
    ("财厅", "财政厅"),
    ("信用码", "信用代码"),
    ("社会信用代码", "统一社会信用代码"),
    ("统一统一", "统一"),
    ("短信验证码", "验证码"),
    ("电子邮箱", "邮箱"),
    # Taiwan usage, after traditional → simplified characters.
    ("简讯", "短信"),
    ("登入", "登录"),
    ("支援", "支持"),
    ("附档", "附件"),
    ("文档", "文件"),
    ("档案", "文件"),
    ("检视", "查看"),
)

# Single-character verbs of chat → the catalogue's two-character words, only where the character
# stands alone (not inside another word: 提交, 流传, 整改, 观看, 初审 ...).
_ZH_VERBS = tuple(
    (re.compile(rf"(?<![{before}]){char}(?![{after}])"), word)
    for char, word, before, after in (
        ("交", "提交", "提递上缴社外成转移交公结建", "通流易换叉往际代钱费税款警接"),
        ("传", "上传", "上宣流遗相转外必传自", "播统真说闻递达输染承票唤奇媒感"),
        ("改", "修改", "修更整篡涂批改劳", "革变进正善造编制组"),
        ("看", "查看", "查观好难收参看小眼", "法待见起来病护守重中似好"),
        ("审", "审核", "初复评送报会终再核政预陪受提公", "核查批计理定议阅美判视慎讯稿"),
        ("存", "保存", "保储生现库依共留并存温残封寄", "在款储档货续放折根量活心疑入取"),
        ("删", "删除", "增", "除改减节"),
        ("录", "录入", "记目收登笔抄实语备摘著纪附名辑节选", "入取用像音制屏"),
        (
            "查",
            "查看",
            "审检调核抽排普搜备清巡督考侦彻追盘稽勘复待",
            "看询验阅找处实明证收办清获封重对账房体",
        ),
    )
)
# Hedging adverbs that say nothing about the topic ("一般多久" asks the same as "多久").
_ZH_HEDGES = ("一般来说", "一般", "大概", "大约", "通常", "正常情况下", "正常来说", "具体")

# English words typed inside Chinese messages → the catalogue's Chinese words.
_MIXED_GLOSSARY = (
    ("password", "密码"),
    ("reset", "重置"),
    ("account", "账号"),
    ("login", "登录"),
    ("status", "状态"),
    ("progress", "进度"),
    ("upload", "上传"),
    ("file", "文件"),
    ("files", "文件"),
    ("size", "大小"),
    ("sms", "短信"),
    ("review", "审核"),
    ("submit", "提交"),
    ("register", "注册"),
    ("attachment", "附件"),
    ("format", "格式"),
    ("seal", "公章"),
    ("stamp", "公章"),
    ("blacklist", "黑名单"),
    ("deadline", "期限"),
    ("staff", "人员"),
    ("template", "模板"),
    ("draft", "草稿"),
)
# Separable phrasal verbs: "sent our application back" is "returned our application".
_EN_PHRASAL = (
    (
        re.compile(r"\b(?:sent|send|sends|sending|given|gave|give)((?: \w+){1,3}?) back\b"),
        r"returned\1",
    ),
    (re.compile(r"\bsubmit(?:ted|ting)?((?: \w+){0,2}?) again\b"), r"resubmit\1"),
)
_EN_SYNONYMS = (
    ("internet explorer", "ie"),
    ("black list", "blacklist"),
    ("blacklisted", "blacklist"),
    ("log in", "login"),
    ("sign in", "login"),
    ("signin", "login"),
    ("e mail", "email"),
    ("docx", "word"),
    ("doc", "word"),
    ("xlsx", "excel"),
    ("xls", "excel"),
    ("chop", "seal"),
    ("stamp", "seal"),
    ("passwd", "password"),
    ("pwd", "password"),
    ("pw", "password"),
    ("cellphone", "phone"),
    ("mobile number", "phone number"),
    ("sent back", "returned"),
    ("send back", "returned"),
    ("rejected", "returned"),
    ("staff member", "human"),
    ("real person", "human"),
    ("customer service", "human"),
    ("customer support", "human"),
    ("sign up", "register"),
    ("signup", "register"),
    ("sign-up", "register"),
    ("enrol", "register"),
    ("enroll", "register"),
    ("paperwork", "documents"),
    ("papers", "documents"),
    ("docs", "documents"),
    ("biggest", "maximum"),
    ("largest", "maximum"),
    ("max", "maximum"),
)


@dataclass(frozen=True)
class Normalized:
    text: str  # normalised text, words separated by single spaces
    lang: str  # "zh" when it holds Chinese characters, else "en"
    smalltalk: str | None  # the kind, when the message is nothing but small talk


def has_chinese(text: str) -> bool:
    return _CJK.search(text) is not None


@lru_cache(maxsize=4096)
def to_simplified(text: str) -> str:
    return _T2S.convert(text) if has_chinese(text) else text


def _basic(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\n\t ")
    return to_simplified(text)


def _spaced(text: str) -> str:
    """Punctuation and runs of spaces become single spaces."""
    text = _PUNCT.sub(" ", text).replace("_", " ")
    return " ".join(text.split())


def _word_pattern(words, *, ascii_edges: bool = False) -> re.Pattern[str]:
    """One regex for a list of words or phrases, longest first, matched as whole words."""
    body = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    if ascii_edges:  # English inside Chinese: "密码reset" holds the word "reset"
        return re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])")
    return re.compile(rf"\b(?:{body})\b")


def _replacer(pairs: tuple[tuple[str, str], ...], *, ascii_edges: bool = False):
    table = dict(pairs)
    pattern = _word_pattern(table, ascii_edges=ascii_edges)
    return lambda text: pattern.sub(lambda m: table[m.group(0)], text)


_replace_en_synonyms = _replacer(_EN_SYNONYMS)
_replace_mixed = _replacer(_MIXED_GLOSSARY, ascii_edges=True)
_EN_FILLER_PATTERN = _word_pattern(_EN_FILLERS)
_ZH_PARTICLE_PATTERN = re.compile(rf"[{_ZH_PARTICLES}]")

# Small talk phrases, longest first: English ones as whole words, Chinese ones anywhere.
_SMALLTALK_PATTERNS = [
    (re.compile(rf"\b{re.escape(p)}\b" if p.isascii() else re.escape(p)), kind)
    for p, kind in sorted(
        ((p, k) for k, ps in SMALLTALK.items() for p in ps), key=lambda pk: -len(pk[0])
    )
]
_SMALLTALK_REST_ZH = re.compile(rf"[{_ZH_PARTICLES}了老师您你大家各位]")
_SMALLTALK_REST_EN = re.compile(
    r"\b(a lot|so much|very much|much|you|guys|all|again|for|the|help|there|everyone)\b"
)
_SMALLTALK_MAX_CHARS = 60  # longer messages hold more than pleasantries


def _smalltalk_kind(text: str) -> str | None:
    """The kind of small talk if ``text`` (basic-normalised) holds nothing else."""
    rest = _spaced(text)
    if not rest or len(rest) > _SMALLTALK_MAX_CHARS:
        return None
    kind = None
    for pattern, k in _SMALLTALK_PATTERNS:
        rest, n = pattern.subn(" ", rest)
        if n:
            kind = k if kind is None or k != "ack" else kind
    rest = _SMALLTALK_REST_EN.sub(" ", _SMALLTALK_REST_ZH.sub(" ", rest))
    return kind if not rest.strip() else None


def normalize(text: str) -> Normalized:
    basic = _basic(text)
    lang = "zh" if has_chinese(basic) else "en"
    smalltalk = _smalltalk_kind(basic)
    if smalltalk:
        return Normalized("", lang, smalltalk)
    out = basic
    if lang == "zh":
        out = _replace_mixed(out)
    for old, new in _ZH_SYNONYMS:
        out = out.replace(old, new)
    if lang == "zh":
        for pattern, word in _ZH_VERBS:
            out = pattern.sub(word, out)
        for hedge in _ZH_HEDGES:
            out = out.replace(hedge, " ")
    out = _replace_en_synonyms(_spaced(out))
    for pattern, repl in _EN_PHRASAL:
        out = pattern.sub(repl, out)
    for filler in _ZH_FILLERS:
        out = out.replace(filler, " ")
    out = _EN_FILLER_PATTERN.sub(" ", _ZH_PARTICLE_PATTERN.sub(" ", out))
    return Normalized(" ".join(out.split()), lang, None)


# The question inside a long message (used by faq.matcher): clause breaks are punctuation, line
# breaks and the words that open a new clause in chat Chinese; a clause asks when it holds an
# interrogative word or particle or ends in a question mark. General Chinese and English only.
_CLAUSE_OPENERS = (
    "请问",
    "想问",
    "(?<![想请])问一?下",  # not inside 想问一下 / 请问下
    "想了解",
    "想咨询",
    "想知道",
    "就是",
    "但是",
    "可是",
    "不过",
    "所以",
    "那么",
    "结果",
)
_CLAUSE_BREAK = re.compile(
    r"([,.;:!?~，。；：！？、…～\n\r]+)|(?=" + "|".join(_CLAUSE_OPENERS) + ")"
)
_INTERROGATIVE = re.compile(
    r"吗|呢|么$|怎|如何|哪|什么|啥|多少|多久|多长|多大|(?<![十百千万])几(?![十百千万])|"
    r"是否|能否|能不能|可不可以|可以不|要不要|有没有|是不是|会不会|还是|为什么|为啥|不$|"
    r"\b(?:how|what|when|where|which|who|whom|why|can|could|do|does|did|is|are|was|should|"
    r"will|would|may|must)\b"
)


def question_part(text: str) -> tuple[str, int]:
    """The clauses of a message that ask something, joined, and how many clauses it has.

    Without any interrogative clause, the last clause (the question usually comes last). The text
    comes back basic-normalised (width, case, simplified characters), not yet through
    :func:`normalize`.
    """
    pieces = _CLAUSE_BREAK.split(_basic(text))
    clauses: list[tuple[str, bool]] = []  # (clause, followed by a question mark)
    for i in range(0, len(pieces), 2):
        clause = (pieces[i] or "").strip()
        mark = pieces[i + 1] if i + 1 < len(pieces) else None
        if clause:
            clauses.append((clause, "?" in (mark or "")))
    asked = [c for c, q in clauses if q or _INTERROGATIVE.search(c)]
    return " ".join(asked or [c for c, _ in clauses[-1:]]), len(clauses)
