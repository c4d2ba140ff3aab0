import logging

from bot.logs import configure_logging

TOKEN = "123456:AAH-secret_token"


def test_the_bot_token_never_reaches_the_log(capsys):
    configure_logging(level="DEBUG", fmt="text", token=TOKEN)
    try:
        logging.getLogger("httpx").warning(
            'HTTP Request: POST https://api.telegram.org/bot%s/getUpdates "HTTP/1.1 200 OK"', TOKEN
        )
        logging.getLogger("bot").error("token is %s", TOKEN)
        logging.getLogger("x").error("another bot987:XYZ-abc in a url")
    finally:
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert "secret" not in err
    assert "bot987:XYZ" not in err
    assert err.count("<token>") == 3


def test_json_logs_are_one_object_per_line(capsys):
    import json

    configure_logging(level="INFO", fmt="json", token=TOKEN)
    try:
        logging.getLogger("bot").info("hello %s", TOKEN)
    finally:
        logging.getLogger().handlers.clear()
    line = capsys.readouterr().err.strip()
    entry = json.loads(line)
    assert entry["message"] == "hello <token>"
    assert entry["level"] == "INFO"
