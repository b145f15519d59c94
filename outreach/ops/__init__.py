"""Processes that assemble the layers: wiring, the scheduler, `outreach run`, signing."""
