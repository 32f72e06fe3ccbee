"""Monitoring: reference profiles, drift statistics from binned counts, performance on late labels."""
