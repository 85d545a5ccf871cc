"""What every part of the downloader uses: its two failures (:class:`DownloadError` for good, :class:`_Retry`
for a transient one), URLs shown without their credentials (:func:`scrubber`, :func:`redact_url`), the URL
test, the sha256 check and the progress bar."""
from __future__ import annotations

import re
import sys
from typing import Callable
from urllib.parse import parse_qsl, unquote, urlparse

from ..errors import InputError, PipelineError

_SHA256 = re.compile(r"[0-9a-f]{64}")


class DownloadError(PipelineError):
    """The network failed for good (after retries); the partial file is kept for a later resume."""


#: query parameters whose values are credentials (compared in lower case)
SECRET_PARAMETERS = frozenset({
    "key", "apikey", "api_key", "api-key", "token", "access_token", "auth", "authorization", "password", "passwd",
    "pwd", "secret", "client_secret", "signature", "sig", "x-amz-signature", "x-amz-credential",
    "x-amz-security-token", "x-goog-signature", "x-goog-credential"})


def _secrets_of(url: str) -> list[str]:
    """The credentials a URL carries: its user information and the values of :data:`SECRET_PARAMETERS`."""
    try:
        parts = urlparse(str(url))
        found = [parts.netloc.rsplit("@", 1)[0]] if "@" in parts.netloc else []
        found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() in SECRET_PARAMETERS]
    except ValueError:
        return []
    out = set()
    for value in found:
        for form in (value, unquote(value)):
            if len(form) >= 3:
                out.add(form)
                out.update(x for x in form.split(":") if len(x) >= 3)  # user and password alone
    return sorted(out, key=len, reverse=True)


def scrubber(url: str) -> Callable[[str], str]:
    """A function that writes ``***`` for every credential of ``url`` in a text (an error, a log line)."""
    secrets = _secrets_of(url)

    def scrub(text) -> str:
        text = str(text)
        for secret in secrets:
            text = text.replace(secret, "***")
        return text

    return scrub


def redact_url(url: str) -> str:
    """``url`` as it may be shown: user information and credential parameters replaced by ``***``."""
    return scrubber(url)(url)


def is_url(location: str) -> bool:
    return urlparse(str(location)).scheme in ("http", "https", "file")


def check_sha256(value, where: str) -> str:
    """``value`` as a lowercase hex sha256, or an :class:`InputError` naming ``where``."""
    if isinstance(value, str) and _SHA256.fullmatch(value.lower()):
        return value.lower()
    raise InputError(where, "a sha256 of 64 hex digits", f"got {value!r:.80}")


def _bar(total: int | None, initial: int, name: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                disable=not enabled or not sys.stderr.isatty(), leave=False)


class _Retry(Exception):
    """A transient failure (cut connection, timeout, HTTP 429 or 5xx): try again.

    ``retry_after``: the seconds the server asked to wait (``Retry-After``), with the header as sent;
    ``stalled``: the attempt ended in a stall (the read timeout, or under the rate floor), so the few
    bytes it brought do not count as progress (a trickling server must use up the retry budget, not
    reset it with every byte).
    """

    def __init__(self, reason: str, *, retry_after: tuple[float, str] | None = None, stalled: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.stalled = stalled
