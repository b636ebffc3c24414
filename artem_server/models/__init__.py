"""Network definitions, the model card and the models-directory format, and checkpoint import."""
