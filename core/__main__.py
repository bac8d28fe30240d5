from core.cli.classify import main

raise SystemExit(main())
