"""SECMP0037 scenarios: ``bench`` (the dongles a scenario runs on), ``secmp0037`` (one run), ``matrix``,
``report`` (the self-contained HTML page)."""
