"""Projects, their members and enabling the container service (R1–R4)."""
