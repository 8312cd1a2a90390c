"""A sensor that reacts to new landing files by refreshing the affected source and everything downstream."""



import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from dagster import (
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from assets.run_tags import SOURCE_TAG, TRIGGER_TAG
from resources.landing import LandingZone
from tailor.features.history import HISTORY_TABLE
from tailor.sources.contracts import ALL_SOURCES, SourceContract
from tailor.sources.files import discover_files, file_sha256, file_stamp
from tailor.sources.tables import output_tables


def refresh_job_name(contract: SourceContract) -> str:
    return f"refresh_from_{contract.name}"


def refresh_jobs() -> list:
    """One job per source: its tables and everything downstream of them (the daily feature history has its own
    partitioned job: a new file does not rebuild past days)."""
    return [
        define_asset_job(
            refresh_job_name(c),
            selection=AssetSelection.assets(*output_tables(c)).downstream() - AssetSelection.assets(HISTORY_TABLE),
            description=f"Ingest new {c.folder}/ files and refresh everything that depends on them.",
            tags={TRIGGER_TAG: "landing_sensor", SOURCE_TAG: c.name},
        )
        for c in ALL_SOURCES
    ]


@dataclass(frozen=True)
class PlannedRun:
    job_name: str
    run_key: str
    files: tuple[str, ...]


def plan_landing_runs(landing_dir: Path, cursor: str | None) -> tuple[list[PlannedRun], str]:
    """Which sources have new, changed or removed files since the cursor; one run per source.

    The cursor remembers each file's content hash (keyed by its size and mtime, so unchanged files are not
    hashed again). The run key is made of the files' hashes (a removed file counts as hash ``removed``): the
    same change never triggers twice. A removed file's rows go at its source's next ingest, so its removal is a
    change like any other.
    """
    seen: dict[str, dict[str, object]] = json.loads(cursor) if cursor else {}
    runs: list[PlannedRun] = []
    next_seen: dict[str, dict[str, object]] = {}
    for contract in ALL_SOURCES:
        changed: list[tuple[str, str]] = []
        for path in discover_files(landing_dir, contract):
            file = path.relative_to(landing_dir).as_posix()
            stamp = file_stamp(path)
            previous = seen.get(file)
            if previous and previous.get("stamp") == stamp:
                next_seen[file] = previous
                continue
            digest = file_sha256(path)
            next_seen[file] = {"stamp": stamp, "sha256": digest, "source": contract.name}
            if not previous or previous.get("sha256") != digest:
                changed.append((file, digest))
        changed += [(file, "removed") for file, entry in seen.items()
                    if file not in next_seen and _of_source(file, entry, contract)]
        if changed:
            key = hashlib.sha256("|".join(f"{f}:{d}" for f, d in sorted(changed)).encode()).hexdigest()[:24]
            runs.append(PlannedRun(refresh_job_name(contract), f"{contract.name}:{key}", tuple(f for f, _ in sorted(changed))))
    return runs, json.dumps(next_seen, sort_keys=True)


def _of_source(file: str, entry: dict[str, object], contract: SourceContract) -> bool:
    """Whether a file the cursor remembers belonged to ``contract`` (cursors before the ``source`` entry: its folder)."""
    source = entry.get("source")
    return source == contract.name if source else file.startswith(f"{contract.folder}/")


@sensor(
    jobs=refresh_jobs(),
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.STOPPED,
    description="Watches the landing folder; a new or corrected file refreshes its source and all downstream assets.",
)
def landing_file_sensor(context: SensorEvaluationContext, landing: LandingZone):
    runs, cursor = plan_landing_runs(landing.root, context.cursor)
    if not runs:
        return SensorResult(skip_reason=SkipReason("no new landing files"), cursor=cursor)
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=run.run_key,
                job_name=run.job_name,
                tags={"tailor/landing_files": ", ".join(run.files)[:1000]},
            )
            for run in runs
        ],
        cursor=cursor,
    )
