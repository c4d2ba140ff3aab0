"""A small Prometheus registry: process-wide counters, rendered by hand for ``GET /metrics``.

No client library: a handful of counters and one gauge do not justify a dependency. Counters are
process-wide, like prometheus_client's default registry (one bot per process; tests compare values
before and after). Gauges are read at scrape time by the caller (bot/web.py), so they are never
stale. Every place that counts does it with one call, e.g. ``metrics.question(match.decision)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from threading import Lock

Labels = tuple[tuple[str, str], ...]


@dataclass
class Counter:
    name: str
    help: str
    # Label sets shown as 0 before anything happened, so a dashboard's series exist from the start.
    known: tuple[Mapping[str, str], ...] = ({},)
    values: dict[Labels, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for labels in self.known:
            self.values.setdefault(tuple(sorted(labels.items())), 0.0)


class Registry:
    def __init__(self) -> None:
        self._counters: dict[str, Counter] = {}
        self._lock = Lock()  # outbox and tick code may count from worker threads one day

    def counter(self, name: str, help: str, known: Iterable[Mapping[str, str]] = ({},)) -> Counter:
        counter = Counter(name, help, tuple(known))
        self._counters[name] = counter
        return counter

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            values = self._counters[name].values
            values[key] = values.get(key, 0.0) + amount

    def value(self, name: str, **labels: str) -> float:
        return self._counters[name].values.get(tuple(sorted(labels.items())), 0.0)

    def render(self, gauges: Iterable[tuple[str, str, float]] = ()) -> str:
        """The text exposition format (version 0.0.4); ``gauges`` are (name, help, value)."""
        lines: list[str] = []
        with self._lock:
            for counter in self._counters.values():
                lines += [f"# HELP {counter.name} {counter.help}", f"# TYPE {counter.name} counter"]
                for key, value in sorted(counter.values.items()):
                    lines.append(f"{counter.name}{_labels(key)} {_number(value)}")
        for name, help, value in gauges:
            lines += [f"# HELP {name} {help}", f"# TYPE {name} gauge", f"{name} {_number(value)}"]
        return "\n".join(lines) + "\n"


def _labels(key: Labels) -> str:
    if not key:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in key) + "}"


def _escape(value: str) -> str:
    # The exposition format's three escapes in label values: backslash, quote, newline.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


REGISTRY = Registry()
UPDATES = "helpdesk_updates_total"
WEBHOOK_REQUESTS = "helpdesk_webhook_requests_total"
QUESTIONS = "helpdesk_questions_total"
OUTBOX = "helpdesk_outbox_rows_total"
REMINDER_TICKS = "helpdesk_reminder_ticks_total"
FAQ_ENTRIES = "helpdesk_faq_entries"

REGISTRY.counter(UPDATES, "Telegram updates processed (polling and webhook alike).")
REGISTRY.counter(
    WEBHOOK_REQUESTS,
    "Requests to the webhook path by result (accepted, forbidden: wrong or no secret, invalid).",
    [{"result": r} for r in ("accepted", "forbidden", "invalid")],
)
REGISTRY.counter(
    QUESTIONS,
    "Questions matched against the FAQ, by the matcher's decision.",
    [{"decision": d} for d in ("answer", "suggest", "smalltalk", "none")],
)
REGISTRY.counter(
    OUTBOX,
    "Outbox send outcomes by status (sent; retry: rescheduled; failed and blocked: given up).",
    [{"status": s} for s in ("sent", "retry", "failed", "blocked")],
)
REGISTRY.counter(REMINDER_TICKS, "Reminder ticks run (each decides and queues due reminders).")


# --- the one-line calls used across the bot ---------------------------------------------------


def update_received() -> None:
    REGISTRY.inc(UPDATES)


def webhook_request(result: str) -> None:
    REGISTRY.inc(WEBHOOK_REQUESTS, result=result)


def question(decision: str) -> None:
    REGISTRY.inc(QUESTIONS, decision=decision)


def outbox(status: str) -> None:
    REGISTRY.inc(OUTBOX, status=status)


def reminder_tick() -> None:
    REGISTRY.inc(REMINDER_TICKS)


def render(*, faq_entries: int) -> str:
    return REGISTRY.render([(FAQ_ENTRIES, "Active FAQ entries in the matcher index.", faq_entries)])
