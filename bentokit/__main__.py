from bentokit.cli import main

raise SystemExit(main())
