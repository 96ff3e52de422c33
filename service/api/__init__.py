"""HTTP layer: FastAPI routers (thin) over the domain functions."""
