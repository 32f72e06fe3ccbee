"""Thin operators: read config, call the core, push a small summary, emit asset events."""
