"""The paper's claims, judged: one check per claim id, the shared studies they use, and the verdict machinery.

- ``checks/``: one file per claim id, each registering one ``run(ctx) -> CheckResult`` (PEPit-shaped docstring:
  problem, update, claim as the paper states it, how opdcheck decides, example).
- ``studies/``: code several checks share (instance families, Thm 3.4 runners, rate cases, designs); it never
  imports a check.
- ``result.py`` (verdicts, findings, controls), ``registry.py`` (metadata declared once), ``context.py``,
  ``report.py``, ``figures.py``.
"""
