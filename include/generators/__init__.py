"""Seeded generators of realistic source data for demos and tests."""
