from ometer_tui.cli import main

raise SystemExit(main())
