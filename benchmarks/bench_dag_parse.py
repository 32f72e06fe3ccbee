"""Parse time of each DAG file, as the DAG processor sees it (fresh interpreter, Airflow already imported).

Usage: .venv/bin/python -m benchmarks.bench_dag_parse [--repeat 5]
Prints, per DAG file, the median time to parse the file into a DagBag in a fresh process (cold:
first import of the file's own modules) and the median re-parse time in the same process (warm).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, sys, time
import airflow.sdk  # the processor has Airflow imported already; not part of a DAG file's cost
from airflow.dag_processing.dagbag import DagBag
path = sys.argv[1]
t0 = time.perf_counter(); bag = DagBag(dag_folder=path); cold = time.perf_counter() - t0
warm = []
for _ in range(3):
    t0 = time.perf_counter(); DagBag(dag_folder=path); warm.append(time.perf_counter() - t0)
print(json.dumps({"cold": cold, "warm": min(warm), "errors": len(bag.import_errors), "dags": len(bag.dags)}))
"""


def measure(path: Path, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"parsing {path} failed:\n{out.stderr[-2000:]}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "cold": statistics.median(r["cold"] for r in runs),
        "warm": statistics.median(r["warm"] for r in runs),
        "errors": max(r["errors"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'DAG file':<28}{'cold parse (s)':>16}{'warm re-parse (s)':>20}{'import errors':>15}")
    for path in sorted((ROOT / "dags").glob("*.py")):
        r = measure(path, args.repeat)
        print(f"{path.name:<28}{r['cold']:>16.3f}{r['warm']:>20.3f}{r['errors']:>15}")


if __name__ == "__main__":
    main()
