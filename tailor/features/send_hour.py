"""The preferred send hour: each customer's local hour with the most opens and clicks, DST-correct per event date.

The warehouse only counts events per UTC quarter hour (:func:`send_hour_counts_sql`): the embedded DuckDB has no
ICU extension for time zones, and Snowflake's ``CONVERT_TIMEZONE`` would not transpile. Python converts each
distinct (zone, quarter hour) once (:func:`preferred_send_hours`).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from tailor.clock import utc_naive_series
from tailor.features.settings import DEFAULT_SEND_HOUR, SEND_HOUR_EVENTS
from tailor.warehouse.sql import timestamp_literal


def send_hour_counts_sql(as_of: datetime) -> str:
    """Opens and clicks up to ``as_of`` per customer, time zone and UTC quarter hour (Snowflake dialect).

    Returns ``customer_id, timezone, utc_quarter (timestamp), events``. Quarter hours, not hours, because some
    zones are offset by 30 or 45 minutes (India +05:30, Nepal +05:45): the local hour of 03:40 UTC in
    Asia/Kolkata is 09, of 03:20 UTC it is 08. :func:`preferred_send_hours` converts them per event date.
    """
    t = timestamp_literal(as_of)
    kinds = ", ".join(f"'{k}'" for k in SEND_HOUR_EVENTS)
    quarter = "DATEADD(minute, 15 * FLOOR(MINUTE(ee.occurred_at) / 15), DATE_TRUNC('hour', ee.occurred_at))"
    return f"""
SELECT p.customer_id, p.timezone, {quarter} AS utc_quarter, COUNT(*) AS events
FROM email_events ee
JOIN customer_profiles p ON LOWER(TRIM(p.email)) = LOWER(TRIM(ee.email))
WHERE ee.event_type IN ({kinds}) AND ee.occurred_at <= {t} AND p.email IS NOT NULL
GROUP BY p.customer_id, p.timezone, {quarter}
""".strip()


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"customer_profiles.timezone: {name!r} is not an IANA time zone ({err})") from err


def preferred_send_hours(counts: pd.DataFrame, customer_ids: pd.Series) -> pd.DataFrame:
    """Per customer: the local hour (0-23) with the most opens + clicks, and how many events it rests on.

    ``counts`` is the result of :func:`send_hour_counts_sql`. Each UTC quarter hour is converted with the
    customer's zone (NULL = UTC) *at that instant*, so DST is respected per event date. Ties go to the earlier
    hour. Customers without events get the population's preferred local hour (same rule over everybody's
    events) and ``send_hour_events = 0``; :data:`DEFAULT_SEND_HOUR` if nobody has any.
    """
    out = pd.DataFrame({"customer_id": customer_ids.astype(object).to_numpy()})
    if len(counts):
        c = counts.assign(
            timezone=counts["timezone"].where(counts["timezone"].notna(), "UTC").astype(str),
            utc_quarter=utc_naive_series(counts["utc_quarter"]),
            events=pd.to_numeric(counts["events"]).astype("int64"),
        )
        local_hour = pd.Series(0, index=c.index, dtype="int64")
        for zone_name, idx in c.groupby("timezone").groups.items():
            instants = pd.DatetimeIndex(c.loc[idx, "utc_quarter"]).tz_localize("UTC").tz_convert(_zone(zone_name))
            local_hour.loc[idx] = instants.hour.astype("int64")
        per_hour = c.assign(hour=local_hour).groupby(["customer_id", "hour"], as_index=False)["events"].sum()
        best = per_hour.sort_values(["customer_id", "events", "hour"], ascending=[True, False, True], kind="stable")
        best = best.drop_duplicates("customer_id")
        totals = per_hour.groupby("customer_id")["events"].sum()
        overall = per_hour.groupby("hour")["events"].sum()
        default_hour = int(overall[overall == overall.max()].index.min())
        hour_map = best.set_index("customer_id")["hour"]
        out["preferred_send_hour"] = out["customer_id"].map(hour_map).fillna(default_hour).astype("int64")
        out["send_hour_events"] = out["customer_id"].map(totals).fillna(0).astype("int64")
    else:
        out["preferred_send_hour"] = np.int64(DEFAULT_SEND_HOUR)
        out["send_hour_events"] = np.int64(0)
    return out
