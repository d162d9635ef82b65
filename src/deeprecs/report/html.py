"""HTML pieces of the report: the page template, tables, embedded images, the atomic write.

The page is self-contained: inline CSS, images as ``data:image/png;base64`` URIs, no scripts,
fonts or other resources fetched from anywhere.
"""

from __future__ import annotations

import base64
import html
import os
import tempfile
from pathlib import Path
from string import Template

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #1d2330; background: #f6f7f9; margin: 0; }
main { max-width: 1240px; margin: 0 auto; padding: 18px 28px 48px; }
h1 { font-size: 24px; margin: 8px 0 4px; }
h2 { font-size: 19px; margin: 34px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #d5d9e0; }
h3 { font-size: 15px; margin: 20px 0 6px; }
p.meta, p.note, .caption { color: #5b6372; }
p.note { background: #fff8e1; border-left: 3px solid #f0b400; padding: 6px 10px; }
nav { margin: 6px 0 0; }
nav a { margin-right: 14px; color: #2457b3; text-decoration: none; }
.card { background: #fff; border: 1px solid #e1e4ea; border-radius: 6px; padding: 12px 14px; margin: 10px 0; }
.scroll { overflow: auto; max-height: 360px; }
table { border-collapse: collapse; font-size: 12.5px; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 9px; border-bottom: 1px solid #eceef2; text-align: right; white-space: nowrap; }
th { background: #f0f2f5; position: sticky; top: 0; white-space: normal; vertical-align: bottom; min-width: 4.5em; }
th:first-child, td:first-child, .text { text-align: left; }
td.wrap { white-space: normal; min-width: 16em; max-width: 30em; }
td.best { background: #dff3e3; font-weight: 700; }
img { max-width: 100%; height: auto; display: block; }
.grid { display: grid; grid-template-columns: minmax(0, max-content) minmax(0, 1fr); gap: 14px; align-items: start; }
@media (max-width: 900px) { .grid { grid-template-columns: 1fr; } }
"""

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$css</style>
</head>
<body>
<main>
<h1>$title</h1>
<p class="meta">$meta</p>
<nav>$nav</nav>
$body
</main>
</body>
</html>
""")


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def fmt(value) -> str:
    """Numbers for tables: 4 significant decimals for small floats, thousands separators for big ones."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "nan"
        return f"{value:.4f}" if abs(value) < 100 else f"{value:,.1f}"
    return str(value)


def img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def table(header: list[str], rows: list[list], best: list[list[bool]] | None = None, text_cols: int = 1,
          wrap: tuple[int, ...] = ()) -> str:
    """A table of escaped, formatted cells; ``best[r][c]`` highlights a cell; the first
    ``text_cols`` columns are left-aligned text; the ``wrap`` columns may break lines."""
    text_th = '<th class="text">'
    head = "".join(f"{text_th if c < text_cols else '<th>'}{esc(name).replace('_', '_<wbr>')}</th>"  # may break at "_"
                   for c, name in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        cells = []
        for c, value in enumerate(row):
            classes = (["text"] if c < text_cols else []) + (["wrap"] if c in wrap else []) + (["best"] if best and best[r][c] else [])
            attr = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attr}>{esc(fmt(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def section(anchor: str, title: str, content: str, intro: str = "") -> str:
    lead = f'<p class="caption">{esc(intro)}</p>' if intro else ""
    return f'<section id="{esc(anchor)}">\n<h2>{esc(title)}</h2>\n{lead}\n{content}\n</section>'


def page(title: str, meta: str, sections: list[tuple[str, str, str]]) -> str:
    """``sections``: ``(anchor, title, html)``; the navigation links to each."""
    nav = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t, _ in sections)
    return PAGE.substitute(title=esc(title), meta=meta, css=CSS, nav=nav, body="\n".join(h for _, _, h in sections))


def write_atomic(text: str, path: str | Path) -> Path:
    """Write ``text`` to a temporary sibling, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # what an ordinary open() would have given
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
