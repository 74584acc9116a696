"""``python -m clinikfhir.cli``: the clinikfhir command."""

import sys

from clinikfhir.cli import main

sys.exit(main())
