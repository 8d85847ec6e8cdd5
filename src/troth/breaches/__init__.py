"""Breaches: incidents, the people affected, and the legal notification clocks per regime."""
