"""Matching latency against large catalogues: 1k, 10k and 100k FAQ entries.

    .venv/bin/python bench/match_latency.py [--sizes 1000 10000 100000] [--queries N]

The catalogue is the bundled one plus synthetic entries built from its own vocabulary (random
word mixes of its questions and answers, fixed seed), so the postings lists grow as they would with
a real, larger FAQ. Queries are the dev query set. Prints index build time, resident memory and
per-query p50/p90/p99 latency (single thread, the way the bot calls the matcher).
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from faq.evaluate import read_cases  # noqa: E402
from faq.features import words  # noqa: E402
from faq.io import read_rows, validate  # noqa: E402
from faq.matcher import FaqDoc, Matcher  # noqa: E402
from faq.models import split_alternatives  # noqa: E402


def bundled() -> list[FaqDoc]:
    rows = validate(read_rows(ROOT / "faq" / "data" / "catalogue.csv"))
    return [
        FaqDoc(r.id, r.lang, r.question, tuple(split_alternatives(r.alternatives)), r.answer)
        for r in rows
    ]


def synthetic(base: list[FaqDoc], size: int, seed: int = 7) -> list[FaqDoc]:
    rng = random.Random(seed)
    pools: dict[str, list[str]] = {"zh": [], "en": []}
    for doc in base:
        for text in (doc.question, *doc.alternatives, doc.answer):
            if doc.lang == "zh":
                pools["zh"].extend(w for w in words(text) if w.strip())
            else:
                pools["en"].extend(text.split())
    docs = list(base)
    while len(docs) < size:
        lang = "zh" if rng.random() < 0.75 else "en"
        pool, sep = pools[lang], ("" if lang == "zh" else " ")

        def phrase(lo: int, hi: int, pool=pool, sep=sep) -> str:
            return sep.join(rng.choice(pool) for _ in range(rng.randint(lo, hi)))

        docs.append(
            FaqDoc(
                f"syn-{len(docs):06d}",
                lang,
                phrase(4, 9),
                (phrase(3, 7), phrase(3, 7)),
                phrase(25, 60),
            )
        )
    return docs


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--rounds", type=int, default=3, help="passes over the query set")
    args = parser.parse_args()
    queries = [c.query for c in read_cases(ROOT / "tests" / "data" / "dev_queries.csv")]
    base = bundled()
    print(f"{len(queries)} queries x {args.rounds} rounds per size")
    print("entries  build_s  rss_mb   p50_ms   p90_ms   p99_ms")
    for size in args.sizes:
        docs = synthetic(base, size)
        start = time.perf_counter()
        matcher = Matcher(docs)
        build = time.perf_counter() - start
        for q in queries[:20]:  # warm caches the way a running bot has them warm
            matcher.match(q)
        times: list[float] = []
        for _ in range(args.rounds):
            for q in queries:
                t0 = time.perf_counter()
                matcher.match(q)
                times.append((time.perf_counter() - t0) * 1000)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{size:7d} {build:8.1f} {rss:7.0f} {statistics.median(times):8.2f} "
            f"{percentile(times, 90):8.2f} {percentile(times, 99):8.2f}"
        )


if __name__ == "__main__":
    main()
