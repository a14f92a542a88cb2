from onnxplain.cli import main

raise SystemExit(main())
