"""Equipment physics (presses, glovebox, profilometer) and their OPC UA emulators."""
