import sys

from ablation.run import main

sys.exit(main())
