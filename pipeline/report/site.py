"""Build the run report: a static site under ``outputs/report/`` from the complete stages of a plan.

The plan (:class:`SpecEntry` with its :class:`StageRef` list) comes from the
DAG (:func:`pipeline.dag.report.report_plan`); this module needs no luigi.
A stage folder is read only when it is complete (its success marker is there
and its files match it, :func:`pipeline.integrity.check_stage`); any other
folder is listed with its status and never opened.

Each complete stage gets ``stages/<stage>/<folder>/index.html`` (plus its
data files). Its folder name carries the stage identity, so a page whose
stamp (folder name, marker creation time, report version) is unchanged is
kept as it is; pages of stages no longer in the plan are removed. The front
page and the artifacts page are rewritten on every build.

A page is rendered into a temporary folder and moved into place whole. When
its renderer fails (a bug, a file shape not foreseen), that page alone says so:
it is replaced by a page naming the error (type and message, escaped, the
credentials of any URL in it as ``***``), its row on the front page says the
same, the error is logged with its traceback, and :attr:`BuildResult.pages_failed`
counts it. The other pages and the front page are still written; no stamp is
kept for the failed page, and no state is recorded for the site (so the
``Report`` task is not complete and the next build tries that page again).
A failure of the front page or the artifacts page still fails the build.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..identity import canonical_json, write_json
from ..integrity import SUCCESS, check_stage, read_marker
from . import assets
from .html import esc, fmt, fmt_date, href, page, status_badge, table

log = logging.getLogger(__name__)

#: bumped whenever the pages of a stage change for the same stage folder
REPORT_VERSION = 1
STATE = ".state.json"
STAMP = ".stamp.json"


@dataclass(frozen=True)
class StageRef:
    """One stage folder a spec builds (``stage``: ``cade-report``, ``aligned``, ...)."""

    stage: str
    folder: Path
    final: bool = False


@dataclass(frozen=True)
class SpecEntry:
    """A spec under ``tasks/<kind>/``: its status (``ok``, ``invalid: ...``, ``skipped: ...``) and stages."""

    kind: str
    name: str
    status: str = "ok"
    description: str = ""
    stages: tuple[StageRef, ...] = ()


@dataclass
class StageState:
    status: str                     # complete | not built | incomplete: <why>
    marker: dict | None = None
    page: str | None = None         # relative to the report folder, when complete
    error: str | None = None        # why its page could not be rendered (a page naming it is written instead)


@dataclass
class BuildResult:
    report_dir: Path
    pages_written: int = 0
    pages_kept: int = 0
    pages_removed: int = 0
    pages_failed: int = 0           # complete stages whose page could not be rendered (an error page instead)
    seconds: float = 0.0
    stages: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)  # stage folder -> the error its page names

    @property
    def clean(self) -> bool:
        """Every complete stage got its page."""
        return self.pages_failed == 0

    def as_dict(self) -> dict:
        return {"report_dir": str(self.report_dir), "pages_written": self.pages_written,
                "pages_kept": self.pages_kept, "pages_removed": self.pages_removed,
                "pages_failed": self.pages_failed, "failed": dict(self.failed),
                "seconds": round(self.seconds, 3), "bytes": tree_bytes(self.report_dir)}


def tree_bytes(folder: Path) -> int:
    """Bytes on disk under ``folder`` (allocated blocks, as ``du`` counts them)."""
    total = 0
    for p in Path(folder).rglob("*"):
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_blocks * 512
    return total


def stage_state(folder: Path) -> StageState:
    """Whether a stage folder may be read: ``complete`` only with its marker and intact files."""
    folder = Path(folder)
    if not folder.exists():
        return StageState("not built")
    problem = check_stage(folder)
    if problem is not None:
        return StageState(f"incomplete: {problem}")
    return StageState("complete", read_marker(folder))


def plan_state(specs: list[SpecEntry], store_manifest: Path | None = None) -> str:
    """A fingerprint of everything the site shows: specs, their stage folders and states, the manifest."""
    rec: list = [_code_version()]
    for s in specs:
        stages = []
        for ref in s.stages:
            st = stage_state(ref.folder)
            stages.append([ref.stage, str(ref.folder), st.status, (st.marker or {}).get("created")])
        rec.append([s.kind, s.name, s.status, s.description, stages])
    if store_manifest is not None and store_manifest.is_file():
        st = store_manifest.stat()
        rec.append([str(store_manifest), st.st_size, st.st_mtime_ns])
    import hashlib

    return hashlib.sha256(canonical_json(rec).encode()).hexdigest()


def read_state(report_dir: Path) -> str | None:
    try:
        return json.loads((Path(report_dir) / STATE).read_text(encoding="utf-8")).get("state")
    except (OSError, ValueError, AttributeError):
        return None


def _write(path: Path, text: str) -> None:
    """Write atomically, and only when the content differs (an unchanged asset keeps its mtime)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_site(specs: list[SpecEntry], report_dir: str | Path, *, profile: str = "full",
               store: dict | None = None, title: str = "chronolingua run report") -> BuildResult:
    """Write the site for ``specs`` into ``report_dir``; returns what was written and how long it took.

    ``store``: ``{"url": ..., "manifest": path or None, "entries": [...] or None, "error": str or None}``
    (see :func:`pipeline.dag.report.store_info`), or None when no store is configured.

    A stage page whose renderer raises is replaced by a page naming the error and counted in
    ``pages_failed`` (see the module docstring); the build goes on. ``KeyboardInterrupt`` and
    ``SystemExit`` are not caught, and a failure of the front page is the build's.
    """
    from .stages import render_stage

    t0 = time.perf_counter()
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    result = BuildResult(report_dir)
    _write(report_dir / "assets" / "report.css", assets.CSS)
    _write(report_dir / "assets" / "report.js", assets.JS)

    states: dict[Path, StageState] = {}
    for s in specs:
        for ref in s.stages:
            if ref.folder not in states:
                states[ref.folder] = stage_state(ref.folder)
    stages_dir = report_dir / "stages"
    wanted: set[Path] = set()
    refs = {ref.folder: ref for s in specs for ref in s.stages}
    for folder, st in states.items():
        if st.status != "complete":
            continue
        ref = refs[folder]
        page_dir = stages_dir / ref.stage / folder.name
        wanted.add(page_dir)
        st.page = f"stages/{ref.stage}/{folder.name}/index.html"
        stamp = {"folder": str(folder), "created": (st.marker or {}).get("created"),
                 "stage_id": (st.marker or {}).get("stage_id"), "version": _code_version()}
        if _read_json(page_dir / STAMP) == stamp and (page_dir / "index.html").is_file():
            result.pages_kept += 1
            continue
        tmp = page_dir.parent / f".tmp-{page_dir.name}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        try:
            try:
                render_stage(ref.stage, folder, tmp, root="../../../", page_dir=page_dir)
            except Exception as exc:  # this page only: the others, and the front page, are still written
                st.error = _error_text(exc, store)
                log.error("%s/%s: its report page could not be rendered (%s); a page saying so is written "
                          "instead, the other pages are built\n%s", ref.stage, folder.name, st.error,
                          _scrub("".join(traceback.format_exception(exc)), store).rstrip())
                shutil.rmtree(tmp)  # whatever the renderer had written: none of it is shown
                tmp.mkdir()
                (tmp / "index.html").write_text(_error_page(ref.stage, folder, page_dir, st.error),
                                                encoding="utf-8")
            else:
                write_json(tmp / STAMP, stamp)  # none for an error page: the next build tries it again
            if page_dir.exists():
                shutil.rmtree(page_dir)
            os.replace(tmp, page_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if st.error is None:
            result.pages_written += 1
        else:
            result.pages_failed += 1
            result.failed[str(folder)] = st.error
    if stages_dir.is_dir():  # pages of stages the plan no longer holds
        for stage_dir in list(stages_dir.iterdir()):
            for d in list(stage_dir.iterdir()) if stage_dir.is_dir() else []:
                if d not in wanted:
                    shutil.rmtree(d, ignore_errors=True)
                    result.pages_removed += not d.name.startswith(".tmp-")
            if stage_dir.is_dir() and not any(stage_dir.iterdir()):
                stage_dir.rmdir()

    result.stages = {str(k): v.status for k, v in states.items()}
    result.seconds = time.perf_counter() - t0
    _write(report_dir / "artifacts.html", artifacts_page(store))
    _write(report_dir / "index.html", front_page(specs, states, report_dir, profile=profile, title=title,
                                                 seconds=time.perf_counter() - t0))
    built = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if result.clean:
        write_json(report_dir / STATE, {"state": plan_state(specs, (store or {}).get("manifest")), "built": built})
    else:  # no state: the site is not up to date with its plan until every page renders
        write_json(report_dir / STATE, {"state": None, "built": built, "not_rendered": sorted(result.failed)})
        log.error("report: %d stage page(s) could not be rendered (%s); the site is written, the pages say so",
                  result.pages_failed, ", ".join(sorted(result.failed)))
    result.seconds = time.perf_counter() - t0
    return result


#: anything that looks like a URL in an error message (its credentials are scrubbed)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def _scrub(text: str, store: dict | None) -> str:
    """``text`` with the credentials of the store's URL and of every URL in it written as ``***``.

    >>> _scrub("GET https://bob:hunter2@h/x?token=abc123 failed; hunter2 leaked", None)
    'GET https://***@h/x?token=*** failed; *** leaked'
    """
    from ..download import scrubber

    for url in [(store or {}).get("url") or "", *_URL.findall(text)]:
        if url:
            text = scrubber(url)(text)
    return text


def _error_text(exc: BaseException, store: dict | None, limit: int = 500) -> str:
    """One line naming ``exc``: its type and its message, scrubbed (:func:`_scrub`), then cut to ``limit``
    characters (scrubbing first: a cut could end inside a credential and leave most of it showing).

    >>> _error_text(KeyError("seed"), None), _error_text(ValueError("a\\nb  c"), None)
    ("KeyError: 'seed'", 'ValueError: a b c')
    """
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    try:
        message = str(exc)
    except Exception:  # an exception whose own __str__ fails
        message = "(its message could not be read)"
    text = _scrub(" ".join(f"{name}: {message}".split()) if message else name, store)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _error_page(stage: str, folder: Path, page_dir: Path, error: str) -> str:
    """The page of a complete stage whose renderer failed: it says so and names the error."""
    body = (f"<h1>{esc(stage)}/{esc(folder.name)}</h1>"
            f'<p class="status-not-rendered">This page could not be rendered: <code>{esc(error)}</code></p>'
            f'<p class="note">The stage itself is complete; its files are in the '
            f'<a href="{href(_rel(folder, page_dir))}/">stage folder</a>. The report build logged this error '
            f"with its traceback; the next build tries this page again.</p>")
    return page(f"{stage}/{folder.name} (not rendered)", body, root="../../../")


def _code_version() -> str:
    """The report version and a hash of this package's code: a page is rewritten when what renders it changed
    (and its data files must match the script they load)."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted(Path(__file__).parent.glob("*.py")):
        h.update(p.read_bytes())
    return f"{REPORT_VERSION}-{h.hexdigest()[:12]}"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _rel(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def front_page(specs: list[SpecEntry], states: dict[Path, StageState], report_dir: Path, *, profile: str,
               title: str, seconds: float) -> str:
    """The front page: per spec, the key results of its complete stages (:mod:`.summary`) and its stages'
    table (folded away when every stage is complete and its page rendered)."""
    from .summary import stage_summary

    kinds: dict[str, list[SpecEntry]] = {}
    for s in specs:
        kinds.setdefault(s.kind, []).append(s)
    n_complete = sum(st.status == "complete" for st in states.values())
    n_failed = sum(st.error is not None for st in states.values())
    body = [f"<h1>{esc(title)}</h1>",
            f'<p class="note">Profile <code>{esc(profile)}</code>; {len(specs)} spec(s), {len(states)} stage '
            f"folder(s), {n_complete} complete. Built {esc(time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()))}"
            f" in {seconds:.2f} s. Only complete stages (success marker present, files intact) are read.</p>"]
    if n_failed:
        body.append(f'<p class="status-not-rendered">{n_failed} stage page(s) could not be rendered; their rows '
                    "below name the error.</p>")
    toc = " &middot; ".join(f'<a href="#kind-{esc(k)}">{esc(k)}</a>' for k in kinds)
    body.append(f"<p>{toc}</p>")
    for kind, entries in kinds.items():
        body.append(f'<h2 id="kind-{esc(kind)}">{esc(kind)}</h2>')
        for s in entries:
            anchor = f"spec-{s.kind}-{s.name}"
            body.append(f'<h3 id="{esc(anchor)}">{esc(s.kind)}/{esc(s.name)} &nbsp; {status_badge(s.status)}</h3>')
            if s.description:
                body.append(f'<p class="note">{esc(s.description)}</p>')
            if not s.stages:
                continue
            results = [[f'<a href="{href(states[ref.folder].page)}">{esc(ref.stage)}</a>', esc(label), esc(value)]
                       for ref in s.stages if states[ref.folder].status == "complete" and states[ref.folder].page
                       for label, value in stage_summary(ref.stage, ref.folder)]
            if results:
                body.append(table(["stage", "result", "value"], results, cls="results"))
            rows = []
            for ref in s.stages:
                st = states[ref.folder]
                name = ref.folder.name
                digest = name.rsplit("-", 1)[-1] if "-" in name else name
                label = f"{esc(ref.stage)}/{esc(name)}" + (" <b>(final)</b>" if ref.final else "")
                link = f'<a href="{href(st.page)}">{label}</a>' if st.page else label
                links = []
                if ref.folder.exists():
                    links.append(f'<a href="{href(_rel(ref.folder, report_dir))}/">folder</a>')
                if st.status == "complete" and (ref.folder / "provenance.json").is_file():
                    links.append(f'<a href="{href(_rel(ref.folder / "provenance.json", report_dir))}">provenance</a>')
                created = (st.marker or {}).get("created")
                status = status_badge(st.status)
                if st.error is not None:
                    status += (f' <span class="status-not-rendered">page not rendered: '
                               f"<code>{esc(st.error)}</code></span>")
                rows.append([link, status, f"<code>{esc(digest)}</code>",
                             fmt_date(created) if st.status == "complete" else "", " ".join(links)])
            done = sum(states[ref.folder].status == "complete" for ref in s.stages)
            whole = done == len(s.stages) and not any(states[ref.folder].error for ref in s.stages)
            # every stage complete: its rows fold away under the results; else they stay open, to be seen
            body.append(f"<details{'' if whole else ' open'}><summary>{len(s.stages)} stage(s), {done} complete"
                        "</summary>" + table(["stage", "status", "identity", "built", "links"], rows) + "</details>")
    return page(title, "".join(body), root="")


def artifacts_page(store: dict | None) -> str:
    body = ["<h1>Published artifacts</h1>"]
    if not store:
        body.append('<p class="note">No artifact store is configured (<code>[pipeline] store</code> or '
                    "<code>$CHRONOLINGUA_STORE</code>); nothing is listed.</p>")
        return page("Published artifacts", "".join(body), root="")
    body.append(f"<p>Store <code>{esc(_scrub(str(store.get('url') or ''), store))}</code>")
    if store.get("manifest_href"):
        body.append(f' &middot; <a href="{href(store["manifest_href"])}">manifest.json</a>')
    body.append("</p>")
    if store.get("error"):
        body.append(f'<p class="missing">{esc(_scrub(store["error"], store))}</p>')
    entries = store.get("entries") or []
    rows = []
    for e in entries:
        lic = e.get("licences") or []
        lic_txt = "; ".join(f"{r.get('name', '?')}: {r.get('licence', 'not declared')}" for r in lic
                            if isinstance(r, dict)) or None
        rows.append([esc(e.get("name")), f"<code>{esc(e.get('version'))}</code>", fmt(e.get("size")),
                     f"<code>{esc(e.get('sha256'))}</code>", fmt_date(e.get("created")), fmt(lic_txt)])
    if rows:
        body.append(table(["name", "version", "size (bytes)", "sha256", "created", "licences"], rows,
                          numeric=[False, False, True, False, False, False]))
    elif not store.get("error"):
        body.append('<p class="note">The manifest lists no artifact.</p>')
    return page("Published artifacts", "".join(body), root="")


__all__ = ["StageRef", "SpecEntry", "BuildResult", "build_site", "stage_state", "plan_state", "read_state",
           "tree_bytes", "REPORT_VERSION", "SUCCESS"]
