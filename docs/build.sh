#!/bin/sh
# Build the docs site with no warnings allowed (CI runs this): sh docs/build.sh [SITE_DIR]
# Needs the docs extra: pip install -e ".[docs]". Run from anywhere; the site goes to SITE_DIR
# (default: a fresh temporary directory, so a CI run leaves the work tree clean).
# Then docs/check_site.py checks the pages: no script or stylesheet from another host (highlighting
# is pygments CSS shipped in docs/css; search loads its index as a local script, so it works from
# file://, as do the links: use_directory_urls is off), no raw Sphinx role, '>>>' only inside code.
set -eu
cd "$(dirname "$0")/.."
site="${1:-$(mktemp -d)}"
python -m mkdocs build --strict --site-dir "$site"
python docs/check_site.py "$site"
