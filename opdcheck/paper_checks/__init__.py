"""One module per claim id of SPEC.md §3; a registry; CheckResult; the report writer."""
