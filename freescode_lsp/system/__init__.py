"""What the package needs of the operating system: where its files live, reading user files safely, child exits."""
