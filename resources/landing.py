"""The landing folder where source systems drop their files."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource


class LandingZone(ConfigurableResource):
    """A local folder (``TAILOR_LANDING_DIR``) with one sub-folder per source (see docs/data-contracts.md)."""

    path: str  # TAILOR_LANDING_DIR; the default lives in tailor/config.py

    @property
    def root(self) -> Path:
        return Path(self.path)
