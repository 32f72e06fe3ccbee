"""The drift report of one monitoring run: a self-contained HTML page with a table and plots per feature."""

from __future__ import annotations

import base64
import html
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlops.monitoring.performance import MONITORED
from mlops.task_metrics import metric_label

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops.config import Settings
    from mlops.monitoring.job import MonitoringResult
    from mlops.monitoring.profile import FeatureProfile

log = logging.getLogger(__name__)

MAX_PLOTS = 16


def write_report(result: MonitoringResult, path: Path) -> Path:
    """Write the report of `result` to `path` (HTML, plots embedded as PNG) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result))
    return path


def render(result: MonitoringResult) -> str:
    """The report as one HTML string."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Drift report {result.model_name} v{result.model_version} {result.day}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}"
        ".drift{background:#fdd}.plots img{width:420px;margin:4px}</style></head><body>",
        f"<h1>Drift report: {html.escape(result.model_name)} v{result.model_version}, {result.day}</h1>",
        _summary(result),
    ]
    if result.drift is not None and result.reference is not None:
        parts.append(_table(result))
        parts.append("<h2>Reference vs current</h2><div class='plots'>")
        ranked = sorted(result.drift.features, key=lambda f: (not f.drifted, -f.psi))[:MAX_PLOTS]
        for stat in ranked:
            reference = result.reference.feature(stat.feature)
            current = result.currents.get(stat.feature)
            if current is not None:
                parts.append(
                    f"<img alt='{html.escape(stat.feature)}' src='data:image/png;base64,{_plot(reference, current)}'>"
                )
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _summary(result: MonitoringResult) -> str:
    lines = [f"<p>Rows compared: {result.current_rows:,}. "]
    if result.reference is not None:
        lines.append(f"Reference: {html.escape(result.reference.source)}. ")
    if result.drift is not None:
        lines.append(
            f"Drifted features: {len(result.drift.drifted_features)} of {len(result.drift.features)} "
            f"(share {result.drift.drifted_share:.2f}, dataset threshold {result.drift.share_threshold}).</p>"
        )
    for perf in (result.day_performance, result.window_performance):
        if perf is not None:
            figures = ", ".join(f"{metric_label(result.task, m)} {perf.metric(m):.3f}" for m in MONITORED[result.task])
            lines.append(
                f"<p>Performance {perf.first}..{perf.last}: {perf.labelled:,} labelled of {perf.predictions:,} "
                f"predictions, {figures}.</p>"
            )
    signals = "".join(f"<li><b>{s.kind}</b>: {html.escape(s.detail)}</li>" for s in result.signals) or "<li>none</li>"
    lines.append(f"<h2>Signals</h2><ul>{signals}</ul>")
    lines.extend(f"<p><i>{html.escape(n)}</i></p>" for n in result.notes)
    return "".join(lines)


def _table(result: MonitoringResult) -> str:
    head = "<tr><th>feature</th><th>kind</th><th>PSI</th><th>distance</th><th>test</th><th>p-value</th>"
    head += "<th>null share ref / cur</th><th>drifted</th></tr>"
    rows = []
    for f in sorted(result.drift.features, key=lambda f: -f.psi):
        css = " class='drift'" if f.drifted else ""
        rows.append(
            f"<tr{css}><td style='text-align:left'>{html.escape(f.feature)}</td><td>{f.kind}</td><td>{f.psi:.3f}</td>"
            f"<td>{f.distance:.3f} ({f.distance_name})</td><td>{f.test_statistic:.3f} ({f.test_name})</td>"
            f"<td>{f.p_value:.3g}</td><td>{f.null_share_reference:.2f} / {f.null_share_current:.2f}</td>"
            f"<td>{'yes' if f.drifted else ''}</td></tr>"
        )
    return f"<h2>Per feature</h2><table>{head}{''.join(rows)}</table>"


def _plot(reference: FeatureProfile, current: FeatureProfile) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ref, cur = np.asarray(reference.counts, "float64"), np.asarray(current.counts, "float64")
    ref, cur = ref / max(ref.sum(), 1), cur / max(cur.sum(), 1)
    fig, ax = plt.subplots(figsize=(5.6, 3.0), dpi=80)
    if reference.kind == "numeric":
        x = reference.centers()
        ax.step(x, ref, where="mid", label="reference")
        ax.step(x, cur, where="mid", label="current")
    else:
        labels = list(reference.categories)[:20]
        idx = np.arange(len(labels))
        ax.bar(idx - 0.2, ref[: len(labels)], 0.4, label="reference")
        ax.bar(idx + 0.2, cur[: len(labels)], 0.4, label="current")
        ax.set_xticks(idx, labels, rotation=90, fontsize=7)
    ax.set_title(reference.name, fontsize=10)
    ax.set_ylabel("share")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def publish_report(client: MlflowClient, settings: Settings, result: MonitoringResult) -> Path:
    """Write the day's drift report under `<reports root>/_reports/drift/` and log it to MLflow under the
    monitored version's training run (`monitoring/<date>/`); both locations go to the log."""
    from mlops.registry.transitions import get_version

    name = f"drift_{result.day}_v{result.model_version}.html"
    path = write_report(result, Path(settings.lakehouse.reports_root) / "_reports" / "drift" / name)
    log.info("Drift report: %s", path.resolve().as_uri())
    run_id = get_version(client, result.model_name, result.model_version).run_id
    client.log_artifact(run_id, str(path), artifact_path=f"monitoring/{result.day}")
    log.info("Logged to MLflow: runs:/%s/monitoring/%s/%s", run_id, result.day, name)
    return path
