"""schemathesis hooks of test_openapi.py (loaded through SCHEMATHESIS_HOOKS): every deploy
it sends that the server could carry out is a dry run, so no generated service file ever
starts a process. Bodies it meant to be invalid stay invalid: only a boolean `dry_run` (or
none) is set to true, and the server refuses anything else before it reads the file."""

import schemathesis


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.method.upper() != "POST" or case.operation.path != "/api/v1/deploy":
        return
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("dry_run", False), bool):
        body["dry_run"] = True
