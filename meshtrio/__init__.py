"""meshtrio: host meshes and proc meshes on Trio (public names re-exported at integration)."""
