"""Coverage: who is served within a distance of a facility layer, and where the gaps are.

Ask through `computation` (`compute(conn, query)` / `computed(engine, query)` give a `Coverage`); the
questions (`query`), the road reach (`road_reach`), the gaps and the XLSX report work behind it.
"""
