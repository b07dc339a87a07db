"""`tailguard demo`: the whole system on the embedded default, and its offline report."""
