"""One module per claim id. Each defines ``run(ctx) -> CheckResult`` decorated with
:func:`opdcheck.paper_checks.registry.register_check`; :func:`~opdcheck.paper_checks.registry.all_checks`
imports every module here, so a new check is one new file. A check never imports another check or the CLI."""
