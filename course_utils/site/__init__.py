"""The course as a static site: executed notebooks, homework without solutions, playable explorers.

``python -m course_utils.site build OUT_DIR`` (see :mod:`course_utils.site.build`); the explorers'
frames come from :mod:`course_utils.site.frames`, the page-side frame swap from ``static/player.js``.
"""

from course_utils.site.build import BuildReport, build

__all__ = ["BuildReport", "build"]
