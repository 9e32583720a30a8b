"""Example 09: a workflow with a loop.

A FOR task charges every pending order: ``in_`` is the collection, ``each`` / ``at`` name the
current element and its position (``$order``, ``$position``) for the tasks in ``do``.
"""

import os

import stigmer
from stigmer import Workflow, expr, tasks

SHOP_API_BASE = os.environ.get("SHOP_API_BASE", "https://shop.example.com")
PAYMENT_API_BASE = os.environ.get("PAYMENT_API_BASE", "https://payments.example.com")


def main(ctx: stigmer.Context) -> None:
    workflow = Workflow(
        name="charge-pending-orders",
        namespace="billing",
        version="1.0.0",
        description="Charge every pending order",
    )
    workflow.add(
        tasks.http_get("orders", endpoint=f"{SHOP_API_BASE}/v1/orders", query={"status": "pending"}),
        tasks.for_each(
            "charge-all",
            in_=".orders.items",
            each="order",
            at="position",
            do=[
                tasks.http_post("charge", endpoint=f"{PAYMENT_API_BASE}/v1/orders/${{ $order.id }}/charge"),
                tasks.wait("pause", duration="PT1S"),
            ],
        ),
        tasks.set_vars("done", {"charged": expr(".orders.items | length")}),
    )
    ctx.add(workflow)


if __name__ == "__main__":
    stigmer.synthesize(main)
