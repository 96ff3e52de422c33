"""Inspections: what an inspector found at a facility, kept with its photos and position."""
