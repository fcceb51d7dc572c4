"""Sphinx configuration of the course site (built by ``python -m course_utils.site build OUT_DIR``).

The build copies this folder next to the executed notebooks and runs Sphinx on it: myst-nb reads the
notebooks as they are (it executes nothing), the book theme lays the pages out, and MathJax comes
from the site's own ``_static`` folder, so a page loads nothing from outside its folder.
"""

import os
import re

#: "en": the English edition (the site's root); "ko": the Korean one, built into ko/ by the same command.
LANG = os.environ.get("COURSE_SITE_LANG", "en")
project = ("Training & Inference — Loss, Optimizer, Metric" if LANG == "en"
           else "학습과 추론 — Loss, Optimizer, Metric")
author = "the course"
copyright = "the course's authors"
language = LANG

extensions = ["myst_nb"]
nb_execution_mode = "off"  # the build has run every notebook in a fresh kernel already
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

html_theme = "sphinx_book_theme"
html_title = "Loss, Optimizer, Metric" if LANG == "en" else "Loss, Optimizer, Metric (한국어)"
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": False,    # no download of sources (they are not copied)
    "use_fullscreen_button": False,
    "use_repository_button": False,  # the repository's address is set where it is published
    "launch_buttons": {},            # no thebe, no launch buttons: nothing loads from elsewhere
    "navigation_with_keys": False,
    "extra_footer": (("<p>Widgets on these pages are pre-rendered. The live notebooks run on "
                      f"<a href=\"{os.environ.get('COURSE_SITE_BINDER', 'https://mybinder.org')}\">Binder</a>."
                      "</p>") if LANG == "en" else
                     ("<p>이 페이지의 위젯은 미리 그려 둔 것입니다. 살아 있는 노트북은 "
                      f"<a href=\"{os.environ.get('COURSE_SITE_BINDER', 'https://mybinder.org')}\">"
                      "Binder</a>에서 "
                      "실행됩니다.</p>")),
}
html_context = {"default_mode": "light"}  # (with no mode set, the theme logs a console error)
html_static_path = ["_static"]
html_css_files = ["player.css"]
html_js_files = ["player.js"]
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
mathjax_path = "mathjax/tex-svg.js"  # MathJax 3, TeX to SVG: no web fonts, works from file://


def _lazy_images(app, pagename, templatename, context, doctree):
    """Figures load as they come into view (a page's first load stays small)."""
    if "body" in context:
        context["body"] = re.sub(r"<img (?![^>]*\bloading=)", '<img loading="lazy" ', context["body"])


def _language_switch(app, pagename, templatename, context, doctree):
    """Every page links to its twin in the other edition: the English site is at the root, the Korean
    one (a build of its own) in ko/, with the same page names."""
    if "body" not in context:
        return
    up = "../" * pagename.count("/")
    if LANG == "en":
        href, label, lang, name = f"{up}ko/{pagename}.html", "한국어", "ko", "Language"
    else:
        href, label, lang, name = f"../{up}{pagename}.html", "English", "en", "언어"
    switch = (f'<nav class="cu-lang" aria-label="{name}">'
              f'<a href="{href}" hreflang="{lang}" lang="{lang}">{label}</a></nav>')
    context["body"] = switch + context["body"]


def setup(app):
    app.connect("html-page-context", _lazy_images)
    app.connect("html-page-context", _language_switch)
