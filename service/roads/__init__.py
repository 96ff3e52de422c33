"""The road network: import and noding (`network`), distances along it with pgRouting (`routing`)."""
