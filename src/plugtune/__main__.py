"""``python -m plugtune`` (what ``accelerate launch -m plugtune`` runs)."""

from plugtune.cli import main

if __name__ == "__main__":
    main()
