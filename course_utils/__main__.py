"""``python -m course_utils``: print the versions the course runs on."""

from course_utils.core import versions

print(versions())
