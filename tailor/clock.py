"""Time as every table stores it: tz-naive UTC (docs/internal-spec.md). One place converts to it, and one place
reads the ``as_of`` moment that the CLI and the run config accept."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def utc_naive(moment: datetime | pd.Timestamp | str | Any) -> pd.Timestamp:
    """``moment`` as a tz-naive UTC ``Timestamp`` (a naive input is already UTC by convention)."""
    import pandas as pd  # here, not at import: `tailor rules check` loads the rules without pandas

    ts = pd.Timestamp(moment)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(timezone.utc).tz_localize(None)
    return ts


def utc_naive_series(series: pd.Series) -> pd.Series:
    """A column of times as tz-naive UTC ``datetime64[ns]``."""
    import pandas as pd

    out = pd.to_datetime(series)
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out.astype("datetime64[ns]")


def utc_naive_series_coerced(series: pd.Series) -> pd.Series:
    """:func:`utc_naive_series` as the rules read a date field: what is not a time becomes NaT (a missing value,
    which no condition matches) instead of an error, text without an offset is UTC, and a datetime column keeps
    its resolution (a far-future date in ``datetime64[us]`` does not overflow)."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if getattr(series.dt, "tz", None) is not None:
            return series.dt.tz_convert("UTC").dt.tz_localize(None)
        return series
    return pd.to_datetime(series, errors="coerce", utc=True).dt.tz_localize(None)


def parse_as_of(text: str | None, default: datetime) -> datetime:
    """An ``as_of`` given as ISO-8601 text (UTC when it has no offset), or ``default`` when empty, as a tz-naive
    UTC datetime. Raises ValueError naming the text when it is not a time."""
    if text is None or not str(text).strip():
        moment = default
    else:
        value = str(text).strip()
        try:
            moment = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1:] in "Zz" else value)
        except ValueError:
            raise ValueError(f"as_of {value!r} is not an ISO-8601 time such as 2026-11-30T08:00:00Z") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment
