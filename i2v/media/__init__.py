"""Pure media code: reading pictures safely, MP4s in and out (bounded by their header), and the joins of
long videos (cross-fades, colour matching, seam scores)."""
