from mtl_core.cli import main

raise SystemExit(main())
