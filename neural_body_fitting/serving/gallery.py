"""`index.html`: one table row per person, failed items listed with their message, and
notes (an image without people, a person cut by the border) with theirs.

Every link is relative to the output folder, so the page works straight from
the file system. Clicking a column header sorts by it (a few lines of inline
JavaScript; numbers sort as numbers).
"""
import html
import os

import numpy as np

from neural_body_fitting.serving import outputs
from neural_body_fitting.utils import files

GALLERY_FILE = "index.html"
_PREVIEW_WIDTH = 160
_STYLE = """
body { font-family: sans-serif; margin: 1em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px; text-align: left; vertical-align: top; }
th { background: #eee; cursor: pointer; }
td.error { color: #a00; }
"""
_SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach((th, column) => {
  th.addEventListener("click", () => {
    const body = th.closest("table").tBodies[0];
    const ascending = th.dataset.order !== "asc";
    th.dataset.order = ascending ? "asc" : "desc";
    const key = row => row.cells[column].dataset.sort ?? row.cells[column].textContent;
    const rows = Array.from(body.rows).sort((a, b) => {
      const x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
      const order = isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny;
      return ascending ? order : -order;
    });
    rows.forEach(row => body.appendChild(row));
  });
});
"""


def _relative(output_dir, path):
    return html.escape(os.path.relpath(path, output_dir).replace(os.sep, "/"), quote=True)


def _image_cell(output_dir, path, alt):
    """A table cell with the image's preview linking to it; empty if there is no file."""
    if not os.path.isfile(path):
        return "<td></td>"
    link = _relative(output_dir, path)
    return (f'<td><a href="{link}"><img src="{link}" width="{_PREVIEW_WIDTH}" alt="{alt}">'
            "</a></td>")


def _person_row(output_dir, person_id, source):
    paths = outputs.person_paths(output_dir, person_id)
    with np.load(paths["npz"]) as stored:
        translation_z = float(stored["translation"][2])
        scale = float(stored["crop_transform"][0])
        pose_norm = float(np.linalg.norm(stored["pose"][3:]))
    images = "".join(_image_cell(output_dir, paths[kind], kind)
                     for kind in ("crop", "parts", "overlay", "overlay_original"))
    images += _image_cell(output_dir, outputs.landmarks_path(output_dir, person_id), "landmarks")
    links = " ".join(f'<a href="{_relative(output_dir, paths[kind])}">{kind}</a>'
                     for kind in ("obj", "ply", "body_pkl", "npz"))
    return (f"<tr><td>{html.escape(person_id)}</td><td>{html.escape(source)}</td>{images}"
            f'<td data-sort="{scale:.6f}">{scale:.3f}</td>'
            f'<td data-sort="{pose_norm:.6f}">{pose_norm:.3f}</td>'
            f'<td data-sort="{translation_z:.6f}">{translation_z:.2f}</td><td>{links}</td></tr>')


def _message_section(title, entries, css_class):
    """An <h2> and a table of (item, message) entries; nothing without entries."""
    if not entries:
        return ""
    rows = "\n".join(f'<tr><td>{html.escape(name)}</td><td class="{css_class}">'
                     f"{html.escape(message)}</td></tr>" for name, message in entries)
    return (f"<h2>{title} ({len(entries)})</h2>\n<table class=\"sortable\"><thead><tr>"
            f"<th>item</th><th>message</th></tr></thead><tbody>\n{rows}\n</tbody></table>")


def gallery_html(output_dir, finished, failed, notes=()):
    """The page's text.

    finished: [(person id, source file)] whose outputs exist; failed and notes:
    [(item, message)].
    """
    rows = "\n".join(_person_row(output_dir, person_id, source)
                     for person_id, source in finished)
    headers = "".join(f"<th>{name}</th>" for name in (
        "id", "source", "input", "part map", "overlay", "on the original", "landmarks",
        "crop scale", "|pose|", "depth (m)", "files"))
    sections = "\n".join(section for section in (
        _message_section("Failed", failed, "error"), _message_section("Notes", notes, "note"))
        if section)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>NBF inference"
            f"</title><style>{_STYLE}</style></head><body>\n<h1>NBF inference: "
            f"{len(finished)} people</h1>\n<table class=\"sortable\"><thead><tr>{headers}"
            f"</tr></thead><tbody>\n{rows}\n</tbody></table>\n{sections}\n"
            f"<script>{_SORT_SCRIPT}</script>\n</body></html>\n")


def write_gallery(output_dir, finished, failed, notes=()):
    """Writes `<output_dir>/index.html` (see `gallery_html`); returns its path."""
    return files.atomic_write(os.path.join(output_dir, GALLERY_FILE),
                              gallery_html(output_dir, finished, failed, notes))
