"""What kind of day a date is for the duty roster: workday, restday (weekend) or holiday.

Public holidays and make-up workdays (调休) come from the ``holidays`` package's CN calendar, plus the roster's own
extra ``holidays`` and ``workdays``. A weekend that touches a public holiday through other days off belongs to the
holiday: the Spring Festival break is one block, as the State Council's notice lists it.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import holidays

from alerting.roster_config import CalendarConfig, DayKind

_MAX_BLOCK_DAYS = 16


@cache
def _country_days(country: str, year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(days off, make-up workdays) of ``country`` in ``year``."""
    cal = holidays.country_holidays(country, years=year)
    off = frozenset(d for d in cal if d.year == year)
    work = frozenset(d for d in getattr(cal, "weekend_workdays", ()) if d.year == year)
    return off, work


class DutyCalendar:
    """Classifies dates; pure and deterministic for a given config (results are memoised)."""

    def __init__(self, cfg: CalendarConfig) -> None:
        self._cfg = cfg
        self._extra_off = frozenset(cfg.holidays)
        self._extra_work = frozenset(cfg.workdays)
        self._kinds: dict[date, DayKind] = {}

    def is_public_holiday(self, d: date) -> bool:
        if d in self._extra_work:
            return False
        if d in self._extra_off:
            return True
        return self._cfg.country is not None and d in _country_days(self._cfg.country, d.year)[0]

    def is_working_day(self, d: date) -> bool:
        if d in self._extra_work:
            return True
        if self._cfg.country is not None and d in _country_days(self._cfg.country, d.year)[1]:
            return True
        return d.weekday() < 5 and not self.is_public_holiday(d)

    def kind(self, d: date) -> DayKind:
        k = self._kinds.get(d)
        if k is None:
            k = self._kinds[d] = self._classify(d)
        return k

    def _classify(self, d: date) -> DayKind:
        if self.is_working_day(d):
            return "workday"
        if self.is_public_holiday(d):
            return "holiday"
        for step in (-1, 1):  # a weekend inside a block of days off that holds a public holiday
            other = d
            for _ in range(_MAX_BLOCK_DAYS):
                other += timedelta(days=step)
                if self.is_working_day(other):
                    break
                if self.is_public_holiday(other):
                    return "holiday"
        return "restday"
