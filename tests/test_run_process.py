"""`helpdesk run` as a real process against a Bot-API-compatible server given by URL."""

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.fakeapi import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent


async def test_helpdesk_run_works_against_any_bot_api_server_and_keeps_the_token_out_of_logs(
    tmp_path, database_url
):
    async with FakeTelegram(token="987654:RUN-PROCESS-TOKEN") as fake:
        fake.add_user(3001, "Carol", language_code="zh-hans")
        env = {
            **os.environ,
            "HELPDESK_BOT_TOKEN": fake.token,
            "HELPDESK_TELEGRAM_API_URL": fake.api_url,
            "HELPDESK_DATABASE_URL": database_url,
            "HELPDESK_LOG_LEVEL": "DEBUG",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            cwd=tmp_path,
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            fake.user_sends_text(3001, "附件大小有什么限制？")
            reply = await fake.next_reply(3001, timeout=30)
            assert reply["text"].startswith("附件大小有什么限制？")
            commands = {lang for _scope, lang in fake.commands}
            assert {"zh", "en"} <= commands
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        log = err.decode()
        assert "Application started" in log  # the log was really captured
        assert fake.token not in log
        assert "RUN-PROCESS-TOKEN" not in log
