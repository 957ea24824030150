"""What `skinlesion batch` prints while it runs (progress, rate, ETA) and when it ends (summary).

For a labelled folder (files under `benign/` and `malignant/` folders) the summary adds the
model's ROC AUC, sensitivity and specificity on those files, so a user can check the model
on their own data in one command. Truth comes from the nearest `benign`/`malignant` folder
in a row's path; the prediction is the API's label (its threshold), the score `p_malignant`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TextIO

from skinlesion.batch_output import Row

CLASSES = ("benign", "malignant")
TTY_REDRAW_S = 0.2
LOG_EVERY_S = 10.0  # without a terminal: one progress line this often


def truth_of(path: str) -> str | None:
    """`benign` or `malignant` from the innermost folder of that name, else None."""
    for part in reversed(PurePosixPath(path).parts[:-1]):
        if part.lower() in CLASSES:
            return part.lower()
    return None


def roc_auc(scores_neg: Sequence[float], scores_pos: Sequence[float]) -> float:
    """Probability that a positive scores above a negative (ties count half): the ROC AUC."""
    ranked = sorted([(s, 0) for s in scores_neg] + [(s, 1) for s in scores_pos])
    rank_sum_pos, i = 0.0, 0
    while i < len(ranked):  # average ranks over ties
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mean_rank = (i + 1 + j) / 2
        rank_sum_pos += mean_rank * sum(1 for k in range(i, j) if ranked[k][1] == 1)
        i = j
    n_pos, n_neg = len(scores_pos), len(scores_neg)
    return (rank_sum_pos - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


@dataclass(frozen=True)
class Metrics:
    """Malignant is the positive class."""

    n_benign: int
    n_malignant: int
    auc: float | None
    sensitivity: float | None
    specificity: float | None


def labelled_metrics(rows: Iterable[Row]) -> Metrics | None:
    """Metrics over the scored rows whose path names a class; None when no row does."""
    by_truth: dict[str, list[Row]] = {c: [] for c in CLASSES}
    for row in rows:
        truth = truth_of(row.path)
        if truth and row.scored and row.p_malignant is not None:
            by_truth[truth].append(row)
    neg, pos = by_truth["benign"], by_truth["malignant"]
    if not neg and not pos:
        return None
    auc = roc_auc([r.p_malignant for r in neg], [r.p_malignant for r in pos]) if neg and pos else None  # type: ignore[misc]
    sens = sum(r.label == "malignant" for r in pos) / len(pos) if pos else None
    spec = sum(r.label == "benign" for r in neg) / len(neg) if neg else None
    return Metrics(len(neg), len(pos), auc, sens, spec)


def summary(rows: Sequence[Row], *, scored_now: int, seconds: float, skipped: int) -> str:
    """Counts per label, refusals, errors by code, throughput; metrics for labelled folders."""
    labels = Counter(r.label for r in rows if r.scored)
    errors = Counter(r.error_code for r in rows if r.error_code)
    refused = sum(r.refused for r in rows)
    rate = scored_now / seconds if seconds > 0 else 0.0
    lines = [
        f"{_count(len(rows), 'file')}: "
        + ", ".join(f"{labels.get(c, 0)} {c}" for c in CLASSES)
        + "".join(f", {n} {label}" for label, n in sorted(labels.items()) if label not in CLASSES)
        + f", {refused} refused (not a skin lesion), {_count(sum(errors.values()), 'error')}",
    ]
    if errors:
        lines.append("Errors: " + ", ".join(f"{code} {n}" for code, n in errors.most_common()))
    lines.append(
        f"This run: {_count(scored_now, 'file')} in {seconds:.1f} s ({rate:.1f} files/s)"
        + (f"; {skipped} already in the output, skipped" if skipped else "")
    )
    metrics = labelled_metrics(rows)
    if metrics:
        lines.append(
            f"Labelled folders ({metrics.n_benign} benign, {metrics.n_malignant} malignant scored): "
            f"ROC AUC {_fmt(metrics.auc)}, sensitivity {_fmt(metrics.sensitivity)}, "
            f"specificity {_fmt(metrics.specificity)}"
        )
    lines.append("Research use only: not a diagnosis.")
    return "\n".join(lines) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


class Progress:
    """done/total, files per second and ETA on stderr: redrawn on a terminal, a line every 10 s in a log."""

    def __init__(self, total: int, stream: TextIO, *, enabled: bool, clock=time.monotonic) -> None:
        self.total, self.stream, self.enabled, self.clock = total, stream, enabled and total > 0, clock
        self.tty = stream.isatty()
        self.done, self.start = 0, clock()
        self._last = float("-inf")

    def step(self) -> None:
        self.done += 1
        now = self.clock()
        if self.enabled and (now - self._last >= (TTY_REDRAW_S if self.tty else LOG_EVERY_S)):
            self._last = now
            self.stream.write(("\r" if self.tty else "") + self.line(now) + ("" if self.tty else "\n"))
            self.stream.flush()

    def line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        return (
            f"{self.done}/{self.total} ({100 * self.done / self.total:.0f} %) "
            f"{rate:.1f} files/s, ETA {_duration(eta)}   "
        )

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
