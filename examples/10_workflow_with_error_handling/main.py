"""Example 10: a workflow with error handling.

A RAISE rejects a bad input (``condition=``), and a TRY/CATCH retries the charge when the payment
service answers 503: up to 3 attempts in all, 2 s then 4 s apart (exponential backoff). A retry is
the same logical call: it carries the same ``Idempotency-Key``, so the service can deduplicate it.
When the third attempt fails too, the error fails the workflow.
"""

import os

import stigmer
from stigmer import Workflow, expr, tasks

PAYMENT_API_BASE = os.environ.get("PAYMENT_API_BASE", "https://payments.example.com")


def main(ctx: stigmer.Context) -> None:
    charge_body = {"amount": expr(".amount"), "currency": "usd"}
    workflow = Workflow(
        name="charge-with-retry",
        namespace="payments",
        version="1.0.0",
        description="Charge a customer, retrying while the payment service is unavailable",
    )
    workflow.add(
        tasks.raise_error(
            "reject",
            type="https://stigmer.ai/errors/invalid-amount",
            status=400,
            title="Invalid amount",
            detail="The amount to charge must be a positive number of cents.",
            condition=".amount <= 0",
        ),
        tasks.try_catch(
            "charge",
            do=[
                tasks.http_post(
                    "submit", endpoint=f"{PAYMENT_API_BASE}/v1/charges", body=charge_body, timeout_seconds=15
                )
            ],
            errors={"status": 503},
            as_="failure",
            retry=tasks.retry_policy(attempts=3, delay="PT2S", backoff="exponential"),
        ),
        tasks.set_vars("receipt", {"status": "charged", "amount": expr(".amount")}),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
