"""Who decides: the LLM state agent, the human seat and the versioned prompt setups."""
