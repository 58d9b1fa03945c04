"""``make bench``: reproducible figures for the scheduler, with the ceiling measured alongside."""
