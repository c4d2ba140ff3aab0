"""Fit the matcher's confidence model (faq/matcher.py WEIGHTS, BIAS) on labelled query files.

The shipped weights and thresholds are exactly what this prints (2026-11-23):

    .venv/bin/python bench/fit_confidence.py tests/data/dev_queries.csv bench/own_queries.csv \
        bench/own_queries_2.csv bench/own_queries_3.csv bench/own_queries_4.csv \
        bench/train_queries_a.csv bench/train_queries_b.csv bench/train_queries_c.csv
    .venv/bin/python bench/fit_confidence.py tests/data/dev_queries.csv \
        --check bench/own_queries.csv     # fit on some files, score another with those weights

Each query is one sample: the Evidence vectors of the candidates the ranker returns, and which of
them is the expected entry (none, for an out-of-scope query or when the ranker missed the entry).
The model is a conditional logit with a "none of them" option (see ``faq.matcher.confidences``),
L2-regularised, fitted by damped Newton steps (no extra dependencies: a handful of weights). It is
cross-validated, 5 folds by query over all the files together; the cross-validated figures are
printed for a grid of thresholds, then the chosen thresholds (the rule is in ``main``), then
the cross-validated figures of each file at those thresholds. "Answered or suggested" counts the
related questions an answer shows (``Match.related``); a vetoed entry is never answered.

The fitting sets: the dev set, bench/own_queries*.csv 1–4 and bench/train_queries_{a,b,c}.csv,
1,474 queries. The train sets were written from the catalogue alone, in voices the others lacked
(fast phone typists; long, polite, forwarded and pasted messages; personas who use other words
than the platform's), two thirds of their out-of-scope questions near the domain; rows within a
fuzz ratio of 85 of a dev query were dropped so that the dev set's cross-validated figure stays
honest. Until 2026-11-23 the weights were fitted on dev + own alone (271 queries, answer
threshold 70): on voices like theirs the model was confident, on others it left the right entry
at 50–69 and merely suggested it. bench/own_queries_5.csv and _6.csv are never fitted on.

The contrast vetoes (``Evidence.vetoed``) are applied when scoring; ``--signals-as-features`` fits
them as two more weights instead, for comparison (measured before the thesaurus, on dev + own: at
answer 70, margin 10 that answered 27.8 % and 23.3 % of the out-of-scope questions of own_2 and
own_3 against 16.7 % and 13.3 % with the veto; top-1 within one query of each other).
``--clause-only`` fits only the last weight (``Evidence.clause``, the question clause of a long
message), the other weights and the bias held at faq/matcher.py's (it was shipped that way while
the fitting data was small; with 1,474 queries it is fitted jointly like the others).
Paste the weights into faq/matcher.py and the chosen thresholds into faq/matcher.py Thresholds and
bot/settings.py.
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
from faq.matcher import BIAS, WEIGHTS, FaqDoc, Matcher, logit_share
from faq.models import split_alternatives

# expected id, [(candidate id, vector, vetoed)]
Sample = tuple[str, list[tuple[str, tuple[float, ...], bool]]]
Metrics = tuple[float, float, float, float]  # top1, answered-or-suggested, wrong, oos answered

ANSWERS = tuple(a / 100 for a in range(30, 92, 2))
MARGINS = (0.0, 0.1, 0.2)
SUGGEST = 0.10


def collect(matcher: Matcher, cases, *, signals_as_features: bool = False) -> list[Sample]:
    """The samples of a query file. ``signals_as_features``: the contrast signals (Evidence
    .contrast, .foreign) as two more features for the fit instead of a veto."""
    out: list[Sample] = []
    for case in cases:
        if case.expected == SMALLTALK_ID:
            continue
        lang, evidence = matcher.evidence(case.query)
        index = matcher._index(lang)
        cands = []
        for ev in evidence if index else []:
            cid = index.docs[ev.doc].id
            if signals_as_features:
                cands.append((cid, (*ev.vector(), ev.contrast, ev.foreign), False))
            else:
                cands.append((cid, ev.vector(), ev.vetoed))
        out.append((case.expected, cands))
    return out


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the systems here are ~10 x 10)."""
    n = len(b)
    m = [[*row, v] for row, v in zip(a, b, strict=True)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            for c in range(col, n + 1):
                m[r][c] -= f * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def fit(samples: list[Sample], *, l2: float = 0.001, steps: int = 30):
    """Conditional logit with a "none of them" option, by Newton's method.

    Candidate i of a query scores s_i = w . x_i + b and "none" scores 0; the probability of each is
    its softmax share. The likelihood is that of the expected entry (or of "none" for out-of-scope
    queries and for queries whose entry the ranker missed). The bias is not regularised.
    Vetoed candidates are fitted like the others, their cap left out (fitting without them made
    the model answer more out-of-scope questions on the never-fitted sets).
    """
    data = []
    for exp, cands in samples:
        xs = [(*v, 1.0) for _, v, _ in cands]
        label = next((i for i, (cid, _, _) in enumerate(cands) if exp and cid == exp), -1)
        data.append((xs, label))
    k = len(next(xs for xs, _ in data if xs)[0])
    n = len(data)

    def loss(w: list[float]) -> float:
        total = 0.5 * l2 * n * sum(x * x for x in w[:-1])
        for xs, label in data:
            zs = [sum(a * c for a, c in zip(w, x, strict=True)) for x in xs]
            top = max([0.0, *zs])
            norm = top + math.log(math.exp(-top) + sum(math.exp(z - top) for z in zs))
            total += norm - (zs[label] if label >= 0 else 0.0)
        return total

    w = [0.0] * k
    current = loss(w)
    for _ in range(steps):
        grad = [0.0] * k
        hess = [[0.0] * k for _ in range(k)]
        for xs, label in data:
            if not xs:
                continue
            zs = [min(30.0, sum(a * c for a, c in zip(w, x, strict=True))) for x in xs]
            es = [math.exp(z) for z in zs]
            total = 1.0 + sum(es)
            ps = [e / total for e in es]
            mean = [sum(p * x[i] for p, x in zip(ps, xs, strict=True)) for i in range(k)]
            target = xs[label] if label >= 0 else [0.0] * k
            for i in range(k):
                grad[i] += mean[i] - target[i]
                for j in range(i + 1):
                    hess[i][j] += (
                        sum(p * x[i] * x[j] for p, x in zip(ps, xs, strict=True))
                        - mean[i] * mean[j]
                    )
        for i in range(k):
            for j in range(i + 1, k):
                hess[i][j] = hess[j][i]
            if i < k - 1:
                grad[i] += l2 * n * w[i]
                hess[i][i] += l2 * n
            hess[i][i] += 1e-9
        step = _solve(hess, grad)
        scale = 1.0  # damped Newton: halve the step until the loss goes down
        while scale > 1e-4:
            trial = [a - scale * s for a, s in zip(w, step, strict=True)]
            trial_loss = loss(trial)
            if trial_loss <= current:
                break
            scale /= 2
        else:
            break
        w, current = trial, trial_loss
        if max(abs(scale * s) for s in step) < 1e-7:
            break
    return w[:-1], w[-1]


def fit_last(samples: list[Sample], w: tuple[float, ...], b: float) -> float:
    """The last weight alone by maximum likelihood, the others and the bias held at ``w``, ``b``.

    For a feature that is zero for most queries (Evidence.clause: long messages only): fitted
    with all the others and the L2 penalty it comes out small for want of samples.
    """

    def loss(last: float) -> float:
        total = 0.0
        for exp, cands in samples:
            es = [logit_share(v, vetoed, (*w[:-1], last), b) for _, v, vetoed in cands]
            label = next((i for i, (cid, _, _) in enumerate(cands) if exp and cid == exp), -1)
            total += math.log(1.0 + sum(es)) - (math.log(es[label]) if label >= 0 else 0.0)
        return total

    return min((loss(x / 20), x / 20) for x in range(0, 161))[1]


def scored(samples: list[Sample], w, b) -> list[tuple[str, list[tuple[float, str]]]]:
    out = []
    for exp, cands in samples:
        es = [logit_share(v, vetoed, tuple(w), b) for _, v, vetoed in cands]
        total = 1.0 + sum(es)
        pairs = zip(es, cands, strict=True)
        ranked = sorted(((e / total, cid, vet) for e, (cid, _, vet) in pairs), reverse=True)
        out.append((exp, ranked + [(0.0, "", False)] * 2))
    return out


def metrics(ranked_samples, answer: float, margin: float, suggest: float | None = None) -> Metrics:
    suggest = SUGGEST if suggest is None else suggest
    top1 = shown = wrong = oos_answered = n_in = n_out = 0
    for exp, ranked in ranked_samples:
        answered = (
            ranked[0][0] >= answer and ranked[0][0] - ranked[1][0] >= margin and not ranked[0][2]
        )  # a vetoed entry is never answered (Matcher.match)
        offered = [cid for s, cid, _ in ranked[:3] if s >= suggest]
        if exp:
            n_in += 1
            top1 += answered and ranked[0][1] == exp
            wrong += answered and ranked[0][1] != exp
            # an answer shows up to two runners-up as related questions (Match.related)
            shown += exp in offered if not answered else exp in (ranked[0][1], *offered[1:3])
        else:
            n_out += 1
            oos_answered += answered
    return top1 / n_in, shown / n_in, wrong / n_in, oos_answered / max(n_out, 1)


def cross_validated(samples: list[Sample], *, l2: float, folds: int = 5):
    """Each query scored by a model fitted without it (5 folds by query)."""
    order = list(range(len(samples)))
    random.Random(1).shuffle(order)
    out: list = [None] * len(samples)
    for k in range(folds):
        test = sorted(order[k::folds])
        w, b = fit([s for i, s in enumerate(samples) if i not in set(test)], l2=l2)
        for i, got in zip(test, scored([samples[i] for i in test], w, b), strict=True):
            out[i] = got
    return out  # in the order of ``samples``


def _row(answer: float, margin: float, got: Metrics) -> str:
    return f"{answer:.2f} {margin:.2f} {SUGGEST:.2f} | " + " ".join(f"{100 * x:5.1f}" for x in got)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("queries", type=Path, nargs="+")
    parser.add_argument("--catalogue", type=Path, default=Path("faq/data/catalogue.csv"))
    parser.add_argument("--check", type=Path, help="a second query file, held out from fitting")
    parser.add_argument("--l2", type=float, default=0.001)
    parser.add_argument(
        "--clause-only",
        action="store_true",
        help="fit only the last weight (Evidence.clause), the others held at faq/matcher.py's",
    )
    parser.add_argument(
        "--signals-as-features",
        action="store_true",
        help="fit the contrast signals as two more weights instead of vetoing (for comparison)",
    )
    args = parser.parse_args()
    rows = validate(read_rows(args.catalogue))
    docs = [
        FaqDoc(r.id, r.lang, r.question, tuple(split_alternatives(r.alternatives)), r.answer)
        for r in rows
    ]
    matcher = Matcher(docs)
    as_features = args.signals_as_features
    per_file = [
        collect(matcher, read_cases(path), signals_as_features=as_features) for path in args.queries
    ]
    samples = [s for file_samples in per_file for s in file_samples]
    if args.clause_only:
        print("clause weight:", fit_last(samples, WEIGHTS, BIAS))
        return
    w, b = fit(samples, l2=args.l2)
    print("WEIGHTS = (" + ", ".join(f"{x:.3f}" for x in w) + ")")
    print("BIAS =", round(b, 3))
    cv = cross_validated(samples, l2=args.l2)
    check = (
        scored(collect(matcher, read_cases(args.check), signals_as_features=as_features), w, b)
        if args.check
        else None
    )
    grid = [(a, m, metrics(cv, a, m)) for a in ANSWERS for m in MARGINS]
    print("answer margin suggest | cross-validated: top1 answered-or-suggested wrong oos-answered")
    for a, m, got in grid:
        extra = "   check: " + _row(a, m, metrics(check, a, m))[18:] if check else ""
        print(_row(a, m, got) + extra)
    # The most answered correctly while, cross-validated, wrong answers stay <= 3.5 % (headroom
    # under the 5 % target: a set in other voices errs more than cross-validation shows) and
    # out-of-scope answers <= 12.5 %. The second bound is not the 5 % target: two thirds of the
    # pooled sets' out-of-scope questions name an entry's topic and ask something else, by
    # design, and about one in twenty is answered at >= 90 % whatever the threshold. Above the
    # chosen 50 each point of out-of-scope answers saved costs about two points of top-1, below
    # it each point of top-1 costs about 1.4 more (bench/RESULTS.md). The dev set's own
    # out-of-scope questions are none of them answered there.
    ok = [g for g in grid if g[2][2] <= 0.035 and g[2][3] <= 0.125]
    if ok:
        a, m, got = max(
            # top-1 to the point: a tenth of a point is one query in a thousand, not a reason
            # to leave the shipped margin
            ok,
            key=lambda g: (round(g[2][0], 2), g[2][1], -g[2][2] - g[2][3], -abs(g[1] - 0.1)),
        )
        print(f"chosen: answer {100 * a:.0f}, margin {100 * m:.0f}, suggest {100 * SUGGEST:.0f}")
        print("cross-validated at the chosen thresholds, by file:")
        start = 0
        for path, file_samples in zip(args.queries, per_file, strict=True):
            got = metrics(cv[start : start + len(file_samples)], a, m)
            start += len(file_samples)
            print(f"  {path}: " + " ".join(f"{100 * x:5.1f}" for x in got))


if __name__ == "__main__":
    main()
