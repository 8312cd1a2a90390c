"""`tailor`: the project's command line — demo data, the end-to-end demo run, `rules check|test|diff`."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from tailor.cli.demo import cmd_demo, cmd_demo_data


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tailor", description="Data-driven email personalization on Dagster.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo_data = sub.add_parser("demo-data", help="write a seeded, realistic and messy demo data set")
    demo_data.add_argument("--customers", type=int, default=1000)
    demo_data.add_argument("--seed", type=int, default=42)
    demo_data.add_argument("--out", help="landing folder (default: $TAILOR_LANDING_DIR)")
    demo_data.add_argument("--as-of", help="ISO time the data ends at (default: this hour, UTC)")
    demo_data.set_defaults(func=cmd_demo_data)

    demo = sub.add_parser("demo", help="generate demo data and run the whole pipeline end to end")
    demo.add_argument("--customers", type=int, default=10_000)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--as-of", help="ISO time of the run (default: this hour, UTC)")
    demo.add_argument("--keep", action="store_true", help="keep the existing data folder instead of starting afresh")
    demo.add_argument("--fresh", action="store_true", help="also forget what earlier demo runs sent (the outbox "
                      "and the send ledger); without it nothing is sent twice")
    demo.add_argument("--use-configured-paths", action="store_true",
                      help="allow TAILOR_* paths other than the demo's default folders (the demo overwrites them)")
    demo.add_argument("--send-with-sendgrid", action="store_true",
                      help="allow sending the demo's emails through SendGrid when SENDGRID_API_KEY is set")
    demo.set_defaults(func=cmd_demo)

    from tailor.cli.rules import register as register_rules_commands

    register_rules_commands(sub)   # tailor rules check | test | diff
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
