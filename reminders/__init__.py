"""Reminders domain: the deadline calendar now; bureaus, review items and reminder stages later."""
