"""What inference backends share: answers from token ids and stop strings, streaming,
PEFT adapters by name, and images through a model's processor."""
