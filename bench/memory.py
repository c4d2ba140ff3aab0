"""Resident memory of the bot process: after importing it, building the FAQ index, answering.

    .venv/bin/python bench/memory.py [--queries tests/data/dev_queries.csv]

Prints VmRSS (now, from /proc/self/status) and ru_maxrss (peak) after each of three stages:
(1) ``import bot.app``: everything the bot imports; (2) the FaqIndex over the bundled catalogue,
built as ``bot.app`` builds it (Thresholds from the settings, ``FaqIndex.load``); (3) every dev
query matched once. Use a fresh process for each measurement: freed memory is rarely given back,
so only a process's first run means anything.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def status_mb(field: str) -> float:
    """A memory figure of /proc/self/status (Linux only), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def report(stage: str, started: float) -> None:
    # RssFile: mapped file pages (shared libraries, the lexicon cache), shared between processes.
    print(
        f"{stage:<28} VmRSS {status_mb('VmRSS'):6.1f} MB (anon {status_mb('RssAnon'):6.1f},"
        f" file {status_mb('RssFile'):5.1f})   ru_maxrss {max_rss_mb():6.1f} MB"
        f"   {time.perf_counter() - started:5.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=Path, default=ROOT / "tests" / "data" / "dev_queries.csv")
    args = parser.parse_args()
    started = time.perf_counter()
    report("start", started)

    import bot.app  # noqa: F401  # everything the running bot imports
    from bot.cli import index_from_file
    from bot.settings import Settings

    report("(1) import bot.app", started)

    settings = Settings(_env_file=None)  # defaults: the bundled catalogue, default thresholds
    index = index_from_file(settings, ROOT / settings.faq_file)
    report(f"(2) FaqIndex ({len(index)} entries)", started)

    from faq.evaluate import read_cases

    cases = read_cases(args.queries)
    for case in cases:
        index.match(case.query)
    report(f"(3) {len(cases)} queries", started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
