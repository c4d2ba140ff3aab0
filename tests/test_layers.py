"""Domain modules import nothing from telegram (DESIGN.md): checked in a fresh interpreter each."""

import subprocess
import sys

import pytest

DOMAIN = [
    "faq.io",
    "faq.matcher",
    "faq.service",
    "faq.drafts",
    "faq.common",
    "faq.stats",
    "faq.evaluate",
    "faq.contrast",
    "faq.synonyms",
    "faq.lexicon",
    "bot.tickets",
    "bot.outbox",
    "bot.inbox",
    "bot.chat_users",
    "reminders.calendar",
    "reminders.models",
    "reminders.bureaus",
    "reminders.intake",
    "reminders.bindings",
    "reminders.stages",
    "reminders.engine",
]


@pytest.mark.parametrize("module", DOMAIN)
def test_a_domain_module_does_not_import_telegram(module):
    code = f"import sys, {module}; sys.exit('telegram' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
