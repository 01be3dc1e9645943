"""Which products are bought together: pairwise support, confidence and lift over completed orders."""

import itertools

import pandas as pd


def model(dbt, session):
    dbt.config(materialized="table")
    items = dbt.ref("fct_order_items").df()
    items = items[items["order_status"] == "completed"][["order_id", "product_id"]].drop_duplicates()

    orders = items["order_id"].nunique()
    product_orders = items.groupby("product_id")["order_id"].nunique()

    pairs = []
    for _, basket in items.groupby("order_id")["product_id"]:
        pairs.extend(itertools.combinations(sorted(basket.tolist()), 2))
    together = pd.DataFrame(pairs, columns=["product_a", "product_b"]).value_counts().rename("orders_together")
    df = together.reset_index()
    df = df[df["orders_together"] >= 3].copy()

    df["support"] = df["orders_together"] / orders
    df["confidence"] = df["orders_together"] / df["product_a"].map(product_orders)
    df["lift"] = df["confidence"] / (df["product_b"].map(product_orders) / orders)
    return df.sort_values(["lift", "product_a", "product_b"], ascending=[False, True, True]).reset_index(drop=True)
