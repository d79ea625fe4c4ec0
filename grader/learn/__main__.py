"""``python -m grader.learn`` (``./kit learn``): see :mod:`grader.learn.commands`."""

from grader.learn.commands import main

raise SystemExit(main())
