"""Campaign definitions, audiences, planning, previews and rendering."""
