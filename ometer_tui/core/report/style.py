"""The report's stylesheet (inline in the page): light and dark palettes by
``prefers-color-scheme``, the light one on paper; the charts' colours come from here
(``s0``..``s7`` set ``--sc``), so an SVG follows the page's scheme."""

from __future__ import annotations

__all__ = ["CSS"]

_LIGHT = (
    "--bg:#ffffff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--grid:#eaeef2;"
    "--axis:#57606a;--head:#f3f5f7;--warn-bg:#fff4d6;--warn:#7a4d00;"
    "--c0:#0072b2;--c1:#d55e00;--c2:#009e73;--c3:#c0392b;--c4:#cc79a7;--c5:#b07d00;"
    "--c6:#3b3b3b;--c7:#7b3fa0;"
)
_DARK = (
    "--bg:#111418;--fg:#e6e8eb;--muted:#9aa4ae;--line:#3a424b;--grid:#262c33;"
    "--axis:#9aa4ae;--head:#1c2127;--warn-bg:#3a2e0c;--warn:#ffd27a;"
    "--c0:#56b4e9;--c1:#ff9a57;--c2:#3ddc97;--c3:#ff6b6b;--c4:#f0a6ca;--c5:#f5c342;"
    "--c6:#e6e8eb;--c7:#c9a0e8;"
)

CSS = (
    f":root{{color-scheme:light dark;{_LIGHT}}}"
    f"@media (prefers-color-scheme: dark){{:root{{{_DARK}}}}}"
    f"@media print{{:root{{{_LIGHT}}}body{{margin:0;max-width:none}}"
    "figure,table,.model-charts{break-inside:avoid}section{break-before:auto}"
    ".table{overflow:visible}}"
    "body{background:var(--bg);color:var(--fg);margin:0 auto;padding:1rem 1.5rem;"
    "max-width:1400px;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,"
    "'Helvetica Neue',Arial,sans-serif}"
    "h1{font-size:1.45rem;margin:.2rem 0 .6rem;overflow-wrap:anywhere}"
    "h2{font-size:1.2rem;margin:1.6rem 0 .5rem;border-bottom:1px solid var(--line);"
    "padding-bottom:.2rem}h3{font-size:1rem;margin:1rem 0 .4rem;overflow-wrap:anywhere}"
    ".note{color:var(--muted);font-size:.9em}.none{color:var(--muted);font-style:italic}"
    "code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}"
    ".mark{background:var(--warn-bg);color:var(--warn);padding:.35rem .6rem;"
    "border-radius:4px;margin:.3rem 0}"
    ".facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.6rem 0}"
    ".facts dt{color:var(--muted)}.facts dd{margin:0;overflow-wrap:anywhere}"
    ".table{overflow-x:auto;margin:.5rem 0}"
    "table{border-collapse:collapse;font-variant-numeric:tabular-nums}"
    "caption{text-align:left;color:var(--muted);font-size:.9em;padding:.2rem 0}"
    "th,td{border:1px solid var(--line);padding:.25rem .5rem;text-align:right;"
    "white-space:nowrap}"
    "td.t{text-align:left;white-space:normal}"
    "thead th{background:var(--head);text-align:center;white-space:normal}"
    "tbody th{text-align:left;font-weight:600;white-space:normal;overflow-wrap:anywhere;"
    "min-width:9rem;max-width:22rem}"
    ".grid{display:flex;flex-wrap:wrap;gap:.5rem 1.2rem;align-items:flex-start}"
    ".grid>p{max-width:280px}"
    "figure{margin:.4rem 0}figcaption{font-weight:600;margin-bottom:.2rem;"
    "overflow-wrap:anywhere;max-width:600px}figcaption .note{font-weight:normal}"
    "svg.chart{display:block;max-width:100%;height:auto;font-size:11px}"
    "svg.chart text{fill:var(--fg)}svg.chart .label{fill:var(--muted)}"
    "svg.chart .grid line{stroke:var(--grid);stroke-width:1}"
    "svg.chart .axis line{stroke:var(--axis);stroke-width:1}"
    "svg.chart .mark line{stroke:var(--c3);stroke-dasharray:4 3}"
    "svg.chart .mark text{fill:var(--c3)}"
    "svg.chart .xmark line{stroke:var(--muted);stroke-dasharray:2 3}"
    "svg.chart .xmark text{fill:var(--muted);font-size:10px}"
    ".s0{--sc:var(--c0)}.s1{--sc:var(--c1)}.s2{--sc:var(--c2)}.s3{--sc:var(--c3)}"
    ".s4{--sc:var(--c4)}.s5{--sc:var(--c5)}.s6{--sc:var(--c6)}.s7{--sc:var(--c7)}"
    "svg.chart .line path{fill:none;stroke:var(--sc);stroke-width:2;"
    "stroke-linejoin:round}svg.chart .line circle{fill:var(--sc)}"
    "svg.chart .dash path{stroke-dasharray:6 4}"
    "svg.chart .dots circle{fill:var(--sc);fill-opacity:.75}"
    "svg.chart .bars rect{fill:var(--sc);fill-opacity:.85}"
    "svg.chart .legend .key{fill:var(--sc)}"
    "svg.chart .empty{fill:var(--muted);font-style:italic}"
    ".models{display:flex;flex-wrap:wrap;gap:0 1.5rem}.model-charts{margin-bottom:.6rem}"
    "footer{margin-top:2rem}"
)
