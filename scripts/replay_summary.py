"""The replay's summary from its tables: champions over time, drift signals, retrains, monthly ROC AUC; a plot."""

from __future__ import annotations

from pathlib import Path

from scripts.main_job import say


def monthly_roc_auc(lakehouse):
    """Per month: flights scored, delay rate and ROC AUC of the prediction of record (latest scored per flight)."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from usecases.flight_delay.features import DELAY_THRESHOLD_MINUTES, FLIGHT_KEY

    if not lakehouse.exists("gold.predictions"):
        return pd.DataFrame()
    predictions = lakehouse.read_pandas("gold.predictions")
    record = predictions.sort_values("scored_at").drop_duplicates(list(FLIGHT_KEY), keep="last")
    flights = lakehouse.read_pandas("bronze.flights", columns=[*FLIGHT_KEY, "arr_delay"])
    flights["delayed"] = ((flights["arr_delay"] > DELAY_THRESHOLD_MINUTES) | flights["arr_delay"].isna()).astype(int)
    scored = record.merge(flights.drop_duplicates(list(FLIGHT_KEY)), on=list(FLIGHT_KEY), how="inner")
    scored["month"] = pd.to_datetime(scored["entity_date"]).dt.to_period("M").astype(str)
    rows = []
    for month, part in scored.groupby("month"):
        auc = roc_auc_score(part["delayed"], part["probability"]) if part["delayed"].nunique() == 2 else float("nan")
        versions = ",".join(sorted(part["model_version"].astype(str).unique(), key=int))
        rows.append(
            {
                "month": month,
                "flights": len(part),
                "delayed": part["delayed"].mean(),
                "roc_auc": auc,
                "versions": versions,
            }
        )
    return pd.DataFrame(rows)


def summarise_replay(settings, plot_path: Path, elapsed: float) -> None:
    from mlflow import MlflowClient

    from mlops.inference.pinning import champion_history
    from mlops.lakehouse import Lakehouse

    lakehouse = Lakehouse.from_settings(settings)
    client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
    say(f"\nReplay done in {elapsed / 60:.1f} min. Tables under {lakehouse.root}")
    history = champion_history(client, lakehouse, settings.mlflow.model_name)
    say("Champion versions over time (data clock: a promotion takes effect from the model's training cutoff):")
    for effective, version in history:
        say(f"  from {effective}  v{version}")
    runs = lakehouse.read_pandas("monitoring.training_runs") if lakehouse.exists("monitoring.training_runs") else None
    if runs is not None and not runs.empty:
        say(f"Training runs (monitoring.training_runs): {len(runs)}")
        for row in runs.sort_values("model_version", key=lambda v: v.astype(int)).itertuples():
            say(
                f"  v{row.model_version:<3} window to {row.window_end}  "
                f"held-out ROC AUC {row.test_roc_auc:.3f}  {row.reason[:70]}"
            )
    summarise_promotions(lakehouse)
    signals = (
        lakehouse.read_pandas("monitoring.drift_signals") if lakehouse.exists("monitoring.drift_signals") else None
    )
    if signals is not None and not signals.empty:
        counts = signals.groupby(["kind", "status"]).size().to_dict()
        say(f"Drift signals (monitoring.drift_signals): {len(signals)}; by kind and status: {counts}")
        for row in signals.sort_values("monitoring_date").itertuples():
            say(
                f"  {row.monitoring_date} v{row.model_version:<3} {row.kind:<16} {row.status:<9} "
                f"{str(row.decision or '')[:60]}"
            )
    monthly = monthly_roc_auc(lakehouse)
    if not monthly.empty:
        say("Monthly out-of-time ROC AUC (gold.predictions, prediction of record, outcomes from bronze.flights):")
        say(monthly.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        plot(monthly, history, signals, runs, plot_path)
        say(f"Plot: {plot_path}")


def summarise_promotions(lakehouse) -> None:
    """One line per version: the comparison's figures against their limits and whether it became champion."""
    if not lakehouse.exists("monitoring.cd_decisions"):
        return
    rows = lakehouse.read_pandas("monitoring.cd_decisions")
    say("Promotion decisions (monitoring.cd_decisions):")
    for version in sorted(rows["version"].astype(str).unique(), key=int):
        mine = rows[rows["version"].astype(str) == version]
        checks = {r.check: r for r in mine[mine["step"] == "comparison"].itertuples()}
        figures = ", ".join(
            f"{name} {checks[name].value:.3f} (limit {checks[name].threshold:.3f}, {checks[name].outcome})"
            for name in ("roc_auc", "log_loss")
            if name in checks
        )
        promoted = ((mine["step"] == "promotion") & (mine["outcome"] == "promoted")).any()
        say(f"  v{version:<3} {'promoted' if promoted else 'not promoted':<13} {figures}")


def plot(monthly, history, signals, runs, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, ax = plt.subplots(figsize=(11, 5))
    months = pd.to_datetime(monthly["month"]) + pd.Timedelta(days=14)
    ax.plot(months, monthly["roc_auc"], marker="o", label="monthly ROC AUC (out of time)")
    if runs is not None and not runs.empty:
        ax.scatter(
            pd.to_datetime(runs["window_end"]),
            runs["test_roc_auc"],
            marker="x",
            color="grey",
            label="held-out ROC AUC at training",
        )
    if signals is not None and not signals.empty:
        for status, color in (("consumed", "red"), ("declined", "orange")):
            days = pd.to_datetime(signals.loc[signals["status"] == status, "monitoring_date"])
            ax.scatter(days, [0.51] * len(days), marker="v", color=color, label=f"drift signal ({status})")
    for effective, version in history:
        ax.axvline(pd.Timestamp(effective), color="green", alpha=0.4)
        ax.text(pd.Timestamp(effective), 0.74, f"v{version}", color="green", rotation=90, va="top")
    ax.set_ylim(0.5, 0.75)
    ax.set_ylabel("ROC AUC")
    ax.set_title("Replay: champion versions (green lines), drift signals and monthly ROC AUC")
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
