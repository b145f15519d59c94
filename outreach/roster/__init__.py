"""The roster of local prosecutor offices, its coverage and its corrections."""
