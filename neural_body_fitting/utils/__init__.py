"""Small helpers with no knowledge of bodies or networks: atomic file writes,
image files and lazily loaded package attributes."""
