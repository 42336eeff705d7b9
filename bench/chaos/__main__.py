"""`python -m bench.chaos [--seed N] [--minutes M] [--out docs/benchmarks.md]`: the chaos run on its own real
parts (a 3-member etcd cluster, two private dockerds, a private Podman). Exit 1 on a divergence, with the seed,
every step so far and the difference: the same seed replays the same steps."""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

from bench.chaos.run import Divergence, Figures, run
from bench.chaos.world import world
from bench.harness import insert_report, machine

HEADING = "## Chaos (make chaos)"


def report(figures: Figures, minutes: float) -> str:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = [f"### {when}: {machine()}, seed {figures.seed}, {minutes:g} min", "",
            "| figure | value |", "|---|---|",
            f"| container operations | {sum(figures.operations.values())}: "
            + ", ".join(f"{kind} {count}" for kind, count in sorted(figures.operations.items())) + " |",
            f"| faults | {sum(figures.faults.values())}: "
            + ", ".join(f"{kind} {count}" for kind, count in sorted(figures.faults.items())) + " |",
            f"| steps skipped (did not apply: no container, a paused one to pause, …) | "
            f"{sum(figures.skipped.values())}: " + ", ".join(f"{kind} {count}" for kind, count
                                                             in sorted(figures.skipped.items())) + " |",
            f"| quiet-point checks, all exact | {figures.checks} |",
            "| divergences | 0 |",
            f"| longest time to exact after a fault | {figures.longest_converge:.2f} s, after: "
            + "; ".join(line.split(": ", 1)[0].split(None, 1)[-1] for line in figures.longest_after) + " |"]
    return "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--out", help="insert the figures into this Markdown file, under " + repr(HEADING))
    args = parser.parse_args()
    print(f"chaos: seed {args.seed}, {args.minutes:g} min", flush=True)
    with world(Path(tempfile.mkdtemp(prefix="sr-chaos-"))) as parts:
        try:
            figures = run(parts, args.seed, args.minutes * 60, say=lambda line: print(line, flush=True))
        except Divergence as exc:
            print(f"DIVERGENCE with seed {args.seed} (replay: make chaos SEED={args.seed}):\n{exc}", flush=True)
            return 1
    print(report(figures, args.minutes))
    if args.out:
        insert_report(Path(args.out), HEADING, report(figures, args.minutes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
