"""The sandbox: the real bot, the fake Telegram, and a scripted terminal chat."""

import io

from bot.sandbox import chat
from bot.settings import load_settings


async def test_a_scripted_sandbox_chat_answers_and_presses_buttons(database_url):
    settings = load_settings(_env_file=None, database_url=database_url)
    script = io.StringIO("忘记登录密码了怎么办？\n1\n/sticker\n9\n谢谢\n")
    out = io.StringIO()

    await chat(settings, script, out, prompt=False)

    transcript = out.getvalue()
    assert "[1] 忘记登录密码了怎么办？" in transcript  # /start's example questions
    assert "新密码须为8-20位" in transcript  # the answer
    assert "[1] 👍" in transcript and "[2] 👎" in transcript
    assert "(感谢您的反馈！)" in transcript  # pressing 👍
    assert "只能识别文字消息" in transcript  # the sticker
    assert "(no button with that number)" in transcript
    assert "不客气" in transcript


async def test_the_sandbox_has_a_staff_group_to_answer_tickets_in(database_url):
    settings = load_settings(_env_file=None, database_url=database_url)
    script = io.StringIO(
        "/human 附件上传一直失败怎么办\n/as staff\n请换成Chrome再试\n#note 内部备注\n"
        "/close\n/as user\n5\n"
    )
    out = io.StringIO()

    await chat(settings, script, out, prompt=False)

    transcript = out.getvalue()
    assert "已为您创建工单 #1" in transcript
    assert "[staff group topic" in transcript and "附件上传一直失败怎么办" in transcript
    assert "🤖 请换成Chrome再试\n\n—— 省财政厅工作人员" in transcript  # relayed, signed
    assert "内部备注" not in transcript.split("#note 内部备注", 1)[1]  # the note stays internal
    assert "感谢您的评价（5 星）" in transcript
