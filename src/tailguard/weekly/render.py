"""HTML pages of the weekly cycle (pack, OKR one-pager, network index) and their PDFs.

Pages are self-contained: CSS inline, the pack's figure a base64 PNG, no scripts, so they open
offline and print as they look. :func:`render_areas` spreads areas over worker processes
(``spawn``: Polars' threads do not survive ``fork``); each worker builds one figure and one
browser and reuses them for every area it renders.
"""

from __future__ import annotations

import base64
import json
import math
import multiprocessing as mp
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from tailguard.clock import format_ts
from tailguard.metrics.kpis import KPIS
from tailguard.weekly.pack import Pack
from tailguard.weekly.plots import Scale

_TEMPLATES = Path(__file__).with_name("templates")


def _usd(v: Any, sign: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    f = float(v)
    text = f"${abs(f):,.0f}"
    if f < 0:
        return "−" + text
    return ("+" + text) if sign and f > 0 else text


def _num(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{float(v):,.1f}"


def _num3(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{float(v):.3f}"


@cache
def environment() -> jinja2.Environment:
    """The Jinja environment with the pages' filters (autoescaped)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["usd"] = _usd
    env.filters["num"] = _num
    env.filters["num3"] = _num3
    env.filters["int0"] = lambda v: "-" if v is None else f"{int(v):,}"
    env.filters["pct100"] = lambda v: "-" if v is None else f"{100 * float(v):.0f} %"
    env.filters["kpi_title"] = lambda k: KPIS[k].title if k in KPIS else (k or "-")
    env.filters["kpi_dir"] = lambda k: "↑" if KPIS[k].higher_is_better else "↓"
    return env


@cache
def css() -> Markup:
    """The shared stylesheet, inlined into every page.

    Markup: the file is ours and trusted; autoescaping it would turn its quotes into
    entities and the browser would drop the rules (every page fell back to serif).
    """
    return Markup((_TEMPLATES / "_style.css").read_text(encoding="utf-8"))


def pack_html(pack: Pack, png: bytes | Sequence[bytes]) -> str:
    """The diagnostic pack page (``png``: the figure, or its strips (printed on whole pages
    each), embedded as base64)."""
    strips = [png] if isinstance(png, bytes) else list(png)
    drifted = sum(1 for p in pack.panels if p.drift.get("level") not in ("none", None))
    return (
        environment()
        .get_template("pack.html.j2")
        .render(
            p=pack,
            as_of=format_ts(pack.as_of),
            css=css(),
            strips_b64=[base64.b64encode(b).decode("ascii") for b in strips],
            gains_total=sum(g["gp_usd"] for g in pack.top_gains),
            drag_total=sum(d["gp_vs_expected_usd"] for d in pack.bottom_drag),
            n_drift=drifted,
        )
    )


def okr_html(okr: dict[str, Any], last: dict[str, Any] | None = None) -> str:
    """The OKR one-pager."""
    hours = sum(float(lv["cost"].get("hours", 0.0)) for lv in okr["levers"])
    return (
        environment().get_template("okr.html.j2").render(o=okr, css=css(), hours=hours, last=last)
    )


def index_html(as_of: str, rows: list[dict[str, Any]], scores: dict[str, int]) -> str:
    """The network index page."""
    total = sum(float(r["net"]["mean"]) for r in rows)
    return (
        environment()
        .get_template("index.html.j2")
        .render(as_of=as_of, rows=rows, scores=scores, css=css(), total_net=total)
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class AreaJob:
    """What a worker needs to write one area's pages."""

    pack: Pack
    okr: dict[str, Any]
    bench: dict[str, Any]
    out: Path


@dataclass(frozen=True, kw_only=True, slots=True)
class AreaDone:
    """What a worker reports back for one area."""

    area_id: str
    files: tuple[str, ...]
    pdf_error: str | None
    plot_s: float
    html_s: float
    pdf_s: float


class _Worker:
    """Per-process state: one figure, one browser (if PDFs are wanted and possible)."""

    def __init__(self, pdf: bool, scales: Mapping[str, Scale]) -> None:
        from tailguard.weekly.pdf import PdfPrinter, PdfUnavailableError
        from tailguard.weekly.plots import PackPlotter

        self.plotter = PackPlotter(scales)
        self.printer: PdfPrinter | None = None
        self.pdf_error: str | None = None
        if pdf:
            try:
                self.printer = PdfPrinter().__enter__()
            except PdfUnavailableError as exc:
                self.pdf_error = str(exc)

    def run(self, job: AreaJob) -> AreaDone:
        import time

        t0 = time.perf_counter()
        png = self.plotter.png_strips(job.pack)
        t1 = time.perf_counter()
        out = job.out
        out.mkdir(parents=True, exist_ok=True)
        pages = {
            "pack": pack_html(job.pack, png),
            "okr": okr_html(job.okr, job.pack.last_week_score),
        }
        files = []
        for name, html in pages.items():
            (out / f"{name}.html").write_text(html, encoding="utf-8")
            files.append(f"{name}.html")
        (out / "okr.json").write_text(json.dumps(job.okr, indent=2) + "\n", encoding="utf-8")
        (out / "benchmark.json").write_text(
            json.dumps(job.bench, indent=2) + "\n", encoding="utf-8"
        )
        (out / "pack.json").write_text(
            json.dumps(job.pack.summary(), indent=2, default=str) + "\n", encoding="utf-8"
        )
        files += ["okr.json", "benchmark.json", "pack.json"]
        t2 = time.perf_counter()
        error = self.pdf_error
        if self.printer is not None:
            try:
                for name, html in pages.items():
                    self.printer.print(html, out / f"{name}.pdf")
                    files.append(f"{name}.pdf")
            except Exception as exc:  # a browser crash must not lose the HTML pages
                error = f"{type(exc).__name__}: {exc}"
        t3 = time.perf_counter()
        return AreaDone(
            area_id=job.pack.area_id,
            files=tuple(files),
            pdf_error=error,
            plot_s=t1 - t0,
            html_s=t2 - t1,
            pdf_s=t3 - t2,
        )

    def close(self) -> None:
        self.plotter.close()
        if self.printer is not None:
            self.printer.__exit__(None, None, None)


_STATE: _Worker | None = None


def _init(pdf: bool, scales: Mapping[str, Scale]) -> None:
    global _STATE
    from multiprocessing.util import Finalize

    _STATE = _Worker(pdf, scales)
    # Runs when the worker exits normally (pool.close + join): closes the browser.
    Finalize(None, _STATE.close, exitpriority=10)


def _run(job: AreaJob) -> AreaDone:
    assert _STATE is not None
    return _STATE.run(job)


def render_areas(
    jobs: Sequence[AreaJob],
    scales: Mapping[str, Scale],
    *,
    workers: int = 2,
    pdf: bool = True,
) -> Iterator[AreaDone]:
    """Write every area's files, in ``workers`` processes (1: in this process); yields as done."""
    if workers <= 1 or len(jobs) <= 1:
        worker = _Worker(pdf, scales)
        try:
            for job in jobs:
                yield worker.run(job)
        finally:
            worker.close()
        return
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(processes=workers, initializer=_init, initargs=(pdf, scales))
    try:
        chunk = max(1, min(8, len(jobs) // (4 * workers)))
        yield from pool.imap_unordered(_run, jobs, chunksize=chunk)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
