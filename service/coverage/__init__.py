"""Coverage and planning: who is served, where the gaps are, what a new site would change."""
