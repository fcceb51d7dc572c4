"""``python -m course_utils``: print the versions the course runs on."""

from course_utils.reproducibility import versions

print(versions())
