"""Instants as integer ticks (100 ns since the Unix epoch, UTC), rendered the way Cart.com does.

Cart.com (a .NET application) answers with the store's local time, an offset that follows
daylight saving time, and a fraction of a second whose trailing zeros are trimmed, so a
timestamp carries anywhere from 0 to 7 fraction digits::

    2014-04-07T11:43:09.127-05:00      (summer, America/Chicago)
    2013-11-04T09:36:05.7-06:00        (winter)
    2013-11-04T09:36:05-06:00          (no fraction at all)

Ticks keep every value exact at 7 digits, so comparisons never depend on the text.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

TICKS_PER_SECOND = 10_000_000

# Sentinels used in tick columns for the two kinds of missing value.
NULL_TICKS = -(2**63)
EMPTY_TICKS = -(2**63) + 1
VALID_MIN = -(2**62)  # every real instant is above this

_ISO = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?\s*$"
)


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def is_valid(ticks: int) -> bool:
    return ticks > VALID_MIN


def from_datetime(dt: datetime) -> int:
    """Aware datetime -> ticks."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    seconds = calendar.timegm(dt.utctimetuple())
    return seconds * TICKS_PER_SECOND + dt.microsecond * 10


def to_datetime_utc(ticks: int) -> datetime:
    seconds, frac = divmod(ticks, TICKS_PER_SECOND)
    return datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=frac // 10)


_OFFSETS: dict[tuple[str, int], tuple[int, str]] = {}
_PREFIXES: dict[int, str] = {}


def _offset(tz: str, quarter: int) -> tuple[int, str]:
    """(offset seconds, "+hh:mm") of zone tz during the UTC quarter-hour ``quarter``."""
    key = (tz, quarter)
    entry = _OFFSETS.get(key)
    if entry is None:
        off = datetime.fromtimestamp(quarter * 900, zone(tz)).utcoffset()
        total = int(off.total_seconds()) if off is not None else 0
        sign = "-" if total < 0 else "+"
        a = abs(total)
        entry = (total, f"{sign}{a // 3600:02d}:{(a % 3600) // 60:02d}")
        if len(_OFFSETS) > 500_000:
            _OFFSETS.clear()
        _OFFSETS[key] = entry
    return entry


def _prefix(local_hour: int) -> str:
    """"YYYY-MM-DDTHH:" of a local hour counted from the epoch."""
    text = _PREFIXES.get(local_hour)
    if text is None:
        text = datetime.fromtimestamp(local_hour * 3600, timezone.utc).strftime("%Y-%m-%dT%H:")
        if len(_PREFIXES) > 500_000:
            _PREFIXES.clear()
        _PREFIXES[local_hour] = text
    return text


def render(ticks: int | None, tz: str = "America/Chicago") -> str | None:
    """Ticks -> local ISO 8601 text with offset and trimmed fraction (0 to 7 digits).

    NULL_TICKS renders as None and EMPTY_TICKS as "" (both occur in real responses).
    """
    if ticks is None or ticks == NULL_TICKS:
        return None
    if ticks == EMPTY_TICKS:
        return ""
    seconds, frac = divmod(ticks, TICKS_PER_SECOND)
    off, suffix = _offset(tz, seconds // 900)
    local = seconds + off
    hour, rest = divmod(local, 3600)
    text = f"{_prefix(hour)}{rest // 60:02d}:{rest % 60:02d}"
    if frac:
        text += "." + f"{frac:07d}".rstrip("0")
    return text + suffix


def parse(text: str, tz: str = "America/Chicago") -> int:
    """ISO 8601 text (any offset or ``Z``, 0+ fraction digits) -> ticks.

    A value without an offset is taken as the store's local time. More than 7 fraction
    digits are truncated to 7. Raises ValueError on anything else.
    """
    if not isinstance(text, str):
        raise ValueError(f"not a date: {text!r}")
    m = _ISO.match(text)
    if not m:
        raise ValueError(f"not an ISO 8601 date-time: {text!r}")
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    hour = int(m.group(4) or 0)
    minute = int(m.group(5) or 0)
    second = int(m.group(6) or 0)
    frac_text = (m.group(7) or "")[:7]
    frac = int(frac_text.ljust(7, "0")) if frac_text else 0
    off_text = m.group(8)
    # validate the calendar fields
    datetime(year, month, day, hour, minute, min(second, 59))
    if off_text is None:
        local = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=zone(tz))
        off = local.utcoffset()
        offset_seconds = int(off.total_seconds()) if off is not None else 0
    elif off_text in ("Z", "z"):
        offset_seconds = 0
    else:
        sign = -1 if off_text[0] == "-" else 1
        digits = off_text[1:].replace(":", "")
        hh = int(digits[:2])
        mm = int(digits[2:4]) if len(digits) > 2 else 0
        if hh > 23 or mm > 59:
            raise ValueError(f"bad offset: {off_text!r}")
        offset_seconds = sign * (hh * 3600 + mm * 60)
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset_seconds
    return seconds * TICKS_PER_SECOND + frac


def to_ticks(value, tz: str = "America/Chicago") -> int:
    """A record's date value -> ticks, with the sentinels for None and ""."""
    if value is None:
        return NULL_TICKS
    if value == "":
        return EMPTY_TICKS
    return parse(value, tz)


def truncate(ticks: int, digits: int) -> int:
    """Drop precision so the instant has at most ``digits`` fraction digits."""
    unit = 10 ** (7 - digits)
    return ticks - ticks % unit


def http_date(epoch_seconds: float) -> str:
    from email.utils import formatdate

    return formatdate(epoch_seconds, usegmt=True)
