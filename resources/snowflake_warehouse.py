"""Snowflake as the pipeline's warehouse, through dagster-snowflake's resource (``SNOWFLAKE_ACCOUNT`` set).

Imported by resources/__init__.py only when Snowflake is configured: dagster-snowflake and the Snowflake stack
take seconds to import.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster_snowflake import SnowflakeResource

from resources.warehouse import WarehouseResource
from tailor.warehouse.session import WarehouseSession
from tailor.warehouse.snowflake_connection import snowflake_transaction


class SnowflakeWarehouse(WarehouseResource):
    """Production: one Snowflake transaction per session."""

    snowflake: SnowflakeResource

    @property
    def kind(self) -> str:
        return "snowflake"

    @contextmanager
    def session(self) -> Iterator[WarehouseSession]:
        with self.snowflake.get_connection() as conn, snowflake_transaction(conn) as session:
            yield session
