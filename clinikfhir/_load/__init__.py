"""The one FHIR data loader (private): :mod:`.sources` reads files, folders, NDJSON and archives;
:mod:`.loader` checks and sends them, never twice. Used by ``clinikfhir load``, ``clinikfhir sandbox
--seed`` and the pytest plugin's seed (:func:`clinikfhir.testing.seed`). Cheap to import: the client
and the models load when a load runs."""
