"""The store: every table, every migration, every SQL statement of the engine lives here."""
