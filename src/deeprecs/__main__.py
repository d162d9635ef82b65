"""``python -m deeprecs ...`` (and ``torchrun ... -m deeprecs train ...``): the command line."""

from deeprecs.cli.main import main

if __name__ == "__main__":
    main()
