"""Small, self-contained experiments the course runs on a CPU (no plotting here)."""
