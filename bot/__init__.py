"""The Telegram edge of the helpdesk: settings, database engine, handlers, CLI, composition root."""
