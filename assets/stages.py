"""The stages of the pipeline as the UI groups them, with their owners: applied once to every asset of a stage
(group, owner, the stage tag and the warehouse kind), not repeated on each definition."""


from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dagster import AssetSpec, map_asset_specs


@dataclass(frozen=True)
class Stage:
    name: str
    owner: str


SOURCES = Stage("sources", "team:data-engineering")
PROFILES = Stage("profiles", "team:data-engineering")
FEATURES = Stage("features", "team:data-engineering")
MODELS = Stage("models", "team:data-science")
SEGMENTS = Stage("segments", "team:marketing")
PERSONALIZATION = Stage("personalization", "team:marketing")
DELIVERY = Stage("delivery", "team:marketing")


def in_stage(stage: Stage, assets: Iterable[Any], warehouse_kind: str) -> list[Any]:
    """``assets`` (asset definitions or specs) placed in ``stage``, kinds extended by the warehouse's."""

    def place(spec: AssetSpec) -> AssetSpec:
        return spec.replace_attributes(group_name=stage.name, owners=[stage.owner]).merge_attributes(
            kinds={warehouse_kind}, tags={"stage": stage.name})

    return map_asset_specs(place, list(assets))
