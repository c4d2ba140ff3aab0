"""English texts.

Templates are HTML (Telegram parse mode); the values filled in are escaped by ``bot.texts.t``.
"""

TEXTS: dict[str, str] = {
    # --- commands and menus ---
    "command_start": "Start and see example questions",
    "command_help": "How to use this bot",
    "command_lang": "Language / 切换语言",
    "welcome": (
        "Hello, {name}! I'm the helpdesk assistant of the provincial finance department's credit "
        "management platform for third-party institutions.\n\n"
        "Just send me your question — about logging in, filling in information, attachments, "
        "review progress or returned submissions — and I'll look it up in the FAQ.\n\n"
        "Or tap one of these example questions:"
    ),
    "help": (
        "<b>How to use this bot</b>\n\n"
        "• Describe your question in one sentence, e.g. “What is the maximum attachment size?”\n"
        "• When I answer, tap 👍 or 👎 to tell me whether it helped.\n"
        "• If I'm not sure, I'll list a few similar questions to choose from.\n"
        "• If I can't find an answer, tap “Contact staff” or send /human: your question goes to "
        "staff, who reply in this chat.\n\n"
        "<b>Commands</b>\n"
        "/start — start and see example questions\n"
        "/help — how to use this bot\n"
        "/human — contact staff (you can add your question)\n"
        "/mytickets — see my tickets\n"
        "/lang — change language (中文 / English)\n"
        "/bind — institutions: share your phone number to hear about returned submissions\n"
        "/whoami — show my bindings"
    ),
    "lang_prompt": "请选择语言 / Please choose a language:",
    "lang_set": "OK, I'll reply in English from now on.",
    "unknown_command": (
        "Sorry, I don't know that command. Send /help to see what I can do, or just type your "
        "question."
    ),
    # --- answers ---
    "answer": "<b>{question}</b>\n\n{answer}",
    "suggest": "Did you mean one of these? Please pick the closest question:",
    "related": "Or did you mean:",
    "none": (
        "Sorry, I couldn't find an answer to this in the FAQ.\n"
        "You can try asking in other words, or tap the button below to see how to reach staff."
    ),
    "smalltalk_greeting": "Hello! How can I help you? Just type your question.",
    "smalltalk_thanks": "You're welcome! Ask me any time if you have other questions.",
    "smalltalk_ack": "OK. Is there anything else I can help you with?",
    "smalltalk_bye": "Goodbye, and all the best with your work!",
    # --- buttons ---
    "button_helpful": "👍 Helpful",
    "button_unhelpful": "👎 Not helpful",
    "button_contact": "Contact staff",
    "button_none_of_these": "None of these — contact staff",
    # --- feedback and staff ---
    "feedback_thanks": "Thank you for your feedback!",
    "feedback_sorry": (
        "Sorry this answer didn't help. You can try asking in other words, or tap the button "
        "below to see how to reach staff."
    ),
    "contact_info": (
        "I can't hand you over to a person in this chat yet.\n\n"
        "During working hours please contact the platform administrator at your local finance "
        "bureau, or call the platform's consultation phone."
    ),
    "contact_faq": "From the FAQ:\n<b>{question}</b>\n{answer}",
    # --- the escalation desk: user side ---
    "command_human": "Contact staff (optionally with your question)",
    "command_mytickets": "See my tickets",
    "staff_title": "Provincial Finance Department staff",
    "ticket_opened": (
        "I've opened ticket #{id} for you; staff will reply in this chat.\n"
        "You can keep sending details, screenshots, files or voice messages: they all reach staff."
    ),
    "ticket_opened_ask": (
        "I've opened ticket #{id} for you. Please send your question (text, screenshots, files or "
        "voice messages); I'll pass it on and staff will reply in this chat."
    ),
    "ticket_added": "I've added your question to ticket #{id}; staff will reply in this chat.",
    "ticket_active": (
        "Your ticket #{id} is in progress; just send any details and I'll pass them on to staff."
    ),
    "ticket_reopened": "I've reopened your ticket #{id}; staff will reply in this chat.",
    "ticket_after_hours": (
        "It is outside working hours now (working days {opens}–{closes}); expect an answer after "
        "{when}."
    ),
    "ticket_forwarded": (
        "Passed on to staff (ticket #{id}). Further messages will be passed on too; please wait "
        "for their reply."
    ),
    "ticket_received": "Your message has been received.",
    "staff_reply": "{text}\n\n— {title}",
    "staff_caption": "{caption}\n\n— {title}",
    "staff_signature": "— {title}",
    "ticket_closed_user": (
        "Your ticket #{id} has been resolved. Please rate our help (1 star lowest, 5 highest):"
    ),
    "rating_thanks": "Thank you for your rating ({stars} stars)! Ask me any time if you need more.",
    "mytickets_none": "You have no tickets yet. When the FAQ has no answer, send /human.",
    "mytickets_header": "<b>Your tickets</b>",
    "mytickets_line": "#{id} · {status} · {date}\n{question}",
    "status_open": "in progress",
    "status_answered": "answered",
    "status_closed": "closed",
    "no_question_yet": "(no question yet)",
    # --- the escalation desk: staff side ---
    "source_contact": "contact staff",
    "source_human": "/human",
    "source_thumbs_down": "👎 on an answer",
    "staff_card": (
        "🎫 <b>Ticket #{id}</b> (from: {source})\n"
        "User: {user} (id {user_id})\nLanguage: {language}\n\n<b>Question</b>\n{question}"
    ),
    "staff_card_candidates": "<b>FAQ entries the bot found</b>",
    "staff_card_candidate": "• {question} ({entry}, confidence {score})",
    "staff_card_no_candidates": "The bot found no related FAQ entry.",
    "staff_card_earlier": "<b>Earlier tickets</b>",
    "staff_card_earlier_line": "• #{id} {status} {date}: {question}",
    "staff_card_topic_help": (
        "Messages in this topic reach the user signed “{title}”; messages starting with #note "
        "stay internal. /close closes the ticket."
    ),
    "staff_card_reply_help": (
        "Reply to this message (or any message of this ticket) to answer the user, signed "
        "“{title}”; replies starting with #note stay internal. Reply with /close to close it."
    ),
    "button_claim": "✋ Claim",
    "button_close": "✅ Close",
    "button_report": "⬆️ Report upward",
    "button_add_faq": "📚 Add to FAQ",
    "staff_claimed": "✋ Ticket #{id} claimed by {name}.",
    "staff_closed": "✅ Ticket #{id} closed by {name}; the user was asked for a rating.",
    "staff_reported": "⬆️ Ticket #{id} marked as reported upward by {name}.",
    "staff_reopened": "🔄 The user reopened ticket #{id}.",
    "staff_user_blocked": (
        "⚠️ The user blocked the bot; replies on ticket #{id} cannot be delivered."
    ),
    "staff_reminder": (
        "⏰ Ticket #{id} has waited {minutes} business minutes without a staff reply."
    ),
    "admin_reminder": (
        "⏰ Ticket #{id} has had no staff reply for over {minutes} business minutes.\n"
        "Question: {question}"
    ),
    "staff_only": "Sorry, only staff can do that.",
    "admin_only": "Sorry, only admins can use this command.",
    "staff_where": "Use this in a ticket's topic, or as a reply to a message of the ticket.",
    "staff_ticket_closed": (
        "Ticket #{id} is closed; this message was not passed on to the user."
    ),
    "staff_already_closed": "Ticket #{id} is already closed.",
    "staff_done": "Done.",
    "ban_usage": (
        "Usage: /ban USER_ID (or /unban USER_ID), or send it as a reply to a ticket message."
    ),
    "banned": "User {user} is banned: their messages no longer reach staff.",
    "already_banned": "User {user} is already banned.",
    "unbanned": "User {user} is no longer banned.",
    "not_banned": "User {user} is not banned.",
    # --- staff: improving the FAQ (bot/staff_faq.py, bot/reports.py) ---
    "command_phrasings": "User phrasings to confirm",
    "command_faqdraft": "Start an FAQ draft",
    "command_common": "This week's common unanswered questions",
    "command_stats": "This week against last week",
    "command_report": "Weekly report (Excel)",
    "draft_card": (
        "📝 <b>FAQ draft #{id}</b> ({source})\n\n"
        "<b>Question</b>\n{question}\n\n<b>Answer</b>\n{answer}\n\n"
        "Language: {language} · Category: {category}"
    ),
    "draft_source_ticket": "from a ticket",
    "draft_source_common": "from common unanswered questions",
    "draft_source_manual": "written by hand",
    "draft_no_answer": "(not written yet)",
    "draft_usage": (
        "Usage: /faqdraft QUESTION, e.g. /faqdraft Can the report be signed electronically?"
    ),
    "draft_button_new": "💾 Save as a new entry",
    "draft_button_phrasing": "➕ As a phrasing of “{question}”",
    "draft_button_edit_question": "✏️ Edit question",
    "draft_button_edit_answer": "✏️ Edit answer",
    "draft_button_edit_category": "🏷 Category",
    "draft_button_discard": "🗑 Discard",
    "draft_prompt_question": (
        "Send the new question for draft #{id} (just send it or reply to this message; /cancel "
        "to cancel).\nNow: {current}"
    ),
    "draft_prompt_answer": (
        "Send the new answer for draft #{id} (just send it or reply to this message; /cancel "
        "to cancel).\nNow: {current}"
    ),
    "draft_prompt_category": (
        "Send the category for draft #{id} in lower-case English, e.g. account, filling, "
        "attachments, review (/cancel to cancel).\nNow: {current}"
    ),
    "draft_edit_cancelled": "Edit cancelled.",
    "draft_saved_new": (
        "✅ Saved as the new entry {id}: {question}\nThe bot can answer it from now on."
    ),
    "draft_saved_phrasing": (
        "✅ Saved as a new phrasing of {id} “{question}”; the bot recognises it from now on."
    ),
    "draft_discarded": "🗑 Draft #{id} discarded.",
    "draft_closed": "This draft has already been saved or discarded.",
    "draft_needs_answer": "Please write the answer first (“Edit answer”), then save.",
    "draft_invalid": "Cannot save yet: {problems}",
    "phrasings_none": "No phrasings are waiting for confirmation.",
    "phrasings_head": (
        "<b>Phrasings to confirm</b> ({count})\n"
        "Users' own words when they picked a suggested question. Confirmed ones become phrasings "
        "of that entry, so the bot answers them directly."
    ),
    "phrasings_item": "{n}. “{text}”\n→ {question} ({entry})",
    "phrasing_confirmed": "Confirmed and added to the entry's phrasings.",
    "phrasing_rejected": "Rejected.",
    "common_none": "No unanswered questions this week (since {since}) yet.",
    "common_head": (
        "<b>This week's common unanswered questions</b> (since {since}, most frequent first)\n"
        "Questions with no answer, with suggestions nobody picked, or with an answer rated 👎."
    ),
    "common_item": "{n}. <b>{question}</b> — {count}×",
    "common_examples": "Similar: {examples}",
    "common_tried": "The bot tried: {entries}",
    "common_button": "✍️ Write an FAQ entry for group {n}",
    "stats": (
        "<b>Helpdesk figures</b> (this week since {this_week} / last week since {last_week})\n\n"
        "Questions: {questions} / {questions_before}\n"
        "Answered by the FAQ: {share} / {share_before}\n"
        "👍 / 👎: {up} / {down} (last week {up_before} / {down_before})\n"
        "Tickets opened: {opened} / {opened_before}\n"
        "Tickets closed: {closed} / {closed_before}\n"
        "Median first response (business minutes): {median} / {median_before}\n"
        "Average rating: {rating} / {rating_before}"
    ),
    "stats_top_head": "<b>Most used FAQ entries this week</b>",
    "stats_top_item": "{n}. {question} — {count}×",
    "report_caption": "📊 Helpdesk report ({since} to {until})",
    "report_caption_weekly": "📊 Last week's helpdesk report ({since} to {until})",
    "report_sheet_unresolved": "Unresolved tickets",
    "report_sheet_reported": "Reported upward",
    "report_sheet_common": "Common problems",
    "report_sheet_figures": "Figures",
    "report_columns_unresolved": (
        "Ticket|Status|Source|User ID|Language|Question|Created (Beijing time)|First response|"
        "Claimed by|Reported at"
    ),
    "report_columns_reported": (
        "Ticket|Status|Question|Created (Beijing time)|Reported at|Reported by|Closed at|Rating"
    ),
    "report_columns_common": (
        "No.|Count|Typical wording|Other wordings|Entries the bot tried|Last asked (Beijing time)"
    ),
    "report_columns_figures": "Figure|This period|Previous period",
    "report_figures_names": (
        "Questions|Answered by the FAQ|Answered by the FAQ (%)|👍 Helpful|👎 Not helpful|"
        "Tickets opened|Tickets closed|Median first response (business minutes)|Average rating"
    ),
    "report_top_entries": "Most used FAQ entries this period",
    # --- what the bot cannot read ---
    "non_text": "Sorry, I can only read text messages. Please type your question.",
    "empty_text": "I didn't get a question. Please type what you would like to ask.",
    "too_long": (
        "Your message is too long (over {limit} characters). Please shorten it to a sentence or "
        "two and send it again."
    ),
    "button_invalid": "This button is no longer valid. Please send your question again.",
    "error": "Sorry, something went wrong while handling your message. Please try again later.",
    "staff_error": "⚠️ The bot hit an error\n<code>{error}</code>\n{where}",
    # --- bureau reminders and review decisions (reminders/engine.py, bot/bureau_desk.py) ---
    "command_bureaus": "Preliminary reviews per bureau (add xlsx for Excel)",
    "command_invite": "Invite link for a bureau reviewer (add the bureau code)",
    "rm_header": (
        "⏰ <b>Review reminder · {bureau}</b>\n{count} submissions await your preliminary review:"
    ),
    "rm_mark_new": "🆕 new",
    "rm_mark_24h": "⏳ under 24 hours left",
    "rm_mark_4h": "⚠️ under 4 hours left",
    "rm_mark_due": "❗ overdue",
    "rm_mark_overdue": "❗ overdue",
    "rm_item": (
        "{n}. {mark}  <b>{institution}</b>\n"
        "    Ref: <code>{ref}</code>\n"
        "    Submitted {submitted}, due {due} ({left})"
    ),
    "rm_points": (
        "<b>Key review points</b>\n① Is it a filling object?\n② Do the attachments match?\n"
        "③ Is the information consistent?\n④ Is the content complete and compliant?\n"
        "Use the buttons below (times are Beijing time)."
    ),
    "rm_button_approve": "✅ {n} Approve",
    "rm_button_return": "↩️ {n} Return",
    "rm_escalate_header": "🚨 <b>Overdue preliminary reviews</b>: {count}, by bureau",
    "rm_escalate_bureau": "<b>{bureau}</b> ({count})",
    "rm_escalate_item": "· {institution}  <code>{ref}</code>  {left}",
    "rm_unreachable_header": (
        "📵 <b>These {count} bureaus have no bound reviewer</b>; their reminders cannot be "
        "delivered. Send them an invite with /invite:"
    ),
    "rm_unreachable_line": "· {bureau} ({code}): {count} reminders waiting",
    "rm_returned": (
        "↩️ <b>Your submission was returned</b>\n"
        "Institution: {institution}\nRef: <code>{ref}</code>\nReturned: {returned}\n"
        "Reason: {reason}\n\n"
        "Please log in to the credit management platform, correct it as the reason says and "
        "submit it again. Questions: ask here or send /human to reach staff."
    ),
    "rm_returned_again": (
        "🔔 <b>Reminder: the returned submission has not been resubmitted</b>\n"
        "Institution: {institution}\nRef: <code>{ref}</code>\nReturned: {returned}\n"
        "Reason: {reason}\n\n"
        "Please correct and resubmit it on the platform soon. Questions: send /human."
    ),
    "rm_no_reason": "(none given)",
    "rm_digest": (
        "📋 <b>{bureau} · daily review digest ({day})</b>\n"
        "Pending: {pending}\nDue today: {due_today}\nOverdue: {overdue}"
    ),
    "rv_approved": "✅ Recorded: {institution} ({ref}) approved.",
    "rv_ask_reason": (
        "↩️ Returning {institution} (<code>{ref}</code>)\n"
        "Reply to this message with the reason (the institution will see it). /cancel to stop."
    ),
    "rv_returned": (
        "↩️ Returned {institution} ({ref}), reason: {reason}\n"
        "The institution's bound contacts will be told."
    ),
    "rv_refused": "This button is no longer valid: already decided, or not your bureau's item.",
    "rv_cancelled": "Return cancelled; the item still awaits review.",
    "rv_reason_empty": "Please write the reason as text, or send /cancel.",
    "bureaus_header": "🏛 <b>Preliminary reviews per bureau</b> (last {days} days, worst first)",
    "bureaus_line": (
        "<b>{name}</b> ({code})\n"
        "    pending {pending}, overdue {overdue}, on time {rate}, median review {hours}"
    ),
    "bureaus_none": "No bureau data yet. Import the bureaus and the review items first.",
    "bureaus_more": "…and {count} more bureaus; send /bureaus xlsx for all of them.",
    "bureaus_caption": "🏛 Preliminary reviews per bureau (last {days} days, {day})",
    "bureaus_sheet": "Bureau reviews",
    "bureaus_columns": (
        "Bureau code|Bureau|Pending|Overdue|Decided (30 days)|On time|On-time rate (%)|"
        "Median review (hours)"
    ),
    "bureaus_no_value": "—",
    # --- binding people, review-item intake (bot/bureau_bind.py) ---
    "command_bind": "Bind your institution (share your phone number)",
    "command_whoami": "Show my bindings",
    "bind_staff_group_only": "Please use this command in the staff group.",
    "bind_invite_usage": "Usage: /invite bureau-code, e.g. /invite 330102",
    "bind_unknown_bureau": (
        "There is no bureau with code <code>{code}</code>; import the bureaus first."
    ),
    "bind_invite_created": (
        "One-time invite for <b>{bureau}</b> ({code}), valid until {expires} (Beijing time):\n"
        "{link}\n\nSend it to the bureau's reviewer; opening it binds them. It works once."
    ),
    "bind_invite_used": "This invite link has already been used. Ask the staff for a new one.",
    "bind_invite_expired": (
        "This invite link has expired (valid 7 days). Ask the staff for a new one."
    ),
    "bind_invite_unknown": "This invite link is not valid. Check the link or ask the staff.",
    "bind_reviewer_bound": (
        "Done! You now receive the preliminary-review reminders of <b>{bureau}</b> ({code}). "
        "Send /whoami to see your bindings."
    ),
    "bind_whoami_usage": "Usage: /whoami [user id]",
    "bind_whoami_header": "<b>Bindings</b> (user id {user_id})",
    "bind_whoami_bureau": "• Bureau reviewer: {name} ({code})",
    "bind_whoami_institution": "• Institution: {name} (credit code {code})",
    "bind_whoami_none": (
        "No bureau or institution bound yet. Institutions: send /bind to share your phone number."
    ),
    "bind_unbind_usage": "Usage: /unbind user-id [bureau code or credit code]",
    "bind_unbind_nothing": "User {user_id} has nothing to unbind.",
    "bind_unbind_done": "Unbound user {user_id} from: {what}",
    "bind_share_button": "📱 Share my phone number",
    "bind_offer": (
        "Tap the button below to share your own phone number. If it is the contact phone your "
        "institution gave with its submissions, your institution is bound, and you will hear "
        "here why a submission was returned and what to do."
    ),
    "bind_not_own_contact": (
        "Please share your own number with the button; a forwarded contact cannot bind."
    ),
    "bind_phone_unknown": (
        "No submission lists this phone number as its contact phone, so nothing was bound. "
        "Check the contact phone on the platform, or contact the staff (/human)."
    ),
    "bind_institution_bound": "Done! Bound to: {institutions}",
    "intake_too_big": "The file {name} is too large to import (10 MB at most).",
    "intake_download_failed": "Could not download {name}; please upload it again.",
    "intake_rejected": "❌ {name} was not imported: {count} problem(s) (nothing was imported)",
    "intake_problem": "• {problem}",
    "intake_more_problems": "… and {count} more",
    "intake_bureaus_done": (
        "✅ Bureaus imported from {name}: {created} new, {updated} updated, {unchanged} unchanged"
    ),
    "intake_reviews_done": (
        "✅ Review items imported from {name}: {created} new, {updated} updated, "
        "{unchanged} unchanged, {returned} newly returned"
    ),
    "intake_stale": "Ignored {count} event(s) older than what is already recorded: {refs}",
}
