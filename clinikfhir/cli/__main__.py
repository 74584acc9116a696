"""``python -m clinikfhir.cli``: the clinikfhir command."""

from clinikfhir.cli import console_main

console_main()
