"""Schemathesis hooks for scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

Idempotency-Key: keys are scoped to the caller, and the same key with a different request is a
422 by design. Schemathesis draws keys from a small space (`!`, `0`, ...), so without this hook
most POSTs would reuse a key from an earlier, different request and stop at that 422 instead of
reaching the handler. In positive test cases, every key the API would accept (1..255 visible
ASCII characters) is made unique per request. Negative cases are left exactly as generated:
schemathesis re-derives a case's mode after a `before_call` edit, so editing a negative case
(e.g. "Authorization missing") would turn it positive and make schemathesis put back the headers
it had deliberately removed. Replays and key reuse are covered by the integration tests
(tests/tests/api/*.rs).
"""

import re
import uuid

import schemathesis

_VALID_KEY = re.compile(r"[!-~]{1,255}")
_HEADER = "idempotency-key"


@schemathesis.hook
def before_call(context, case, kwargs):
    meta = case.meta
    if meta is not None and meta.generation.mode.is_negative:
        return
    headers = case.headers
    if not headers:
        return
    for name, value in list(headers.items()):
        if name.lower() == _HEADER and isinstance(value, str) and _VALID_KEY.fullmatch(value.strip()):
            headers[name] = f"{value.strip()[:200]}.{uuid.uuid4().hex}"


# CPython before 3.11.8 (gh-106905) can raise a spurious `SystemError: AST constructor recursion
# depth mismatch` from `ast.parse` when it runs deep in the stack. Hypothesis calls it only to
# describe a lambda in a strategy's repr, which schemathesis builds while generating arbitrary JSON
# (`metadata`, read-only fields), so the run dies with a "Runtime Error" that says nothing about
# the API. Degrade that one description to hypothesis's own "unknown lambda" text instead.
def _tolerate_ast_recursion_bug():
    try:
        from hypothesis.internal import lambda_sources
    except ImportError:
        return
    original = getattr(lambda_sources, "_lambda_description", None)
    if original is None:
        return

    def describe(f, *args, **kwargs):
        try:
            return original(f, *args, **kwargs)
        except SystemError as error:
            if "AST constructor recursion depth mismatch" not in str(error):
                raise
            return "lambda: <unknown>"

    lambda_sources._lambda_description = describe


_tolerate_ast_recursion_bug()
