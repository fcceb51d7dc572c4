"""``python -m course_utils.grading release …`` / ``grade …`` (see ``cli.py``)."""

import sys

from course_utils.grading.cli import main

sys.exit(main())
