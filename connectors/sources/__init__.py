"""Event sources: the replay of canonical JSON files (simulator and webhooks to come)."""
