"""Triggers that run in the triggerer (asyncio), holding no worker slot."""
