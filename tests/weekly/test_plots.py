"""The pack figure: ECDF points, thinning, and a PNG drawn on network scales."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tailguard.weekly import run_week
from tailguard.weekly.plots import MAX_POINTS, ecdf_points, network_scales, thin

from .conftest import Network


def test_ecdf_points_are_exact_for_small_samples() -> None:
    """Each value steps the CDF by 1/n, starting from 0 at the smallest value."""
    x, y = ecdf_points(np.array([3.0, 1.0, 2.0]))
    assert list(x) == [1.0, 1.0, 2.0, 3.0]
    assert list(y) == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])


def test_ecdf_points_of_large_samples_lie_on_the_exact_ecdf() -> None:
    """Thinned points keep the exact (value, rank/n) pairs, including the maximum."""
    v = np.random.default_rng(1).normal(size=5000)
    x, y = ecdf_points(v)
    assert x.size <= MAX_POINTS + 1
    assert x[-1] == v.max()
    assert y[-1] == 1.0
    for xi, yi in zip(x[1:], y[1:], strict=True):
        assert np.mean(v <= xi) == pytest.approx(yi)


def test_thin_keeps_the_last_point() -> None:
    """A long trend keeps at most MAX_POINTS points and always the latest."""
    t = np.arange(1000.0)
    x, y = thin(t, t * 2)
    assert x.size <= MAX_POINTS
    assert x[-1] == 999.0
    assert list(y) == list(x * 2)


def test_scales_cover_the_network_and_its_levels() -> None:
    """Scales span the data with a margin and include the P50 / P90 lines."""
    s = network_scales({"ftf_pct": np.linspace(60, 90, 101)}, {"ftf_pct": np.array([70.0])},
                       {"ftf_pct": (75.0, 85.0)}, days=20)  # fmt: skip
    ftf = s["ftf_pct"]
    assert ftf.x[0] < 60.2
    assert ftf.x[1] > 89.8
    assert ftf.y[0] < 70.0
    assert ftf.y[1] > 85.0
    assert ftf.days == 20


def test_pack_figure_is_printed_in_strips_that_never_cut_a_chart(
    network: Network, tmp_path: Path
) -> None:
    """The worker's figure of a real pack comes as PNG strips of whole KPI rows (so a PDF page
    breaks between charts), together the full figure; the page's stylesheet is not escaped."""
    out = tmp_path / "w"
    run_week(network.ledger_url, network.ends[1], out, ["PA-0001"], workers=1, pdf=False)
    html = (out / "PA-0001" / "pack.html").read_text(encoding="utf-8")
    strips = [
        Image.open(io.BytesIO(base64.b64decode(part.split('"')[0])))
        for part in html.split('src="data:image/png;base64,')[1:]
    ]
    assert len(strips) == 5  # 13 KPI rows, 3 a strip
    assert all(img.format == "PNG" and img.size[0] > 700 for img in strips)
    assert sum(img.size[1] for img in strips) > 1500
    assert all(img.size[1] < 600 for img in strips)  # each fits well inside an A4 page
    assert 'font-family: "DejaVu Sans"' in html
    assert "&#34;" not in html.split("</style>")[0]
    assert "break-inside: avoid" in html
    okr = (out / "PA-0001" / "okr.html").read_text(encoding="utf-8")
    assert 'font-family: "DejaVu Sans"' in okr
    summary = json.loads((out / "PA-0001" / "pack.json").read_text(encoding="utf-8"))
    assert set(summary["kpis"]) >= {"nps_p10", "churn_90d_pct"}


def test_drawing_a_pack_figure_leaves_matplotlibs_global_style_alone() -> None:
    """The pack's style applies to its figure only: the process's rcParams are unchanged."""
    import matplotlib

    from tailguard.metrics.kpis import KPI_IDS
    from tailguard.weekly.plots import PackPlotter, Scale

    # Importing the module (done above) set nothing either.
    for key in ("font.size", "axes.spines.top", "axes.spines.right"):
        assert matplotlib.rcParams[key] == matplotlib.rcParamsDefault[key]
    before = dict(matplotlib.rcParams)
    plotter = PackPlotter({k: Scale(x=(0.0, 1.0), y=(0.0, 1.0)) for k in KPI_IDS})
    try:
        assert not plotter.axes[0][0].spines["top"].get_visible()
        assert plotter.rows[0]["empty_a"].get_fontsize() == 7.5
    finally:
        plotter.close()
    assert dict(matplotlib.rcParams) == before
