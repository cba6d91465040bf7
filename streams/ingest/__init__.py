"""Intake of the input topics: decode, validate, de-duplicate, forward or dead-letter."""
