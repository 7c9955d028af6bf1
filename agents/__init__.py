"""Who decides: personas, prompt setups, the LLM state agent, model specs and scripted policies."""
