"""The rows sft and pt (and a plugin's causal-LM trainer) batch: encoded from the run's
data (:mod:`.encoded`), as streams a chunk at a time (:mod:`.streams`), saved once to a
folder (:mod:`.prepared`, ``data.prepared``) or encoded while the model trains
(:mod:`.streaming`, ``data.streaming``), and batched padded, packed or flat
(:mod:`.collators`)."""
