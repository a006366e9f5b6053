"""`index.html`: one table row per person, failed items listed with their message.

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


def _person_row(output_dir, person_id, source):
    paths = outputs.person_paths(output_dir, person_id)
    with np.load(paths["npz"]) as stored:
        translation_z = float(stored["translation"][2])
        scale = float(stored["crop_transform"][0])
        pose_norm = float(np.linalg.norm(stored["pose"][3:]))
    images = "".join(
        f'<td><a href="{_relative(output_dir, paths[kind])}"><img src="'
        f'{_relative(output_dir, paths[kind])}" width="{_PREVIEW_WIDTH}" alt="{kind}"></a></td>'
        for kind in ("crop", "parts", "overlay", "overlay_original"))
    links = " ".join(f'<a href="{_relative(output_dir, paths[kind])}">{kind}</a>'
                     for kind in ("obj", "ply", "body_pkl", "npz"))
    return (f"<tr><td>{html.escape(person_id)}</td><td>{html.escape(source)}</td>{images}"
            f'<td data-sort="{scale:.6f}">{scale:.3f}</td>'
            f'<td data-sort="{pose_norm:.6f}">{pose_norm:.3f}</td>'
            f'<td data-sort="{translation_z:.6f}">{translation_z:.2f}</td><td>{links}</td></tr>')


def gallery_html(output_dir, finished, failed):
    """The page's text.

    finished: [(person id, source file)] whose outputs exist; failed: [(item, message)].
    """
    rows = "\n".join(_person_row(output_dir, person_id, source)
                     for person_id, source in finished)
    failures = "\n".join(f'<tr><td>{html.escape(name)}</td><td class="error">'
                         f"{html.escape(message)}</td></tr>" for name, message in failed)
    headers = "".join(f"<th>{name}</th>" for name in (
        "id", "source", "input", "part map", "overlay", "on the original", "crop scale",
        "|pose|", "depth (m)", "files"))
    failed_section = (f"<h2>Failed ({len(failed)})</h2>\n<table class=\"sortable\"><thead><tr>"
                      f"<th>item</th><th>message</th></tr></thead><tbody>\n{failures}\n"
                      "</tbody></table>" if failed else "")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>NBF inference"
            f"</title><style>{_STYLE}</style></head><body>\n<h1>NBF inference: "
            f"{len(finished)} people</h1>\n<table class=\"sortable\"><thead><tr>{headers}"
            f"</tr></thead><tbody>\n{rows}\n</tbody></table>\n{failed_section}\n"
            f"<script>{_SORT_SCRIPT}</script>\n</body></html>\n")


def write_gallery(output_dir, finished, failed):
    """Writes `<output_dir>/index.html` (see `gallery_html`); returns its path."""
    return files.atomic_write(os.path.join(output_dir, GALLERY_FILE),
                              gallery_html(output_dir, finished, failed))
