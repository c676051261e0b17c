"""The demo's calendar: three years of days ending on a fixed as-of date, and their rhythm.

A fixed as-of date (not today) makes every generated file reproducible byte for byte. The
rhythm — quiet weekends, the Christmas/new-year dip, a summer dip, a retail peak before
Christmas — is what makes the series look like an organisation's exports, and what an indicator
comparing windows must not mistake for a leak. The current window (91 days = 13 weeks) and the
baseline (364 days = 52 weeks) hold whole weeks, so the weekday rhythm cancels out in ratios.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

import numpy as np
import numpy.typing as npt

AS_OF = date(2026, 11, 1)
YEARS = 3

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Relative daily activity Monday..Sunday: offices empty at weekends, shops busier.
OFFICE_WEEK = np.array([1.0, 1.03, 1.03, 1.0, 0.92, 0.42, 0.36])
RETAIL_WEEK = np.array([0.95, 0.93, 0.94, 0.96, 1.02, 1.12, 1.08])
# Tickets are raised on Monday mornings more than on Friday afternoons; relative to usage.
TICKET_WEEK = np.array([1.18, 1.05, 1.0, 0.98, 0.9, 0.55, 0.5])


@dataclass(frozen=True)
class Timeline:
    as_of: date = AS_OF
    days: int = 365 * YEARS + 1

    @property
    def start(self) -> date:
        return self.as_of - timedelta(days=self.days - 1)

    @property
    def window_start(self) -> int:
        """Index of the first day of the current window (the 91 days ending on as-of)."""
        return self.days - 91

    def day(self, d: date) -> int:
        return (d - self.start).days

    def date(self, index: int) -> date:
        return self.start + timedelta(days=int(index))

    def days_before(self, n: int) -> int:
        """Index of the day ``n`` days before as-of."""
        return self.days - 1 - n

    @cached_property
    def dates(self) -> npt.NDArray[np.datetime64]:
        return np.datetime64(self.start, "D") + np.arange(self.days)

    @cached_property
    def weekday(self) -> IntArray:
        return ((self.dates.astype(np.int64) + 3) % 7).astype(np.int64)   # 1970-01-01: Thu

    @cached_property
    def epoch_seconds(self) -> IntArray:
        """Midnight (UTC) of each day, in seconds since 1970."""
        return self.dates.astype("datetime64[s]").astype(np.int64)

    @cached_property
    def _month_day(self) -> tuple[IntArray, IntArray]:
        months = self.dates.astype("datetime64[M]")
        month = (months.astype(np.int64) % 12 + 1).astype(np.int64)
        dom = (self.dates - months.astype("datetime64[D]")).astype(np.int64) + 1
        return month, dom

    @cached_property
    def office(self) -> FloatArray:
        """Activity of an internal service: weekday rhythm × holidays × summer dip."""
        month, dom = self._month_day
        f = OFFICE_WEEK[self.weekday].copy()
        xmas = ((month == 12) & (dom >= 24)) | ((month == 1) & (dom == 1))
        f[xmas] *= 0.45
        f[((month == 12) & np.isin(dom, (25, 26, 31))) | ((month == 1) & (dom == 1))] *= 0.5
        f[(month == 5) & (dom == 1)] *= 0.5
        return f * self._summer(0.14)

    @cached_property
    def retail(self) -> FloatArray:
        """Activity of a customer-facing service: weekends and the run-up to Christmas busy."""
        month, dom = self._month_day
        f = RETAIL_WEEK[self.weekday].copy()
        peak = ((month == 11) & (dom >= 24)) | ((month == 12) & (dom <= 22))
        f[peak] *= 1.3
        f[(month == 12) & np.isin(dom, (24, 25, 26))] *= 0.5
        return f * self._summer(0.08)

    @cached_property
    def ticket_rhythm(self) -> FloatArray:
        """Tickets per active user by weekday, scaled so a whole week averages to one."""
        w = TICKET_WEEK[self.weekday]
        norm = float((OFFICE_WEEK * TICKET_WEEK).sum() / OFFICE_WEEK.sum())
        return w / norm

    def _summer(self, depth: float) -> FloatArray:
        """A smooth dip centred on 1 August, about five weeks wide."""
        doy = (self.dates - self.dates.astype("datetime64[Y]").astype("datetime64[D]")).astype(
            np.int64)
        out: FloatArray = 1.0 - depth * np.exp(-(((doy - 212) / 18.0) ** 2))
        return out

    def weeks(self) -> IntArray:
        """Indices of the Mondays in the timeline (weekly series are dated by week start)."""
        return np.flatnonzero(self.weekday == 0).astype(np.int64)

    def month_starts(self) -> IntArray:
        _, dom = self._month_day
        return np.flatnonzero(dom == 1).astype(np.int64)

    def seconds(self, index: int) -> int:
        return int((datetime.combine(self.date(index), datetime.min.time())
                    - datetime(1970, 1, 1)).total_seconds())
