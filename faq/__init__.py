"""FAQ entries, import/export, normalisation, matching, evaluation. No telegram imports."""
