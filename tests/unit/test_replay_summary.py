"""The replay's options and its summary from the tables (scripts/replay.py, scripts/replay_summary.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from scripts.replay import parse_args
from scripts.replay_summary import monthly_roc_auc, plot


def _flight(day: date, flight: int) -> dict:
    return {"year": day.year, "month": day.month, "day": day.day, "carrier": "UA", "flight": flight, "origin": "EWR"}


def _lakehouse(lakehouse, predictions: list[tuple], delays: dict[tuple, float]):
    """predictions: (day, flight, probability, version, scored hour); delays: (day, flight) -> arr_delay."""
    rows = [
        {
            **_flight(day, flight),
            "entity_date": day,
            "probability": p,
            "model_version": v,
            "scored_at": datetime(2014, 1, 1, hour, tzinfo=UTC),
        }
        for day, flight, p, v, hour in predictions
    ]
    lakehouse.append("gold.predictions", pa.Table.from_pylist(rows))
    flights = [{**_flight(day, flight), "arr_delay": delay} for (day, flight), delay in delays.items()]
    lakehouse.append("bronze.flights", pa.Table.from_pylist(flights))
    return lakehouse


def test_monthly_roc_auc_scores_the_prediction_of_record_per_month(lakehouse):
    jan, feb = date(2013, 1, 5), date(2013, 2, 5)
    delays = {(jan, 1): 60.0, (jan, 2): 0.0, (feb, 1): 60.0, (feb, 2): 0.0, (feb, 3): None}  # None: cancelled
    predictions = [
        (jan, 1, 0.9, "1", 1),
        (jan, 2, 0.1, "1", 1),  # January ranks perfectly
        (feb, 1, 0.9, "1", 1),
        (feb, 2, 0.1, "1", 1),
        (feb, 3, 0.5, "1", 1),
        (feb, 1, 0.2, "2", 2),  # rescored later by v2: this is the prediction of record, and it ranks badly
    ]
    monthly = monthly_roc_auc(_lakehouse(lakehouse, predictions, delays)).set_index("month")

    assert monthly.loc["2013-01", "roc_auc"] == 1.0 and monthly.loc["2013-01", "flights"] == 2
    # February: one row per flight (flight 1 counted once, with v2's score); a cancelled flight is delayed.
    assert monthly.loc["2013-02", "versions"] == "1,2"
    assert monthly.loc["2013-02", "flights"] == 3 and monthly.loc["2013-02", "delayed"] == pytest.approx(2 / 3)


def test_monthly_roc_auc_uses_the_latest_score_of_a_flight(lakehouse):
    day = date(2013, 3, 1)
    delays = {(day, 1): 60.0, (day, 2): 0.0}
    predictions = [(day, 1, 0.9, "1", 1), (day, 2, 0.1, "1", 1), (day, 1, 0.05, "2", 3)]  # v2 ranks them wrong
    monthly = monthly_roc_auc(_lakehouse(lakehouse, predictions, delays))
    assert monthly["roc_auc"].tolist() == [0.0]


def test_plot_writes_a_png(lakehouse, tmp_path):
    day = date(2013, 3, 1)
    monthly = monthly_roc_auc(
        _lakehouse(lakehouse, [(day, 1, 0.9, "1", 1), (day, 2, 0.1, "1", 1)], {(day, 1): 60.0, (day, 2): 0.0})
    )
    path = tmp_path / "replay.png"
    plot(monthly, [(date(2013, 1, 29), "1")], None, None, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--year", "2014"], "only 2013"),
        (["--cycle-days", "40"], "between 7 and 31"),
        (["--days", "30"], "between 56"),
        (["--days", "365"], "and 364"),
    ],
)
def test_replay_options_refuse_what_cannot_run(argv, message, capsys):
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert message in capsys.readouterr().err


def test_promotion_summary_gives_each_version_its_figures_and_outcome(lakehouse, capsys):
    from scripts.replay_summary import summarise_promotions

    def row(version, step, check, outcome, value=None, threshold=None):
        return {
            "version": version,
            "step": step,
            "check": check,
            "outcome": outcome,
            "value": value,
            "threshold": threshold,
        }

    rows = [
        row("1", "comparison", "roc_auc", "passed", 0.669, 0.55),
        row("1", "promotion", "champion", "promoted"),
        row("2", "comparison", "roc_auc", "passed", 0.654, 0.617),
        row("2", "comparison", "log_loss", "failed", 0.582, 0.575),
    ]
    lakehouse.append("monitoring.cd_decisions", pa.Table.from_pylist(rows))
    summarise_promotions(lakehouse)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:2] == ["v1", "promoted"]
    assert "not promoted" in lines[2] and "log_loss 0.582 (limit 0.575, failed)" in lines[2]
