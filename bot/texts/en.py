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
        "• If I can't find an answer, tap “Contact staff” to see how to reach a person.\n\n"
        "<b>Commands</b>\n"
        "/start — start and see example questions\n"
        "/help — how to use this bot\n"
        "/lang — change language (中文 / English)"
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
}
