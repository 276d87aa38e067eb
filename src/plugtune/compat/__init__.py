"""Reading other tools' configs unchanged: LLaMA-Factory's flat YAML (:mod:`.llamafactory`)."""
