"""The web apps: the record viewer (`dilemma view`) and the human-seat app (`dilemma serve`)."""
