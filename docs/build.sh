#!/bin/sh
# Build the docs site with no warnings allowed (CI runs this): sh docs/build.sh [SITE_DIR]
# Needs the docs extra: pip install -e ".[docs]". Run from anywhere; the site goes to SITE_DIR
# (default: a fresh temporary directory, so a CI run leaves the work tree clean).
set -eu
cd "$(dirname "$0")/.."
python -m mkdocs build --strict --site-dir "${1:-$(mktemp -d)}"
