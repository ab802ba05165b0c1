"""``relaywarden demo``: relaywarden against a simulated provider, with no cloud account."""
