"""Petition signers: fields, export formats, intake, matching to offices, the inbox."""
