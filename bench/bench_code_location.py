"""How long loading the code location takes: `import tailor.definitions` in a fresh process, as every run launch,
`dagster asset materialize` and `make dev` pay it, beside the floor of dagster + pandas + duckdb alone, measured
in the same run.

    python bench/bench_code_location.py                 # this checkout, 5 fresh processes each
    python bench/bench_code_location.py --repo /path    # another checkout (e.g. an older commit's worktree)

Target (issue 10): under 6 s wall on the 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR = "import dagster, pandas, duckdb"
LOAD = "import tailor.definitions"


def wall_seconds(code: str, cwd: Path, runs: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    env.pop("SNOWFLAKE_ACCOUNT", None)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=ROOT, help="the checkout to load (default: this one)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    floor = wall_seconds(FLOOR, args.repo, args.runs)
    load = wall_seconds(LOAD, args.repo, args.runs)
    med_floor, med_load = statistics.median(floor), statistics.median(load)
    print(f"repo: {args.repo}")
    print(f"{FLOOR!r:<36} median {med_floor:5.2f} s  (min {min(floor):.2f}, max {max(floor):.2f})")
    print(f"{LOAD!r:<36} median {med_load:5.2f} s  (min {min(load):.2f}, max {max(load):.2f})")
    print(f"code location over the floor: +{med_load - med_floor:.2f} s ({med_load / med_floor:.2f}x)")


if __name__ == "__main__":
    main()
