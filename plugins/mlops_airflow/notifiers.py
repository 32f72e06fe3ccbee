"""MonitoringAlertNotifier: monitoring breaches to the task log, and to a webhook or email when configured."""

from __future__ import annotations

import json
import smtplib
import urllib.request
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any

from airflow.sdk import BaseNotifier

WEBHOOK_CONN_ID = "mlops_alerts_webhook"
SMTP_CONN_ID = "mlops_alerts_smtp"


class MonitoringAlertNotifier(BaseNotifier):
    """Send an alert text: always to the task log; to a webhook and by email when their connections exist.

    - Webhook: connection `mlops_alerts_webhook` (type http): POST JSON `{"text": ..., "dag_id", "run_id"}`
      to its host (a full URL, e.g. a Slack or Teams incoming webhook; the secret lives in the connection).
    - Email: connection `mlops_alerts_smtp` (host, port, login, password; extra `{"to": "a@x, b@y",
      "from": "...", "starttls": true}`).
    A delivery failure is logged, never raised: alerting must not fail the monitoring run.
    """

    template_fields: Sequence[str] = ("text", "subject")

    def __init__(
        self,
        *,
        text: str,
        subject: str = "MLOps monitoring alert",
        webhook_conn_id: str = WEBHOOK_CONN_ID,
        smtp_conn_id: str = SMTP_CONN_ID,
    ) -> None:
        super().__init__()
        self.text, self.subject = text, subject
        self.webhook_conn_id, self.smtp_conn_id = webhook_conn_id, smtp_conn_id
        self.delivered: list[str] = []

    def notify(self, context: Any) -> None:
        self.log.warning("ALERT %s\n%s", self.subject, self.text)
        self.delivered = ["log"]
        webhook = _connection(self.webhook_conn_id)
        if webhook is not None:
            self._post(webhook, context)
        smtp = _connection(self.smtp_conn_id)
        if smtp is not None:
            self._email(smtp)

    def _post(self, conn: Any, context: Any) -> None:
        url = conn.host if "://" in (conn.host or "") else f"{conn.schema or 'https'}://{conn.host}"
        if conn.port and url.count(":") < 2:
            scheme, rest = url.split("://", 1)
            host, _, path = rest.partition("/")
            url = f"{scheme}://{host}:{conn.port}/{path}"
        dag = context.get("dag")
        body = {
            "text": f"{self.subject}\n{self.text}",
            "dag_id": getattr(dag, "dag_id", None),
            "run_id": context.get("run_id"),
        }
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                self.log.info("Alert posted to %s: HTTP %s", self.webhook_conn_id, response.status)
                self.delivered.append("webhook")
        except OSError as exc:
            self.log.error("Alert webhook %s failed: %s", self.webhook_conn_id, exc)

    def _email(self, conn: Any) -> None:
        extra = conn.extra_dejson or {}
        recipients = [a.strip() for a in str(extra.get("to", "")).split(",") if a.strip()]
        if not recipients:
            self.log.error("Connection %s has no extra 'to': no alert email sent", self.smtp_conn_id)
            return
        message = EmailMessage()
        message["Subject"], message["From"] = self.subject, extra.get("from", conn.login or "mlops@localhost")
        message["To"] = ", ".join(recipients)
        message.set_content(self.text)
        try:
            with smtplib.SMTP(conn.host, conn.port or 25, timeout=10) as smtp:
                if extra.get("starttls"):
                    smtp.starttls()
                if conn.login:
                    smtp.login(conn.login, conn.password or "")
                smtp.send_message(message)
            self.log.info("Alert emailed to %s", recipients)
            self.delivered.append("email")
        except (OSError, smtplib.SMTPException) as exc:
            self.log.error("Alert email via %s failed: %s", self.smtp_conn_id, exc)


def _connection(conn_id: str) -> Any:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
