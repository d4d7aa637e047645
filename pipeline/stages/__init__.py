"""The stages, each a plain function over validated inputs that returns a StageResult."""
