"""The road network: import and noding (`network`), the routing graph and how points join it (`graph`),
its detour index (`circuity`)."""
