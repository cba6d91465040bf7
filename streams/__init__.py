"""The Faust stream processors: topics, the app, and one package per concept."""
