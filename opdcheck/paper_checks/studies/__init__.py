"""Shared code of several checks: instance families, the Thm 3.4 runners and sweeps, rate cases, rational
designs, orbit replays. Nothing here imports a check (``opdcheck.paper_checks.checks``) or the CLI."""
