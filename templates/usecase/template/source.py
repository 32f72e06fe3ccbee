"""The synthetic source: a seeded, deterministic generator of every dataset's daily file (nothing is downloaded).

Each customer has stable traits (plan, a base engagement) and two slow cycles: engagement, and frustration, which
shows as support tickets. P(active on a day) rises with engagement and falls with frustration, on weekends and on
the basic plan, so trailing activity, tickets and the weekday carry real signal. A day's rows depend only on the
seed and the date: any day can be landed alone, in any order, byte-identically on a rerun. Replace this module
with the reader of your own deliveries (keep `land_day`'s signature and `write_atomic`).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from datetime import date, timedelta
from functools import cache
from typing import TYPE_CHECKING

from mlops.landing import LandedFile, landing_path, write_atomic

from .datasets import ACTIVITY, CUSTOMERS, DATASETS, PLANS, REGIONS

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from mlops.config import Settings

log = logging.getLogger(__name__)

FIRST_ID = 1001
PLAN_EFFECT = {"basic": -0.4, "plus": 0.0, "pro": 0.4}  # logit of P(active)
WEEKEND_EFFECT = -0.9


@cache
def customer_traits(customers: int, seed: int) -> pd.DataFrame:
    """Per customer: id, plan, region and the parameters of its engagement and frustration cycles."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng([seed, 0])
    period = rng.uniform(12, 40, customers)
    frustration_period = rng.uniform(8, 24, customers)
    return pd.DataFrame(
        {
            "customer_id": np.arange(FIRST_ID, FIRST_ID + customers, dtype="int64"),
            "plan": rng.choice(PLANS, customers, p=[0.5, 0.3, 0.2]),
            "region": rng.choice(REGIONS, customers),
            "base": rng.normal(0.3, 0.8, customers),
            "amplitude": rng.uniform(0.5, 1.5, customers),
            "period": period,
            "phase": rng.uniform(0, period),
            "frustration_period": frustration_period,
            "frustration_phase": rng.uniform(0, frustration_period),
        }
    )


def activity_of(day: date, customers: int, seed: int) -> pd.DataFrame:
    """Every customer's activity on `day`, in contract column order."""
    import numpy as np
    import pandas as pd

    traits = customer_traits(customers, seed)
    t = day.toordinal()
    rng = np.random.default_rng([seed, t])  # one stream per day: days are independent of landing order
    engagement = traits["base"] + traits["amplitude"] * np.sin(2 * np.pi * (t + traits["phase"]) / traits["period"])
    cycle = np.sin(2 * np.pi * (t + traits["frustration_phase"]) / traits["frustration_period"])
    frustration = np.clip(cycle, 0, None) * 2.0
    tickets = rng.poisson(0.05 + 0.5 * frustration)
    logit = engagement - 0.8 * frustration + traits["plan"].map(PLAN_EFFECT) + WEEKEND_EFFECT * (day.weekday() >= 5)
    active = rng.random(customers) < 1 / (1 + np.exp(-logit))
    sessions = np.where(active, 1 + rng.poisson(1.5 * np.exp(0.3 * engagement.clip(-2, 2))), 0)
    minutes = np.round(sessions * rng.gamma(2.0, 6.0, customers), 1)
    frame = pd.DataFrame({"year": day.year, "month": day.month, "day": day.day, "customer_id": traits["customer_id"]})
    return frame.assign(sessions=sessions.astype("int64"), minutes=minutes, tickets=tickets.astype("int64"))


def select_day(settings: Settings, dataset: str, day: date) -> pd.DataFrame:
    """The rows of `dataset` delivered for `day` (customers: the whole list), in contract column order."""
    customers, seed = settings.data.customers, settings.data.seed
    if dataset == CUSTOMERS.name:
        return customer_traits(customers, seed)[[c.name for c in CUSTOMERS.columns]]
    if dataset == ACTIVITY.name:
        return activity_of(day, customers, seed)
    raise ValueError(f"Unknown dataset {dataset!r}; expected one of {[d.name for d in DATASETS]}")


def land_day(settings: Settings, day: date) -> list[Path]:
    """Write one CSV per dataset for the UTC `day`; atomic, and byte-identical on rerun.

    Returns:
        The paths written, in dataset order.
    """
    return [_land_one(settings, d.name, day).path for d in DATASETS]


def _land_one(settings: Settings, dataset: str, day: date) -> LandedFile:
    target = landing_path(settings, dataset, day)
    frame = select_day(settings, dataset, day)
    write_atomic(target, frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    log.info("Landed %s rows of %s for %s at %s", len(frame), dataset, day.isoformat(), target)
    return LandedFile(dataset, day, target, len(frame))


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: `python -m <package>.source --start 2024-01-01 --days 7` (environment from MLOPS_ENV)."""
    from mlops.config import load_settings

    from . import NAME

    parser = argparse.ArgumentParser(description="Land the synthetic data into the landing zone, day by day.")
    parser.add_argument("--start", type=date.fromisoformat, help="first day (default: data.replay_start)")
    parser.add_argument("--days", type=int, help="number of days (default: data.replay_days)")
    parser.add_argument("--env", help="environment (default: MLOPS_ENV)")
    args = parser.parse_args(argv)
    settings = load_settings(args.env, usecase=NAME)
    start = args.start or settings.data.replay_start
    days = args.days or settings.data.replay_days
    if days < 1:
        parser.error(f"--days must be >= 1, got {days}")
    landed = [_land_one(settings, d.name, start + timedelta(days=i)) for i in range(days) for d in DATASETS]
    print(f"Landed {len(landed)} files from {start} [{settings.env}] under {settings.lakehouse.landing_root}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(main())
