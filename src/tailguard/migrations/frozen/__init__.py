"""Table definitions frozen with the revision that introduced them (never edited later)."""
