"""What makes every trainer's steps cheaper without changing their numbers: transformers'
``Trainer`` counting real tokens and sampling plugtune's rows by length
(:mod:`.hf_trainer`), the output layer run on trained positions only
(:mod:`.trained_logits`), and batches as one unpadded row with attention kept per example
(:mod:`.padding_free`). tests/test_trained_logits.py and tests/test_padding_free.py
compare each with the plain computation."""
