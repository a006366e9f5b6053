"""Screenshots an inference gallery (index.html) in headless Chromium.

    python tools/screenshot_gallery.py out/index.html docs/images/gallery.png \
        [--width=1400 --height=900]

Needs `chromium` on the PATH (Debian: apt-get install chromium). The PNG is
written atomically.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from neural_body_fitting.utils import images


def screenshot(html_path, png_path, width=1400, height=900, browser="chromium"):
    """Renders `html_path` at width x height CSS pixels into `png_path`; returns it."""
    executable = shutil.which(browser)
    if executable is None:
        raise FileNotFoundError(f"'{browser}' is not on the PATH (apt-get install chromium)")
    if not os.path.isfile(html_path):
        raise FileNotFoundError(f"{html_path}: no gallery to screenshot")
    with tempfile.TemporaryDirectory() as scratch:
        raw = os.path.join(scratch, "shot.png")
        subprocess.run([executable, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--user-data-dir={scratch}",
                        f"--screenshot={raw}", f"--window-size={width},{height}",
                        "file://" + os.path.abspath(html_path)],
                       check=True, capture_output=True, timeout=120)
        return images.write_png(png_path, images.read_image(raw))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html")
    parser.add_argument("png")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args()
    try:
        print(screenshot(args.html, args.png, args.width, args.height))
    except (FileNotFoundError, subprocess.CalledProcessError) as error:
        sys.exit(f"screenshot_gallery: {error}")


if __name__ == "__main__":
    main()
