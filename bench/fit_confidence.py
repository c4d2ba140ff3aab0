"""Fit the matcher's confidence model (faq/matcher.py WEIGHTS, BIAS) on a labelled query file.

    .venv/bin/python bench/fit_confidence.py tests/data/dev_queries.csv [--catalogue FILE]

Each candidate the ranker returns for a query is one sample: its Evidence vector, labelled 1 when it
is the expected entry. A plain L2-regularised logistic regression (no extra dependencies) is fitted,
5-fold cross-validated by query, and the weights and the cross-validated metrics at a few thresholds
are printed. Paste the weights into faq/matcher.py and the chosen thresholds into bot/settings.py.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faq.evaluate import SMALLTALK_ID, read_cases
from faq.io import read_rows, validate
from faq.matcher import FaqDoc, Matcher
from faq.models import split_alternatives

Sample = tuple[str, list[tuple[str, tuple[float, ...]]]]  # expected id, [(candidate id, vector)]


def collect(matcher: Matcher, cases) -> list[Sample]:
    out: list[Sample] = []
    for case in cases:
        if case.expected == SMALLTALK_ID:
            continue
        lang, evidence = matcher.evidence(case.query)
        index = matcher._index(lang)
        cands = [(index.docs[ev.doc].id, ev.vector()) for ev in evidence] if index else []
        out.append((case.expected, cands))
    return out


def fit(samples: list[Sample], *, l2: float = 0.001, steps: int = 6000, rate: float = 2.0):
    xs = [v for _, cands in samples for _, v in cands]
    ys = [1.0 if cid == exp else 0.0 for exp, cands in samples for cid, _ in cands]
    w, b, n = [0.0] * len(xs[0]), 0.0, len(xs)
    for _ in range(steps):
        gw, gb = [0.0] * len(w), 0.0
        for x, y in zip(xs, ys, strict=True):
            e = 1 / (1 + math.exp(-(b + sum(a * c for a, c in zip(w, x, strict=True))))) - y
            gw = [g + e * xi for g, xi in zip(gw, x, strict=True)]
            gb += e
        w = [wi - rate * (g / n + l2 * wi) for wi, g in zip(w, gw, strict=True)]
        b -= rate * gb / n
    return w, b


def metrics(samples: list[Sample], w, b, answer: float, margin: float, suggest: float):
    def conf(v):
        return 1 / (1 + math.exp(-(b + sum(a * c for a, c in zip(w, v, strict=True)))))

    top1 = shown = wrong = oos_answered = n_in = n_out = 0
    for exp, cands in samples:
        ranked = sorted(((conf(v), cid) for cid, v in cands), reverse=True) + [(0.0, "")] * 2
        answered = ranked[0][0] >= answer and ranked[0][0] - ranked[1][0] >= margin
        offered = [cid for s, cid in ranked[:3] if s >= suggest]
        if exp:
            n_in += 1
            top1 += answered and ranked[0][1] == exp
            wrong += answered and ranked[0][1] != exp
            shown += (answered and ranked[0][1] == exp) or (not answered and exp in offered)
        else:
            n_out += 1
            oos_answered += answered
    return top1 / n_in, shown / n_in, wrong / n_in, oos_answered / max(n_out, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("queries", type=Path)
    parser.add_argument("--catalogue", type=Path, default=Path("faq/data/catalogue.csv"))
    args = parser.parse_args()
    rows = validate(read_rows(args.catalogue))
    docs = [
        FaqDoc(r.id, r.lang, r.question, tuple(split_alternatives(r.alternatives)), r.answer)
        for r in rows
    ]
    samples = collect(Matcher(docs), read_cases(args.queries))
    w, b = fit(samples)
    print("WEIGHTS =", tuple(round(x, 3) for x in w))
    print("BIAS =", round(b, 3))
    order = list(range(len(samples)))
    random.Random(1).shuffle(order)
    folds = []
    for k in range(5):
        test = set(order[k::5])
        train = [s for i, s in enumerate(samples) if i not in test]
        folds.append(([samples[i] for i in sorted(test)], fit(train)))
    print("answer margin suggest | cross-validated: top1 answered-or-suggested wrong oos-answered")
    for answer in (0.25, 0.3, 0.35, 0.4):
        for margin in (0.0, 0.05, 0.1):
            cv = [0.0] * 4
            for test, (fw, fb) in folds:
                got = metrics(test, fw, fb, answer, margin, 0.05)
                cv = [c + g * len(test) / len(samples) for c, g in zip(cv, got, strict=True)]
            print(f"{answer:.2f} {margin:.2f} 0.05 | " + " ".join(f"{100 * x:5.1f}" for x in cv))


if __name__ == "__main__":
    main()
