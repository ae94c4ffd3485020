"""Session and project writers that place stems in DAWs (Ardour sessions, REAPER projects)."""
