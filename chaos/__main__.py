"""Run every campaign at full size, print a table, and exit non-zero if anything was lost."""

from __future__ import annotations

import argparse
import asyncio
import sys

from chaos.common import CampaignResult

FULL = {
    "keystrokes": 200,
    "sweeps": 200,
    "kills": 100,
    "malformed": 10_000,
    "hostile": 14,
    "registry": 500,
    "registry_replicas": 40,
    "gateway": 40,
    "gateway_siege": 320,
}


async def _run(names: list[str], scale: float, seed: int) -> list[CampaignResult]:
    import importlib

    results = []
    for name in names:
        module = importlib.import_module(f"chaos.{name}")
        trials = max(1, int(FULL[name] * scale))
        print(f"running {name} ({trials} trials)...", flush=True)
        outcome = await module.run(trials, seed)
        results.extend(outcome if isinstance(outcome, list) else [outcome])
    return results


def _table(results: list[CampaignResult]) -> str:
    rows = [("campaign", "trials", "lost/failed", "seconds")]
    rows += [(r.name, str(r.tried), str(len(r.failures)), f"{r.seconds:.1f}") for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def main() -> int:
    """Command line: optional campaign names, --scale (fraction of full size), --seed."""
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("campaigns", nargs="*", help=f"any of {', '.join(FULL)} (default: all)")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    unknown = [name for name in args.campaigns if name not in FULL]
    if unknown:
        parser.error(f"unknown campaign(s): {', '.join(unknown)}")
    results = asyncio.run(_run(args.campaigns or list(FULL), args.scale, args.seed))
    for result in results:
        for note in result.notes:
            print(f"  {result.name}: {note}")
        for key, value in result.figures.items():
            print(f"  {result.name}: {key} = {value:g}")
        for failure in result.failures[:20]:
            print(f"  LOST {result.name}: {failure[:500]}")
    print(_table(results))
    return 1 if any(r.failures for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
