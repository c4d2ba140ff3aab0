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
        "• 找不到答案时，点“联系工作人员”或发送 /human，问题会转给工作人员，"
        "他们会在这个对话中回复您。\n\n"
        "<b>命令</b>\n"
        "/start — 开始使用，查看示例问题\n"
        "/help — 使用说明\n"
        "/human — 联系工作人员（可直接附上问题）\n"
        "/mytickets — 查看我的工单\n"
        "/lang — 切换语言（中文 / English）\n"
        "/bind — 机构用户分享手机号绑定机构，接收退回通知\n"
        "/whoami — 查看我的绑定"
    ),
    "lang_prompt": "请选择语言 / Please choose a language:",
    "lang_set": "好的，之后我会用中文回复您。",
    "unknown_command": "抱歉，没有这个命令。发送 /help 查看可用命令，或直接输入您的问题。",
    # --- answers ---
    "answer": "<b>{question}</b>\n\n{answer}",
    "suggest": "您是想问下面哪个问题吗？请选择最接近的一项：",
    "related": "也许您想问的是：",
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
    # --- the escalation desk: user side ---
    "command_human": "联系工作人员（可附上问题）",
    "command_mytickets": "查看我的工单",
    "staff_title": "省财政厅工作人员",
    "ticket_opened": (
        "已为您创建工单 #{id}，工作人员会在这个对话中回复您。\n"
        "您可以继续发送补充说明、截图、文件或语音，都会转给工作人员。"
    ),
    "ticket_opened_ask": (
        "已为您创建工单 #{id}。请直接发送您的问题（文字、截图、文件或语音均可），"
        "我会转给工作人员，他们会在这个对话中回复您。"
    ),
    "ticket_added": "已将您的问题补充到工单 #{id}，工作人员会在这个对话中回复您。",
    "ticket_active": "您的工单 #{id} 正在处理中，请直接发送补充说明，我会转给工作人员。",
    "ticket_reopened": "已重新打开您的工单 #{id}，工作人员会在这个对话中回复您。",
    "ticket_after_hours": (
        "现在是非工作时间（工作日 {opens}–{closes}），工作人员预计在 {when} 之后回复您。"
    ),
    "ticket_forwarded": "已转给工作人员（工单 #{id}）。之后的消息也会一并转达，请耐心等待回复。",
    "ticket_received": "您的消息已收到。",
    "staff_reply": "{text}\n\n—— {title}",
    "staff_caption": "{caption}\n\n—— {title}",
    "staff_signature": "—— {title}",
    "ticket_closed_user": "您的工单 #{id} 已处理完毕。请为本次服务打分（1 星最低，5 星最高）：",
    "rating_thanks": "感谢您的评价（{stars} 星）！如还有问题，随时可以再问我。",
    "mytickets_none": "您还没有工单。找不到答案时，发送 /human 即可联系工作人员。",
    "mytickets_header": "<b>您的工单</b>",
    "mytickets_line": "#{id} · {status} · {date}\n{question}",
    "status_open": "处理中",
    "status_answered": "已回复",
    "status_closed": "已关闭",
    "no_question_yet": "（尚未填写问题）",
    # --- the escalation desk: staff side ---
    "source_contact": "联系工作人员",
    "source_human": "/human",
    "source_thumbs_down": "对回答点了 👎",
    "staff_card": (
        "🎫 <b>工单 #{id}</b>（来源：{source}）\n"
        "用户：{user}（ID {user_id}）\n语言：{language}\n\n<b>问题</b>\n{question}"
    ),
    "staff_card_candidates": "<b>机器人找到的常见问题</b>",
    "staff_card_candidate": "• {question}（{entry}，置信度 {score}）",
    "staff_card_no_candidates": "机器人没有找到相关的常见问题。",
    "staff_card_earlier": "<b>此前的工单</b>",
    "staff_card_earlier_line": "• #{id} {status} {date}：{question}",
    "staff_card_topic_help": (
        "在本话题中发送的消息会以“{title}”的名义转给用户；以 #note 开头的消息仅内部可见。"
        "/close 关闭工单。"
    ),
    "staff_card_reply_help": (
        "回复本消息（或本工单转来的任何消息）即转给用户，以“{title}”署名；"
        "以 #note 开头的回复仅内部可见。回复时发送 /close 关闭工单。"
    ),
    "button_claim": "✋ 认领",
    "button_close": "✅ 关闭",
    "button_report": "⬆️ 上报",
    "button_add_faq": "📚 加入常见问题",
    "staff_claimed": "✋ 工单 #{id} 已由 {name} 认领。",
    "staff_closed": "✅ 工单 #{id} 已由 {name} 关闭，已请用户评价。",
    "staff_reported": "⬆️ 工单 #{id} 已由 {name} 标记为向上级报告。",
    "staff_reopened": "🔄 用户重新打开了工单 #{id}。",
    "staff_user_blocked": "⚠️ 用户已屏蔽机器人，工单 #{id} 的回复无法送达。",
    "staff_reminder": "⏰ 工单 #{id} 已等待 {minutes} 个工作分钟，仍没有工作人员回复。",
    "admin_reminder": "⏰ 工单 #{id} 已超过 {minutes} 个工作分钟无人回复。\n问题：{question}",
    "staff_only": "抱歉，只有工作人员可以使用这个功能。",
    "admin_only": "抱歉，只有管理员可以使用这个命令。",
    "staff_where": "请在工单的话题中使用，或回复工单中的消息。",
    "staff_ticket_closed": "工单 #{id} 已关闭，这条消息没有转给用户。",
    "staff_already_closed": "工单 #{id} 已经关闭。",
    "staff_done": "好的。",
    "ban_usage": "用法：/ban 用户ID（或 /unban 用户ID），也可以回复工单中的消息后发送。",
    "banned": "已屏蔽用户 {user}：其消息不再转给工作人员。",
    "already_banned": "用户 {user} 已在屏蔽名单中。",
    "unbanned": "已解除对用户 {user} 的屏蔽。",
    "not_banned": "用户 {user} 不在屏蔽名单中。",
    # --- staff: improving the FAQ (bot/staff_faq.py, bot/reports.py) ---
    "command_phrasings": "待确认的用户问法",
    "command_faqdraft": "新建常见问题草稿",
    "command_common": "本周常见未解决问题",
    "command_stats": "本周与上周统计",
    "command_report": "生成周报（Excel）",
    "draft_card": (
        "📝 <b>常见问题草稿 #{id}</b>（{source}）\n\n"
        "<b>问题</b>\n{question}\n\n<b>答案</b>\n{answer}\n\n语言：{language} · 分类：{category}"
    ),
    "draft_source_ticket": "来自工单",
    "draft_source_common": "来自常见未解决问题",
    "draft_source_manual": "手动新建",
    "draft_no_answer": "（尚未填写）",
    "draft_usage": "用法：/faqdraft 问题。例如：/faqdraft 评价报告可以用电子签章吗？",
    "draft_button_new": "💾 保存为新条目",
    "draft_button_phrasing": "➕ 作为“{question}”的问法",
    "draft_button_edit_question": "✏️ 改问题",
    "draft_button_edit_answer": "✏️ 改答案",
    "draft_button_edit_category": "🏷 改分类",
    "draft_button_discard": "🗑 放弃",
    "draft_prompt_question": (
        "请发送草稿 #{id} 的新问题（直接发送或回复本消息均可，发送 /cancel 取消）。\n"
        "当前：{current}"
    ),
    "draft_prompt_answer": (
        "请发送草稿 #{id} 的新答案（直接发送或回复本消息均可，发送 /cancel 取消）。\n"
        "当前：{current}"
    ),
    "draft_prompt_category": (
        "请发送草稿 #{id} 的分类，用小写英文，如 account、filling、attachments、review"
        "（发送 /cancel 取消）。\n当前：{current}"
    ),
    "draft_edit_cancelled": "已取消修改。",
    "draft_saved_new": "✅ 已保存为新条目 {id}：{question}\n机器人现在就能回答这个问题了。",
    "draft_saved_phrasing": "✅ 已作为条目 {id}“{question}”的新问法保存，机器人现在就能识别。",
    "draft_discarded": "🗑 草稿 #{id} 已放弃。",
    "draft_closed": "这份草稿已经保存或放弃了。",
    "draft_needs_answer": "请先点“改答案”填写答案，再保存。",
    "draft_invalid": "还不能保存：{problems}",
    "phrasings_none": "目前没有待确认的问法。",
    "phrasings_head": (
        "<b>待确认的问法</b>（共 {count} 条）\n"
        "用户点选建议问题时的原话。确认后会加入该条目的问法，机器人即可直接回答。"
    ),
    "phrasings_item": "{n}. “{text}”\n→ {question}（{entry}）",
    "phrasing_confirmed": "已确认，已加入该条目的问法。",
    "phrasing_rejected": "已不采纳。",
    "common_none": "本周（{since} 起）还没有未解决的问题。",
    "common_head": (
        "<b>本周常见未解决问题</b>（{since} 起，按次数排序）\n"
        "包括没找到答案、推荐了问题但用户没选、回答被点 👎 的提问。"
    ),
    "common_item": "{n}. <b>{question}</b> — {count} 次",
    "common_examples": "类似问法：{examples}",
    "common_tried": "机器人尝试过：{entries}",
    "common_button": "✍️ 为第 {n} 组写常见问题",
    "stats": (
        "<b>咨询统计</b>（本周 {this_week} 起 / 上周 {last_week} 起）\n\n"
        "提问数：{questions} / {questions_before}\n"
        "常见问题解答率：{share} / {share_before}\n"
        "👍 / 👎：{up} / {down}（上周 {up_before} / {down_before}）\n"
        "新建工单：{opened} / {opened_before}\n"
        "关闭工单：{closed} / {closed_before}\n"
        "首次回复中位数（工作分钟）：{median} / {median_before}\n"
        "平均评分：{rating} / {rating_before}"
    ),
    "stats_top_head": "<b>本周最常用的常见问题</b>",
    "stats_top_item": "{n}. {question} — {count} 次",
    "report_caption": "📊 咨询情况报表（{since} 至 {until}）",
    "report_caption_weekly": "📊 上周咨询情况周报（{since} 至 {until}）",
    "report_sheet_unresolved": "未解决工单",
    "report_sheet_reported": "已上报工单",
    "report_sheet_common": "常见未解决问题",
    "report_sheet_figures": "统计",
    "report_columns_unresolved": (
        "工单号|状态|来源|用户ID|语言|问题|创建时间（北京时间）|首次回复时间|认领人ID|上报时间"
    ),
    "report_columns_reported": (
        "工单号|状态|问题|创建时间（北京时间）|上报时间|上报人ID|关闭时间|评分"
    ),
    "report_columns_common": (
        "序号|次数|典型问法|其他问法|机器人尝试的条目|最近提问时间（北京时间）"
    ),
    "report_columns_figures": "指标|本期|上期",
    "report_figures_names": (
        "提问数|由常见问题解答|常见问题解答率（%）|👍 有帮助|👎 没帮助|新建工单|关闭工单|"
        "首次回复中位数（工作分钟）|平均评分"
    ),
    "report_top_entries": "本期最常用的常见问题",
    # --- what the bot cannot read ---
    "non_text": "抱歉，我目前只能识别文字消息。请直接输入您的问题。",
    "empty_text": "没有收到问题内容，请输入您想咨询的问题。",
    "too_long": "您的消息太长了（超过 {limit} 个字），请精简成一两句话后再发送。",
    "button_invalid": "这个按钮已失效，请重新发送您的问题。",
    "error": "抱歉，处理您的消息时出了点问题，请稍后再试。",
    "staff_error": "⚠️ 机器人处理消息时出错\n<code>{error}</code>\n{where}",
    # --- bureau reminders and review decisions (reminders/engine.py, bot/bureau_desk.py) ---
    "command_bureaus": "各财政局初审情况（加 xlsx 导出 Excel）",
    "command_invite": "生成财政局审核人员绑定链接（后附财政局代码）",
    "rm_header": "⏰ <b>初审提醒 · {bureau}</b>\n以下 {count} 件材料等待贵局初审：",
    "rm_mark_new": "🆕 新提交",
    "rm_mark_24h": "⏳ 剩余不足 24 小时",
    "rm_mark_4h": "⚠️ 剩余不足 4 小时",
    "rm_mark_due": "❗ 已超期",
    "rm_mark_overdue": "❗ 已超期",
    "rm_item": (
        "{n}. {mark}　<b>{institution}</b>\n"
        "　　编号：<code>{ref}</code>\n"
        "　　提交：{submitted}　截止：{due}（{left}）"
    ),
    "rm_points": (
        "<b>审核要点</b>\n① 是否属于填报对象\n② 附件是否匹配\n"
        "③ 前后信息是否一致\n④ 内容是否完整合规\n"
        "请点击下方按钮处理（时间均为北京时间）。"
    ),
    "rm_button_approve": "✅ {n} 初审通过",
    "rm_button_return": "↩️ {n} 退回",
    "rm_escalate_header": "🚨 <b>初审超期</b>：共 {count} 件，按财政局列出",
    "rm_escalate_bureau": "<b>{bureau}</b>（{count} 件）",
    "rm_escalate_item": "· {institution}　<code>{ref}</code>　{left}",
    "rm_unreachable_header": (
        "📵 <b>以下 {count} 个财政局尚无绑定的审核人员</b>，初审提醒暂无法送达，"
        "请用 /invite 发送绑定邀请："
    ),
    "rm_unreachable_line": "· {bureau}（{code}）：{count} 件待提醒",
    "rm_returned": (
        "↩️ <b>贵机构提交的材料已被退回</b>\n"
        "机构：{institution}\n编号：<code>{ref}</code>\n退回时间：{returned}\n"
        "退回原因：{reason}\n\n"
        "请登录信用管理平台，按退回原因修改后重新提交。"
        "如有疑问，可直接在此提问或发送 /human 联系工作人员。"
    ),
    "rm_returned_again": (
        "🔔 <b>提醒：退回的材料尚未重新提交</b>\n"
        "机构：{institution}\n编号：<code>{ref}</code>\n退回时间：{returned}\n"
        "退回原因：{reason}\n\n"
        "请尽快登录信用管理平台修改并重新提交。如有疑问，可发送 /human 联系工作人员。"
    ),
    "rm_no_reason": "（未填写）",
    "rm_digest": (
        "📋 <b>{bureau} · 初审日报（{day}）</b>\n"
        "待初审：{pending} 件\n今日到期：{due_today} 件\n已超期：{overdue} 件"
    ),
    "rv_approved": "✅ 已记录：{institution}（{ref}）初审通过。",
    "rv_ask_reason": (
        "↩️ 退回 {institution}（<code>{ref}</code>）\n"
        "请回复本消息，写明退回原因（机构将收到该原因）。发送 /cancel 取消。"
    ),
    "rv_returned": (
        "↩️ 已退回 {institution}（{ref}），原因：{reason}\n机构已绑定的联系人将收到通知。"
    ),
    "rv_refused": "这个按钮已失效：材料已处理，或不属于您所在财政局。",
    "rv_cancelled": "已取消退回，材料仍待初审。",
    "rv_reason_empty": "请用文字写明退回原因，或发送 /cancel 取消。",
    "bureaus_header": "🏛 <b>各财政局初审情况</b>（近 {days} 天，最差的在前）",
    "bureaus_line": (
        "<b>{name}</b>（{code}）\n"
        "　待审 {pending}　超期 {overdue}　按时率 {rate}　审核用时中位数 {hours}"
    ),
    "bureaus_none": "还没有财政局的数据。请先导入财政局和待审材料。",
    "bureaus_more": "……另有 {count} 个财政局，发送 /bureaus xlsx 查看全部。",
    "bureaus_caption": "🏛 各财政局初审情况（近 {days} 天，{day}）",
    "bureaus_sheet": "财政局初审",
    "bureaus_columns": (
        "财政局代码|财政局|待审|超期|近30天已审|按时|按时率（%）|审核用时中位数（小时）"
    ),
    "bureaus_no_value": "—",
    # --- binding people, review-item intake (bot/bureau_bind.py) ---
    "command_bind": "绑定机构（分享手机号）",
    "command_whoami": "查看我的绑定",
    "bind_staff_group_only": "请在工作人员群中使用这个命令。",
    "bind_invite_usage": "用法：/invite 财政局代码，例如 /invite 330102",
    "bind_unknown_bureau": "没有代码为 <code>{code}</code> 的财政局，请先导入财政局名单。",
    "bind_invite_created": (
        "已为 <b>{bureau}</b>（{code}）生成一次性邀请链接，有效期至 {expires}（北京时间）：\n"
        "{link}\n\n请把链接发给该局的初审人员，打开后即完成绑定；链接只能使用一次。"
    ),
    "bind_invite_used": "这个邀请链接已经使用过了。如需绑定，请联系省财政厅工作人员重新生成。",
    "bind_invite_expired": "这个邀请链接已过期（有效期 7 天）。请联系省财政厅工作人员重新生成。",
    "bind_invite_unknown": "这个邀请链接无效。请确认链接完整，或联系省财政厅工作人员。",
    "bind_reviewer_bound": (
        "绑定成功！您已作为 <b>{bureau}</b>（{code}）的初审人员接收初审提醒。"
        "发送 /whoami 可查看绑定情况。"
    ),
    "bind_whoami_usage": "用法：/whoami [用户ID]",
    "bind_whoami_header": "<b>绑定情况</b>（用户 ID {user_id}）",
    "bind_whoami_bureau": "• 财政局初审人员：{name}（{code}）",
    "bind_whoami_institution": "• 机构：{name}（统一社会信用代码 {code}）",
    "bind_whoami_none": "尚未绑定任何财政局或机构。机构用户可发送 /bind 分享手机号完成绑定。",
    "bind_unbind_usage": "用法：/unbind 用户ID [财政局代码 或 统一社会信用代码]",
    "bind_unbind_nothing": "用户 {user_id} 没有可解除的绑定。",
    "bind_unbind_done": "已解除用户 {user_id} 的绑定：{what}",
    "bind_share_button": "📱 分享我的手机号",
    "bind_offer": (
        "请点击下方按钮分享您本人的手机号。若该号码是贵机构在平台提交材料时登记的联系电话，"
        "即可绑定机构，之后材料被退回时会在这里收到原因和处理建议。"
    ),
    "bind_not_own_contact": "请点击“分享我的手机号”按钮分享您本人的号码，转发他人的名片无法绑定。",
    "bind_phone_unknown": (
        "没有找到以这个手机号登记为联系电话的提交材料，暂时无法绑定。"
        "请确认平台上登记的联系电话，或联系工作人员（/human）。"
    ),
    "bind_institution_bound": "绑定成功！您已绑定机构：{institutions}",
    "intake_too_big": "文件 {name} 太大，无法导入（上限 10 MB）。",
    "intake_download_failed": "无法下载文件 {name}，请稍后重新上传。",
    "intake_rejected": "❌ {name} 未导入：发现 {count} 个问题（整个文件都未导入）",
    "intake_problem": "• {problem}",
    "intake_more_problems": "……另有 {count} 个问题",
    "intake_bureaus_done": (
        "✅ 已导入财政局名单 {name}：新增 {created}，更新 {updated}，未变 {unchanged}"
    ),
    "intake_reviews_done": (
        "✅ 已导入初审材料 {name}：新增 {created}，更新 {updated}，未变 {unchanged}，"
        "其中新退回 {returned}"
    ),
    "intake_stale": "忽略了 {count} 条比已有记录更早的事件：{refs}",
}
