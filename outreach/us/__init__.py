"""Facts about the United States (states, counties, quiet-hour rules): no outreach imports."""
