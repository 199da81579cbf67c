"""Hardware-in-the-loop stand-ins for the world: gait generator, sensor and stimulator emulators."""
