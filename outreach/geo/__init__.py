"""Where an address is: ZIP and address look-ups, the Census geocoder, the current geography."""
