"""The platform's base error: a refusal that retrying cannot fix.

Bad input or data (a landing file breaking its contract, a schema mismatch, an empty training window),
a failed gate (quality, compliance, comparison), a registry transition the version may not take, a
broken configuration or use case: each is a `Refusal`, and each names what was refused and why. The
Airflow operators turn a Refusal into a failed task without retries; any other exception (a lost
connection, a killed worker, data not there yet) keeps Airflow's retries.
"""

from __future__ import annotations


class Refusal(Exception):
    """Retrying cannot fix this: the input, the data or the decision says no. The message names the object and why."""


class NothingToDo(Exception):  # noqa: N818 - an outcome, not a failure
    """The run has nothing to do (no model yet, already done, no entities): the rest of it is skipped, not failed.

    The message says why, and the outcome is recorded where the flow records its runs.
    """
