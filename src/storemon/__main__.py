from storemon._cli import main

raise SystemExit(main())
