"""The ``on_bad_record`` policy and what loading reports: never a silent skip.

With ``error`` the first bad record raises its :class:`RecordError` (file, record, field).
With ``skip`` each dataset counts what it skipped and keeps the first reasons; the
report is logged as a warning and returned to the caller.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from plugtune.core.records import RecordError

log = logging.getLogger("plugtune.data")

Policy = Literal["error", "skip"]
REASONS_KEPT = 5


@dataclass
class DatasetReport:
    """One dataset (or one part of it) as loaded."""

    name: str
    part: str
    path: str
    loader: str = ""
    loaded: int = 0
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)

    def describe(self) -> str:
        line = f"{self.name} ({self.part}, {self.loader}): {self.loaded} records"
        if self.skipped:
            line += f", {self.skipped} bad records skipped; first: " + " | ".join(self.reasons)
        return line


@dataclass
class LoadReport:
    """Every dataset loaded for a run, in config order."""

    datasets: list[DatasetReport] = field(default_factory=list)

    @property
    def loaded(self) -> int:
        return sum(report.loaded for report in self.datasets)

    @property
    def skipped(self) -> int:
        return sum(report.skipped for report in self.datasets)

    def summary(self) -> str:
        return "\n".join(report.describe() for report in self.datasets)


class BadRecords:
    """Applies the policy to one dataset's bad records, filling its report."""

    def __init__(self, policy: Policy, report: DatasetReport) -> None:
        self.policy, self.report = policy, report

    def __call__(self, error: RecordError) -> None:
        if self.policy == "error":
            raise error
        self.report.skipped += 1
        if len(self.report.reasons) < REASONS_KEPT:
            self.report.reasons.append(str(error)[:500])

    def log(self) -> None:
        report = self.report
        if report.skipped:
            log.warning(
                "%s: skipped %d bad record(s), kept %d; first: %s",
                report.name,
                report.skipped,
                report.loaded,
                " | ".join(report.reasons),
            )
