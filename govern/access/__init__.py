"""Access decisions: may this actor read these fields of this subject for this purpose, and how (full or masked)."""
