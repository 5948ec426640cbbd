"""Sphinx configuration of the course site (``make site``; ``site/build.py`` stages the sources).

The notebooks are rendered as committed, never executed (``nb_execution_mode = "off"``): their stored
outputs are what nbval checks. MathJax and the widget scripts come from ``_build/site-static/vendor/``
(``make site-vendor``), so the site works opened from disk with no network.
"""

project = "gancourse"
author = "the gancourse authors"
copyright = "the gancourse authors, MIT license"

extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# Notebooks: stored outputs only; stderr stays visible (a warning in a lecture is worth seeing).
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True  # $$...$$ inside a paragraph, as Jupyter renders it
myst_heading_anchors = 3  # the lectures' "## 3. The game" sections get stable #anchors
suppress_warnings = ["myst.header"]  # notebooks may skip a heading level (e.g. "#" then "###")

# Served locally (paths relative to _static/): every CDN default replaced.
html_static_path = ["../_build/site-static", "static"]
html_css_files = ["site.css"]  # wide equations scroll instead of being clipped; the widget note
mathjax_path = "vendor/mathjax/tex-mml-chtml.js"
nb_ipywidgets_js = {  # in this order: widgets-offline.js configures what embed-amd.js reads
    "vendor/requirejs/require.js": {},
    "widgets-offline.js": {},
    "vendor/html-manager/dist/embed-amd.js": {},
}

html_theme = "furo"
html_title = "gancourse: GANs, a course that runs"
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {"navigation_with_keys": True}
