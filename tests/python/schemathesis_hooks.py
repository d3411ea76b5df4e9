"""schemathesis hooks of test_openapi.py (loaded through SCHEMATHESIS_HOOKS): every deploy
it sends that the server could carry out is a dry run, so no generated service file ever
starts a process, and a profile it asks for lasts 1 s. Bodies it meant to be invalid stay invalid: only a boolean `dry_run` (or
none) is set to true, and the server refuses anything else before it reads the file."""

import schemathesis


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.method.upper() != "POST":
        return
    body = case.body
    if case.operation.path == "/api/v1/profiles":
        # A generated request that names a real instance samples it for 1 s, not up to 60.
        if isinstance(body, dict) and isinstance(body.get("seconds"), int) and 1 <= body["seconds"] <= 60:
            body["seconds"] = 1
        return
    if case.operation.path != "/api/v1/deploy":
        return
    if isinstance(body, dict) and isinstance(body.get("dry_run", False), bool):
        body["dry_run"] = True

