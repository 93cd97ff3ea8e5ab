"""The studio: a browser page that shows the panogram live and steers the same knobs as OSC."""
