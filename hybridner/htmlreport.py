"""The run report as one self-contained HTML page (``report.html``).

Everything the page needs is inline: styles, a few lines of script that sort
the tables and filter the gallery, and SVG charts drawn here. Documents are
rendered with spaCy's displaCy, layer by layer (gold, model, aggregated labels,
each labelling function). The page needs no network to open.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from spacy import displacy

from .corpus import atomic_open

__all__ = ["render_report_html", "write_report_html"]

PALETTE = [
    "#7aecec", "#feca74", "#aa9cfc", "#bfe1d9", "#e4e7d2", "#ff9561",
    "#c887fb", "#9cc9cc", "#ffeb80", "#f0d0ff", "#bfeeb7", "#ddd",
]
WRONG = "#ff8a8a"
STAGE_NAMES = {
    "lexicon_only": "Lexicon match only (baseline)",
    "majority": "Majority vote of the functions",
    "aggregated": "Aggregated labels",
    "model": "Trained model",
}

STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 0 auto;
       max-width: 1200px; padding: 0 24px 48px; color: #222; }
h1 { margin-top: 24px; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 40px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th { background: #f4f4f4; position: sticky; top: 0; }
td.name, th.name { text-align: left; }
#functions td.name, .context { font-family: monospace; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th:hover { background: #e8e8e8; }
th.sorted-asc::after { content: " \\25B2"; } th.sorted-desc::after { content: " \\25BC"; }
tr.highlight td { background: #fffbe6; }
.muted { color: #777; } .small { font-size: 13px; }
.doc { border: 1px solid #ddd; border-radius: 6px; margin: 16px 0; padding: 8px 16px; }
.doc.agree { border-color: #cde8cd; }
.doc h3 { margin: 4px 0 8px; font-size: 16px; }
.badge { display: inline-block; border-radius: 10px; padding: 1px 8px; font-size: 12px; margin-left: 8px; }
.badge.bad { background: #ffe0e0; color: #a00; } .badge.good { background: #e0f5e0; color: #070; }
.layer { display: grid; grid-template-columns: 130px 1fr; gap: 8px; border-top: 1px dashed #eee; padding: 4px 0; }
.layer .layer-name { font-weight: 600; font-size: 13px; padding-top: 10px; }
.layer .entities, .layer .spans { line-height: 2.2 !important; }
.context { font-family: monospace; font-size: 13px; text-align: left; }
.context mark, .missed mark { background: #ffe58a; padding: 0 2px; }
.missed { color: #a00; margin: -4px 0 6px; }
details { margin: 4px 0; } summary { cursor: pointer; }
.controls { margin: 8px 0; }
"""

SCRIPT = """
function sortTable(th) {
  const table = th.closest('table'), body = table.tBodies[0];
  const index = Array.from(th.parentNode.children).indexOf(th);
  const asc = !th.classList.contains('sorted-asc');
  table.querySelectorAll('th').forEach(h => h.classList.remove('sorted-asc', 'sorted-desc'));
  th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
  const key = row => {
    const cell = row.children[index], value = cell.dataset.sort ?? cell.textContent;
    const number = parseFloat(value);
    return isNaN(number) ? value.toLowerCase() : number;
  };
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = key(a), y = key(b);
    return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
  });
  rows.forEach(row => body.appendChild(row));
}
document.querySelectorAll('table.sortable th').forEach(th => th.addEventListener('click', () => sortTable(th)));
document.body.dataset.ready = 'true';
const only = document.getElementById('only-disagreements');
if (only) only.addEventListener('change', () => {
  document.querySelectorAll('.doc').forEach(doc => {
    doc.style.display = only.checked && doc.dataset.disagreements === '0' ? 'none' : '';
  });
});
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _num(value: float | None) -> str:
    """A sort key for a table cell (empty cells sort first)."""
    return "-1" if value is None else repr(float(value))


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[tuple[str, str | None]]], *,
    sortable: bool = False, name_columns: int = 1, table_id: str | None = None,
) -> str:
    """An HTML table; each cell is ``(shown text, sort key or None)``, already escaped."""
    attrs = (' class="sortable"' if sortable else "") + (f' id="{table_id}"' if table_id else "")
    head = "".join(
        f'<th class="name">{h}</th>' if i < name_columns else f"<th>{h}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = []
        for i, (shown, key) in enumerate(row):
            cls = ' class="name"' if i < name_columns else ""
            data = f' data-sort="{_esc(key)}"' if key is not None else ""
            cells.append(f"<td{cls}{data}>{shown}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _colors(labels: Iterable[str]) -> dict[str, str]:
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(set(labels)))}


# ---------------------------------------------------------------- sections


def _summary(report: dict[str, Any]) -> str:
    dev = report.get("dev", {})
    diagnostics = report.get("diagnostics", {})
    parts = [f"<p>Dev set: {_esc(dev.get('source', '-'))}</p>"]
    if "model" in dev:
        baseline = dev["lexicon_only"]["f1"]
        rows = []
        for key, name in STAGE_NAMES.items():
            if key not in dev:
                continue
            s = dev[key]
            gain = s["f1"] - baseline
            rows.append([
                (_esc(name), None), (_pct(s["precision"]), None), (_pct(s["recall"]), None),
                (f"<b>{_pct(s['f1'])}</b>", None),
                ("" if key == "lexicon_only" else f"{100 * gain:+.1f}", None),
            ])
        parts.append(_table(
            ["", "precision", "recall", "F1", "F1 vs lexicons"], rows,
            table_id="summary",
        ))
        beyond = dev.get("beyond_functions") or diagnostics.get("beyond_rules")
        if beyond:
            parts.append(
                f"<p>Beyond the rules: of the {beyond['entities']} gold entities that no labelling "
                f"function found, the model finds {beyond['model_found']} "
                f"({_pct(beyond['model_recall'])}%).</p>"
            )
        lexicon = dev.get("beyond_lexicons")
        if lexicon:
            parts.append(
                f"<p>Of the {lexicon['entities']} gold entities whose text is in no lexicon, the "
                f"model finds {lexicon['model_found']} ({_pct(lexicon['model_recall'])}%).</p>"
            )
    elif "model_vs_weak_labels_f1" in dev:
        parts.append(
            "<p>No hand-annotated dev set: model F1 against held-out weakly labelled documents "
            f"<b>{_pct(dev['model_vs_weak_labels_f1'])}</b>. Pass <code>--dev</code> with a few "
            "annotated documents to see precision and recall per function.</p>"
        )
    corpus = report.get("corpus", {})
    agg = report.get("aggregated", {})
    if corpus:
        parts.append(
            f"<p class='muted'>Corpus: {corpus.get('documents', 0)} documents, "
            f"{corpus.get('tokens', 0)} tokens; {agg.get('spans', 0)} aggregated spans "
            f"({_esc(agg.get('aggregator', ''))}), mean confidence "
            f"{agg.get('mean_confidence', 0.0):.3f}; {agg.get('training_entities', 0)} training "
            f"entities.</p>"
        )
    return "".join(parts)


def _functions_table(rows: list[dict[str, Any]]) -> str:
    headers = [
        "function", "label", "kind", "spans", "doc cov. %", "token cov. %", "overlaps",
        "conflicts", "agree w/ aggregated", "boundary disagr.", "HMM recall", "HMM FP rate",
        "dev P", "dev R", "dev F1", "dev support",
    ]
    body = []
    for r in rows:
        body.append([
            (_esc(r["function"]), r["function"]), (_esc(r["label"]), r["label"]),
            (_esc(r["kind"]), r["kind"]), (str(r["spans"]), str(r["spans"])),
            (_pct(r["doc_coverage"]), _num(r["doc_coverage"])),
            (f"{100 * r['token_coverage']:.2f}", _num(r["token_coverage"])),
            (str(r["overlaps"]), str(r["overlaps"])), (str(r["conflicts"]), str(r["conflicts"])),
            (str(r["agreements"]), str(r["agreements"])),
            (str(r["boundary_disagreements"]), str(r["boundary_disagreements"])),
            (_pct(r["hmm_recall"]), _num(r["hmm_recall"])),
            ("-" if r["hmm_false_positive_rate"] is None else f"{r['hmm_false_positive_rate']:.4f}",
             _num(r["hmm_false_positive_rate"])),
            (_pct(r["dev_precision"]), _num(r["dev_precision"])),
            (_pct(r["dev_recall"]), _num(r["dev_recall"])),
            (f"<b>{_pct(r['dev_f1'])}</b>", _num(r["dev_f1"])),
            ("-" if r["dev_support"] is None else str(r["dev_support"]), _num(r["dev_support"])),
        ])
    note = (
        "<p class='small muted'>Click a column to sort. Coverage is over the weakly labelled "
        "corpus; <i>agree w/ aggregated</i> counts spans the aggregated labels keep exactly, "
        "<i>boundary disagr.</i> spans that overlap an aggregated span of the same label with "
        "other boundaries; HMM figures are what the aggregator learned of the function; dev "
        "figures are exact-span scores on the hand-annotated dev set, on this label only.</p>"
    )
    return note + _table(headers, body, sortable=True, name_columns=2, table_id="functions")


def _bar_chart(rows: list[dict[str, Any]]) -> str:
    """Horizontal bars of dev precision and recall, one pair per function and label."""
    rows = [r for r in rows if r.get("dev_precision") is not None]
    if not rows:
        return "<p class='muted'>No dev gold: no precision/recall chart.</p>"
    label_w, bar_w, row_h = 300, 420, 26
    height = row_h * len(rows) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 120}" '
        f'height="{height}" role="img" aria-label="dev precision and recall per function" '
        f'id="chart-functions" font-size="12" font-family="sans-serif">'
    ]
    for tick in range(0, 101, 20):
        x = label_w + bar_w * tick / 100
        out.append(f'<line x1="{x}" y1="20" x2="{x}" y2="{height - 16}" stroke="#eee"/>')
        out.append(f'<text x="{x}" y="14" text-anchor="middle" fill="#777">{tick}</text>')
    for i, r in enumerate(rows):
        y = 22 + i * row_h
        name = f"{r['function']} ({r['label']})"
        out.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{_esc(name[:48])}</text>'
        )
        for j, (value, color, what) in enumerate(
            ((r["dev_precision"], "#4a90d9", "P"), (r["dev_recall"], "#f5a623", "R"))
        ):
            w = bar_w * (value or 0.0)
            out.append(
                f'<rect x="{label_w}" y="{y + 2 + j * 11}" width="{w:.1f}" height="10" fill="{color}">'
                f"<title>{_esc(name)} {what} {_pct(value)}</title></rect>"
            )
            out.append(
                f'<text x="{label_w + w + 4:.1f}" y="{y + 11 + j * 11}" fill="#555" font-size="10">'
                f"{what} {_pct(value)}</text>"
            )
    legend_y = height - 4
    out.append(f'<rect x="{label_w}" y="{legend_y - 9}" width="10" height="10" fill="#4a90d9"/>')
    out.append(f'<text x="{label_w + 14}" y="{legend_y}">precision</text>')
    out.append(f'<rect x="{label_w + 90}" y="{legend_y - 9}" width="10" height="10" fill="#f5a623"/>')
    out.append(f'<text x="{label_w + 104}" y="{legend_y}">recall</text>')
    out.append("</svg>")
    return "".join(out)


def _line_chart(history: list[dict[str, Any]]) -> str:
    """Dev entity F1 at each evaluation during training."""
    points = [(h["step"], h["ents_f"], h["epoch"]) for h in history if h.get("step") is not None]
    if len(points) < 2:
        return "<p class='muted'>Not enough evaluations to draw the training curve.</p>"
    width, height, pad = 760, 260, 40
    max_step = max(p[0] for p in points) or 1
    top = max(p[1] for p in points)
    best = max(points, key=lambda p: p[1])

    def xy(step: float, f1: float) -> tuple[float, float]:
        return pad + (width - 2 * pad) * step / max_step, height - pad - (height - 2 * pad) * f1

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="dev F1 per evaluation" id="chart-training" font-size="12" font-family="sans-serif">'
    ]
    for tick in range(0, 101, 20):
        _, y = xy(0, tick / 100)
        out.append(f'<line x1="{pad}" y1="{y}" x2="{width - pad}" y2="{y}" stroke="#eee"/>')
        out.append(f'<text x="{pad - 6}" y="{y + 4}" text-anchor="end" fill="#777">{tick}</text>')
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(s, f) for s, f, _ in points))
    out.append(f'<polyline points="{path}" fill="none" stroke="#4a90d9" stroke-width="2"/>')
    for step, f1, epoch in points:
        x, y = xy(step, f1)
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#4a90d9"><title>epoch {epoch}, step '
            f"{step}: dev F1 {_pct(f1)}</title></circle>"
        )
    bx, by = xy(best[0], best[1])
    out.append(f'<circle cx="{bx:.1f}" cy="{by:.1f}" r="6" fill="none" stroke="#d0021b" stroke-width="2"/>')
    out.append(
        f'<text x="{min(bx, width - 160):.1f}" y="{max(by - 10, 12):.1f}" fill="#d0021b">best '
        f"{_pct(best[1])} (epoch {best[2]})</text>"
    )
    out.append(
        f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle" fill="#555">training step '
        f"(max {max_step}); dev entity F1, best {_pct(top)}</text>"
    )
    out.append("</svg>")
    return "".join(out)


def _context_cell(example: dict[str, Any]) -> str:
    return (
        f"<span class='context'>…{_esc(example['left'][-50:])}<mark>{_esc(example['text'])}</mark>"
        f"{_esc(example['right'][:50])}…</span>"
    )


def _examples_table(title: str, examples: list[dict[str, Any]]) -> str:
    if not examples:
        return f"<p class='small muted'>{_esc(title)}: none.</p>"
    rows = [
        [(_esc(e["doc_id"]), None), (_esc(e["label"]), None), (_esc(e["error"]), None),
         (_context_cell(e), None)]
        for e in examples
    ]
    return f"<p class='small'><b>{_esc(title)}</b> (first {len(examples)})</p>" + _table(
        ["document", "label", "error", "context"], rows, name_columns=3
    )


def _errors(diagnostics: dict[str, Any]) -> str:
    parts = []
    for key, stage in diagnostics.get("stages", {}).items():
        name = STAGE_NAMES.get(key, key)
        parts.append(
            f"<details><summary>{_esc(name)}: {len(stage['false_positives'])} false positives, "
            f"{len(stage['false_negatives'])} false negatives shown</summary>"
            + _examples_table("False positives", stage["false_positives"])
            + _examples_table("False negatives", stage["false_negatives"])
            + "</details>"
        )
    for row in diagnostics.get("functions", []):
        if row.get("dev_precision") is None:
            continue
        parts.append(
            f"<details class='function-errors'><summary><code>{_esc(row['function'])}</code> "
            f"({_esc(row['label'])}): P {_pct(row['dev_precision'])} R {_pct(row['dev_recall'])}"
            "</summary>"
            + _examples_table("False positives", row["false_positives"])
            + _examples_table("False negatives", row["false_negatives"])
            + "</details>"
        )
    if not parts:
        return "<p class='muted'>No dev gold: no error examples.</p>"
    return "".join(parts)


def _ents_layer(
    text: str, spans: list[list[Any]], colors: dict[str, str], gold: set[tuple] | None,
    *, confidence: bool = False,
) -> str:
    ents, extra_colors = [], {}
    for span in spans:
        start, end, label = span[0], span[1], span[2]
        shown = f"{label} {span[3]:.2f}" if confidence and len(span) > 3 else label
        if gold is not None and (start, end, label) not in gold:
            shown += " ✗"
            extra_colors[shown] = WRONG
        else:
            extra_colors[shown] = colors.get(label, "#ddd")
        ents.append({"start": start, "end": end, "label": shown})
    return displacy.render(
        {"text": text, "ents": ents, "title": None}, style="ent", manual=True,
        options={"colors": extra_colors}, jupyter=False,
    )


def _missed(text: str, spans: list[list[Any]], gold: set[tuple] | None) -> str:
    """A line naming the gold entities a layer missed."""
    if gold is None:
        return ""
    found = {tuple(s[:3]) for s in spans}
    missed = sorted(gold - found)
    if not missed:
        return ""
    names = ", ".join(f"<mark>{_esc(text[s:e])}</mark> ({_esc(label)})" for s, e, label in missed)
    return f"<div class='small missed'>missed ✗: {names}</div>"


def _spans_layer(item: dict[str, Any], colors: dict[str, str]) -> str:
    tokens = item["tokens"]
    starts = {s: i for i, (s, _) in enumerate(tokens)}
    ends = {e: i for i, (_, e) in enumerate(tokens)}
    spans, span_colors = [], {}
    for name, found in sorted(item["functions"].items()):
        for start, end, label in found:
            if start in starts and end in ends:
                shown = f"{name} → {label}"
                spans.append({
                    "start_token": starts[start], "end_token": ends[end] + 1, "label": shown,
                })
                span_colors[shown] = colors.get(label, "#ddd")
    if not spans:
        return "<p class='small muted'>no function fired</p>"
    words = [item["text"][s:e] for s, e in tokens]
    return displacy.render(
        {"text": item["text"], "tokens": words, "spans": spans}, style="span", manual=True,
        options={"colors": span_colors}, jupyter=False,
    )


def _gallery(report: dict[str, Any]) -> str:
    items = report.get("gallery") or []
    if not items:
        return "<p class='muted'>No documents to show.</p>"
    labels = set(report.get("labels", []))
    for item in items:
        for key in ("gold", "model", "aggregated"):
            labels.update(s[2] for s in item.get(key) or [])
    colors = _colors(labels)
    with_gold = items[0].get("gold") is not None
    what = (
        "errors of the model or of the aggregated labels against the gold (marked ✗)"
        if with_gold else "function spans the aggregated labels dropped, and aggregated spans "
        "with confidence below 0.9"
    )
    parts = [
        f"<p class='small'>{len(items)} documents, those with most disagreements first; a "
        f"disagreement is one of the {what}.</p>",
        "<div class='controls'><label><input type='checkbox' id='only-disagreements'> only "
        "documents with disagreements</label></div>",
    ]
    for item in items:
        n = item["disagreements"]
        badge = (
            f"<span class='badge bad'>{n} disagreement{'s' if n != 1 else ''}</span>" if n
            else "<span class='badge good'>all layers agree</span>"
        )
        gold = {tuple(e) for e in item["gold"]} if with_gold else None
        layers = []
        if with_gold:
            layers.append(("gold", _ents_layer(item["text"], item["gold"], colors, None)))
        if item.get("model") is not None:
            layers.append(("model", _ents_layer(item["text"], item["model"], colors, gold)
                           + _missed(item["text"], item["model"], gold)))
        layers.append((
            "aggregated (confidence)",
            _ents_layer(item["text"], item["aggregated"], colors, gold, confidence=True)
            + _missed(item["text"], item["aggregated"], gold),
        ))
        layers.append(("labelling functions", _spans_layer(item, colors)))
        body = "".join(
            f"<div class='layer'><div class='layer-name'>{_esc(name)}</div><div>{markup}</div></div>"
            for name, markup in layers
        )
        parts.append(
            f"<section class='doc{'' if n else ' agree'}' data-disagreements='{n}'>"
            f"<h3>{_esc(item['id'])}{badge}</h3>{body}</section>"
        )
    return "".join(parts)


def render_report_html(report: dict[str, Any]) -> str:
    """The whole page for a ``report.json`` dict (see :mod:`hybridner.report`).

    >>> page = render_report_html(json.load(open("runs/v1/report.json")))  # doctest: +SKIP
    """
    diagnostics = report.get("diagnostics") or {}
    rows = diagnostics.get("functions", [])
    settings = report.get("settings", {})
    history = report.get("training", {}).get("history", [])
    timings = report.get("timings", {})
    settings_rows = [[(_esc(k), None), (_esc(json.dumps(v)), None)] for k, v in settings.items()]
    timing_rows = [[(_esc(k), None), (f"{v:.1f}", None)] for k, v in timings.items()]
    sections = [
        ("summary", "Summary", _summary(report)),
        ("functions", "Labelling functions", _functions_table(rows)),
        ("charts", "Precision and recall per function (dev)", _bar_chart(rows)),
        ("training", "Dev F1 during training", _line_chart(history)),
        ("errors", "Errors in context", _errors(diagnostics)),
        ("gallery", "Documents, layer by layer", _gallery(report)),
        ("settings", "Settings and timings",
         _table(["setting", "value"], settings_rows) + _table(["stage", "seconds"], timing_rows)),
    ]
    nav = " · ".join(f"<a href='#{key}'>{_esc(title)}</a>" for key, title, _ in sections)
    body = "".join(
        f"<h2 id='{key}'>{_esc(title)}</h2>{content}" for key, title, content in sections
    )
    version = _esc(report.get("hybridner_version", ""))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>hybridner run report</title><style>{STYLE}</style></head><body>"
        f"<h1>hybridner run report</h1><p class='muted small'>hybridner {version} · {nav}</p>"
        f"{body}<script>{SCRIPT}</script></body></html>"
    )


def write_report_html(report: dict[str, Any], path: str | Path) -> Path:
    """Write :func:`render_report_html` to ``path`` atomically.

    A symbolic link at ``path`` is replaced by the report, never written through.
    """
    path = Path(path)
    page = render_report_html(report)
    with atomic_open(path) as handle:
        handle.write(page)
    return path
