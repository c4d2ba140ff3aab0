"""A small domain thesaurus: words that stand in for one another on this platform.

General language knowledge, written from the catalogue's own vocabulary and from how people in
general say the same thing (never from test queries): 材料, 资料 and 证明 are the papers one hands
in; 填写, 填报 and 录入 are entering information; 审核, 审批 and 审查 are the department's review;
多久, 时限 and 期限 ask for a duration; ukey, CA证书 and 电子签章 are one way of logging in, and
网址, 官网 and 从哪进 the way into the platform. Operations that undo each other stay in
different concepts (撤回 is not 退回, 上传 is not 下载: see ``faq.contrast``), and so do words
that only look alike.

The matcher uses it twice (``faq.matcher``):

* a question (a query or an entry's phrasing, not an answer text) naming any word of a concept
  gets the concept as one more match feature (``faq.features``, kind ``s``, at half the weight of
  a character feature: a query and a phrasing that use the same word already share its characters,
  so the concept would count twice), weighed by its rarity over the catalogue like any other
  feature: "录入" in a query meets "填写" in an entry;
* a query word the entry does not use, but whose concept one of the entry's phrasings names, counts
  as mostly explained (``SYNONYM_CREDIT``).

Works on normalised text (``faq.normalize``, so 几天 is already 多久 and 如何 already 怎么): Chinese
terms as substrings, English terms as whole words or, ending in ``*``, word beginnings (English
query words are matched after the light stemming of ``faq.features``).
"""

from __future__ import annotations

from functools import lru_cache

from faq.contrast import term_pattern

CONCEPTS: dict[str, tuple[str, ...]] = {
    # the papers one prepares or hands in
    "材料": (
        "材料",
        "资料",
        "文件",
        "证件",
        "证明",
        "证书",
        "东西",
        "document*",
        "paper*",
        "material*",
        "file",
        "files",
        "certificate*",
    ),
    # what a form or a filing is made of
    "内容": (
        "内容",
        "部分",
        "模块",
        "板块",
        "几块",
        "栏目",
        "哪些信息",
        "东西",
        "section*",
        "part",
        "parts",
        "content*",
    ),
    # entering information into the platform
    "填写": (
        "填写",
        "填报",
        "填",
        "录入",
        "输入",
        "补录",
        "登记信息",
        "fill*",
        "enter",
        "entering",
        "input*",
    ),
    # changing what was entered
    "修改": (
        "修改",
        "更改",
        "更正",
        "改正",
        "纠正",
        "变更",
        "更新",
        "调整",
        "编辑",
        "改",
        "写错",
        "填错",
        "错误",
        "chang*",
        "modif*",
        "edit*",
        "correct*",
        "amend*",
        "updat*",
        "fix*",
        "mistake*",
        "wrong",
    ),
    # putting a file in the place of another
    "替换": (
        "替换",
        "重新上传",
        "重传",
        "换成",
        "换一个",
        "replac*",
        "re upload*",
        "reupload*",
    ),
    # the department's review
    "审核": (
        "审核",
        "审批",
        "审查",
        "初审",
        "复审",
        "审",
        "批下",
        "review*",
        "approv*",
        "check*",
    ),
    # passing review, or its outcome
    "通过": ("通过", "批准", "获批", "批下来", "结果", "approv*", "pass", "passed", "result*"),
    # levels and steps of a procedure
    "流程": (
        "流程",
        "步骤",
        "环节",
        "阶段",
        "程序",
        "几级",
        "两级",
        "几步",
        "几道",
        "几轮",
        "stage*",
        "step*",
        "level*",
        "process*",
        "procedure*",
    ),
    # where a filing stands
    "进度": (
        "进度",
        "状态",
        "到哪一步",
        "哪一步",
        "到哪了",
        "结果",
        "status",
        "progress",
        "result*",
    ),
    # finding something out
    "查看": (
        "查看",
        "查询",
        "查",
        "看",
        "知道",
        "获知",
        "了解",
        "view*",
        "check*",
        "see",
        "find out",
        "know",
        "track*",
    ),
    # how long something takes
    "时长": (
        "多久",
        "时限",
        "期限",
        "多长",
        "超时",
        "超期",
        "超过",
        "how long",
        "how soon",
        "days",
        "time limit*",
        "deadline*",
    ),
    # a grade on a scale
    "等级": (
        "等级",
        "等次",
        "档次",
        "几档",
        "哪档",
        "评级",
        "级别",
        "优秀",
        "良好",
        "合格",
        "grade*",
        "rating*",
        "rank*",
    ),
    # money paid for the work
    "费用": (
        "费用",
        "收费",
        "付费",
        "报酬",
        "酬金",
        "支付",
        "钱",
        "绩效费",
        "fee",
        "fees",
        "paid",
        "pay",
        "payment*",
        "money",
    ),
    # people working for the institution
    "人员": (
        "人员",
        "员工",
        "职工",
        "同事",
        "工作人员",
        "评估师",
        "会计师",
        "staff",
        "employee*",
        "people",
        "person*",
        "colleague*",
    ),
    # people leaving or joining
    "人员变动": (
        "离职",
        "辞职",
        "入职",
        "新来",
        "新招",
        "调走",
        "退休",
        "变动",
        "leav*",
        "left",
        "join*",
        "hire*",
        "new staff",
        "quit*",
        "resign*",
    ),
    # completed work an institution can show
    "业绩": (
        "业绩",
        "案例",
        "过往项目",
        "以往项目",
        "完成的项目",
        "项目经验",
        "track record",
        "past project*",
        "completed project*",
        "reference*",
    ),
    # size of a file
    "大小": (
        "大小",
        "多大",
        "最大",
        "太大",
        "过大",
        "超过",
        "mb",
        "兆",
        "size*",
        "big",
        "bigger",
        "large*",
        "maximum",
        "limit*",
    ),
    # kinds of file
    "格式": (
        "格式",
        "类型",
        "后缀",
        "word",
        "excel",
        "jpg",
        "jpeg",
        "png",
        "图片",
        "照片",
        "压缩包",
        "zip",
        "rar",
        "format*",
        "type*",
        "extension*",
    ),
    # something that does not work
    "失败": (
        "失败",
        "不成功",
        "上不去",
        "传不上",
        "卡住",
        "转圈",
        "报错",
        "出错",
        "不动",
        "没反应",
        "fail*",
        "stuck",
        "error*",
        "not work*",
        "doesn't work",
        "broken",
    ),
    # what a browser shows
    "浏览器": (
        "浏览器",
        "chrome",
        "谷歌",
        "火狐",
        "firefox",
        "edge",
        "ie",
        "safari",
        "360",
        "排版",
        "错位",
        "显示不正常",
        "乱码",
        "browser*",
        "layout",
        "display*",
    ),
    # keeping unfinished work
    "草稿": (
        "草稿",
        "保存",
        "暂存",
        "下次",
        "接着填",
        "继续填",
        "分几次",
        "一半",
        "draft*",
        "save*",
        "saving",
        "later",
        "continu*",
        "resum*",
        "come back",
    ),
    # being locked out
    "锁定": ("锁定", "锁", "冻结", "lock*", "frozen", "freez*"),
    # a bad record
    "黑名单": (
        "黑名单",
        "不良记录",
        "失信",
        "处罚",
        "惩戒",
        "blacklist*",
        "penalt*",
        "sanction*",
        "bad record*",
    ),
    # what follows from something
    "后果": (
        "后果",
        "影响",
        "会怎样",
        "会怎么样",
        "有什么用",
        "consequence*",
        "effect*",
        "impact*",
        "what happens",
        "mean for",
    ),
    # logging in with a certificate or a hardware key
    "数字证书": (
        "数字证书",
        "ca证书",
        "ca锁",
        "ukey",
        "电子签章",
        "电子签名",
        "电子印章",
        "usb key",
        "digital certificate*",
        "e signature*",
        "electronic signature*",
    ),
    # the way into the platform
    "入口": (
        "入口",
        "网址",
        "从哪进",
        "从哪里进",
        "哪里进",
        "怎么进",
        "官网",
        "website*",
        "url",
        "portal",
        "login link",
        "login page",
    ),
    # parts of an institution that are not the legal person
    "分支": ("分所", "分公司", "分支机构", "分部", "分院", "总所", "总公司", "branch*"),
    # when staff can be reached
    "工作时间": (
        "工作时间",
        "服务时间",
        "几点",
        "周末",
        "周六",
        "周日",
        "节假日",
        "放假",
        "office hours",
        "working hours",
        "opening hours",
        "weekend*",
        "holiday*",
    ),
    # reaching a person
    "联系": ("联系", "电话", "热线", "人工", "找谁", "contact*", "phone", "call", "human"),
}

_CONCEPT_PATTERNS = [(name, term_pattern(terms)) for name, terms in CONCEPTS.items()]


@lru_cache(maxsize=8192)
def concepts(text: str) -> frozenset[str]:
    """The concepts a normalised text names."""
    return frozenset(name for name, pattern in _CONCEPT_PATTERNS if pattern.search(text))
