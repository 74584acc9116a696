"""Facts of the ClinikAPI wire contract that the client and the sandbox must agree on.

One definition each, imported by both sides (gateway.md section in brackets), so the client's local
checks and the sandbox's rules cannot drift apart.
"""

from __future__ import annotations

import re
from typing import Final

#: System of the tenant Coding the gateway injects into ``meta.tag`` [§7.1].
TENANT_SYSTEM: Final = "https://clinikapi.com/tenant"

#: A well-formed API key: ``clk_live_`` or ``clk_test_`` then ASCII letters and digits [§2, §16 #15].
#: Use ``fullmatch``: ``$`` would also accept a trailing newline.
KEY_PATTERN: Final = re.compile(r"clk_(live|test)_[A-Za-z0-9]+")

#: An id the vendor SDK accepts in a path: letters, digits, ``.``, ``_``, ``-``; 1 to 128 [§13.6].
#: Ids made only of dots are refused separately (no dot-segments in paths) [§16 #17].
ID_PATTERN: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")

#: The request body cap, in bytes [§13.3, §14].
MAX_BODY_BYTES: Final = 1_048_576

MODIFIER_EXTENSION: Final = "urn:clinikfhir:extension:search-modifier"
"""Extension on ``CapabilityStatement.rest.resource.searchParam``: one accepted modifier (valueCode)."""

MODIFIERS_LISTED_EXTENSION: Final = "urn:clinikfhir:extension:search-modifiers-listed"
"""Extension on ``CapabilityStatement.rest`` (valueBoolean): every searchParam lists its modifiers."""
