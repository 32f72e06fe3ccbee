"""
# usecase_check

Not a pipeline: this file loads every enabled use case and fails to import when one is broken, so the
Airflow UI lists the problem under *DAG import errors* with one line per broken use case, naming the use
case and the field (e.g. `Use case 'churn': model.task: unknown task type 'ranking'`). The pipelines of
the other use cases are built by the other DAG files and keep working. It defines no DAG.

**Fix:** correct the use case's package or its `config/<env>.yaml`, or take it out of `usecases.enabled`.
"""

from __future__ import annotations

from mlops_airflow.scheduling import usecase_problems

_PROBLEMS = usecase_problems()
if _PROBLEMS:
    raise ImportError("Broken use cases (their DAGs are left out):\n" + "\n".join(_PROBLEMS))
