"""简体中文文案：面向会计师事务所、咨询机构的经办人员，礼貌、简洁，称“您”。

Templates are HTML (Telegram parse mode); the values filled in are escaped by ``bot.texts.t``.
"""

TEXTS: dict[str, str] = {
    # --- commands and menus ---
    "command_start": "开始使用，查看示例问题",
    "command_help": "使用说明",
    "command_lang": "切换语言 / Language",
    "welcome": (
        "您好，{name}！我是省财政厅第三方机构信用管理平台的咨询助手。\n\n"
        "请直接发送您的问题，例如账号登录、信息填报、附件上传、审核进度、退回修改等，"
        "我会在常见问题中为您查找答案。\n\n"
        "也可以点击下方的示例问题试一试："
    ),
    "help": (
        "<b>使用说明</b>\n\n"
        "• 用一句话描述您的问题即可，例如“附件大小有什么限制”。\n"
        "• 找到答案后，请点 👍 或 👎 告诉我是否有帮助。\n"
        "• 不确定时，我会列出几个相近的问题供您选择。\n"
        "• 找不到答案时，可以点“联系工作人员”查看人工咨询方式。\n\n"
        "<b>命令</b>\n"
        "/start — 开始使用，查看示例问题\n"
        "/help — 使用说明\n"
        "/lang — 切换语言（中文 / English）"
    ),
    "lang_prompt": "请选择语言 / Please choose a language:",
    "lang_set": "好的，之后我会用中文回复您。",
    "unknown_command": "抱歉，没有这个命令。发送 /help 查看可用命令，或直接输入您的问题。",
    # --- answers ---
    "answer": "<b>{question}</b>\n\n{answer}",
    "suggest": "您是想问下面哪个问题吗？请选择最接近的一项：",
    "none": (
        "抱歉，常见问题中暂时没有找到这个问题的答案。\n"
        "您可以换个说法再问一次，或点击下方按钮查看如何联系工作人员。"
    ),
    "smalltalk_greeting": "您好！请问有什么可以帮您？直接发送您的问题即可。",
    "smalltalk_thanks": "不客气！如果还有其他问题，随时问我。",
    "smalltalk_ack": "好的。还有其他需要咨询的问题吗？",
    "smalltalk_bye": "再见，祝您工作顺利！",
    # --- buttons ---
    "button_helpful": "👍 有帮助",
    "button_unhelpful": "👎 没帮助",
    "button_contact": "联系工作人员",
    "button_none_of_these": "都不是，联系工作人员",
    # --- feedback and staff ---
    "feedback_thanks": "感谢您的反馈！",
    "feedback_sorry": (
        "抱歉，这个回答没能帮到您。您可以换个说法再问一次，或点击下方按钮查看如何联系工作人员。"
    ),
    "contact_info": (
        "目前还不能在这个对话中为您转接人工客服。\n\n"
        "工作时间内，您可以联系所在地财政局的平台管理员，或拨打平台的咨询电话。"
    ),
    "contact_faq": "常见问题中的说明：\n<b>{question}</b>\n{answer}",
    # --- what the bot cannot read ---
    "non_text": "抱歉，我目前只能识别文字消息。请直接输入您的问题。",
    "empty_text": "没有收到问题内容，请输入您想咨询的问题。",
    "too_long": "您的消息太长了（超过 {limit} 个字），请精简成一两句话后再发送。",
    "button_invalid": "这个按钮已失效，请重新发送您的问题。",
    "error": "抱歉，处理您的消息时出了点问题，请稍后再试。",
    "staff_error": "⚠️ 机器人处理消息时出错\n<code>{error}</code>\n{where}",
}
