"""Planning: what-if scenarios and siting of new facilities."""
