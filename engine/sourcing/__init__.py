"""Mandi sourcing: price analytics (`analytics`), ranking for a destination (`ranking`),
the purchase-split MILP (`allocation`), cleaning/locating messy Agmarknet frames
(`prepare`), warehouse-facing entry points (`service`) and the `rank-mandis` CLI (`cli`)."""
