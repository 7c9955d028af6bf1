"""Security-dilemma sandbox: LLM state personas negotiate and arm; records and measures."""
