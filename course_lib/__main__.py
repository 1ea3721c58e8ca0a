"""``python -m course_lib train [options]``: see ``course_lib.cli``."""

from course_lib.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
