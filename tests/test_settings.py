import pytest

from bot.settings import SettingsError, load_settings


def test_defaults_need_no_environment(monkeypatch):
    monkeypatch.delenv("HELPDESK_BOT_TOKEN", raising=False)
    settings = load_settings(_env_file=None)
    assert settings.timezone == "Asia/Shanghai"
    assert settings.bot_token is None


def test_admin_ids_are_comma_separated(monkeypatch):
    monkeypatch.setenv("HELPDESK_ADMIN_IDS", "1, 22,333")
    assert load_settings(_env_file=None).admin_ids == [1, 22, 333]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HELPDESK_ADMIN_IDS", "1,abc", "HELPDESK_ADMIN_IDS: expected comma-separated"),
        ("HELPDESK_TIMEZONE", "Mars/Olympus", "HELPDESK_TIMEZONE: unknown time zone"),
        ("HELPDESK_STAFF_CHAT_ID", "staff", "HELPDESK_STAFF_CHAT_ID:"),
        ("HELPDESK_TELEGRAM_API_URL", "ftp://x", "HELPDESK_TELEGRAM_API_URL: must start"),
    ],
)
def test_a_malformed_setting_is_reported_in_one_line(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_file_url_sits_beside_the_api_url():
    settings = load_settings(_env_file=None, telegram_api_url="http://127.0.0.1:8081/bot")
    assert settings.telegram_file_url == "http://127.0.0.1:8081/file/bot"
