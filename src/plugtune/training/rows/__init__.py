"""The rows trainers learn from. sft and pt (and a plugin's causal-LM trainer) batch
token rows: encoded from the run's data (:mod:`.encoded`), as streams a chunk at a time
(:mod:`.streams`), saved once to a folder (:mod:`.prepared`, ``data.prepared``) or
encoded while the model trains (:mod:`.streaming`, ``data.streaming``), and batched
padded, packed or flat (:mod:`.collators`); image conversations for a vision-language
model have their images loaded and their image tokens expanded per batch
(:mod:`.images`: sft's rows, and dpo's pairs with images). Online RL trainers (grpo,
ppo, rloo) learn from prompts and the columns their rewards read (:mod:`.prompts`)."""
