"""Render a board directory: ``LEADERBOARD.md``, a static ``index.html`` and PNG plots.

Everything is computed from the stored entries (``entries/<dataset>/<config>/<slug>/``):
the numbers come from each entry's ``scores.nc`` via
:func:`pdeforge.leaderboard.score.summarize` (mean over test samples of the per-sample
metric, 95 % percentile-bootstrap interval over samples, 1000 resamples, seed 0), never from
anything a submitter typed.  Per dataset/config one table sorted by mean ``rel_l2``
(NaN last); beside them an aggregate ranking across all dataset/configs by
:func:`pdeforge.leaderboard.aggregate.mean_rank` of the ``rel_l2`` means (a model without an
entry for some config counts as last there).

``index.html`` is self-contained (inline CSS, a few lines of inline JS for sortable tables,
a Content-Security-Policy that only allows that script by its hash) and links PNGs under
``plots/``: per config the per-sample ``rel_l2`` against the default grouping parameter
(ConDiff: contrast), for time-series configs ``rel_l2`` against rollout step (mean over test
samples with the 95 % bootstrap band, :func:`pdeforge.leaderboard.score.rollout_curve`; their
tables also show ``rollout_rel_l2`` and ``steps_to_threshold``), and per entry truth /
prediction / error maps of one test sample when
the predictions file is stored in the entry and the dataset is available under the data
root.  All submission text is HTML-escaped (and Markdown-escaped in ``LEADERBOARD.md``);
only ``http(s)`` links become links.  The output does not contain timestamps, so rendering
the same entries twice gives the same files.

Entries are compared only on the same test set (:attr:`Entry.test_set`: size and a hash of
the sample indices): a config whose entries were scored on different test sets gets one
table per test set (each with its own sample count, and a warning), and each counts as its
own column of the aggregate ranking.  An entry whose mean ``rel_l2`` is below
:data:`~pdeforge.leaderboard.score.ROUND_OFF_REL_L2` (it reproduces the stored truth to
round-off; only stored with ``--allow-exact``) is flagged "at round-off" in both pages.
Every entry is re-validated first (:meth:`Entry.validate`); a hand-edited ``meta.json`` is
refused, naming the file.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

from pdeforge.leaderboard.entries import Entry, list_entries

__all__ = ["render", "RANK_METRIC", "TABLE_METRICS", "ROLLOUT_TABLE_METRICS"]

RANK_METRIC = "rel_l2"
#: metrics shown as columns (mean with the interval in a tooltip); all appear in "all metrics"
TABLE_METRICS = ("rel_l2", "max_err")
#: extra columns of time-series sections (when the entries' scores hold them)
ROLLOUT_TABLE_METRICS = ("rollout_rel_l2", "steps_to_threshold")
PLOTS = "plots"


# --------------------------------------------------------------------------- model


@dataclass
class Row:
    entry: Entry
    key: str  # model name used in the aggregate ranking (unique within a config)
    summary: object  # DataFrame of summarize()
    rank: int = 0
    round_off: float | None = None  # mean rel_l2 when at round-off (flagged)

    def value(self, metric, by="all", group="all"):
        s = self.summary
        hit = s[(s.metric == metric) & (s.by == by) & (s.group == group)]
        if hit.empty:
            return None
        r = hit.iloc[0]
        return float(r["mean"]), float(r["ci_lo"]), float(r["ci_hi"]), int(r["n"])


@dataclass
class Section:
    dataset: str
    config: str
    rows: list[Row]
    grouping: str | None = None
    groups: list[tuple[str, float, float]] = field(default_factory=list)  # (name, lo, hi)
    versions: list[str] = field(default_factory=list)
    n_samples: int = 0
    test_set: str = ""  # indices_sha256 of the section's test set
    split_tables: bool = False  # the config has entries on more than one test set
    plot: str | None = None
    examples: dict[str, str] = field(default_factory=dict)  # slug -> png name
    example_note: str = ""
    #: time-series entries: the rollout columns present in every row's scores, and the plot
    rollout_metrics: list[str] = field(default_factory=list)
    rollout: bool = False
    rollout_plot: str | None = None

    @property
    def columns(self) -> list[str]:
        """Metric columns after the rank metric (and its groups)."""
        return [m for m in TABLE_METRICS if m != RANK_METRIC] + self.rollout_metrics

    @property
    def anchor(self) -> str:
        base = f"{self.dataset}--{self.config}"
        if self.split_tables:
            base += f"--n{self.n_samples}-{self.test_set[:8]}"
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", base)

    @property
    def column(self) -> str:
        """Name of the section in the aggregate ranking."""
        name = f"{self.dataset}/{self.config}"
        return name + (f" [{self.n_samples} test samples, {self.test_set[:8]}]"
                       if self.split_tables else "")

    @property
    def title_suffix(self) -> str:
        return (f" ({self.n_samples} test samples, indices {self.test_set[:8]})"
                if self.split_tables else "")


def _sort_key(row: Row):
    v = row.value(RANK_METRIC)
    m = v[0] if v else math.nan
    return (math.isnan(m), m if not math.isnan(m) else 0.0, row.key)


def _build_sections(entries: list[Entry]) -> list[Section]:
    from pdeforge.leaderboard.score import round_off_level, summarize

    by_test_set: dict[tuple[str, str, int, str], list[Entry]] = defaultdict(list)
    for e in entries:
        ts = e.test_set
        by_test_set[(e.dataset, e.config, -int(ts["n_samples"]), ts["indices_sha256"])].append(e)
    n_sets = defaultdict(int)
    for dataset, config, _, _ in by_test_set:
        n_sets[(dataset, config)] += 1
    sections = []
    for (dataset, config, neg_n, test_set), group in sorted(by_test_set.items()):
        names = [e.model for e in group]
        rows = []
        for e in group:
            key = e.model if names.count(e.model) == 1 else f"{e.model} ({e.slug})"
            rows.append(Row(e, key, summarize(e.scores()), round_off=round_off_level(e.scores())))
        rows.sort(key=_sort_key)
        for i, r in enumerate(rows, 1):
            r.rank = i
        sec = Section(dataset, config, rows)
        first = rows[0].entry.scores()
        sec.n_samples = -neg_n  # the section's own test set, the same for every row
        sec.test_set = test_set
        sec.split_tables = n_sets[(dataset, config)] > 1
        sec.versions = sorted({e.meta["content_key"] for e in group})
        if "t" in first.dims and RANK_METRIC in first.data_vars and "t" in first[RANK_METRIC].dims:
            sec.rollout = True
            sec.rollout_metrics = [m for m in ROLLOUT_TABLE_METRICS
                                   if all(m in r.entry.scores().data_vars for r in rows)]
        groupings = str(first.attrs.get("groupings", "")).split()
        s = rows[0].summary
        for g in groupings:
            sub = s[(s.metric == RANK_METRIC) & (s.by == g)]
            if not sub.empty:
                sec.grouping = g
                sec.groups = [(r.group, float(r.lo), float(r.hi)) for r in sub.itertuples()]
                break
        sections.append(sec)
    return sections


def _aggregate(sections: list[Section]):
    import pandas as pd

    from pdeforge.leaderboard.aggregate import mean_rank

    records = []
    for sec in sections:
        for r in sec.rows:
            v = r.value(RANK_METRIC)
            records.append({"dataset": sec.column, "model": r.key,
                            "score": v[0] if v else math.nan})
    if not records:
        return None
    table = pd.DataFrame.from_records(records)
    return mean_rank(table, missing="worst")


# --------------------------------------------------------------------------- formatting


def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NaN"
    if x == 0:
        return "0"
    return f"{x:.4g}" if 1e-3 <= abs(x) < 1e5 else f"{x:.3e}"


def _ci(v) -> str:
    if v is None:
        return "–"
    return f"{_num(v[0])} [{_num(v[1])}, {_num(v[2])}]"


def _params(n) -> str:
    n = int(n)
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g} {unit}"
    return str(n)


def _hours(h) -> str:
    return f"{float(h):.3g} h"


def _safe_url(u) -> str | None:
    if isinstance(u, str) and re.match(r"^https?://[^\s]+$", u):
        return quote(u, safe=":/?#[]@!$&'*+,;=%-._~")
    return None


def _md(text) -> str:
    """Markdown- and HTML-escape free text for a table cell."""
    text = " ".join(str(text).split())
    text = re.sub(r"([\\`*_\[\]|~!#])", r"\\\1", text)
    return html.escape(text, quote=True)


def _h(text) -> str:
    return html.escape(str(text), quote=True)


def _sortval(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "1e308"
    return repr(float(x))


def _group_label(sec: Section, g) -> str:
    name, lo, hi = g
    return f"{name} ({_num(lo)}–{_num(hi)})" if lo != hi else f"{name} ({_num(lo)})"


# --------------------------------------------------------------------------- markdown

def _column_title(metric: str) -> str:
    from pdeforge.contracts.metrics import get_metric

    try:
        better = get_metric(metric).higher_is_better
    except ValueError:
        better = False
    return f"{metric} (higher is better)" if better else metric


def _rollout_note(sec: Section) -> str:
    from pdeforge.contracts.metrics import ROLLOUT_THRESHOLD

    return (f"Time series: every metric covers the predicted frames only (from the entry's "
            f"rollout_start on). rollout_rel_l2 = ||p - y|| / ||y|| over all predicted frames "
            f"and points at once; steps_to_threshold = leading steps with per-step rel_l2 <= "
            f"{ROLLOUT_THRESHOLD:g} (mean over fields and samples; higher is better).")


_ROUND_OFF_FLAG = "at round-off"
_SPLIT_WARNING = "entries of this config were scored on different test sets"


def _round_off_note() -> str:
    from pdeforge.leaderboard.score import ROUND_OFF_REL_L2

    return (f"mean {RANK_METRIC} below {ROUND_OFF_REL_L2:g}: the predictions reproduce the "
            "stored truth to round-off (the truth itself, or the generating solver re-run), "
            "not a learned model; stored with --allow-exact and ranked for reference only.")



def _markdown(sections: list[Section], ranks) -> str:
    out = ["# pdeforge leaderboard", "",
           "Generated by `pdeforge leaderboard` from the entries under `entries/`; do not edit "
           "by hand.  Every number is computed by the pdeforge scorer from the submitted "
           "predictions: the mean over test samples of the per-sample metric, with a 95 % "
           "percentile-bootstrap interval over samples (1000 resamples, seed 0).  Tables are "
           f"sorted by mean `{RANK_METRIC}`.  Submitting: see `README.md`.", ""]
    if not sections:
        out += ["No entries yet.", ""]
        return "\n".join(out)
    out += ["## Aggregate rank", "",
            f"Mean rank of the `{RANK_METRIC}` means over {len(sections)} dataset/config(s); a "
            "model without an entry for a config counts as last there.", "",
            "| Rank | Model | Mean rank | Configs scored |", "|---:|---|---:|---:|"]
    for i, (model, r) in enumerate(ranks.iterrows(), 1):
        out.append(f"| {i} | {_md(model)} | {r.mean_rank:.2f} | {int(r.n_datasets)} |")
    out.append("")
    for sec in sections:
        out += [f"## {_md(sec.dataset)} / {_md(sec.config)}{_md(sec.title_suffix)}", ""]
        out.append(f"{sec.n_samples} test samples; dataset version (content key) "
                   + ", ".join(f"`{v[:12]}`" for v in sec.versions)
                   + (" — **entries were scored on different dataset versions**"
                      if len(sec.versions) > 1 else "") + ".")
        if sec.split_tables:
            out.append("")
            out.append(f"**{_SPLIT_WARNING}**: this table holds the entries on the "
                       f"{sec.n_samples}-sample test set (indices sha256 "
                       f"`{sec.test_set[:12]}`); they are ranked only against each other.")
        out.append("")
        head = ["#", "Model", f"{RANK_METRIC} (95 % CI)"]
        head += [f"{RANK_METRIC} {sec.grouping} {_group_label(sec, g)}" for g in sec.groups]
        head += [_column_title(m) for m in sec.columns]
        head += ["Params", "Train time", "Hardware", "Train split", "Date", "Authors", "Links"]
        out.append("| " + " | ".join(_md(h) for h in head) + " |")
        out.append("|" + "|".join("---:" if i == 0 else "---" for i in range(len(head))) + "|")
        for r in sec.rows:
            sub = r.entry.submission
            model = _md(sub["model"]) + (f" ⚠ **{_ROUND_OFF_FLAG}**" if r.round_off is not None
                                         else "")
            cells = [str(r.rank), model, _ci(r.value(RANK_METRIC))]
            cells += [_num((r.value(RANK_METRIC, sec.grouping, g[0]) or (None,))[0])
                      for g in sec.groups]
            cells += [_num((r.value(m) or (None,))[0]) for m in sec.columns]
            links = []
            for k in ("paper", "code"):
                u = _safe_url(sub.get(k))
                if u:
                    links.append(f"[{k}](<{u}>)")
            cells += [_params(sub["parameters"]), _hours(sub["train_time_hours"]),
                      _md(sub["hardware"]), _md(sub["train_split"]), _md(sub["date"]),
                      _md(", ".join(sub["authors"])), " ".join(links) or "–"]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        if any(r.round_off is not None for r in sec.rows):
            out += [f"⚠ **{_ROUND_OFF_FLAG}**: {_md(_round_off_note())}", ""]
        if sec.rollout_metrics:
            out += [_md(_rollout_note(sec)), ""]
        if sec.plot:
            alt = _md(f"{RANK_METRIC} per test sample against {sec.grouping}")
            out += [f"![{alt}]({PLOTS}/{sec.plot})", ""]
        if sec.rollout_plot:
            alt = _md(f"{RANK_METRIC} against rollout step")
            out += [f"![{alt}]({PLOTS}/{sec.rollout_plot})", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- html

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header,footer{padding:16px 28px;background:#1d2330;color:#eef1f5}
header h1{margin:0 0 4px;font-size:22px}
header p,footer p{margin:4px 0;max-width:1100px;color:#c9d0da}
footer{background:#e9ecf1;color:#444}
footer p{color:#444}
.layout{display:grid;grid-template-columns:minmax(0,1fr) 270px;gap:20px;padding:20px 24px}
@media (max-width:1000px){.layout{grid-template-columns:1fr}}
aside td.model{min-width:70px}
section,aside .card{background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:14px 18px;margin-bottom:20px}
aside .card{position:sticky;top:12px}
h2{font-size:17px;margin:0 0 6px}
.meta{color:#5a6372;margin:0 0 10px;font-size:13px}
.warn{color:#a33}
.flag{color:#a33;font-weight:600;font-size:12px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{padding:5px 7px;border-bottom:1px solid #e5e8ec;text-align:left;white-space:nowrap;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.train{white-space:normal;min-width:100px}
th{background:#f0f2f5;cursor:pointer;user-select:none;white-space:normal}
th[aria-sort=ascending]::after{content:" \\25B2";font-size:10px}
th[aria-sort=descending]::after{content:" \\25BC";font-size:10px}
tbody tr:hover{background:#f7f9fc}
td.model{font-weight:600;white-space:normal;min-width:130px;max-width:240px;overflow-wrap:anywhere}
.sub{display:block;font-weight:400;color:#5a6372;font-size:12px}
.ci{color:#5a6372;font-size:12px}
figure{margin:12px 0 0}
figure img{max-width:100%;height:auto;border:1px solid #e5e8ec;border-radius:4px}
figcaption{color:#5a6372;font-size:12px}
details{margin-top:10px}
summary{cursor:pointer;color:#2a5db0}
.examples{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:10px}
a{color:#2a5db0}
"""

_JS = """
(function () {
  function key(cell) {
    var v = cell.getAttribute("data-sort");
    if (v === null) { return cell.textContent.trim().toLowerCase(); }
    var f = parseFloat(v);
    return isNaN(f) ? v.toLowerCase() : f;
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, col) {
      th.title = "click to sort";
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]), r;
          if (typeof x === "number" && typeof y === "number") { r = x - y; }
          else { r = String(x).localeCompare(String(y)); }
          return asc ? r : -r;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
}());
"""


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(_JS.encode()).digest()).decode()
    return ("default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; "
            f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'")


def _td(text, sort=None, cls=None, title=None) -> str:
    attrs = ""
    if sort is not None:
        attrs += f' data-sort="{_h(sort)}"'
    if cls:
        attrs += f' class="{cls}"'
    if title:
        attrs += f' title="{_h(title)}"'
    return f"<td{attrs}>{text}</td>"


def _metric_cell(v, ci: bool = True) -> str:
    if v is None:
        return _td("–", sort="1e308", cls="num")
    mean, lo, hi, n = v
    text = _h(_num(mean))
    if ci:
        text += f'<br><span class="ci">[{_h(_num(lo))}, {_h(_num(hi))}]</span>'
    return _td(text, sort=_sortval(mean), cls="num",
               title=f"mean over {n} samples, 95 % bootstrap interval [{_num(lo)}, {_num(hi)}]")


def _section_html(sec: Section) -> str:
    out = [f'<section id="{_h(sec.anchor)}">',
           f"<h2>{_h(sec.dataset)} / {_h(sec.config)}{_h(sec.title_suffix)}</h2>"]
    versions = ", ".join(f"<code>{_h(v[:12])}</code>" for v in sec.versions)
    warn = (' <span class="warn">entries were scored on different dataset versions</span>'
            if len(sec.versions) > 1 else "")
    out.append(f'<p class="meta">{sec.n_samples} test samples · dataset version '
               f"{versions}{warn} · sorted by mean {RANK_METRIC} "
               "(click a column header to re-sort)</p>")
    if sec.split_tables:
        out.append(f'<p class="meta warn">{_h(_SPLIT_WARNING)}: this table holds the entries '
                   f"on the {sec.n_samples}-sample test set (indices sha256 "
                   f"<code>{_h(sec.test_set[:12])}</code>); they are ranked only against each "
                   "other.</p>")
    head = [("#", True), ("Model", False), (_h(f"{RANK_METRIC} (95 % CI)"), True)]
    head += [(_h(f"{RANK_METRIC}, {sec.grouping} {g[0]}")
              + f'<span class="sub">{_h(_group_label(sec, g).split(" ", 1)[1])}</span>', True)
             for g in sec.groups]
    head += [(_h(_column_title(m)), True) for m in sec.columns]
    head += [("Params", True), ("Training", False)]
    out.append('<div class="scroll"><table class="sortable"><thead><tr>'
               + "".join(f'<th{" class=num" if num else ""}>{h}</th>' for h, num in head)
               + "</tr></thead><tbody>")
    for r in sec.rows:
        sub = r.entry.submission
        cells = [_td(str(r.rank), sort=str(r.rank), cls="num")]
        links = [_h(sub["date"])]
        for k in ("paper", "code"):
            u = _safe_url(sub.get(k))
            if u:
                links.append(f'<a href="{_h(u)}" rel="noopener noreferrer nofollow">{k}</a>')
        flag = (f' <span class="flag" title="{_h(_round_off_note())}">⚠ {_ROUND_OFF_FLAG}'
                f"</span>" if r.round_off is not None else "")
        model = (f"{_h(sub['model'])}{flag}"
                 f'<span class="sub">{_h(", ".join(sub["authors"]))}</span>'
                 f'<span class="sub">{" · ".join(links)}</span>')
        cells.append(_td(model, sort=sub["model"], cls="model",
                         title=sub.get("notes") or None))
        cells.append(_metric_cell(r.value(RANK_METRIC)))
        cells += [_metric_cell(r.value(RANK_METRIC, sec.grouping, g[0]), ci=False)
                  for g in sec.groups]
        cells += [_metric_cell(r.value(m), ci=False) for m in sec.columns]
        cells.append(_td(_h(_params(sub["parameters"])), sort=str(int(sub["parameters"])),
                         cls="num"))
        cells.append(_td(_h(_hours(sub["train_time_hours"]))
                         + f'<span class="sub">{_h(sub["hardware"])}</span>'
                         + f'<span class="sub">on {_h(sub["train_split"])}</span>',
                         sort=repr(float(sub["train_time_hours"])), cls="train"))
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    if any(r.round_off is not None for r in sec.rows):
        out.append(f'<p class="meta warn">⚠ {_ROUND_OFF_FLAG}: {_h(_round_off_note())}</p>')

    # every metric, collapsed
    metrics = list(sec.rows[0].entry.scores().data_vars)
    out.append("<details><summary>All metrics</summary><div class=\"scroll\">"
               '<table class="sortable"><thead><tr><th>Model</th>'
               + "".join(f"<th class=num>{_h(m)}</th>" for m in metrics)
               + "</tr></thead><tbody>")
    for r in sec.rows:
        out.append("<tr>" + _td(_h(r.entry.submission["model"]), cls="model")
                   + "".join(_metric_cell(r.value(m)) for m in metrics) + "</tr>")
    out.append("</tbody></table></div></details>")

    if sec.plot:
        out.append(f'<figure><img src="{PLOTS}/{_h(sec.plot)}" width="640" height="320" '
                   f'alt="{_h(RANK_METRIC)} per test sample against {_h(sec.grouping)}">'
                   f"<figcaption>{_h(RANK_METRIC)} of every test sample against "
                   f"{_h(sec.grouping)} (one colour per model; lines: tertile means)"
                   "</figcaption></figure>")
    if sec.rollout_metrics:
        out.append(f'<p class="meta">{_h(_rollout_note(sec))}</p>')
    if sec.rollout_plot:
        out.append(f'<figure><img src="{PLOTS}/{_h(sec.rollout_plot)}" width="640" '
                   f'height="320" alt="{_h(RANK_METRIC)} against rollout step">'
                   f"<figcaption>{_h(RANK_METRIC)} against rollout step (1 = first predicted "
                   "frame): mean over test samples of the per-sample mean over fields, shaded: "
                   "95 % bootstrap interval over samples (one colour per model)"
                   "</figcaption></figure>")
    if sec.examples:
        out.append("<details><summary>Example predictions (truth · prediction · error)"
                   '</summary><div class="examples">')
        for r in sec.rows:
            png = sec.examples.get(r.entry.slug)
            if png:
                out.append(f'<figure><img src="{PLOTS}/{_h(png)}" width="720" height="240" '
                           f'alt="example prediction of {_h(r.entry.submission["model"])}">'
                           f"<figcaption>{_h(r.entry.submission['model'])}</figcaption>"
                           "</figure>")
        out.append("</div></details>")
    if sec.example_note:
        out.append(f'<p class="meta">{_h(sec.example_note)}</p>')
    out.append("</section>")
    return "\n".join(out)


def _html(sections: list[Section], ranks) -> str:
    parts = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{_csp()}">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>pdeforge leaderboard</title>", f"<style>{_CSS}</style></head><body>",
             "<header><h1>pdeforge leaderboard</h1>",
             "<p>Every number is computed by the pdeforge scorer from the submitted predictions: "
             "the mean over test samples of the per-sample metric with a 95 % "
             "percentile-bootstrap interval over samples (1000 resamples, seed 0). Lower is "
             f"better; tables are sorted by mean {RANK_METRIC}.</p></header>",
             '<div class="layout"><main>']
    if not sections:
        parts.append('<section><h2>No entries yet</h2><p class="meta">Submit with '
                     "<code>pdeforge submit PRED --meta META.toml --dataset NAME</code>."
                     "</p></section>")
    parts += [_section_html(s) for s in sections]
    parts.append("</main><aside>")
    if ranks is not None:
        parts.append('<div class="card"><h2>Aggregate rank</h2>'
                     f'<p class="meta">Mean rank of the {RANK_METRIC} means over '
                     f"{len(sections)} dataset/config(s); a missing entry counts as last.</p>"
                     '<div class="scroll"><table class="sortable" id="aggregate"><thead><tr>'
                     '<th class=num>#</th>'
                     "<th>Model</th><th class=num>Mean rank</th><th class=num>Configs</th>"
                     "</tr></thead><tbody>")
        for i, (model, r) in enumerate(ranks.iterrows(), 1):
            parts.append("<tr>" + _td(str(i), sort=str(i), cls="num")
                         + _td(_h(model), sort=model, cls="model")
                         + _td(f"{r.mean_rank:.2f}", sort=repr(float(r.mean_rank)), cls="num")
                         + _td(str(int(r.n_datasets)), sort=str(int(r.n_datasets)), cls="num")
                         + "</tr>")
        parts.append("</tbody></table></div>")
        parts.append("<h2 style=\"margin-top:14px\">Configs</h2><ul>"
                     + "".join(f'<li><a href="#{_h(s.anchor)}">{_h(s.dataset)} / '
                               f"{_h(s.config)}{_h(s.title_suffix)}</a> ({len(s.rows)})</li>"
                               for s in sections)
                     + "</ul></div>")
    parts.append("</aside></div>")
    parts.append("<footer><p>Generated by <code>pdeforge leaderboard</code>. Re-score any entry "
                 "with <code>pdeforge reproduce entries/DATASET/CONFIG/SLUG</code>.</p></footer>")
    parts.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- plots


def _save(fig, path: Path) -> None:
    from pdeforge.atomic import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})


def _error_plot(sec: Section, path: Path) -> None:
    from matplotlib.figure import Figure

    from pdeforge.leaderboard.score import group_labels, per_sample

    fig = Figure(figsize=(6.4, 3.2), layout="constrained")
    ax = fig.add_subplot()
    x_all = []
    for i, r in enumerate(sec.rows):
        s = r.entry.scores()
        x = np.asarray(s[sec.grouping].values, dtype=float)
        y = np.asarray(per_sample(s, RANK_METRIC).values, dtype=float)
        x_all.append(x)
        color = f"C{i % 10}"
        ax.scatter(x, y, s=12, alpha=0.6, color=color, label=r.entry.submission["model"][:40])
        binned = group_labels(x)
        if binned is not None:
            labels = binned[0]
            bx = [np.median(x[labels == b]) for b in np.unique(labels)]
            by = [np.mean(y[labels == b]) for b in np.unique(labels)]
            ax.plot(bx, by, color=color, lw=1.5)
    x_all = np.concatenate(x_all)
    if x_all.size and x_all.min() > 0 and x_all.max() / x_all.min() > 20:
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(sec.grouping)
    ax.set_ylabel(f"{RANK_METRIC} per sample")
    ax.set_title(f"{sec.dataset} / {sec.config}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if len(sec.rows) <= 10:
        ax.legend(fontsize=7, loc="best")
    _save(fig, path)


def _rollout_plot(sec: Section, path: Path) -> None:
    """Mean ``rel_l2`` against rollout step per model, with the 95 % bootstrap band."""
    from matplotlib.figure import Figure

    from pdeforge.leaderboard.score import rollout_curve

    fig = Figure(figsize=(6.4, 3.2), layout="constrained")
    ax = fig.add_subplot()
    positive = True
    for i, r in enumerate(sec.rows):
        curve = rollout_curve(r.entry.scores(), RANK_METRIC)
        curve = curve[curve.metric == RANK_METRIC]
        x = curve.step.to_numpy(dtype=float)
        m, lo, hi = (curve[c].to_numpy(dtype=float) for c in ("mean", "ci_lo", "ci_hi"))
        positive &= bool(np.all(lo[np.isfinite(lo)] > 0))
        color = f"C{i % 10}"
        ax.plot(x, m, color=color, lw=1.5, marker="o" if len(x) <= 30 else None, ms=3,
                label=r.entry.submission["model"][:40])
        ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)
    if positive:
        ax.set_yscale("log")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("rollout step (1 = first predicted frame)")
    ax.set_ylabel(f"{RANK_METRIC} (mean over samples)")
    ax.set_title(f"{sec.dataset} / {sec.config}: error against rollout step", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if len(sec.rows) <= 10:
        ax.legend(fontsize=7, loc="best")
    _save(fig, path)


def _example_plot(entry: Entry, ref, path: Path) -> None:
    import xarray as xr
    from matplotlib.figure import Figure

    from pdeforge.leaderboard.score import per_sample

    with xr.open_dataset(entry.predictions_path, engine="h5netcdf") as ds:
        pred = ds.load()
    field = ref.targets[0]
    err = per_sample(entry.scores(), RANK_METRIC).values
    # the test sample with the median error: representative, not cherry-picked
    pos = int(np.argsort(err, kind="stable")[len(err) // 2])
    sample = ref.truth["sample"].values[pos]
    y = ref.truth[field].sel(sample=sample)
    p = pred[field].sel(sample=sample)
    spatial = [d for d in y.dims if d != "t"]
    if "t" in y.dims:
        y, p = y.isel(t=-1), p.isel(t=-1)
    if len(spatial) != 2:
        raise ValueError("example maps need 2-D fields")
    y = y.transpose(*spatial).values.astype(float)
    p = p.transpose(*spatial).values.astype(float)
    fig = Figure(figsize=(7.2, 2.4), layout="constrained")
    axes = fig.subplots(1, 3)
    vmin, vmax = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    e = p - y
    emax = float(np.abs(e).max()) or 1.0
    panels = [("truth", y, "viridis", vmin, vmax), ("prediction", p, "viridis", vmin, vmax),
              ("error", e, "RdBu_r", -emax, emax)]
    for ax, (title, a, cmap, lo, hi) in zip(axes, panels):
        im = ax.imshow(a.T, origin="lower", cmap=cmap, vmin=lo, vmax=hi, extent=(0, 1, 0, 1))
        ax.set_title(f"{title} ({field}, sample {sample})", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.8)
    _save(fig, path)


def _plots(sections: list[Section], out: Path, root) -> list[Path]:
    from pdeforge.contracts.predictions import open_reference
    from pdeforge.errors import PdeforgeError

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for sec in sections:
        if sec.grouping:
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", sec.grouping)
            sec.plot = f"{sec.anchor}--{RANK_METRIC}-vs-{safe}.png"
            _error_plot(sec, out / sec.plot)
            written.append(out / sec.plot)
        if sec.rollout:
            sec.rollout_plot = f"{sec.anchor}--{RANK_METRIC}-vs-step.png"
            _rollout_plot(sec, out / sec.rollout_plot)
            written.append(out / sec.rollout_plot)
        with_pred = [r for r in sec.rows
                     if r.entry.predictions_path and r.entry.predictions_path.is_file()]
        if not with_pred:
            continue
        try:
            ref = open_reference(sec.dataset, sec.config, root)
        except PdeforgeError:
            sec.example_note = ("Example maps are drawn when the dataset is available under the "
                                "data root at render time (it is not here).")
            continue
        for r in with_pred:
            if r.entry.meta["content_key"] != ref.content_key:
                continue
            name = f"{sec.anchor}--{re.sub(r'[^A-Za-z0-9_.-]+', '-', r.entry.slug)}--example.png"
            try:
                _example_plot(r.entry, ref, out / name)
            except (ValueError, KeyError, OSError):
                continue
            sec.examples[r.entry.slug] = name
            written.append(out / name)
    return written


# --------------------------------------------------------------------------- entry point


def render(board_dir="leaderboard", root=None) -> dict[str, object]:
    """Render ``LEADERBOARD.md``, ``index.html`` and ``plots/*.png`` in ``board_dir``.

    ``root`` is the data root used for the example maps (default ``$PDEFORGE_DATA`` or
    ``./data``); without the dataset there the maps are left out.  Stale PNGs in ``plots/``
    are removed.  Returns ``{"markdown": path, "html": path, "plots": [paths],
    "entries": n}``.  An entry whose ``scores.nc`` does not match the sha256 recorded in its
    ``meta.json`` raises :class:`~pdeforge.leaderboard.errors.BoardError`.
    """
    from pdeforge.atomic import write_text
    from pdeforge.errors import StoreError

    board = Path(board_dir)
    entries = [e.validate() for e in list_entries(board)]
    sections = _build_sections(entries)
    ranks = _aggregate(sections)
    try:
        board.mkdir(parents=True, exist_ok=True)
        plots = _plots(sections, board / PLOTS, root) if sections else []
        keep = {p.name for p in plots}
        if (board / PLOTS).is_dir():
            for old in (board / PLOTS).glob("*.png"):
                if old.name not in keep:
                    old.unlink()
        written = {}
        for name, text in (("LEADERBOARD.md", _markdown(sections, ranks)),
                           ("index.html", _html(sections, ranks))):
            written[name] = write_text(board / name, text)
    except OSError as exc:  # mkdir / unlink on a read-only board (writes raise StoreError)
        where = exc.filename or board
        raise StoreError(f"cannot write the board in {board}: {where}: "
                         f"{exc.strerror or exc}") from None
    return {"markdown": written["LEADERBOARD.md"], "html": written["index.html"],
            "plots": plots, "entries": len(entries)}
